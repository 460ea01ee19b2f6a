#!/usr/bin/env bash
# The Lambda layer zips (scripts/layer) for both architectures: the layout Lambda expects, each binary built for its
# machine and glibc <= 2.34, and reproducible. The arm64 sidecar is the one scripts/checks/glibc.sh cross-built
# (scripts/lib/zigbuild.sh: no second build); x86_64 is cross-built the same way.
#
# Reproducibility, without building twice: the binaries come from scripts/lib/zigbuild.sh, whose output does not
# depend on where the checkout or the cargo home are (paths remapped; docs/sidecar.md, "Using the Lambda layer"),
# and the zip must not depend on anything but the files' contents: packaging them again from copies with other
# timestamps, permission bits and argument order must give the same bytes.
# DEPLOY_CHECKS_SKIP_ARM64=1 (as for glibc.sh) leaves arm64 out, loudly; CI does not set it.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
export PATH="$root/.venv/bin:$PATH"
# shellcheck source=scripts/lib/elf.sh
source scripts/lib/elf.sh

failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }

out=$root/target/layer
archs=(arm64 x86_64)
if [ "${DEPLOY_CHECKS_SKIP_ARM64:-}" = 1 ]; then
  echo "WARNING: DEPLOY_CHECKS_SKIP_ARM64=1: the arm64 layer was NOT built nor checked" >&2
  archs=(x86_64)
fi
LAYER_OUT=$out scripts/layer "${archs[@]}"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
expected=$'extensions/ 40755\nextensions/otel-sidecar 100755\notel-config.yaml 100644'
for arch in "${archs[@]}"; do
  zip=$out/otel-sidecar-$arch.zip
  echo "$arch: $zip"
  # Layout and modes as Lambda extracts them under /opt.
  layout=$(python3 -c '
import sys, zipfile
for i in zipfile.ZipFile(sys.argv[1]).infolist():
    print(i.filename, oct(i.external_attr >> 16)[2:])' "$zip")
  [ "$layout" = "$expected" ] || fail "$zip: entries and modes are"$'\n'"$layout"$'\n'"expected"$'\n'"$expected"
  mkdir -p "$work/$arch/opt"
  python3 -m zipfile -e "$zip" "$work/$arch/opt"
  case $arch in
    arm64) machine=AArch64 ;;
    x86_64) machine="Advanced Micro Devices X86-64" ;;
  esac
  check_binary "$work/$arch/opt/extensions/otel-sidecar" "$machine"
  cmp -s "$work/$arch/opt/otel-config.yaml" deploy/layer/otel-config.yaml ||
    fail "$zip: otel-config.yaml is not deploy/layer/otel-config.yaml"

  # Same contents, other metadata, other order: same bytes.
  copy=$work/$arch/copy
  mkdir -p "$copy"
  cp "$work/$arch/opt/extensions/otel-sidecar" "$copy/sidecar"
  cp deploy/layer/otel-config.yaml "$copy/config.yaml"
  chmod 0700 "$copy/sidecar"; chmod 0600 "$copy/config.yaml"
  touch -d '2001-02-03 04:05:06' "$copy/sidecar"; touch "$copy/config.yaml"
  python3 scripts/lib/layer_zip.py "$work/$arch/again.zip" \
    "otel-config.yaml=$copy/config.yaml:0644" "extensions/otel-sidecar=$copy/sidecar:0755"
  if cmp -s "$zip" "$work/$arch/again.zip"; then
    echo "  zip reproducible: sha256 $(sha256sum "$zip" | cut -d' ' -f1)"
  else
    fail "$zip: packaging the same files again gave other bytes"
  fi
done

if [ "$failures" -gt 0 ]; then
  echo "layer: $failures problem(s)" >&2
  exit 1
fi
echo "layer: ok"
