#!/bin/bash
# VMs that outlive pvmd through a service manager's file-descriptor store, with
# fdstore-supervisor in systemd's part (NOTIFY_SOCKET, FDSTORE=1/FDSTOREREMOVE=1, LISTEN_FDS and
# LISTEN_FDNAMES to the restarted pvmd). A running guest's fds go to the store; pvmd killed
# with SIGKILL and restarted takes its runner over: the guest keeps running and still holds
# what it was told before (remember.elf answers with every line it kept); a guest with a disk and
# vsock keeps its CID, its <name>.vsock and its echo port, and once stopped cannot start again
# without its disks' fds, which only the runner held. A runner that died
# while pvmd was away, or a VM that was only created, is accounted for as without the store.
# SIGTERM that systemd does not call a restart still stops every VM.
. "$(dirname "$0")/bus-lib.sh"

write_policy
start_bus
start_supervised_pvmd
is_live() { [ -r "/proc/$1/stat" ] && [ "$(awk '{print $3}' "/proc/$1/stat")" != Z ]; }

# console_line NAME TEXT WANT: type TEXT and a newline into NAME's console; WANT comes back
CON_N=0
console_line() {
	CON_N=$((CON_N + 1))
	local out=$T/con$CON_N.out pid
	mkfifo "$T/con$CON_N.in"
	"$PVMCTL" console "$1" <"$T/con$CON_N.in" >"$out" 2>&1 &
	pid=$!
	exec 7>"$T/con$CON_N.in"
	printf '%s\n' "$2" >&7
	wait_until 10 grep -q "$3" "$out" || fail "console of $1: wanted '$3', got: $(cat "$out")"
	exec 7>&-
	kill "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
}

# --- a running guest's fds go to the store ---
vm_config r1 remember.elf >/dev/null
gcall CreateVM "$(cat "$T/r1.json")" "{'start': <true>}" >/dev/null
vm_config w1 wait-stop.elf >/dev/null
gcall CreateVM "$(cat "$T/w1.json")" "{'start': <true>}" >/dev/null
vm_config c1 wait-stop.elf >/dev/null
gcall CreateVM "$(cat "$T/c1.json")" '{}' >/dev/null
wait_until 15 vm_state_is r1 ready || fail "r1 not ready: $(vm_prop r1 Message)"
wait_until 15 vm_state_is w1 ready || fail "w1 not ready: $(vm_prop w1 Message)"
for v in r1 w1; do
	for k in control pidfd memory; do
		wait_until 5 stored "$v-$k" || fail "no FDSTORE of $v-$k: $(cat "$SUP/notify.log")"
	done
done
! stored c1-control || fail "c1 never ran, yet its fds were stored"
log "ok: the control socket, pidfd and memory of each running guest went to the store"
console_line r1 alpha "remember: alpha"
r1_pid=$(vm_prop r1 RunnerPID)
w1_pid=$(vm_prop w1 RunnerPID)

# a guest with a read-write disk (its fd passed by pvmctl) and vsock, echoing on port 1234
head -c 65536 /dev/urandom >"$T/v1.img"
cfg=$(vm_config v1 virtio-io.elf '"disks": [{"id": "d0", "read_only": false}], "vsock": true')
"$PVMCTL" start "$cfg" --disk-rw "$T/v1.img" --wait-ready >"$T/out" 2>&1 ||
	fail "start v1: $(cat "$T/out")"
wait_until 20 sh -c "'$PVMCTL' logs v1 | grep -q 'vsock cid'" || fail "v1 console: $("$PVMCTL" logs v1)"
v1_pid=$(vm_prop v1 RunnerPID)
v1_cid=$(vm_prop v1 VsockCID)
v1_sock=$(vm_prop v1 VsockSocket)
echo_v1() { # echo_v1 TEXT: TEXT comes back from the guest's port 1234
	printf '%s\n' "$1" | timeout 30 "$PVMCTL" connect v1 1234 >"$T/echo" 2>"$T/err" &&
		[ "$(cat "$T/echo")" = "$1" ]
}
echo_v1 before || fail "v1 echo before the restart: $(cat "$T/echo" "$T/err")"
jq -e ".vsock_cid == $v1_cid" "$T/run/state/v1.json" >/dev/null ||
	fail "v1's record has no vsock_cid $v1_cid: $(cat "$T/run/state/v1.json")"

# --- SIGKILL: the next pvmd takes the runners over; the guest kept its memory ---
old=$PVMD_PID
kill -KILL "$old"
wait_until 20 main_is_new "$old" || fail "pvmd not restarted by the supervisor"
log "pvmd $old killed; pvmd $PVMD_PID started with the stored fds"
grep -q "took over runner $r1_pid" "$T/pvmd1.log" || fail "no take-over of r1 in the log"
for v in r1 w1; do
	[ "$(vm_prop $v State)" = ready ] || fail "$v after the restart: $(vm_prop $v State) ($(vm_prop $v Message))"
