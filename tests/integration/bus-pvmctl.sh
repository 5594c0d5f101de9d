#!/bin/bash
# pvmctl's online verbs against a real pvmd on a private bus and real /dev/kvm: start (with
# --wait-ready), list, inspect, logs, console (input echoed by the guest), monitor, stop, kill,
# remove; the --json schemas; the documented exit codes, for root and for nobody.
. "$(dirname "$0")/bus-lib.sh"

setup_pvmd
# expect_exit CODE CMD...: CMD exits with CODE
expect_exit() {
	local want=$1 rc=0
	shift
	"$@" >"$T/out" 2>"$T/err" || rc=$?
	[ $rc -eq "$want" ] || fail "exit $rc (want $want) from: $* -- $(cat "$T/out" "$T/err")"
	log "ok: exit $want <- $*"
}

"$PVMCTL" monitor --json >"$T/monitor.jsonl" 2>"$T/monitor.err" &
PIDS+=($!)
# it says so on stderr once its matches are in place
wait_until 10 grep -q "Monitoring pvmd events" "$T/monitor.err" || fail "pvmctl monitor did not start"

# --- start, list, inspect, logs ---
cfg=$(vm_config p1 wait-stop.elf)
expect_exit 0 "$PVMCTL" start "$cfg" --wait-ready
grep -q "Started VM 'p1'" "$T/out" || fail "start output: $(cat "$T/out")"
[ "$(vm_prop p1 State)" = ready ] || fail "p1 not ready after --wait-ready"

expect_exit 0 "$PVMCTL" list
grep -Eq "^NAME +STATE" "$T/out" || fail "list header: $(cat "$T/out")"
grep -Eq "^p1 +ready +- +no +16M +1 +root +[0-9]+$" "$T/out" || fail "list row: $(cat "$T/out")"
grep -q "^1 VM listed.$" "$T/out" || fail "list legend: $(cat "$T/out")"
expect_exit 0 "$PVMCTL" list --no-legend --no-pager
[ "$(wc -l <"$T/out")" -eq 1 ] && grep -Eq "^p1 +ready " "$T/out" || fail "list --no-legend: $(cat "$T/out")"
# not a terminal: no colour
grep -q $'\033' "$T/out" && fail "colour in list output to a file"
expect_exit 0 "$PVMCTL" list --json
jq -e '.vms | length == 1 and .[0].name == "p1" and .[0].state == "ready"' "$T/out" >/dev/null ||
	fail "list --json: $(cat "$T/out")"
expect_exit 0 "$PVMCTL" inspect p1 --json
jq -e '(.name == "p1") and (.path == "/org/pvm1/vm/p1") and (.state == "ready") and
	(.death_reason == "none") and (.message | type == "string") and (.protected == false) and
	(.memory_mib == 16) and (.memory_backing == "guest_memfd") and
	(.unswappable.value | IN("yes","no","unknown")) and (.unswappable.how | length > 0) and
	(.unmigratable.value | IN("yes","no","unknown")) and (.host_mapped.value | IN("yes","no","unknown")) and
	(.vcpus == 1) and (.runner_pid > 0) and (.start_time_usec > 0) and (.owner_uid == 0) and
	(.tied == false)' "$T/out" >/dev/null || fail "inspect --json schema: $(cat "$T/out")"
expect_exit 0 "$PVMCTL" inspect p1
grep -q "^State: *ready" "$T/out" && grep -q "^Memory: *16 MiB, guest_memfd" "$T/out" &&
	grep -q "^Result: *running$" "$T/out" && grep -q "^Owner: *root (uid 0)$" "$T/out" ||
	fail "inspect: $(cat "$T/out")"
# how each memory property was found: only with --verbose (always in --json, above)
grep -Eq "^  unswappable: +(yes|no|unknown)$" "$T/out" || fail "inspect without --verbose: $(cat "$T/out")"
expect_exit 0 "$PVMCTL" inspect p1 --verbose
grep -Eq "^  unswappable: +(yes|no|unknown) \(.+\)$" "$T/out" || fail "inspect --verbose: $(cat "$T/out")"
expect_exit 0 "$PVMCTL" logs p1
grep -q "wait-stop: ready" "$T/out" || fail "logs: $(cat "$T/out")"

