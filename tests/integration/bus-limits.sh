#!/bin/bash
# Every VM record counts: limits.vms counts the VMs a caller created and has not removed,
# running or not, and pvmd keeps at most --max-vms records in all (LimitExceeded beyond), so
# creating VMs without starting them cannot grow pvmd without bound. Records recovered after a
# restart are all kept, even beyond the cap.
. "$(dirname "$0")/bus-lib.sh"

write_policy # nobody: limits.vms 1
start_bus
start_pvmd --max-vms 3
cfg=$(vm_config l1 wait-stop.elf)
nb_call() {
	as_nobody gdbus call --system --dest org.pvm1 --object-path /org/pvm1 --method "org.pvm1.Manager.$1" "${@:2}"
}
nb_create() { # nb_create NAME: CreateVM as nobody, with the kernel passed as a descriptor
	local out
	out=$(as_nobody "$FD_CALLER" payload file "$cfg" "$PVM_GUEST_DIR/wait-stop.elf" "name=$1")
	echo "$out"
	[ "$out" = "reply $1" ]
}

# --- limits.vms counts created VMs ---
nb_create nb1 >/dev/null || fail "nobody may create nb1"
expect_error org.pvm1.Error.LimitExceeded nb_create nb2
# starting the one it has is not a second VM
nb_call StartVM nb1 >/dev/null || fail "nobody may start nb1"
wait_until 10 vm_state_is nb1 ready || fail "nb1 not ready"
nb_call StopVM nb1 2000000 >/dev/null
wait_until 10 vm_state_is nb1 stopped || fail "nb1 did not stop"
out=$(nb_create nb2) && fail "a stopped VM did not count"
grep -q "org.pvm1.Error.LimitExceeded.*limit of 1 VMs reached (1 exist, running or not" <<<"$out" ||
	fail "LimitExceeded message: $out"
nb_call RemoveVM nb1 >/dev/null
nb_create nb2 >/dev/null || fail "nb2 after removing nb1"
log "ok: limits.vms counts created VMs, running or not; removing one frees its place"

# --- --max-vms: records in all, whoever owns them ---
gcall CreateVM "$(cat "$cfg")" "{'name': <'r1'>}" >/dev/null
gcall CreateVM "$(cat "$cfg")" "{'name': <'r2'>}" >/dev/null
out=$(gcall CreateVM "$(cat "$cfg")" "{'name': <'r3'>}" 2>&1) && fail "a 4th VM beyond --max-vms 3"
grep -q "org.pvm1.Error.LimitExceeded: pvmd keeps at most 3 VMs" <<<"$out" || fail "cap message: $out"
# the cap is not a way to learn how many VMs others have: a caller who may not create is denied first
expect_error org.pvm1.Error.PolicyDenied setpriv --reuid=$STRANGER --regid=$STRANGER --clear-groups \
	--inh-caps=-all env DBUS_SYSTEM_BUS_ADDRESS="$DBUS_SYSTEM_BUS_ADDRESS" gdbus call --system \
	--dest org.pvm1 --object-path /org/pvm1 --method org.pvm1.Manager.CreateVM "$(cat "$cfg")" "{'name': <'s1'>}"
gcall RemoveVM r1 >/dev/null
gcall CreateVM "$(cat "$cfg")" "{'name': <'r3'>}" >/dev/null || fail "r3 after removing r1"
[ "$(ls "$T/run/state" | grep -c '\.json$')" = 3 ] || fail "state files: $(ls "$T/run/state")"
log "ok: --max-vms caps the records in all"

# --- a restart with a lower cap keeps every record, and creates nothing new ---
kill -TERM "$PVMD_PID"
wait "$PVMD_PID" || fail "pvmd exit status"
PVMD_PID=
start_pvmd --max-vms 2
out=$(gcall ListVMs)
n=$(grep -o "/org/pvm1/vm/" <<<"$out" | wc -l)
[ "$n" = 3 ] || fail "after restart with --max-vms 2: $n VMs listed, want 3: $out"
expect_error org.pvm1.Error.LimitExceeded gcall CreateVM "$(cat "$cfg")" "{'name': <'r4'>}"
log "ok: recovered records beyond --max-vms are kept; creation waits for removals"

# --- the option itself ---
for bad in 0 -1 x 65537; do
	if "$PVMD" --max-vms "$bad" --runtime-dir "$T/bad" >"$T/bad.log" 2>&1; then
		fail "--max-vms $bad accepted"
	fi
	grep -q -- "--max-vms: '$bad' is not a number from 1 to 65536" "$T/bad.log" || fail "--max-vms $bad: $(cat "$T/bad.log")"
done
log "ok: --max-vms takes 1..65536"
log "PASS bus-limits"
