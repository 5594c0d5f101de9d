#!/bin/bash
# pvmd's system integration without systemd as PID 1: the sd_notify protocol on a socket the
# test owns (READY=1 once org.pvm1 is taken, STATUS= with the running VMs, WATCHDOG=1 pings
# when WATCHDOG_USEC is set, STOPPING=1 on SIGTERM); registration of each running VM with a
# machined (a stand-in that records the calls: class "vm", the runner as leader, its own scope
# with memory and task limits from the config), undone when
# the VM stops; polkit (a stand-in answering from a file) asked for a destructive call on
# another user's VM after the policy files allowed it, and obeyed; SIGHUP reloads the policy;
# started with the usual service soft limit of 1024 open files, pvmd raises it to the hard one.
. "$(dirname "$0")/bus-lib.sh"

: "${FAKE_SERVICES:?}"
write_policy
# let root own machine1 on this bus, as the real machined's bus policy does
BUS_EXTRA_POLICY='<policy user="root"><allow own="org.freedesktop.machine1"/><allow send_destination="org.freedesktop.machine1"/><allow own="org.freedesktop.PolicyKit1"/><allow send_destination="org.freedesktop.PolicyKit1"/></policy>'
# nobody may also stop the VMs named pk-* of anyone: then polkit is asked too
cat >"$T/policy/80-test-polkit.json" <<EOF2
{ "rules": [ { "who": { "users": [$NOBODY] }, "actions": ["stop"], "vms": ["pk-*"] } ] }
EOF2
start_bus

"$FAKE_SERVICES" machined >"$T/machined.log" 2>&1 &
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

ulimit -Sn 1024 # as systemd starts services
NOTIFY_SOCKET=$T/notify WATCHDOG_USEC=300000 start_pvmd --machined
# a few fds per VM: pvmd takes the hard limit rather than stop near 256 VMs
read -r soft hard < <(awk '/^Max open files/ {print $4, $5}' "/proc/$PVMD_PID/limits")
[ "$soft" = "$hard" ] || fail "pvmd's open file limit: soft $soft, hard $hard"
wait_until 5 grep -q "READY=1" "$T/notify.log" || fail "no READY=1"
wait_until 5 grep -q "STATUS=0 VMs running, 0 known" "$T/notify.log" || fail "no STATUS: $(cat "$T/notify.log")"
# the event loop pings at half the interval: several pings within a second
pings_seen() { [ "$(grep -c '^WATCHDOG=1' "$T/notify.log")" -ge 3 ]; }
wait_until 5 pings_seen || fail "no WATCHDOG=1 pings: $(cat "$T/notify.log")"
log "ok: READY=1, STATUS=, WATCHDOG=1, open file limit $soft"

cfg=$(vm_config m1 wait-stop.elf)
"$PVMCTL" start "$cfg" --wait-ready >/dev/null || fail "start m1"
pid=$(vm_prop m1 RunnerPID)
wait_until 5 grep -q "STATUS=1 VMs running, 1 known" "$T/notify.log" || fail "STATUS did not count m1"
# its own scope, limited to its guest memory (16 MiB) + 64 MiB and 1 vCPU + 4 tasks
wait_until 5 grep -q "CreateMachine name=m1 id_len=16 service=pvm class=vm leader=$pid root= Description=pvm VM m1 MemoryMax=$((80 << 20)) TasksMax=5$" "$T/machined.log" ||
	fail "machined registration: $(cat "$T/machined.log")"
"$PVMCTL" stop m1 >/dev/null || fail "stop m1"
wait_until 5 grep -q "UnregisterMachine name=m1" "$T/machined.log" || fail "no UnregisterMachine: $(cat "$T/machined.log")"
[ "$(grep -c "Machine name=m1 " "$T/machined.log")" -eq 1 ] || fail "registered more than once: $(cat "$T/machined.log")"
log "ok: machined registration (class vm, leader = runner $pid, its scope's limits) and unregistration"

# --- without polkit on the bus, the policy files alone decide ---
vm_config pk-0 wait-stop.elf >/dev/null
"$PVMCTL" start "$T/pk-0.json" --wait-ready >/dev/null || fail "start pk-0"
as_nobody "$PVMCTL" kill pk-0 >/dev/null || fail "nobody could not kill pk-0 with no polkit running"
log "ok: no polkit: the policy files alone allowed nobody to kill root's pk-0"

# --- polkit: asked about nobody stopping root's pk-1, and obeyed ---
echo no >"$T/polkit-answer"
"$FAKE_SERVICES" polkit "$T/polkit-answer" >"$T/polkit.log" 2>&1 &
PIDS+=($!)
wait_until 10 grep -q ready "$T/polkit.log" || fail "fake polkit: $(cat "$T/polkit.log")"
vm_config pk-1 wait-stop.elf >/dev/null
"$PVMCTL" start "$T/pk-1.json" --wait-ready >/dev/null || fail "start pk-1"
expect_error org.pvm1.Error.PolicyDenied as_nobody gdbus call --system --dest org.pvm1 \
	--object-path /org/pvm1 --method org.pvm1.Manager.KillVM pk-1
grep -q "action=org.pvm1.kill-vm flags=0 -> no" "$T/polkit.log" || fail "polkit not asked: $(cat "$T/polkit.log")"
grep -q "kind=system-bus-name name=:1\.[0-9]* action" "$T/polkit.log" || fail "polkit subject: $(cat "$T/polkit.log")"
[ "$(vm_prop pk-1 State)" = ready ] || fail "pk-1 was stopped although polkit said no"
echo yes >"$T/polkit-answer"
as_nobody "$PVMCTL" stop pk-1 --timeout 5 >/dev/null || fail "nobody could not stop pk-1 with polkit's yes"
grep -q "action=org.pvm1.stop-vm flags=0 -> yes" "$T/polkit.log" || fail "polkit: $(cat "$T/polkit.log")"
asked=$(grep -c CheckAuthorization "$T/polkit.log")
# root and owners are decided by the policy files alone
gcall StartVM m1 >/dev/null && wait_until 10 vm_state_is m1 ready && "$PVMCTL" stop m1 >/dev/null ||
	fail "root restart/stop m1"
