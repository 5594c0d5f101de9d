#!/bin/bash
# scripts/fetch-arm64-kernel against a local archive signed with a throwaway key: suites that
# answer, one that does not (no Release file) and one whose Release is not signed by the key. The fetch must pick the newest kernel from the
# suites that answered, name each skipped suite with its reason, fall back to the cache when no
# suite answers, and fail with the reasons when nothing is cached either.
set -euo pipefail
src=$1
fetch=$src/scripts/fetch-arm64-kernel
T=$(mktemp -d /tmp/pvm-fetch-test.XXXXXX)
trap 'rm -rf "$T"' EXIT
M=$T/mirror
fail() { echo "FAIL: $*" >&2; for f in "$T"/*.err; do echo "--- $f" >&2; cat "$f" >&2; done; exit 1; }

# make_kernel_deb VERSION: a linux-binary package whose vmlinuz carries the arm64 Image magic
make_kernel_deb() {
	local v=$1 kv=$1+deb13-arm64 d=$T/deb-$1
	local pkg=linux-binary-$kv
	mkdir -p "$d/DEBIAN" "$d/usr/lib/modules/$kv"
	{ head -c 56 /dev/zero; printf 'ARM\x64'; head -c 64 /dev/zero; } >"$d/usr/lib/modules/$kv/vmlinuz"
	cat >"$d/DEBIAN/control" <<-CTRL
	Package: $pkg
	Version: $v-1
	Architecture: arm64
	Maintainer: pvm tests <pvm@localhost>
	Description: test kernel
	CTRL
	mkdir -p "$M/pool"
	dpkg-deb --root-owner-group -Zgzip -b "$d" "$M/pool/${pkg}_$v-1_arm64.deb" >/dev/null
}

# make_suite SUITE VALID_UNTIL VERSION...: a suite offering those kernels
make_suite() {
	local s=$1 until=$2 v deb dir=$M/dists/$1
	shift 2
	mkdir -p "$dir/main/binary-arm64"
	: >"$dir/main/binary-arm64/Packages"
	for v in "$@"; do
		deb=pool/linux-binary-$v+deb13-arm64_$v-1_arm64.deb
		{
			dpkg-deb -f "$M/$deb"
			echo "Filename: $deb"
			echo "Size: $(stat -c %s "$M/$deb")"
			echo "SHA256: $(sha256sum "$M/$deb" | cut -d' ' -f1)"
			echo
		} >>"$dir/main/binary-arm64/Packages"
	done
	{
		echo "Suite: $s"
		echo "Codename: $s"
		echo "Date: $(date -u -d '-2 days' '+%a, %d %b %Y %H:%M:%S UTC')"
		[ -n "$until" ] && echo "Valid-Until: $until"
		echo "Architectures: arm64"
		echo "Components: main"
		echo "SHA256:"
		echo " $(sha256sum "$dir/main/binary-arm64/Packages" | cut -d' ' -f1)" \
			"$(stat -c %s "$dir/main/binary-arm64/Packages") main/binary-arm64/Packages"
	} >"$dir/Release"
	gpg --homedir "$T/gnupg" --batch --yes -q --clearsign -o "$dir/InRelease" "$dir/Release"
}

# the archive's signing key: apt checks the Release files (and their Valid-Until) against it
mkdir -m 700 "$T/gnupg"
gpg --homedir "$T/gnupg" --batch -q --passphrase '' --quick-gen-key 'pvm test archive' ed25519 sign never
gpg --homedir "$T/gnupg" --batch -q --export >"$T/archive-key.gpg"

make_kernel_deb 7.2.0
make_kernel_deb 7.9.1
make_kernel_deb 6.12.9
make_suite older "" 7.2.0 6.12.9
make_suite newer "" 7.9.1
make_suite unsigned "" 7.9.1
rm "$M/dists/unsigned/InRelease"

run() {  # run NAME SUITES: the fetch against the local mirror; stdout to NAME.out
	PVM_CACHE_DIR=$T/cache PVM_DEBIAN_MIRROR=file://$M PVM_APT_KEYRING=$T/archive-key.gpg \
		PVM_KERNEL_SUITES=$2 "$fetch" >"$T/$1.out" 2>"$T/$1.err"
}

# 1. a suite without a Release file and an unsigned one are skipped with their reasons; the
#    newest kernel comes from the suites that answered
run pick "missing older unsigned" || fail "fetch with two good suites of three failed"
img=$(tail -n1 "$T/pick.out")
[ "$img" = "$T/cache/arm64-kernel/7.2.0+deb13-arm64/Image" ] || fail "picked $img, not 7.2.0"
grep -q "skipped suite missing (" "$T/pick.err" || fail "the missing suite is not named as skipped"
grep -q "skipped suite unsigned (.*" "$T/pick.err" ||
	fail "the unsigned suite is not named as skipped with its reason"
grep -q "package=linux-binary-7.2.0+deb13-arm64 version=7.2.0-1 suite=older sha256=" \
	"$T/cache/arm64-kernel/7.2.0+deb13-arm64/SOURCE" || fail "SOURCE does not record the pick"
echo "ok 1 - skipped suites named, kernel picked from those that answered"

# 2. the newest version wins across suites
run newest "older newer" || fail "fetch from two good suites failed"
[ "$(tail -n1 "$T/newest.out")" = "$T/cache/arm64-kernel/7.9.1+deb13-arm64/Image" ] ||
	fail "picked $(tail -n1 "$T/newest.out"), not the newest 7.9.1"
echo "ok 2 - the newest kernel over all answering suites"

# 3. no suite answers: the cache is used, and the script says why
run cached "missing unsigned" || fail "fetch with no answering suite but a cache failed"
[ "$(tail -n1 "$T/cached.out")" = "$T/cache/arm64-kernel/7.9.1+deb13-arm64/Image" ] ||
	fail "cache fallback printed $(tail -n1 "$T/cached.out")"
grep -q "no suite answered (missing unsigned); using the cached" "$T/cached.err" ||
	fail "the cache fallback does not say why"
echo "ok 3 - no suite answers: the newest cached Image"

# 4. nothing answers and nothing is cached: a failure that names the reasons
rm -rf "$T/cache"
if run nothing "missing"; then fail "fetch succeeded with no suite and no cache"; fi
grep -q "no suite answered (missing), and nothing is cached" "$T/nothing.err" ||
	fail "the failure does not say what went wrong"
echo "ok 4 - no suite, no cache: a failure naming both"


echo "1..4"
