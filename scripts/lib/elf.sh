#!/usr/bin/env bash
# Sourced: `check_binary PATH MACHINE` checks that an ELF binary runs on provided.al2023 (Lambda's OS-only runtime,
# glibc 2.34): built for MACHINE (as `readelf -h` names it: "AArch64", "Advanced Micro Devices X86-64"), no
# GLIBC_ symbol version newer than 2.34, no shared library the image lacks. Problems go through the caller's
# `fail MESSAGE` function; findings are printed.
elf_glibc_max=2.34
# Libraries provided.al2023 has (glibc's own plus libgcc_s); anything else would fail to load in Lambda.
elf_allowed_libs='^(libc\.so\.6|libm\.so\.6|libgcc_s\.so\.1|libpthread\.so\.0|libdl\.so\.2|librt\.so\.1|ld-linux-x86-64\.so\.2|ld-linux-aarch64\.so\.1)$'

check_binary() {
  local bin=$1 machine=$2 found needs newest
  if [ ! -f "$bin" ]; then fail "$bin missing (not built)"; return; fi
  found=$(readelf -h "$bin" | sed -n 's/^ *Machine: *//p')
  [ "$found" = "$machine" ] || { fail "$bin is built for '$found', not '$machine'"; return; }
  newest=$(objdump -T "$bin" | grep -o 'GLIBC_[0-9][0-9.]*' | sed 's/^GLIBC_//' | sort -uV | tail -n1 || true)
  if [ -z "$newest" ]; then
    echo "  $bin: no GLIBC symbol versions (static)"
  elif [ "$(printf '%s\n%s\n' "$newest" "$elf_glibc_max" | sort -V | tail -n1)" != "$elf_glibc_max" ]; then
    fail "$bin needs GLIBC_$newest (> $elf_glibc_max): $(objdump -T "$bin" | grep -F "GLIBC_$newest" | awk '{print $NF}' | sort -u | tr '\n' ' ')"
  else
    echo "  $bin: newest GLIBC_$newest <= $elf_glibc_max"
  fi
  needs=$(objdump -p "$bin" | awk '$1 == "NEEDED" {print $2}')
  while read -r lib; do
    [ -z "$lib" ] && continue
    grep -Eq "$elf_allowed_libs" <<<"$lib" || fail "$bin links $lib, which provided.al2023 does not have"
  done <<<"$needs"
}
