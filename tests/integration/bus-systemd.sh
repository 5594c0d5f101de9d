#!/bin/bash
# pvmd's systemd integration without systemd as PID 1: the sd_notify protocol on a socket the
# test owns (READY=1 once org.pvm1 is taken, STATUS= with the running VMs, WATCHDOG=1 pings
# when WATCHDOG_USEC is set, STOPPING=1 on SIGTERM), and registration of each running VM with
# a machined (here a stand-in that records the calls: class "vm", the runner as leader), undone
# when the VM stops.
. "$(dirname "$0")/bus-lib.sh"

: "${FAKE_MACHINED:?}"
write_policy
# let root own machine1 on this bus, as the real machined's bus policy does
BUS_EXTRA_POLICY='<policy user="root"><allow own="org.freedesktop.machine1"/><allow send_destination="org.freedesktop.machine1"/></policy>'
start_bus

"$FAKE_MACHINED" >"$T/machined.log" 2>&1 &
PIDS+=($!)
wait_until 10 grep -q ready "$T/machined.log" || fail "fake machined: $(cat "$T/machined.log")"

python3 -u - "$T/notify" >"$T/notify.log" 2>&1 <<'PY' &
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
print("listening")
while True:
    print(s.recv(4096).decode().replace("\n", " "))
PY
PIDS+=($!)
wait_until 10 grep -q listening "$T/notify.log" || fail "notify listener"

NOTIFY_SOCKET=$T/notify WATCHDOG_USEC=300000 start_pvmd --machined
wait_until 5 grep -q "READY=1" "$T/notify.log" || fail "no READY=1"
wait_until 5 grep -q "STATUS=0 VMs running, 0 known" "$T/notify.log" || fail "no STATUS: $(cat "$T/notify.log")"
# the event loop pings at half the interval: several pings within a second
pings_seen() { [ "$(grep -c '^WATCHDOG=1' "$T/notify.log")" -ge 3 ]; }
wait_until 5 pings_seen || fail "no WATCHDOG=1 pings: $(cat "$T/notify.log")"
log "ok: READY=1, STATUS=, WATCHDOG=1"

cfg=$(vm_config m1 wait-stop.elf)
"$PVMCTL" start "$cfg" --wait-ready >/dev/null || fail "start m1"
pid=$(vm_prop m1 RunnerPID)
wait_until 5 grep -q "STATUS=1 VMs running, 1 known" "$T/notify.log" || fail "STATUS did not count m1"
wait_until 5 grep -q "RegisterMachine name=m1 id_len=16 service=pvm class=vm leader=$pid root=$" "$T/machined.log" ||
	fail "machined registration: $(cat "$T/machined.log")"
"$PVMCTL" stop m1 >/dev/null || fail "stop m1"
wait_until 5 grep -q "UnregisterMachine name=m1" "$T/machined.log" || fail "no UnregisterMachine: $(cat "$T/machined.log")"
[ "$(grep -c "^RegisterMachine" "$T/machined.log")" -eq 1 ] || fail "registered more than once: $(cat "$T/machined.log")"
log "ok: machined registration (class vm, leader = runner $pid) and unregistration"

kill -TERM "$PVMD_PID"
wait "$PVMD_PID" || fail "pvmd exit status"
PVMD_PID=
grep -q "STOPPING=1" "$T/notify.log" || fail "no STOPPING=1"
log "ok: STOPPING=1 on SIGTERM"
log "PASS bus-systemd"
