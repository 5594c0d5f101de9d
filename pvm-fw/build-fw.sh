#!/bin/sh
# Cross-builds pvm-fw: start.S, the firmware's C, the descriptor code and mbedTLS's sources
# (scripts/fetch-fw-sources) compiled freestanding, linked with Debian's arm64 libfdt.a as a
# static PIE by fw.lds, checked to carry only relative relocations, flattened to an Image.
# Usage: build-fw.sh CC OBJCOPY READELF FW_SOURCE_DIR PVM_SOURCE_ROOT FW_LIBS_DIR PUBKEY.h OUT.img
set -eu
cc=$1 objcopy=$2 readelf=$3 src=$4 root=$5 libs=$6 pubkey_h=$7 out=$8
tmp=$out.tmp
rm -rf "$tmp"
mkdir -p "$tmp"
cp "$pubkey_h" "$tmp/fw-pubkey.h"

mbed=$libs/mbedtls
# -mstrict-align: the MMU stays off, so all memory is Device memory, where unaligned accesses
# fault. -fno-tree-loop-distribute-patterns: libc.c's loops must not become calls to themselves.
flags="-std=gnu17 -O2 -ffreestanding -fpie -fno-common -fno-stack-protector -ffunction-sections -fdata-sections
	-fno-asynchronous-unwind-tables -fno-unwind-tables -fno-tree-loop-distribute-patterns
	-mstrict-align -mno-outline-atomics -mbranch-protection=none
	-I$tmp -I$src -I$root/libpvm/arch/arm64 -I$mbed/include -I/usr/include/libfdt
	-DMBEDTLS_CONFIG_FILE=\"mbedtls-config.h\""
warn="-Wall -Wextra -Werror -Wshadow -Wmissing-prototypes -Wstrict-prototypes -Wvla
	-Wno-unused-parameter"

objs=
for f in sha256 bignum ecp ecp_curves ecdsa asn1parse asn1write platform platform_util \
	memory_buffer_alloc constant_time; do
	# shellcheck disable=SC2086
	$cc $flags -c -o "$tmp/mbedtls-$f.o" "$mbed/library/$f.c"
	objs="$objs $tmp/mbedtls-$f.o"
done
for f in main descriptor fw-fdt libc; do
	# shellcheck disable=SC2086
	$cc $flags $warn -c -o "$tmp/$f.o" "$src/$f.c"
	objs="$objs $tmp/$f.o"
done
# shellcheck disable=SC2086
$cc $flags -c -o "$tmp/start.o" "$src/start.S"

# shellcheck disable=SC2086
$cc $flags -nostdlib -static-pie -Wl,--no-dynamic-linker -Wl,-z,norelro -Wl,--gc-sections -Wl,--build-id=none \
	-Wl,--no-warn-rwx-segments -Wl,-T,"$src/fw.lds" -o "$tmp/pvm-fw.elf" \
	"$tmp/start.o" $objs "$libs/libfdt-arm64/libfdt.a" -lgcc

# start.S applies R_AARCH64_RELATIVE only: anything else would be left wrong at run time.
bad=$($readelf -rW "$tmp/pvm-fw.elf" | awk '/^[0-9a-f]+ +[0-9a-f]+ +R_/ && $3 != "R_AARCH64_RELATIVE"')
if [ -n "$bad" ]; then
	echo "build-fw.sh: unexpected relocations in pvm-fw.elf:" >&2
	echo "$bad" >&2
	exit 1
fi
$objcopy -O binary "$tmp/pvm-fw.elf" "$out"