done
[ "$(vm_prop r1 RunnerPID)" = "$r1_pid" ] || fail "r1 runner $(vm_prop r1 RunnerPID), was $r1_pid"
is_live "$r1_pid" && is_live "$w1_pid" || fail "runners did not survive"
[ "$(vm_prop r1 MemoryBacking)" = guest_memfd ] || fail "r1 memory: $(vm_prop r1 MemoryBacking)"
[ "$(vm_prop c1 State)" = created ] || fail "c1: $(vm_prop c1 State)"
console_line r1 beta "remember: alphabeta"
log "ok: after SIGKILL + restart r1 and w1 run on in the same runners; r1 still remembers 'alpha'"
[ "$(vm_prop v1 State)" = ready ] || fail "v1 after the restart: $(vm_prop v1 State) ($(vm_prop v1 Message))"
[ "$(vm_prop v1 RunnerPID)" = "$v1_pid" ] || fail "v1 runner $(vm_prop v1 RunnerPID), was $v1_pid"
[ "$(vm_prop v1 VsockCID)" = "$v1_cid" ] || fail "v1 CID $(vm_prop v1 VsockCID), was $v1_cid"
[ "$(vm_prop v1 VsockSocket)" = "$v1_sock" ] || fail "v1 socket $(vm_prop v1 VsockSocket)"
echo_v1 after || fail "v1 echo after the restart: $(cat "$T/echo" "$T/err")"
log "ok: v1 (disk, vsock) runs on in runner $v1_pid with CID $v1_cid; its port 1234 still echoes"

# --- a second take-over, and the stored fds leave the store when a VM ends ---
old=$PVMD_PID
kill -KILL "$old"
wait_until 20 main_is_new "$old" || fail "pvmd not restarted the second time"
console_line r1 gamma "remember: alphabetagamma"
gcall StopVM r1 0 >/dev/null
wait_until 15 vm_state_is r1 stopped || fail "r1 did not stop: $(vm_prop r1 State)"
[ "$(vm_prop r1 DeathReason)" = stopped ] || fail "r1 reason $(vm_prop r1 DeathReason)"
wait_until 5 removed r1-control || fail "r1's fds not removed from the store"
log "ok: a second restart taken over too; r1 stopped gracefully and left the store"
echo_v1 again || fail "v1 echo after the second restart: $(cat "$T/echo" "$T/err")"
"$PVMCTL" stop v1 >/dev/null || fail "stop v1"
wait_until 10 vm_state_is v1 stopped || fail "v1 did not stop: $(vm_prop v1 State)"
wait_until 5 not test -e "$v1_sock" || fail "$v1_sock outlived the run taken over"
"$PVMCTL" start v1 >"$T/out" 2>&1 && fail "v1 started again without its disk's fd"
grep -q "no descriptor for disk 0 ('d0')" "$T/out" || fail "v1 restart message: $(cat "$T/out")"
log "ok: v1 stopped, its vsock socket gone; starting it again asks for its disk"

# --- a runner that dies while pvmd is away: accounted for as without the store ---
kill -STOP "$SUP_PID"
old=$PVMD_PID
kill -KILL "$old"
kill -KILL "$w1_pid"
wait_until 10 proc_gone "$w1_pid" || fail "w1's runner did not die"
kill -CONT "$SUP_PID"
wait_until 20 main_is_new "$old" || fail "pvmd not restarted the third time"
[ "$(vm_prop w1 State)" = stopped ] || fail "w1: $(vm_prop w1 State)"
[ "$(vm_prop w1 Message)" = "pvmd restarted" ] || fail "w1 message: $(vm_prop w1 Message)"
log "ok: a runner gone while pvmd was away: w1 listed as stopped, 'pvmd restarted'"

# --- SIGTERM without a restart job (no systemd to say so): VMs are stopped ---
gcall StartVM w1 >/dev/null
wait_until 15 vm_state_is w1 ready || fail "w1 did not start again"
w1_pid=$(vm_prop w1 RunnerPID)
kill -TERM "$SUP_PID"
rc=0
wait "$SUP_PID" || rc=$?
PVMD_PID=
[ $rc -eq 0 ] || fail "pvmd exit status $rc after SIGTERM"
jq -e '.state == "stopped" and (.death_reason == "shutdown" or .death_reason == "stopped")' \
	"$T/run/state/w1.json" >/dev/null || fail "w1 record: $(cat "$T/run/state/w1.json")"
wait_until 5 proc_gone "$w1_pid" || fail "w1's runner still runs after SIGTERM"
log "ok: SIGTERM that is not a restart stopped w1"
log "PASS bus-fdstore"
