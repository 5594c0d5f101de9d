#!/bin/bash
# A VM a caller may not inspect is absent for that caller (pvmd(8), AUTHORIZATION): by-name
# methods answer exactly as for a name nobody uses, StartVM and CreateVM authorize before they
# look at the VM, its object is not there (properties, introspection, GetManagedObjects), and no
# signal about it reaches the caller: not a subscribed pvmctl monitor, nor dbus-monitor,
# busctl monitor or gdbus monitor run as uid 65534 under the shipped bus policy.
. "$(dirname "$0")/bus-lib.sh"

SYS=3 # "sys": a uid no rule names, so it may do nothing at all

# The shipped defaults, and nobody may run its own VMs and see only those.
mkdir -p "$T/policy"
cp "$PVM_SRCDIR/policy/policy.d/"*.json "$T/policy/"
cat >"$T/policy/70-test-own.json" <<EOF2
{ "rules": [ { "who": { "users": [$NOBODY] }, "actions": ["create", "stop", "inspect", "attach"],
	"vms": ["@own"], "payloads": { "path_prefixes": ["$PVM_GUEST_DIR"] },
	"limits": { "vms": 2, "vcpus": 2, "memory_mib": 256 } } ] }
EOF2
start_bus
start_pvmd

as_sys() {
	setpriv --reuid=$SYS --regid=$SYS --clear-groups --inh-caps=-all \
		env DBUS_SYSTEM_BUS_ADDRESS="$DBUS_SYSTEM_BUS_ADDRESS" "$@"
}

# --- nobody listens every way it can, before anything happens ---
as_nobody dbus-monitor --system >"$T/nb-dbus-monitor.txt" 2>&1 &
PIDS+=($!)
as_nobody busctl --system monitor >"$T/nb-busctl-monitor.txt" 2>&1 &
PIDS+=($!)
as_nobody gdbus monitor --system --dest org.pvm1 >"$T/nb-gdbus-monitor.txt" 2>&1 &
PIDS+=($!)
as_nobody "$PVMCTL" monitor --json >"$T/nb-sub.jsonl" 2>"$T/nb-sub.err" &
nb_monitor_pid=$!
PIDS+=($nb_monitor_pid)
"$PVMCTL" monitor --json >"$T/root-sub.jsonl" 2>"$T/root-sub.err" &
PIDS+=($!)
wait_until 10 grep -q "owned by" "$T/nb-gdbus-monitor.txt" || fail "gdbus monitor did not start"
wait_until 10 grep -q "Monitoring pvmd events" "$T/nb-sub.err" || fail "nobody's pvmctl monitor: $(cat "$T/nb-sub.err")"
wait_until 10 grep -q "Monitoring pvmd events" "$T/root-sub.err" || fail "root's pvmctl monitor did not start"
# dbus-monitor has its matches once it hears a broadcast
ping_seen() {
	dbus-send --system --type=signal /org/pvm1test org.pvm1test.Ping
	grep -q "org.pvm1test" "$T/nb-dbus-monitor.txt"
}
wait_until 10 ping_seen || fail "dbus-monitor as nobody did not start: $(cat "$T/nb-dbus-monitor.txt")"
log "ok: nobody listens (dbus-monitor, busctl monitor, gdbus monitor, pvmctl monitor)"

# --- root's VMs: one that comes and goes, one that stays running ---
cfg=$(vm_config secret wait-stop.elf)
gcall CreateVM "$(cat "$cfg")" "{'name': <'secret-gone'>, 'start': <true>}" >/dev/null
wait_until 10 vm_state_is secret-gone ready || fail "secret-gone not ready"
gone_pid=$(vm_prop secret-gone RunnerPID)
gcall KillVM secret-gone >/dev/null
wait_until 10 vm_state_is secret-gone stopped || fail "secret-gone did not stop"
gcall RemoveVM secret-gone >/dev/null
gcall CreateVM "$(cat "$cfg")" "{'start': <true>}" >/dev/null
wait_until 10 vm_state_is secret ready || fail "secret not ready"
secret_pid=$(vm_prop secret RunnerPID)
# --- nobody's own VM, whose signals nobody does get ---
out=$(as_nobody "$FD_CALLER" payload file "$cfg" "$PVM_GUEST_DIR/wait-stop.elf" start name=mine)
[ "$out" = "reply mine" ] || fail "nobody may create mine: $out"
wait_until 10 vm_state_is mine ready || fail "mine not ready"

