#!/bin/bash
# pvmd's pool of ready runners (--runner-pool): by default two runners wait, children of pvmd,
# holding no VM; a StartVM hands one of them its VM and another takes its place; SIGHUP (a
# reload) replaces every waiting runner; SIGTERM ends them with pvmd; --runner-pool 0 keeps none
# and VMs still start; a bad value is refused at start.
. "$(dirname "$0")/bus-lib.sh"

waiting() { # pvmd's children running the runner and holding no VM
	local p
	for p in $(pgrep -P "$PVMD_PID"); do
		is_live_runner "$p" && ! ls -l "/proc/$p/fd" 2>/dev/null | grep -q kvm-vm && echo "$p"
	done
	return 0
}
n_waiting() { waiting | wc -l; }
waiting_is() { [ "$(n_waiting)" -eq "$1" ]; }
none_of() { # none_of "PIDS": two runners wait, none of them one of PIDS
	local p
	for p in $(waiting); do [[ " $1 " != *" $p "* ]] || return 1; done
	waiting_is 2
}

setup_pvmd
wait_until 20 waiting_is 2 || fail "the pool did not fill: $(n_waiting) waiting runners"
before=$(waiting | tr '\n' ' ')
for p in $before; do
	[ "$(awk '/^Uid:/ {print $2}' "/proc/$p/status")" -ne 0 ] || fail "waiting runner $p is root"
done
log "ok: two runners wait ($before), none root"

# a start takes one of them; the pool refills with another process
vm_config p1 wait-stop.elf >/dev/null
gcall CreateVM "$(cat "$T/p1.json")" "{'start': <true>}" >/dev/null
wait_until 15 vm_state_is p1 ready || fail "p1 not ready: $(vm_prop p1 State)"
pid=$(vm_prop p1 RunnerPID)
[[ " $before " == *" $pid "* ]] || fail "p1 runs in runner $pid, not one that waited ($before)"
wait_until 20 none_of "$pid" || fail "the pool did not refill: $(waiting | tr '\n' ' ')"
log "ok: p1 runs in waiting runner $pid; the pool refilled"

# a reload replaces every waiting runner
before=$(waiting | tr '\n' ' ')
kill -HUP "$PVMD_PID"
wait_until 20 none_of "$before" || fail "SIGHUP did not replace the waiting runners ($before): $(waiting | tr '\n' ' ')"
is_live_runner "$pid" || fail "the reload ended p1's runner"
log "ok: a reload replaced the waiting runners, p1 runs on"

# shutdown: the waiting runners end with pvmd
before=$(waiting | tr '\n' ' ')
kill -TERM "$PVMD_PID"
wait "$PVMD_PID" || fail "pvmd exit status"
PVMD_PID=
gone_all() { local p; for p in $1; do proc_gone "$p" || return 1; done; }
wait_until 10 gone_all "$before $pid" || fail "runners left after pvmd's exit"
log "ok: SIGTERM ended the waiting runners with pvmd"

# no pool: VMs start all the same, nothing waits
start_pvmd --runner-pool 0
gcall StartVM p1 >/dev/null 2>&1 || gcall CreateVM "$(cat "$T/p1.json")" "{'start': <true>}" >/dev/null
wait_until 15 vm_state_is p1 ready || fail "p1 not ready without a pool: $(vm_prop p1 State)"
waiting_is 0 || fail "--runner-pool 0 keeps $(n_waiting) runners"
log "ok: --runner-pool 0: no runner waits, VMs start"
kill -TERM "$PVMD_PID"
wait "$PVMD_PID" || fail "pvmd exit status"
PVMD_PID=

"$PVMD" --runner-pool 65 --runtime-dir "$T/run" >"$T/bad.log" 2>&1 && fail "--runner-pool 65 accepted"
grep -q "runner-pool" "$T/bad.log" || fail "--runner-pool 65: $(cat "$T/bad.log")"
log "ok: --runner-pool 65 refused"
log "PASS"