# --- console: what we type reaches the guest, which echoes it ---
mkfifo "$T/console-in"
"$PVMCTL" console p1 <"$T/console-in" >"$T/console-out" 2>"$T/console-err" &
con_pid=$!
PIDS+=($con_pid)
exec 7>"$T/console-in"
wait_until 10 grep -q "wait-stop: ready" "$T/console-out" || fail "console replay: $(cat "$T/console-out" "$T/console-err")"
# a console whose input ends at once (no terminal, nothing to type) still shows the output
"$PVMCTL" console p1 </dev/null >"$T/null-out" 2>"$T/null-err" &
null_pid=$!
PIDS+=($null_pid)
wait_until 10 grep -q "wait-stop: ready" "$T/null-out" || fail "console </dev/null replay: $(cat "$T/null-out" "$T/null-err")"
printf 'ping-4711' >&7
wait_until 10 grep -q "ping-4711" "$T/console-out" || fail "console echo: $(cat "$T/console-out")"
wait_until 10 grep -q "ping-4711" "$T/null-out" || fail "console </dev/null detached early: $(cat "$T/null-out" "$T/null-err")"
log "ok: console input reached the guest and came back, also to a console without input"

# --- console on a terminal (script(1) gives it a pty): raw mode, Ctrl-] detaches ---
mkfifo "$T/tty-in"
script -qec "$PVMCTL console p1" /dev/null <"$T/tty-in" >"$T/tty-out" 2>&1 &
tty_pid=$!
PIDS+=($tty_pid)
exec 9>"$T/tty-in"
wait_until 10 grep -q "Press Ctrl-] to detach" "$T/tty-out" || fail "tty console: $(cat "$T/tty-out")"
printf 'tty-ping-99' >&9
wait_until 10 grep -q "tty-ping-99" "$T/tty-out" || fail "tty console echo: $(cat "$T/tty-out")"
# what the guest sends back is shown escaped on a terminal: its escape sequences do not
# reach the user's terminal
printf '\033]0;owned\007' >&9
wait_until 10 grep -qF '\x1b]0;owned\x07' "$T/tty-out" || fail "tty console escaping: $(cat -v "$T/tty-out")"
grep -q $'\033]0;owned' "$T/tty-out" && fail "a raw escape sequence reached the terminal"
printf '\035' >&9
wait_until 10 proc_gone $tty_pid || fail "Ctrl-] did not detach: $(cat "$T/tty-out")"
rc=0
wait $tty_pid || rc=$?
[ $rc -eq 0 ] || fail "console exit $rc after detach"
grep -q "Detached from VM 'p1'" "$T/tty-out" || fail "detach message: $(cat "$T/tty-out")"
exec 9>&-
[ "$(vm_prop p1 State)" = ready ] || fail "p1 did not keep running after the detach"
log "ok: console on a terminal: raw input reaches the guest, Ctrl-] detaches, the VM runs on"

# --- errors and exit codes ---
expect_exit 3 "$PVMCTL" inspect nope
grep -q "No VM named 'nope'" "$T/err" || fail "message: $(cat "$T/err")"
expect_exit 3 "$PVMCTL" stop nope
echo '{ "name": ' >"$T/bad.json"
expect_exit 5 "$PVMCTL" start "$T/bad.json"
grep -q "Invalid VM config" "$T/err" || fail "message: $(cat "$T/err")"
# errors name the user's file, not the bus
printf '{"name": "typo", "kernal": "/k"}' >"$T/typo.json"
expect_exit 5 "$PVMCTL" start "$T/typo.json"
grep -qF "Invalid VM config: $T/typo.json: \$.kernal" "$T/err" || fail "error origin: $(cat "$T/err")"
grep -q "<bus>" "$T/err" && fail "error names the bus: $(cat "$T/err")"
expect_exit 5 "$PVMCTL" --json start - <"$T/typo.json"
jq -e '.exit_code == 5 and (.error | test("<stdin>: [$][.]kernal"))' "$T/out" >/dev/null ||
	fail "JSON error origin: $(cat "$T/out")"
