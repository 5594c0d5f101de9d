#!/bin/bash
# virtio devices through a real pvmd and pvmctl on real /dev/kvm: a disk passed as an fd
# (pvmctl start --disk-rw) with its sha256 checked, the guest's digest of sector 0 and the
# sector it writes back, the guest's CID and the VM's vsock socket (mode 0600, gone with the
# run), 1 MiB echoed through "pvmctl connect" in both directions, a config whose disks have no
# fds refused, and a hostile guest ending with protection-violation (its refused access in the
# VM's Message and in pvmd's log) while pvmd and the other VM carry on; and for an owner who is
# not root, a guest's connection to a host port through the listener pvmd makes (ListenVsock,
# pvmctl listen), which no other uid can connect to.
. "$(dirname "$0")/bus-lib.sh"

setup_pvmd

# a 64 KiB disk whose sector 0 is random
head -c 512 /dev/urandom >"$T/s0"
cp "$T/s0" "$T/disk.img"
truncate -s 64K "$T/disk.img"
sha=$(sha256sum "$T/disk.img" | cut -d' ' -f1)
# the guest prints FNV-1a of sector 0
h=2166136261
for b in $(od -An -v -tu1 "$T/s0"); do h=$((((h ^ b) * 16777619) & 0xffffffff)); done
printf -v fnv "0x%08x" "$h"

# a config with a disk but no descriptor for it
cfg=$(vm_config v0 virtio-io.elf '"disks": [{}]')
"$PVMCTL" start "$cfg" >"$T/out" 2>&1 && fail "a disk without a descriptor was accepted"
grep -q "1 disks but 0 descriptors" "$T/out" || fail "no-fd message: $(cat "$T/out")"

cfg=$(vm_config v1 virtio-io.elf \
	"\"disks\": [{\"id\": \"d0\", \"read_only\": false, \"sha256\": \"$sha\"}], \"vsock\": true")
"$PVMCTL" start "$cfg" --disk-rw "$T/disk.img" --wait-ready >"$T/out" 2>&1 ||
	fail "start v1: $(cat "$T/out")"
wait_until 20 sh -c "'$PVMCTL' logs v1 | grep -q 'vsock cid'" || fail "v1 console: $("$PVMCTL" logs v1)"
output_has "sector 0 fnv1a $fnv" "$PVMCTL" logs v1 || fail "digest: want $fnv, $("$PVMCTL" logs v1)"
# sector 1 is sector 0 with every byte inverted
cmp <(od -An -v -tu1 -j 512 -N 512 "$T/disk.img" | tr -s ' ' '\n' | grep . ) \
	<(od -An -v -tu1 "$T/s0" | tr -s ' ' '\n' | grep . | awk '{print 255 - $1}') ||
	fail "sector 1 is not sector 0 inverted"
cid=$(vm_prop v1 VsockCID)
[ "$cid" -ge 3 ] || fail "VsockCID $cid"
output_has "vsock cid $cid" "$PVMCTL" logs v1 || fail "the guest reads CID $cid"
sock=$(vm_prop v1 VsockSocket)
[ "$sock" = "$T/run/v1.vsock" ] || fail "VsockSocket $sock"
[ "$(stat -c %a "$sock")" = 600 ] || fail "vsock socket mode $(stat -c %a "$sock")"

# 1 MiB to the guest's echo port and back
head -c 1048576 /dev/urandom >"$T/in"
timeout 120 "$PVMCTL" connect v1 1234 <"$T/in" >"$T/echo" 2>"$T/err" || fail "connect: $(cat "$T/err")"
cmp "$T/in" "$T/echo" || fail "echo differs ($(stat -c %s "$T/echo") bytes back)"
log "ok: 1 MiB echoed through pvmctl connect"
# a port nobody listens on is refused
"$PVMCTL" connect v1 99 </dev/null >"$T/out" 2>&1 && fail "port 99 was connected"
grep -q "port 99 of VM 'v1'" "$T/out" || fail "refused connect message: $(cat "$T/out")"

# a hostile guest: rings outside the shared window
cfg=$(vm_config v2 virtio-io.elf '"params": "ring-outside", "disks": [{}]')
"$PVMCTL" start "$cfg" --disk "$T/disk.img" >"$T/out" 2>&1 || fail "start v2: $(cat "$T/out")"
wait_until 20 vm_state_is v2 failed || fail "v2 did not fail"
[ "$(vm_prop v2 DeathReason)" = protection-violation ] || fail "v2: $(vm_prop v2 DeathReason)"
vm_prop v2 Message | grep -q "outside the shared window" || fail "v2 message: $(vm_prop v2 Message)"
# refused and logged: pvmd's log says what the device refused, not only the death reason
grep -q "VM 'v2' is failed, reason protection-violation: .*outside the shared window" "$T"/pvmd*.log ||
	fail "pvmd's log lacks v2's refused access: $(grep "v2" "$T"/pvmd*.log | tail -n 3)"
# pvmd and v1 carry on
vm_state_is v1 ready || fail "v1 after v2: $(vm_prop v1 State)"
printf 'still here\n' | timeout 30 "$PVMCTL" connect v1 1234 >"$T/echo" 2>"$T/err" ||
	fail "connect after v2: $(cat "$T/err")"
[ "$(cat "$T/echo")" = "still here" ] || fail "second echo: $(cat "$T/echo")"

