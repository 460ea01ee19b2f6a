#!/usr/bin/env bash
# The shipped binaries run on public.ecr.aws/lambda/provided:al2023, whose glibc is 2.34: no binary may need a newer
# GLIBC_ symbol version, nor a shared library that image lacks. Checked for both architectures Lambda offers:
#   x86_64: the native release build ./scripts/test made (AWS_RUST_HTTP_API_RELEASE_DIR), linked by the host toolchain;
#   arm64:  cross-built here with cargo-zigbuild against glibc 2.34, exactly as the Dockerfile builds it.
# Set DEPLOY_CHECKS_SKIP_ARM64=1 to skip the arm64 build (it says so loudly; CI does not set it).
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
export PATH="$root/.venv/bin:$PATH"

glibc_max=2.34
# Libraries provided.al2023 has (glibc's own plus libgcc_s); anything else would fail to load in Lambda.
allowed_libs='^(libc\.so\.6|libm\.so\.6|libgcc_s\.so\.1|libpthread\.so\.0|libdl\.so\.2|librt\.so\.1|ld-linux-x86-64\.so\.2|ld-linux-aarch64\.so\.1)$'

# Binaries the workspace defines among those the image ships: bootstrap always, otel-sidecar once its crate exists.
mapfile -t bins < <(cargo metadata --no-deps --format-version 1 --offline | python3 -c '
import json, sys
targets = {t["name"] for p in json.load(sys.stdin)["packages"] for t in p["targets"] if "bin" in t["kind"]}
print("bootstrap")
if "otel-sidecar" in targets:
    print("otel-sidecar")
else:
    print("glibc: no otel-sidecar binary in the workspace yet: checking bootstrap only", file=sys.stderr)
')

failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }

# check_binary PATH EXPECTED_ELF_MACHINE (as `readelf -h` names it)
check_binary() {
  local bin=$1 machine=$2 found needs newest
  if [ ! -f "$bin" ]; then fail "$bin missing (not built)"; return; fi
  found=$(readelf -h "$bin" | sed -n 's/^ *Machine: *//p')
  [ "$found" = "$machine" ] || { fail "$bin is built for '$found', not '$machine'"; return; }
  newest=$(objdump -T "$bin" | grep -o 'GLIBC_[0-9][0-9.]*' | sed 's/^GLIBC_//' | sort -uV | tail -n1 || true)
  if [ -z "$newest" ]; then
    echo "  $bin: no GLIBC symbol versions (static)"
  elif [ "$(printf '%s\n%s\n' "$newest" "$glibc_max" | sort -V | tail -n1)" != "$glibc_max" ]; then
    fail "$bin needs GLIBC_$newest (> $glibc_max): $(objdump -T "$bin" | grep -F "GLIBC_$newest" | awk '{print $NF}' | sort -u | tr '\n' ' ')"
  else
    echo "  $bin: newest GLIBC_$newest <= $glibc_max"
  fi
  needs=$(objdump -p "$bin" | awk '$1 == "NEEDED" {print $2}')
  while read -r lib; do
    [ -z "$lib" ] && continue
    grep -Eq "$allowed_libs" <<<"$lib" || fail "$bin links $lib, which provided.al2023 does not have"
  done <<<"$needs"
}

echo "x86_64 (native release build)"
release=${AWS_RUST_HTTP_API_RELEASE_DIR:-$root/target/release}
for b in "${bins[@]}"; do check_binary "$release/$b" "Advanced Micro Devices X86-64"; done

if [ "${DEPLOY_CHECKS_SKIP_ARM64:-}" = 1 ]; then
  echo "WARNING: DEPLOY_CHECKS_SKIP_ARM64=1: the arm64 binaries were NOT built nor checked" >&2
else
  echo "arm64 (cargo zigbuild --target aarch64-unknown-linux-gnu.$glibc_max)"
  triple=aarch64-unknown-linux-gnu
  if ! rustup target list --installed | grep -qx "$triple"; then
    rustup target add "$triple"
  fi
  # A target dir of its own: the host build's artifacts are for another architecture anyway, and the shared dir's
  # lock would serialize this build behind every other cargo command.
  cross_dir=$root/target/zigbuild
  start=$(date +%s)
  # One invocation per binary, as the Dockerfile builds them: the sidecar's features resolved for it alone.
  for b in "${bins[@]}"; do
    package=(); [ "$b" = otel-sidecar ] && package=(-p extension)
    CARGO_TARGET_DIR=$cross_dir cargo zigbuild --quiet --release --locked --target "$triple.$glibc_max" \
      "${package[@]}" --bin "$b"
  done
  echo "  arm64 build: $(( $(date +%s) - start )) s"
  for b in "${bins[@]}"; do check_binary "$cross_dir/$triple/release/$b" "AArch64"; done
fi

if [ "$failures" -gt 0 ]; then
  echo "glibc: $failures problem(s)" >&2
  exit 1
fi
echo "glibc: ok"
