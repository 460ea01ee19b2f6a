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

# shellcheck source=scripts/lib/elf.sh
source scripts/lib/elf.sh
# shellcheck source=scripts/lib/zigbuild.sh
source scripts/lib/zigbuild.sh

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

echo "x86_64 (native release build)"
release=${AWS_RUST_HTTP_API_RELEASE_DIR:-$root/target/release}
for b in "${bins[@]}"; do check_binary "$release/$b" "Advanced Micro Devices X86-64"; done

if [ "${DEPLOY_CHECKS_SKIP_ARM64:-}" = 1 ]; then
  echo "WARNING: DEPLOY_CHECKS_SKIP_ARM64=1: the arm64 binaries were NOT built nor checked" >&2
else
  echo "arm64 (cargo zigbuild --target aarch64-unknown-linux-gnu.$zigbuild_glibc, scripts/lib/zigbuild.sh)"
  # target/zigbuild: the host build's artifacts are for another architecture anyway, and the shared dir's lock
  # would serialize this build behind every other cargo command. scripts/layer reuses the sidecar built here.
  start=$(date +%s)
  # One invocation per binary, as the Dockerfile builds them: the sidecar's features resolved for it alone.
  for b in "${bins[@]}"; do
    package=(); [ "$b" = otel-sidecar ] && package=(-p extension)
    zigbuild arm64 "${package[@]}" --bin "$b"
  done
  echo "  arm64 build: $(( $(date +%s) - start )) s"
  for b in "${bins[@]}"; do check_binary "$(zigbuild_out arm64)/$b" "AArch64"; done
fi

if [ "$failures" -gt 0 ]; then
  echo "glibc: $failures problem(s)" >&2
  exit 1
fi
echo "glibc: ok"