expect_exit 5 "$PVMCTL" start "$cfg" --name ../x
expect_exit 6 "$PVMCTL" start "$cfg"
grep -q "already exists (start it again with 'pvmctl start p1'" "$T/err" || fail "message: $(cat "$T/err")"
expect_exit 2 "$PVMCTL" stop
expect_exit 2 "$PVMCTL" stop p1 --bogus
expect_exit 4 as_nobody "$PVMCTL" kill p1
grep -q "Not allowed to kill VM 'p1'" "$T/err" || fail "message: $(cat "$T/err")"
expect_exit 4 as_nobody "$PVMCTL" stop p1
grep -q "Not allowed to stop VM 'p1'" "$T/err" || fail "message: $(cat "$T/err")"
expect_exit 0 as_nobody "$PVMCTL" start "$cfg" --name nb1 --wait-ready
expect_exit 7 as_nobody "$PVMCTL" start "$cfg" --name nb2
grep -q "limit" "$T/err" || fail "message: $(cat "$T/err")"
expect_exit 0 as_nobody "$PVMCTL" list --json
jq -e '.vms | map(.name) | sort == ["nb1", "p1"]' "$T/out" >/dev/null || fail "nobody's list: $(cat "$T/out")"
expect_exit 0 as_nobody "$PVMCTL" stop nb1 --timeout 5
grep -q "VM 'nb1' stopped" "$T/out" || fail "stop output: $(cat "$T/out")"
# a guest that never reports ready: --wait-ready fails with the reason
vm_config nr1 no-ready.elf '"boot_timeout_ms": 1000' >/dev/null
expect_exit 8 "$PVMCTL" start "$T/nr1.json" --wait-ready --timeout 20
grep -q "boot-timeout" "$T/err" || fail "no-ready message: $(cat "$T/err")"
# a failed VM starts again by name in one step (and fails the same way), and goes in one step
[ "$(vm_prop nr1 State)" = failed ] || fail "nr1 is $(vm_prop nr1 State), not failed"
expect_exit 8 "$PVMCTL" start nr1 --wait-ready --timeout 20
grep -q "boot-timeout" "$T/err" || fail "no-ready message on start by name: $(cat "$T/err")"
expect_exit 0 "$PVMCTL" remove nr1

# config from standard input (a pipe: CreateVMFromFd reads until the writer closes)
cat "$cfg" | "$PVMCTL" start - --name p2 --json >"$T/out" || fail "start - failed"
jq -e '.name == "p2" and .path == "/org/pvm1/vm/p2"' "$T/out" >/dev/null || fail "start --json: $(cat "$T/out")"
expect_exit 0 "$PVMCTL" kill p2
expect_exit 0 "$PVMCTL" --json inspect p2
jq -e '.state == "stopped" and .death_reason == "killed"' "$T/out" >/dev/null || fail "p2: $(cat "$T/out")"
# a writer that takes its time holds up only its own call
mkfifo "$T/cfg-pipe"
exec 6<>"$T/cfg-pipe"
"$PVMCTL" start - --name slow <"$T/cfg-pipe" >"$T/slow.out" 2>&1 6>&- &
slow_pid=$!
PIDS+=($slow_pid)
t0=$(date +%s%N)
expect_exit 0 "$PVMCTL" list
[ $((($(date +%s%N) - t0) / 1000000)) -lt 2000 ] || fail "pvmd stalled while a config pipe was open"
proc_gone $slow_pid && fail "start - returned before its config was written: $(cat "$T/slow.out")"
cat "$cfg" >&6
exec 6>&-
rc=0
wait $slow_pid || rc=$?
[ $rc -eq 0 ] && grep -q "Started VM 'slow'" "$T/slow.out" || fail "slow start: $rc $(cat "$T/slow.out")"
expect_exit 0 "$PVMCTL" kill slow
log "ok: a config pipe is read as its data comes; other calls go on meanwhile"
expect_exit 3 "$PVMCTL" --json inspect nope
jq -e '.exit_code == 3 and .errno_name == "ENOENT" and (.error | test("No VM named"))' "$T/out" >/dev/null ||
	fail "JSON error: $(cat "$T/out")"

