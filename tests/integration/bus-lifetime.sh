#!/bin/bash
# VM lifetime across clients and pvmd itself: a VM tied to its client stops when the client's
# connection closes (pvmctl --tie, and busctl, which leaves right after its call); pvmd killed
# with SIGKILL and restarted ends the runners it left and accounts for every VM; SIGTERM stops
# every VM within the shutdown timeout and refuses new ones meanwhile.
. "$(dirname "$0")/bus-lib.sh"

setup_pvmd


# --- tied to pvmctl: ends when pvmctl exits ---
cfg=$(vm_config tied1 wait-stop.elf)
"$PVMCTL" start "$cfg" --tie >"$T/tie.out" 2>&1 &
tie_pid=$!
PIDS+=($tie_pid)
wait_until 15 vm_state_is tied1 ready || fail "tied1 not ready: $(cat "$T/tie.out")"
[ "$(vm_prop tied1 Tied)" = true ] || fail "tied1 Tied=$(vm_prop tied1 Tied)"
kill -0 $tie_pid || fail "pvmctl --tie exited early: $(cat "$T/tie.out")"
kill -TERM $tie_pid
wait $tie_pid || true
wait_until 15 vm_state_is tied1 stopped || fail "tied1 still $(vm_prop tied1 State) after its client left"
[ "$(vm_prop tied1 Tied)" = false ] || fail "tied1 still tied"
log "ok: VM tied to pvmctl stopped when pvmctl exited ($(vm_prop tied1 DeathReason))"

# --- tied to busctl: busctl leaves right after the reply ---
vm_config tied2 wait-stop.elf >/dev/null
busctl --system call org.pvm1 /org/pvm1 org.pvm1.Manager CreateVM 'sa{sv}' "$(cat "$T/tied2.json")" \
	2 start b true tie b true >/dev/null
wait_until 15 vm_state_is tied2 stopped || fail "tied2 still $(vm_prop tied2 State) after busctl left"
log "ok: VM tied to busctl stopped when busctl's connection closed"
# untied VMs outlive their creator
vm_config free1 wait-stop.elf >/dev/null
busctl --system call org.pvm1 /org/pvm1 org.pvm1.Manager CreateVM 'sa{sv}' "$(cat "$T/free1.json")" \
	1 start b true >/dev/null
wait_until 15 vm_state_is free1 ready || fail "free1 not ready"

# --- SIGKILL and restart: every VM accounted for ---
vm_config created1 wait-stop.elf >/dev/null
gcall CreateVM "$(cat "$T/created1.json")" '{}' >/dev/null
vm_config spin1 spin.elf >/dev/null
gcall CreateVM "$(cat "$T/spin1.json")" "{'start': <true>}" >/dev/null
wait_until 15 vm_state_is spin1 ready || fail "spin1 not ready"
free_pid=$(vm_prop free1 RunnerPID)
spin_pid=$(vm_prop spin1 RunnerPID)
is_live_runner "$free_pid" && is_live_runner "$spin_pid" || fail "runners not live before the kill"
names_before=$(gcall ListVMs | grep -o "('[^']*'" | sort | tr -d "('" | tr '\n' ' ')
kill -KILL "$PVMD_PID"
wait "$PVMD_PID" 2>/dev/null || true
PVMD_PID=
log "pvmd killed; runners $free_pid $spin_pid"
start_pvmd
names_after=$(gcall ListVMs | grep -o "('[^']*'" | sort | tr -d "('" | tr '\n' ' ')
[ "$names_before" = "$names_after" ] || fail "VMs before the kill: $names_before; after: $names_after"
for v in free1 spin1; do
	[ "$(vm_prop $v State)" = stopped ] || fail "$v: $(vm_prop $v State)"
	[ "$(vm_prop $v DeathReason)" = killed ] || fail "$v: $(vm_prop $v DeathReason)"
	[ "$(vm_prop $v Message)" = "pvmd restarted" ] || fail "$v: message '$(vm_prop $v Message)'"
	[ "$(vm_prop $v RunnerPID)" = 0 ] || fail "$v RunnerPID"
done
wait_until 10 not is_live_runner "$free_pid" || fail "runner $free_pid of free1 still runs"
wait_until 10 not is_live_runner "$spin_pid" || fail "runner $spin_pid of spin1 still runs"
[ "$(vm_prop created1 State)" = created ] || fail "created1: $(vm_prop created1 State)"
[ "$(vm_prop tied1 State)" = stopped ] || fail "tied1: $(vm_prop tied1 State)"
grep -q "killed runner $spin_pid left by the previous pvmd\|VM 'spin1' recovered" "$T/pvmd$PVMD_N.log" ||
	fail "pvmd did not report the recovery"
log "ok: after SIGKILL + restart: $names_after all accounted for, runners ended"
# a recovered VM starts again
gcall StartVM free1 >/dev/null
wait_until 15 vm_state_is free1 ready || fail "free1 did not start again after recovery"

# --- SIGTERM: graceful within the bound, no new VMs meanwhile ---
gcall StartVM spin1 >/dev/null
wait_until 15 vm_state_is spin1 ready || fail "spin1 restart"
t0=$(date +%s%N)
kill -TERM "$PVMD_PID"
shutting_down() { busctl --system get-property org.pvm1 /org/pvm1 org.pvm1.Manager ShuttingDown | grep -q "b true"; }
wait_until 5 shutting_down || fail "pvmd did not enter its shutdown"
expect_error org.pvm1.Error.ShuttingDown gcall CreateVM "$(cat "$T/created1.json")" "{'name': <'late'>}"
rc=0
wait "$PVMD_PID" || rc=$?
PVMD_PID=
t1=$(date +%s%N)
[ $rc -eq 0 ] || fail "pvmd exit status $rc after SIGTERM"
elapsed=$(((t1 - t0) / 1000000))
[ $elapsed -lt 12000 ] || fail "shutdown took ${elapsed} ms (bound: 10 s + 2 s)"
jq -e '.state == "stopped" and (.death_reason == "shutdown" or .death_reason == "stopped")' \
	"$T/run/state/free1.json" >/dev/null || fail "free1 record: $(cat "$T/run/state/free1.json")"
jq -e '.state == "stopped" and .death_reason == "killed"' "$T/run/state/spin1.json" >/dev/null ||
	fail "spin1 record (ignores stop, so killed at the timeout): $(cat "$T/run/state/spin1.json")"
log "ok: SIGTERM stopped every VM in ${elapsed} ms and pvmd exited 0"
log "PASS bus-lifetime"