[ "$(grep -c CheckAuthorization "$T/polkit.log")" -eq "$asked" ] || fail "polkit asked about root's own stop"
log "ok: polkit asked for another user's VM (kill-vm: no -> PolicyDenied, stop-vm: yes -> stopped), not for root"

# --- the interaction flag: pvmctl at a terminal lets polkit ask for a password; with
# --no-ask-password, or with no terminal, polkit must answer without asking ---
echo no >"$T/polkit-answer"
vm_config pk-2 wait-stop.elf >/dev/null
"$PVMCTL" start "$T/pk-2.json" --wait-ready >/dev/null || fail "start pk-2"
asked_as() { grep -c "action=org.pvm1.stop-vm flags=$1 -> no" "$T/polkit.log"; }
on_tty() { script -qec "$*" /dev/null; } # a pseudo-terminal as stdin, as at a shell prompt
as_nobody bash -c "$(declare -f on_tty); on_tty $PVMCTL stop pk-2 --timeout 5" >"$T/tty.out" 2>&1 &&
	fail "nobody stopped pk-2 although polkit said no"
[ "$(asked_as 1)" -eq 1 ] || fail "pvmctl at a terminal: polkit not asked interactively: $(cat "$T/polkit.log")"
grep -q "polkit denied org.pvm1.stop-vm" "$T/tty.out" || fail "pvmctl at a terminal: $(cat "$T/tty.out")"
as_nobody bash -c "$(declare -f on_tty); on_tty $PVMCTL stop pk-2 --no-ask-password" >/dev/null 2>&1 &&
	fail "nobody stopped pk-2 (--no-ask-password)"
[ "$(asked_as 1)" -eq 1 ] && [ "$(asked_as 0)" -eq 1 ] ||
	fail "--no-ask-password at a terminal: $(cat "$T/polkit.log")"
as_nobody "$PVMCTL" stop pk-2 </dev/null >/dev/null 2>&1 && fail "nobody stopped pk-2 (no terminal)"
[ "$(asked_as 1)" -eq 1 ] && [ "$(asked_as 0)" -eq 2 ] || fail "no terminal: $(cat "$T/polkit.log")"
[ "$(vm_prop pk-2 State)" = ready ] || fail "pk-2 was stopped although polkit said no"
log "ok: pvmctl's calls allow interactive authorization at a terminal only, never with --no-ask-password"

# --- SIGHUP reloads the policy ---
expect_error org.pvm1.Error.NoSuchVM as_nobody gdbus call --system --dest org.pvm1 \
	--object-path /org/pvm1 --method org.pvm1.Manager.GetVM nope
as_nobody gdbus call --system --dest org.pvm1 --object-path /org/pvm1 --method org.pvm1.Manager.GetVM m1 \
	>/dev/null || fail "nobody may inspect m1 before the reload"
cat >"$T/policy/90-test-deny.json" <<EOF2
{ "rules": [ { "who": { "users": [$NOBODY] }, "actions": ["inspect"], "vms": ["m1"], "effect": "deny" } ] }
EOF2
kill -HUP "$PVMD_PID"
wait_until 5 grep -q "Policy reloaded" "$T/pvmd$PVMD_N.log" || fail "no reload"
expect_error org.pvm1.Error.NoSuchVM as_nobody gdbus call --system --dest org.pvm1 \
	--object-path /org/pvm1 --method org.pvm1.Manager.GetVM m1
echo '{ broken' >"$T/policy/95-broken.json"
kill -HUP "$PVMD_PID"
wait_until 5 grep -q "previous policy stays in force" "$T/pvmd$PVMD_N.log" || fail "broken policy not reported"
expect_error org.pvm1.Error.NoSuchVM as_nobody gdbus call --system --dest org.pvm1 \
	--object-path /org/pvm1 --method org.pvm1.Manager.GetVM m1
log "ok: SIGHUP reloads the policy; a broken one leaves the previous in force"

# --- Reload (ExecReload): answers only once the policy is read, and says when it did not load ---
expect_error org.pvm1.Error.InvalidConfig gcall Reload
rm "$T/policy/95-broken.json" "$T/policy/90-test-deny.json"
reloads=$(grep -c "^RELOADING=1" "$T/notify.log")
busctl --system call org.pvm1 /org/pvm1 org.pvm1.Manager Reload || fail "Reload of a good policy failed"
# the deny rule is gone as soon as Reload has answered: no waiting
as_nobody gdbus call --system --dest org.pvm1 --object-path /org/pvm1 \
	--method org.pvm1.Manager.GetVM m1 >/dev/null || fail "Reload answered before the new policy was in force"
wait_until 5 test "$(grep -c "^RELOADING=1" "$T/notify.log")" -gt "$reloads" || fail "no RELOADING=1"
expect_error org.pvm1.Error.PolicyDenied as_nobody gdbus call --system --dest org.pvm1 --object-path /org/pvm1 --method org.pvm1.Manager.Reload
log "ok: Reload is synchronous, fails on a broken policy, sends RELOADING=1, root only"

kill -TERM "$PVMD_PID"
wait "$PVMD_PID" || fail "pvmd exit status"
PVMD_PID=
wait_until 5 grep -q "STOPPING=1" "$T/notify.log" || fail "no STOPPING=1"
log "ok: STOPPING=1 on SIGTERM"
log "PASS bus-systemd"
