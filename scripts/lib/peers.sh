#!/usr/bin/env bash
# Builds the real peers the end-to-end tests run against, once per machine, and prints each one's path:
#
#   scripts/lib/peers.sh rie        # AWS's Lambda Runtime Interface Emulator (aws-lambda-rie)
#   scripts/lib/peers.sh otelcol    # a minimal OpenTelemetry Collector (testkit/peers/otelcol)
#   scripts/lib/peers.sh all        # both (what ./scripts/test runs before `cargo test`)
#
# Each is built from its pinned Go modules into $CARGO_TARGET_DIR/peers/<name>-<pinned version>/ (target/ when
# CARGO_TARGET_DIR is unset) and reused while that directory holds it; the collector's directory also keys on
# a hash of its go.mod, go.sum and main.go, so editing them rebuilds it. testkit (testkit/src/peers.rs) runs this
# script to find them, so `cargo test` alone builds what is missing. A missing Go toolchain or module fails
# here, loudly and by name: no test skips for want of a peer.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)

# The Runtime Interface Emulator publishes no tagged release as a Go module: a pseudo-version of its main
# branch, the same source as /root/go/pkg/mod/...@<this version> that docs/deploy.md cites.
RIE_MODULE=github.com/aws/aws-lambda-runtime-interface-emulator
RIE_VERSION=v0.0.0-20261030222936-bef5c4ba774d
# The collector's modules are pinned in testkit/peers/otelcol/go.mod (core v0.161.0 / v1.67.0 and contrib
# v0.161.0: the newest release at which the contrib file exporter builds here); this names that release.
OTELCOL_VERSION=v0.161.0

target_dir=${CARGO_TARGET_DIR:-$root/target}
peers_dir=$target_dir/peers

fail() { printf 'peers: %s\n' "$*" >&2; exit 1; }

need_go() {
  command -v go >/dev/null 2>&1 \
    || fail "the Go toolchain (\`go\`, 1.26 or newer) is not on PATH: it builds AWS's Runtime Interface Emulator and the OpenTelemetry Collector that the end-to-end tests run (install Go 1.26 or newer)"
}

# build NAME DIR BINARY COMMAND...: runs COMMAND with $out set to a fresh directory, checks that it produced
# BINARY there, then moves it into place as DIR. One build at a time per directory (flock), so concurrent
# tests wait for one build instead of racing.
build() {
  local name=$1 dir=$2 binary=$3
  shift 3
  if [ -x "$dir/$binary" ]; then echo "$dir/$binary"; return; fi
  need_go
  mkdir -p "$peers_dir"
  exec 9>"$peers_dir/.$name.lock"
  flock 9
  if [ ! -x "$dir/$binary" ]; then
    out=$(mktemp -d "$peers_dir/.$name.XXXXXX")
    local started=$SECONDS
    printf 'peers: building %s into %s (once per machine)\n' "$name" "$dir" >&2
    if ! "$@" >"$out/build.log" 2>&1; then
      cat "$out/build.log" >&2
      rm -rf "$out"
      fail "building $name failed (log above): the Go module proxy must serve every module it pins"
    fi
    [ -x "$out/$binary" ] || fail "building $name produced no $binary"
    printf 'peers: built %s in %s s\n' "$name" "$((SECONDS - started))" >&2
    rm -rf "$dir"
    mv "$out" "$dir"
  fi
  exec 9>&-
  echo "$dir/$binary"
}

build_rie() {
  GOBIN="$out" GOFLAGS=-buildvcs=false go install -trimpath "$RIE_MODULE/cmd/aws-lambda-rie@$RIE_VERSION"
}

otelcol_src=$root/testkit/peers/otelcol
build_otelcol() {
  (cd "$otelcol_src" && GOFLAGS='-mod=readonly -buildvcs=false' go build -trimpath -o "$out/otelcol-peers" .)
}

rie() {
  build rie "$peers_dir/rie-$RIE_VERSION" aws-lambda-rie build_rie
}

otelcol() {
  local key
  key=$(cat "$otelcol_src/go.mod" "$otelcol_src/go.sum" "$otelcol_src/main.go" | sha256sum | cut -c1-12)
  build otelcol "$peers_dir/otelcol-$OTELCOL_VERSION-$key" otelcol-peers build_otelcol
}

case "${1:-}" in
  rie) rie ;;
  otelcol) otelcol ;;
  all) rie && otelcol ;;
  *) fail "usage: $0 rie|otelcol|all" ;;
esac