# --- by name: a hidden VM answers as a name nobody uses, for every method ---
# same CALLER METHOD ARGS...: the answer for 'secret' is the answer for 'nope', name for name
same() {
	local who=$1 m=$2 a b
	shift 2
	a=$($who gdbus call --system --dest org.pvm1 --object-path /org/pvm1 \
		--method "org.pvm1.Manager.$m" secret "$@" 2>&1 | sed 's/secret/NAME/g') || true
	b=$($who gdbus call --system --dest org.pvm1 --object-path /org/pvm1 \
		--method "org.pvm1.Manager.$m" nope "$@" 2>&1 | sed 's/nope/NAME/g') || true
	[ "$a" = "$b" ] || fail "$who $m: 'secret' answers '$a', 'nope' answers '$b'"
	grep -q org.pvm1.Error.NoSuchVM <<<"$a" || fail "$who $m secret: $a"
}
for who in as_nobody as_sys; do
	same $who StartVM # running: Busy would tell it exists and runs
	same $who StopVM 0
	same $who KillVM
	same $who RemoveVM
	same $who GetVM
	same $who OpenConsole
	same $who ListenVsock 5000
	same $who GetConsoleLog
done
log "ok: by-name methods answer NoSuchVM for a hidden VM, as for a missing one"

# --- CreateVM with a hidden VM's name ---
# a caller who may not create is told so, not that the name is taken
expect_error org.pvm1.Error.PolicyDenied as_sys gdbus call --system --dest org.pvm1 --object-path /org/pvm1 \
	--method org.pvm1.Manager.CreateVM "$(cat "$cfg")" "{}"
# a caller who may create learns that the name is taken, and nothing more
out=$(as_nobody "$FD_CALLER" payload file "$cfg" "$PVM_GUEST_DIR/wait-stop.elf")
[[ $out == reply* ]] && fail "nobody created a second 'secret'"
grep -q "org.pvm1.Error.AlreadyExists: The name 'secret' is taken by a VM you may not see" <<<"$out" ||
	fail "CreateVM secret as nobody: $out"
grep -qiE "uid|root|ready|running|remove" <<<"${out#*AlreadyExists:}" &&
	fail "AlreadyExists says more than the name: $out"
log "ok: CreateVM authorizes before it looks at names; a taken hidden name says only that"

# --- the object: as absent as a path nobody uses ---
# obj CALLER PATH-NAME ARGS...: a dbus-send to /org/pvm1/vm/PATH-NAME, names normalized
obj() {
	local who=$1 name=$2
	shift 2
	{ $who dbus-send --system --print-reply --dest=org.pvm1 "/org/pvm1/vm/$name" "$@" 2>&1 || true; } |
		sed -e "s/$name/NAME/g" -e 's/time=[0-9.]* //; s/serial=[0-9]* //; s/reply_serial=[0-9]*//; s/destination=[^ ]*//'
}
for who in as_nobody as_sys; do
	for call in "org.freedesktop.DBus.Properties.Get string:org.pvm1.VM string:State" \
		"org.freedesktop.DBus.Properties.GetAll string:org.pvm1.VM" \
		"org.freedesktop.DBus.Introspectable.Introspect" \
		"org.pvm1.VM.Start" "org.pvm1.VM.GetConsoleLog" "org.pvm1.VM.Kill"; do
		# shellcheck disable=SC2086
		a=$(obj $who secret $call)
		# shellcheck disable=SC2086
		b=$(obj $who nope $call)
		[ "$a" = "$b" ] || fail "$who $call: secret '$a' vs nope '$b'"
		grep -q "org.pvm1.VM\b\|RunnerPID" <<<"$a" && fail "$who $call shows the VM: $a"
	done
	out=$($who dbus-send --system --print-reply --dest=org.pvm1 /org/pvm1/vm \
		org.freedesktop.DBus.Introspectable.Introspect) || fail "$who introspect /org/pvm1/vm"
	grep -q secret <<<"$out" && fail "$who: introspection lists secret: $out"
	out=$($who dbus-send --system --print-reply --dest=org.pvm1 /org/pvm1 \
		org.freedesktop.DBus.ObjectManager.GetManagedObjects) || fail "$who GetManagedObjects"
	grep -q secret <<<"$out" && fail "$who: GetManagedObjects shows secret: $out"
done
output_has '/org/pvm1/vm/mine' as_nobody dbus-send --system --print-reply --dest=org.pvm1 /org/pvm1 \
	org.freedesktop.DBus.ObjectManager.GetManagedObjects ||
	fail "nobody's GetManagedObjects lacks its own VM"
log "ok: a hidden VM's object is absent (properties, methods, introspection, GetManagedObjects)"

