#!/bin/bash
# Losing the system bus: when dbus-daemon dies, pvmd and its untied VMs run on; once a bus
# answers on the same address again, pvmd owns org.pvm1 there and pvmctl sees the same VMs,
# same runners. A VM tied to a client is stopped (the client's connection ended with the bus),
# and its message says so. When no bus comes back within --bus-reconnect-timeout, pvmd stops
# every VM, exits non-zero saying why, and the records say what ended the VMs.
. "$(dirname "$0")/bus-lib.sh"

setup_pvmd

vm_config free1 wait-stop.elf >/dev/null
gcall CreateVM "$(cat "$T/free1.json")" "{'start': <true>}" >/dev/null
vm_config spin1 spin.elf >/dev/null
gcall CreateVM "$(cat "$T/spin1.json")" "{'start': <true>}" >/dev/null
"$PVMCTL" start "$(vm_config tied1 wait-stop.elf)" --tie >"$T/tie.out" 2>&1 &
PIDS+=($!)
for v in free1 spin1 tied1; do
	wait_until 15 vm_state_is $v ready || fail "$v not ready: $(vm_prop $v State)"
done
free_pid=$(vm_prop free1 RunnerPID)
spin_pid=$(vm_prop spin1 RunnerPID)

# --- the bus dies; pvmd and the VMs do not ---
kill -KILL "$BUS_PID"
wait "$BUS_PID" 2>/dev/null || true
BUS_PID=
lost() { grep -q "Lost the system bus" "$T/pvmd$PVMD_N.log"; }
wait_until 10 lost || fail "pvmd did not notice the bus going away"
not proc_gone "$PVMD_PID" || fail "pvmd exited when the bus went away"
is_live_runner "$free_pid" && is_live_runner "$spin_pid" || fail "runners died with the bus"
log "ok: bus killed; pvmd $PVMD_PID and runners $free_pid $spin_pid run on"

# --- the bus comes back on the same address: same VMs, same runners ---
start_bus
wait_until 20 pvmd_up || fail "pvmd did not take org.pvm1 again"
busctl --system status org.pvm1 >/dev/null 2>&1 || fail "pvmd exited: $(tail -n 5 "$T/pvmd$PVMD_N.log")"
"$PVMCTL" list >"$T/list" 2>&1 || fail "pvmctl list: $(cat "$T/list")"
for v in free1 spin1; do
	grep -q "^$v *ready" "$T/list" || fail "pvmctl list after the bus came back: $(cat "$T/list")"
done
[ "$(vm_prop free1 RunnerPID)" = "$free_pid" ] || fail "free1 runs a new runner"
[ "$(vm_prop spin1 RunnerPID)" = "$spin_pid" ] || fail "spin1 runs a new runner"
wait_until 15 vm_state_is tied1 stopped || fail "tied1: $(vm_prop tied1 State)"
vm_prop tied1 Message | grep -q "tied to lost its connection when the system bus went away" ||
	fail "tied1 message: $(vm_prop tied1 Message)"
[ "$(vm_prop tied1 Tied)" = false ] || fail "tied1 still tied"
grep -q "Back on the system bus" "$T/pvmd$PVMD_N.log" || fail "pvmd did not log the reconnection"
log "ok: after the bus came back: $(tr '\n' ' ' <"$T/list")"
# it serves calls as before
gcall StopVM free1 0 >/dev/null
wait_until 15 vm_state_is free1 stopped || fail "free1 did not stop after the reconnection"

# --- no bus comes back: pvmd gives up, stops the VMs, exits non-zero ---
stop_pid "$PVMD_PID"
PVMD_PID=
start_pvmd --bus-reconnect-timeout 2
gcall StartVM free1 >/dev/null
wait_until 15 vm_state_is free1 ready || fail "free1 did not start"
free_pid=$(vm_prop free1 RunnerPID)
kill -KILL "$BUS_PID"
wait "$BUS_PID" 2>/dev/null || true
BUS_PID=
wait_until 30 proc_gone "$PVMD_PID" || fail "pvmd still runs long after giving up"
rc=0
wait "$PVMD_PID" || rc=$?
PVMD_PID=
[ $rc -ne 0 ] || fail "pvmd exited 0 after losing the bus for good"
grep -q "lost the system bus and could not reconnect within 2 s" "$T/pvmd$PVMD_N.log" ||
	fail "pvmd did not say why it exited: $(tail -n 5 "$T/pvmd$PVMD_N.log")"
wait_until 10 not is_live_runner "$free_pid" || fail "runner $free_pid outlived pvmd"
jq -e '.state == "stopped" and (.message | contains("lost the system bus"))' \
	"$T/run/state/free1.json" >/dev/null || fail "free1 record: $(cat "$T/run/state/free1.json")"
log "ok: without a bus pvmd exited $rc: $(grep 'pvmd exits' "$T/pvmd$PVMD_N.log" | tail -n 1)"
log "PASS bus-reconnect"
