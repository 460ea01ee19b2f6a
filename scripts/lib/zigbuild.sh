#!/usr/bin/env bash
# Sourced: `zigbuild ARCH ARGS...` cross-builds release binaries for Lambda with cargo-zigbuild against glibc 2.34
# (provided.al2023's), as the Dockerfile does, into target/zigbuild/<triple>/release. ARCH is arm64 or x86_64.
# Used by scripts/checks/glibc.sh and scripts/layer, so a binary both need is built once.
#
# Reproducible: the same sources, Cargo.lock, toolchain and pinned zig give the same bytes wherever the checkout
# and the cargo home are. Paths that end up in the binary (panic locations) are remapped to fixed prefixes, so the
# checkout's directory and the user's home are not part of the output. RUSTFLAGS is the same for every binary built
# here: cargo does not key artifacts on it, so two sets of flags in one target dir would rebuild each other.
zigbuild_glibc=2.34
zigbuild_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
zigbuild_dir=$zigbuild_root/target/zigbuild

# zigbuild_triple ARCH: the Rust target triple of a Lambda architecture name.
zigbuild_triple() {
  case $1 in
    arm64 | aarch64) echo aarch64-unknown-linux-gnu ;;
    x86_64 | amd64) echo x86_64-unknown-linux-gnu ;;
    *) echo "zigbuild: unknown architecture '$1' (arm64 or x86_64)" >&2; return 1 ;;
  esac
}

# zigbuild_out ARCH: where the release binaries of ARCH land.
zigbuild_out() {
  echo "$zigbuild_dir/$(zigbuild_triple "$1")/release"
}

zigbuild() {
  local arch=$1 triple cargo_home
  shift
  triple=$(zigbuild_triple "$arch") || return 1
  if ! rustup target list --installed | grep -qx "$triple"; then
    rustup target add "$triple"
  fi
  cargo_home=${CARGO_HOME:-$HOME/.cargo}
  CARGO_TARGET_DIR=$zigbuild_dir \
    RUSTFLAGS="--remap-path-prefix=$zigbuild_root=/build --remap-path-prefix=$cargo_home=/cargo" \
    cargo zigbuild --quiet --release --locked --target "$triple.$zigbuild_glibc" "$@"
}
