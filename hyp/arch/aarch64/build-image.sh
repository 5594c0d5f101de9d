#!/bin/sh
# Cross-builds the EL2 test image: the hypervisor (core + aarch64 port) and the EL1 test host,
# linked into one freestanding ELF by hyp.ld. The host's object gets ".host" section names and
# only host_start stays global, so its copy of the small library cannot mix with the hyp's.
# Usage: build-image.sh CC OBJCOPY HYP_SOURCE_DIR OUTPUT.elf
set -eu
cc=$1
objcopy=$2
src=$3
out=$4
tmp=$out.tmp
mkdir -p "$tmp"

flags="-std=gnu17 -O2 -g -ffreestanding -nostdlib -fno-pic -fno-pie -fno-common
	-fno-stack-protector -fno-asynchronous-unwind-tables -fno-unwind-tables
	-mgeneral-regs-only -mno-outline-atomics -mstrict-align -mbranch-protection=none
	-Wall -Wextra -Werror -Wshadow -Wmissing-prototypes -Wstrict-prototypes -Wvla
	-Wno-unused-parameter -Wno-missing-field-initializers
	-I$src/include -I$src/arch/aarch64"

# shellcheck disable=SC2086
$cc $flags -r -o "$tmp/host.o" \
	"$src/test-host/start.S" "$src/test-host/guest.S" "$src/test-host/main.c" \
	"$src/arch/aarch64/lib.c"
$objcopy --prefix-sections=.host --keep-global-symbol=host_start "$tmp/host.o" "$tmp/host-el1.o"

# shellcheck disable=SC2086
$cc $flags -static -no-pie -Wl,--build-id=none -Wl,--no-warn-rwx-segments \
	-T "$src/arch/aarch64/hyp.ld" -o "$out" \
	"$src/arch/aarch64/start.S" "$src/arch/aarch64/vectors.S" "$src/arch/aarch64/arch.c" \
	"$src/arch/aarch64/lib.c" "$src/core/pgtable.c" "$src/core/pool.c" \
	"$src/core/mem_protect.c" "$tmp/host-el1.o"
