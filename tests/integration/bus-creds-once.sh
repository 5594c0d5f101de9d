#!/bin/bash
# pvmd asks the bus who is calling once per call: CreateVM with start, whose create, start and
# limit checks (before and after the payload copy) each need the caller, makes at most two
# GetConnectionCredentials round trips to the bus (sd-bus's sender credentials, and the group
# list), not two per check. A bus monitor counts pvmd's calls to the bus daemon.
. "$(dirname "$0")/bus-lib.sh"

setup_pvmd
pvmd_name=$(busctl --system call org.freedesktop.DBus /org/freedesktop/DBus org.freedesktop.DBus \
	GetNameOwner s org.pvm1 | awk '{print $2}' | tr -d '"')
[ -n "$pvmd_name" ] || fail "no unique name for org.pvm1"
cfg=$(vm_config once halt-idle.elf)

dbus-monitor --system "type='method_call',sender='$pvmd_name',destination='org.freedesktop.DBus'" \
	>"$T/monitor.out" 2>&1 &
PIDS+=($!)
# a monitor's first line is the NameLost of its own name: from then on it sees everything
wait_until 10 grep -q NameLost "$T/monitor.out" || fail "dbus-monitor did not start"

gcall CreateVM "$(cat "$cfg")" "{'start': <true>}" >/dev/null || fail "CreateVM(start) failed"
wait_until 20 vm_state_is once ready || fail "VM once not ready: $(vm_prop once State)"
# the names pvmd asked about, one per look-up; the first is the CreateVM caller's (the state
# polls after it come from other connections)
looked_up() {
	awk '/member=GetConnectionCredentials/ { want = 1; next }
	     want && /string/ { gsub(/"/, "", $2); print $2; want = 0 }' "$T/monitor.out"
}
wait_until 10 test -n "$(looked_up)" || fail "the monitor saw no credential look-up"
caller=$(looked_up | head -n 1)
n=$(looked_up | grep -cx -- "$caller")
[ "$n" -le 2 ] || fail "$n credential round trips for one CreateVM(start) call, want at most 2"
log "ok: $n credential round trips for one CreateVM(start) call"
log "PASS bus-creds-once"