# --- stop, kill, remove ---
expect_exit 0 "$PVMCTL" stop p1 --timeout 5
grep -Eq "VM 'p1' stopped \((shutdown|stopped)\)" "$T/out" || fail "stop: $(cat "$T/out")"
wait_until 10 proc_gone $con_pid || fail "console did not end with the VM"
grep -q "no longer running" "$T/console-err" || fail "console end message: $(cat "$T/console-err")"
wait_until 10 proc_gone $null_pid || fail "console </dev/null did not end with the VM"
grep -q "no longer running" "$T/null-err" || fail "console </dev/null end message: $(cat "$T/null-err")"
exec 7>&-
# stop is idempotent: a VM that is not running is where stop would take it
expect_exit 0 "$PVMCTL" stop p1
grep -q "VM 'p1' is not running" "$T/out" || fail "stop of a stopped VM: $(cat "$T/out")"
# start by name: the stopped VM runs again, from what pvmd kept of its config
expect_exit 0 "$PVMCTL" start p1 --wait-ready
grep -q "Started VM 'p1' (/org/pvm1/vm/p1)" "$T/out" || fail "start by name: $(cat "$T/out")"
[ "$(vm_prop p1 State)" = ready ] || fail "p1 not ready after start by name"
expect_exit 6 "$PVMCTL" start p1
expect_exit 2 "$PVMCTL" start p1 --tie
expect_exit 3 "$PVMCTL" start nosuchvm
grep -q "to create it from a config file, give the file's path" "$T/err" || fail "start unknown name: $(cat "$T/err")"
# restart: stop, then start again, in one step
expect_exit 0 "$PVMCTL" restart p1 --wait-ready
[ "$(vm_prop p1 State)" = ready ] || fail "p1 not ready after restart"
expect_exit 0 "$PVMCTL" stop p1 --timeout 5
vm_config s1 spin.elf >/dev/null
expect_exit 0 "$PVMCTL" start "$T/s1.json"
expect_exit 0 "$PVMCTL" kill s1
grep -q "VM 's1' stopped (killed)" "$T/out" || fail "kill: $(cat "$T/out")"
expect_exit 0 "$PVMCTL" stop s1 --force
expect_exit 0 "$PVMCTL" remove s1
expect_exit 3 "$PVMCTL" inspect s1
# remove --force takes a running VM away in one step
vm_config s2 spin.elf >/dev/null
expect_exit 0 "$PVMCTL" start "$T/s2.json"
expect_exit 6 "$PVMCTL" remove s2
expect_exit 0 "$PVMCTL" remove s2 --force
expect_exit 3 "$PVMCTL" inspect s2
# a VM that never ran: its empty log says so
expect_exit 0 busctl --system call org.pvm1 /org/pvm1 org.pvm1.Manager CreateVM 'sa{sv}' "$(cat "$T/s2.json")" 0
expect_exit 0 "$PVMCTL" logs s2
grep -q "VM 's2' has not run yet" "$T/err" || fail "logs of a VM that never ran: $(cat "$T/err")"
expect_exit 0 "$PVMCTL" remove s2
# a 64-character name keeps the columns of list aligned
long=$(printf 'n%.0s' $(seq 64))
expect_exit 0 busctl --system call org.pvm1 /org/pvm1 org.pvm1.Manager CreateVM 'sa{sv}' "$(cat "$T/s2.json")" 1 name s "$long"
expect_exit 0 "$PVMCTL" list
header_at=$(grep "^NAME " "$T/out" | awk '{ print index($0, "STATE") }')
row_at=$(grep "^$long " "$T/out" | awk '{ print index($0, "created") }')
[ -n "$row_at" ] && [ "$header_at" = "$row_at" ] || fail "list columns with a 64-character name: $(cat "$T/out")"
expect_exit 0 "$PVMCTL" remove "$long"

# --- monitor saw it all, as JSON lines ---
wait_until 10 grep -q '"event":"removed"' "$T/monitor.jsonl" || fail "monitor: $(cat "$T/monitor.jsonl" "$T/monitor.err")"
jq -se 'all(.[]; has("time_usec") and has("event") and has("vm"))' "$T/monitor.jsonl" >/dev/null ||
	fail "monitor lines lack keys"
jq -se 'any(.[]; .event == "added" and .vm == "p1")' "$T/monitor.jsonl" >/dev/null || fail "monitor: no added p1"
jq -se 'any(.[]; .event == "state" and .vm == "p1" and .state == "ready")' "$T/monitor.jsonl" >/dev/null ||
	fail "monitor: no p1 ready"
jq -se 'any(.[]; .event == "changed" and .vm == "p1" and .changed.state == "stopped")' "$T/monitor.jsonl" \
	>/dev/null || fail "monitor: no p1 PropertiesChanged to stopped"
jq -se 'any(.[]; .event == "removed" and .vm == "s1")' "$T/monitor.jsonl" >/dev/null || fail "monitor: no removed s1"
log "ok: monitor --json"

# --- no pvmd on the bus ---
stop_pid "$PVMD_PID"
PVMD_PID=
expect_exit 9 "$PVMCTL" list
grep -q "pvmd is not running" "$T/err" || fail "message: $(cat "$T/err")"
grep -q "systemctl start pvmd" "$T/err" || fail "no hint what to start: $(cat "$T/err")"
# monitor without pvmd says so at once instead of waiting for events that cannot come
expect_exit 9 "$PVMCTL" monitor
grep -q "pvmd is not running" "$T/err" || fail "monitor without pvmd: $(cat "$T/err")"
log "PASS bus-pvmctl"