# --- signals: nobody heard of its own VM only ---
as_nobody gdbus call --system --dest org.pvm1 --object-path /org/pvm1 --method org.pvm1.Manager.StopVM mine 2000000 >/dev/null
wait_until 10 vm_state_is mine stopped || fail "mine did not stop"
as_nobody gdbus call --system --dest org.pvm1 --object-path /org/pvm1 --method org.pvm1.Manager.RemoveVM mine >/dev/null
wait_until 10 jq -se 'any(.[]; .event == "removed" and .vm == "mine")' "$T/nb-sub.jsonl" ||
	fail "nobody's pvmctl monitor did not see its VM removed: $(cat "$T/nb-sub.jsonl")"
for ev in added state changed; do
	jq -se "any(.[]; .event == \"$ev\" and .vm == \"mine\")" "$T/nb-sub.jsonl" >/dev/null ||
		fail "nobody's pvmctl monitor: no $ev event for mine"
done
for v in secret secret-gone mine; do
	wait_until 10 jq -se "any(.[]; .event == \"added\" and .vm == \"$v\")" "$T/root-sub.jsonl" ||
		fail "root's pvmctl monitor did not see $v added"
done
# pvmd's exit is a broadcast (ShuttingDown, then its name goes): every monitor has then had
# whatever it was going to get
kill -TERM "$PVMD_PID"
wait "$PVMD_PID" || fail "pvmd exit status"
PVMD_PID=
wait_until 10 grep -q "ShuttingDown" "$T/nb-dbus-monitor.txt" || fail "dbus-monitor missed the broadcast"
wait_until 10 grep -q "does not have an owner" "$T/nb-gdbus-monitor.txt" || fail "gdbus monitor missed pvmd's exit"
for f in nb-dbus-monitor.txt nb-busctl-monitor.txt nb-gdbus-monitor.txt nb-sub.jsonl; do
	if grep -n "secret" "$T/$f"; then
		fail "$f (uid $NOBODY) names root's VMs"
	fi
	for pid in $gone_pid $secret_pid; do
		if grep -nw "uint32 $pid\|\"runner_pid\":$pid" "$T/$f"; then
			fail "$f (uid $NOBODY) shows root's runner pid $pid"
		fi
	done
done
log "ok: no signal about root's VMs reached uid $NOBODY, whichever way it listened"
# pvmctl monitor says when pvmd goes away (and subscribes again when it comes back: so end it
# before counting subscriptions below)
wait_until 10 grep -q '"event":"pvmd","vm":"-","running":false' "$T/nb-sub.jsonl" ||
	fail "pvmctl monitor did not say pvmd left: $(cat "$T/nb-sub.jsonl")"
# (as_nobody is a function: $! may be the subshell that runs pvmctl rather than pvmctl)
for pid in $(pgrep -P "$nb_monitor_pid") "$nb_monitor_pid"; do
	stop_pid "$pid"
done

# --- subscriptions: at most 64 per user, and they end with their connection ---
: "${SUBSCRIBE_MANY:?}"
install -m 755 "$SUBSCRIBE_MANY" "$T/subscribe-many"
start_pvmd
mkfifo "$T/hold"
# subscribe ARGS...: subscribe-many ARGS as nobody, holding its connections until hold is written
subscribe() {
	as_nobody "$T/subscribe-many" "$@" <"$T/hold" >"$T/subs.txt" 2>&1 &
	sub_pid=$!
	PIDS+=($sub_pid)
	exec 9>"$T/hold"
}
subscribe 65
wait_until 10 grep -q "^subscribed" "$T/subs.txt" || fail "subscribe-many: $(cat "$T/subs.txt")"
grep -q "^subscribed 64$" "$T/subs.txt" && grep -q "org.pvm1.Error.Busy: Too many subscriptions (64 of uid $NOBODY" "$T/subs.txt" ||
	fail "the 65th subscription of one user: $(cat "$T/subs.txt")"
# root's subscriptions do not count against nobody's
busctl --system call org.pvm1 /org/pvm1 org.pvm1.Manager Subscribe || fail "root could not subscribe"
exec 9>&-
wait "$sub_pid" || fail "subscribe-many failed"
# the closed connections' subscriptions are gone: all 64 places are free again
subscribe 64
wait_until 10 grep -q "^subscribed" "$T/subs.txt" || fail "subscribe-many: $(cat "$T/subs.txt")"
grep -qx "subscribed 64" "$T/subs.txt" || fail "subscriptions outlived their connections: $(cat "$T/subs.txt")"
exec 9>&-
wait "$sub_pid" || fail "subscribe-many failed"
log "ok: at most 64 subscriptions per user (Busy beyond), ended with their connections"
log "PASS bus-visibility"
