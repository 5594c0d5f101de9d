#!/bin/bash
# The Debian packages build from the tree as it is (dpkg-buildpackage -b, native and cross for
# arm64), hold what each package should, and pass lintian without errors.
# Usage: test-deb.sh SOURCE-DIR BUILD-DIR
# The packages stay in BUILD-DIR/debs (scripts/build-debs --store), where the service tests find
# them for the same tree; this test always builds.
set -euo pipefail
src=$1
store=$2/debs
T=$(mktemp -d /tmp/pvm-deb-test.XXXXXX)
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

build() {  # build ARCH: the packages into $T
	"$src/scripts/build-debs" --store "$store" "$src" "$T" "$1" || fail "building the $1 packages"
}

check() {  # check ARCH: contents and lintian
	local arch=$1
	for p in pvmd pvmctl; do
		[ -f "$T/${p}_0.1.0_$arch.deb" ] || fail "no ${p}_0.1.0_$arch.deb"
	done
	dpkg-deb -c "$T/pvmd_0.1.0_$arch.deb" | awk '{print $6}' >"$T/pvmd-$arch.list"
	for f in ./usr/sbin/pvmd ./usr/libexec/pvm-runner ./lib/systemd/system/pvmd.service \
		./lib/systemd/system/dbus-org.pvm1.service ./usr/share/dbus-1/system.d/org.pvm1.conf \
		./usr/share/dbus-1/system-services/org.pvm1.service \
		./usr/share/dbus-1/interfaces/org.pvm1.Manager.xml ./usr/share/polkit-1/actions/org.pvm1.policy \
		./usr/share/pvm/policy.d/50-default.json ./usr/share/man/man8/pvmd.8.gz \
		./usr/share/doc/pvmd/examples/50-pvm.rules \
		./usr/lib/sysusers.d/pvm.conf; do
		grep -qx "$f" "$T/pvmd-$arch.list" || fail "pvmd_$arch.deb lacks $f"
	done
	dpkg-deb -c "$T/pvmctl_0.1.0_$arch.deb" | awk '{print $6}' | grep -qx ./usr/bin/pvmctl ||
		fail "pvmctl_$arch.deb lacks /usr/bin/pvmctl"
	[ "$(dpkg-deb -f "$T/pvmd_0.1.0_$arch.deb" Architecture)" = "$arch" ] || fail "pvmd is not $arch"
	lintian --fail-on error \
		"$T/pvm_0.1.0_$arch.changes" >"$T/lintian-$arch.log" 2>&1 ||
		{ cat "$T/lintian-$arch.log"; fail "lintian reports errors for $arch"; }
	echo "ok - $arch packages hold their files; lintian: $(grep -c '^[EW]:' "$T/lintian-$arch.log" || true) errors or warnings"
	grep -v "running with root privileges" "$T/lintian-$arch.log" | sed "s/^/# /" || true
}

build "$(dpkg --print-architecture)"
check "$(dpkg --print-architecture)"
if [ "$(dpkg --print-architecture)" = amd64 ]; then
	build arm64
	check arm64
fi
