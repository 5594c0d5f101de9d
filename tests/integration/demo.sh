#!/bin/bash
# scripts/demo end to end on this build, in a mount namespace where /sys/fs/cgroup is an empty
# tmpfs (as on hosts without cgroupfs): readiness must not depend on credentials sd-bus reads
# from cgroupfs, the sample VM must run, and the demo must clean up every process it started.
# Inputs: PVM_SRCDIR, PVM_BUILD_DIR (from meson).
set -euo pipefail
[ "$(id -u)" -eq 0 ] || { echo "needs root"; exit 77; }
[ -c /dev/kvm ] || { echo "no /dev/kvm"; exit 77; }
: "${PVM_SRCDIR:?}" "${PVM_BUILD_DIR:?}"
out=$(mktemp /tmp/pvm-demo-test.XXXXXX)
trap 'rm -f "$out"' EXIT

rc=0
unshare --mount --propagation private sh -c \
	'mount -t tmpfs -o mode=755 pvm-no-cgroupfs /sys/fs/cgroup && exec "$0"' \
	"$PVM_SRCDIR/scripts/demo" >"$out" 2>&1 || rc=$?
cat "$out"
[ $rc -eq 0 ] || { echo "FAIL: the demo exited $rc without cgroupfs"; exit 1; }
grep -q "pvmd did not start" "$out" && { echo "FAIL: the demo says pvmd did not start"; exit 1; }
grep -Eq "^State: +running|\"state\": \"stopped\"" "$out" || grep -q '"stopped"' "$out" ||
	{ echo "FAIL: the demo never showed the VM stopped"; exit 1; }
if grep -q "no protected VM type" "$out"; then
	# the explanation comes first, as a note, and nothing before it reads as an error
	first=$(grep -n -m1 "no protected VM type" "$out" | cut -d: -f1)
	sed -n "${first}p" "$out" | grep -q "^note:" ||
		{ echo "FAIL: the protected-VM explanation is not a note"; exit 1; }
	sed -n "1,${first}p" "$out" | grep -qi "^error\|failed to start" &&
		{ echo "FAIL: an error is printed before the explanation"; exit 1; }
fi
echo "ok - the demo runs without cgroupfs"