# --- a guest's own connection to a host port, for an owner who is not root: the runtime
# directory is pvmd's, so pvmd makes <name>.vsock_<port> (ListenVsock) and hands over the
# listening descriptor; the socket is the runner's alone (mode 0600), root's while no runner runs
cfg=$(vm_config n1 virtio-io.elf '"vsock": true')
as_nobody "$PVMCTL" start "$cfg" --wait-ready >"$T/out" 2>&1 || fail "nobody's n1: $(cat "$T/out")"
as_nobody "$PVMCTL" stop n1 >"$T/out" 2>&1 || fail "stop n1: $(cat "$T/out")"
lsock=$T/run/n1.vsock_5000
# the guest connects to host port 5000 once it is up, and echoes what comes
printf 'hello from the host\n' | as_nobody timeout 60 "$PVMCTL" listen n1 5000 >"$T/listen.out" 2>"$T/listen.err" &
listen_pid=$!
wait_until 10 test -S "$lsock" || fail "no listener at $lsock: $(cat "$T/listen.err")"
[ "$(stat -c '%a %u' "$lsock")" = "600 0" ] || fail "listener of a stopped VM: $(stat -c '%a %u' "$lsock")"
as_nobody "$PVMCTL" start n1 --wait-ready >"$T/out" 2>&1 || fail "start n1 again: $(cat "$T/out")"
wait_until 20 sh -c "'$PVMCTL' logs n1 | grep -q 'vsock connected'" || fail "n1 did not connect: $("$PVMCTL" logs n1)"
wait "$listen_pid" || fail "pvmctl listen: $(cat "$T/listen.err")"
[ "$(cat "$T/listen.out")" = "hello from the host" ] || fail "listen echo: $(cat "$T/listen.out" "$T/listen.err")"
runner_uid=$(awk '/^Uid:/ { print $2 }' "/proc/$(vm_prop n1 RunnerPID)/status")
[ "$(stat -c '%a %u' "$lsock")" = "600 $runner_uid" ] ||
	fail "listener while n1 runs: $(stat -c '%a %u' "$lsock"), runner uid $runner_uid"
log "ok: nobody's guest connected to host port 5000 through pvmd's listener (the runner's, uid $runner_uid, mode 0600)"
# nobody else can pose as the guest: another uid is refused by the socket's mode
out=$(setpriv --reuid=1 --regid=1 --clear-groups /usr/bin/python3 -c "
import socket, sys
s = socket.socket(socket.AF_UNIX)
try:
    s.connect(sys.argv[1])
except OSError as e:
    print(e.errno)
" "$lsock" 2>&1)
[ "$out" = 13 ] || fail "uid 1 connecting to $lsock: '$out' (want EACCES, 13)"
# a listener for a VM the caller may not attach to, a path pvmd did not make, a VM without vsock
expect_error org.pvm1.Error.PolicyDenied as_nobody gdbus call --system --dest org.pvm1 \
	--object-path /org/pvm1 --method org.pvm1.Manager.ListenVsock v1 5000
install -m 0600 /dev/null "$T/run/n1.vsock_6000"
expect_error "org.pvm1.Error.Busy.*pvmd did not make it" as_nobody gdbus call --system --dest org.pvm1 \
	--object-path /org/pvm1 --method org.pvm1.Manager.ListenVsock n1 6000
[ -e "$T/run/n1.vsock_6000" ] || fail "pvmd removed a file it did not make"
rm -f "$T/run/n1.vsock_6000"
expect_error "org.pvm1.Error.InvalidArgument.*no vsock device" gdbus call --system --dest org.pvm1 \
	--object-path /org/pvm1 --method org.pvm1.Manager.ListenVsock v2 5000
# the largest port is a port; 16 listeners per VM (5000 is one), then LimitExceeded
as_nobody gdbus call --system --dest org.pvm1 --object-path /org/pvm1 \
	--method org.pvm1.Manager.ListenVsock n1 4294967295 >/dev/null || fail "port 4294967295"
test -S "$T/run/n1.vsock_4294967295" || fail "no listener for port 4294967295"
for p in $(seq 7001 7014); do
	as_nobody gdbus call --system --dest org.pvm1 --object-path /org/pvm1 \
		--method org.pvm1.Manager.ListenVsock n1 "$p" >/dev/null || fail "listener $p"
done
expect_error "org.pvm1.Error.LimitExceeded.*16 listeners" as_nobody gdbus call --system --dest org.pvm1 \
	--object-path /org/pvm1 --method org.pvm1.Manager.ListenVsock n1 7015
# pvmctl takes the same ports as connect
expect_error "is not a port" as_nobody "$PVMCTL" listen n1 4294967296
log "ok: ListenVsock refuses another owner's VM, a path pvmd did not make, a VM without vsock and a 17th listener"
as_nobody "$PVMCTL" stop n1 >/dev/null || fail "stop n1"
as_nobody "$PVMCTL" remove n1 >/dev/null || fail "remove n1"
not test -e "$lsock" || fail "$lsock outlived its VM"
left=$(find "$T/run" -maxdepth 1 -name 'n1.vsock_*')
[ -z "$left" ] || fail "listeners outlived n1: $left"
log "ok: n1's 16 listeners went with the VM"

"$PVMCTL" stop v1 >/dev/null || fail "stop v1"
wait_until 10 not test -e "$sock" || fail "$sock outlived the run"
log "PASS"
