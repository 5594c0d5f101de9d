#!/bin/bash
# org.pvm1 driven by clients pvm did not write (busctl, gdbus, dbus-send) against a real pvmd,
# a real dbus-daemon with the shipped bus policy and real /dev/kvm: introspection, every
# method, every named error, and PropertiesChanged plus the lifecycle signals as a subscriber
# gets them and a bus monitor sees them.
. "$(dirname "$0")/bus-lib.sh"

setup_pvmd

# Monitors first, so they see everything from here on. pvmd sends its VM signals only to
# subscribers (org.pvm1(5), SIGNALS): pvmctl monitor subscribes; busctl monitor, a bus monitor as
# root, sees those unicasts; gdbus monitor only adds match rules, so it must see none of them.
gdbus monitor --system --dest org.pvm1 >"$T/gdbus-monitor.txt" 2>&1 &
PIDS+=($!)
busctl --system monitor --json=short org.pvm1 >"$T/busctl-monitor.jsonl" 2>"$T/busctl-monitor.err" &
PIDS+=($!)
wait_until 10 grep -q "owned by" "$T/gdbus-monitor.txt" || fail "gdbus monitor did not start"
wait_until 10 grep -q "Monitoring bus message stream" "$T/busctl-monitor.err" ||
	fail "busctl monitor did not start"
"$PVMCTL" monitor --json >"$T/subscriber.jsonl" 2>"$T/subscriber.err" &
PIDS+=($!)
wait_until 10 grep -q "Monitoring pvmd events" "$T/subscriber.err" || fail "pvmctl monitor did not start"

# --- introspection, by three clients ---
busctl --system introspect org.pvm1 /org/pvm1 >"$T/intro-busctl.txt"
for w in org.pvm1.Manager .CreateVM .CreateVMFromFd .StartVM .StopVM .KillVM .RemoveVM .GetVM \
	.ListVMs .OpenConsole .ListenVsock .GetConsoleLog .VMAdded .VMRemoved .VMStateChanged .Version \
	org.freedesktop.DBus.ObjectManager org.freedesktop.DBus.Introspectable; do
	grep -q -- "$w" "$T/intro-busctl.txt" || fail "busctl introspect lacks $w"
done
gdbus introspect --system --dest org.pvm1 --object-path /org/pvm1 >"$T/intro-gdbus.txt"
grep -q "CreateVM(in  s config," "$T/intro-gdbus.txt" || fail "gdbus introspect: no CreateVM(s config, ...)"
grep -q "VMStateChanged(s name," "$T/intro-gdbus.txt" || fail "gdbus introspect: no VMStateChanged"
dbus-send --system --print-reply --dest=org.pvm1 /org/pvm1 org.freedesktop.DBus.Introspectable.Introspect \
	>"$T/intro-dbus-send.txt"
grep -q '<node name="vm"/>' "$T/intro-dbus-send.txt" || fail "dbus-send introspect: no vm child node"
log "ok: introspection (busctl, gdbus, dbus-send)"

# --- CreateVM (text) with start, by busctl ---
cfg=$(vm_config w1 wait-stop.elf)
out=$(busctl --system call org.pvm1 /org/pvm1 org.pvm1.Manager CreateVM 'sa{sv}' "$(cat "$cfg")" 1 start b true)
[ "$out" = 'so "w1" "/org/pvm1/vm/w1"' ] || fail "CreateVM reply: $out"
wait_until 10 vm_state_is w1 ready || fail "w1 not ready: $(vm_prop w1 State) $(vm_prop w1 Message)"
log "ok: CreateVM + start -> ready"

# --- properties of the VM object ---
path=/org/pvm1/vm/w1
busctl --system introspect org.pvm1 "$path" org.pvm1.VM >"$T/intro-vm.txt"
for w in Name State DeathReason Message Protected MemoryMiB MemoryBacking Unswappable UnswappableHow \
	Unmigratable UnmigratableHow HostMapped HostMappedHow VCPUs RunnerPID StartTime Owner Tied \
	.Start .Stop .Kill .OpenConsole .GetConsoleLog; do
	grep -q -- "$w" "$T/intro-vm.txt" || fail "VM object lacks $w"
done
[ "$(vm_prop w1 Name)" = w1 ] || fail "Name"
[ "$(vm_prop w1 Protected)" = false ] || fail "Protected: $(vm_prop w1 Protected)"
[ "$(vm_prop w1 MemoryMiB)" = 16 ] || fail "MemoryMiB"
[ "$(vm_prop w1 VCPUs)" = 1 ] || fail "VCPUs"
[ "$(vm_prop w1 Owner)" = 0 ] || fail "Owner"
[ "$(vm_prop w1 DeathReason)" = none ] || fail "DeathReason"
[ "$(vm_prop w1 MemoryBacking)" = guest_memfd ] || fail "MemoryBacking: $(vm_prop w1 MemoryBacking)"
for p in Unswappable Unmigratable HostMapped; do
	v=$(vm_prop w1 $p)
	case "$v" in yes | no | unknown) ;; *) fail "$p: '$v'" ;; esac
	[ -n "$(vm_prop w1 ${p}How)" ] || fail "${p}How is empty"
done
pid=$(vm_prop w1 RunnerPID)
[ "$pid" -gt 0 ] && [ "$(readlink /proc/$pid/exe)" = "$(readlink -f "$PVM_RUNNER")" ] ||
	fail "RunnerPID $pid is not a pvm-runner"
[ "$(vm_prop w1 StartTime)" -gt 1600000000000000 ] || fail "StartTime"
output_has "'State': <'ready'>" gdbus call --system --dest org.pvm1 --object-path $path \
	--method org.freedesktop.DBus.Properties.GetAll org.pvm1.VM || fail "gdbus GetAll"
log "ok: VM properties"

# --- the read methods ---
gcall GetVM w1 | grep "objectpath '/org/pvm1/vm/w1'" >/dev/null || fail "GetVM"
dbus-send --system --print-reply --dest=org.pvm1 /org/pvm1 org.pvm1.Manager.ListVMs |
	tr -s ' \n' ' ' | grep 'string "w1" string "ready" string "none" object path "/org/pvm1/vm/w1"' >/dev/null ||
	fail "ListVMs"
output_has 'object path "/org/pvm1/vm/w1"' dbus-send --system --print-reply --dest=org.pvm1 /org/pvm1 \
	org.freedesktop.DBus.ObjectManager.GetManagedObjects || fail "GetManagedObjects"
busctl --system call org.pvm1 /org/pvm1 org.pvm1.Manager GetConsoleLog s w1 >"$T/log.txt"
grep -q "^ay " "$T/log.txt" || fail "GetConsoleLog reply"
# gdbus prints ay as bytes: "wait-stop" is 77 61 69 74 2d 73 74 6f 70
gdbus call --system --dest org.pvm1 --object-path $path --method org.pvm1.VM.GetConsoleLog |
	grep "0x77, 0x61, 0x69, 0x74, 0x2d, 0x73, 0x74, 0x6f, 0x70" >/dev/null || fail "VM.GetConsoleLog has no guest output"
busctl --system call org.pvm1 /org/pvm1 org.pvm1.Manager OpenConsole s w1 | grep "^h " >/dev/null || fail "OpenConsole"
busctl --system call org.pvm1 $path org.pvm1.VM OpenConsole | grep "^h " >/dev/null || fail "VM.OpenConsole"
[ "$(busctl --system get-property org.pvm1 /org/pvm1 org.pvm1.Manager Version | cut -d' ' -f2)" != '""' ] ||
	fail "Version"
# InterfacesAdded (checked at the end) must announce what GetManagedObjects lists
gmo_ifaces=$(busctl --system --json=short call org.pvm1 /org/pvm1 org.freedesktop.DBus.ObjectManager \
	GetManagedObjects | jq -c '.data[0]["/org/pvm1/vm/w1"] | keys')
[ "$gmo_ifaces" != null ] || fail "GetManagedObjects lacks w1"
# Subscribe and Unsubscribe are idempotent
for m in Unsubscribe Subscribe Unsubscribe; do
	busctl --system call org.pvm1 /org/pvm1 org.pvm1.Manager $m || fail "$m"
done
log "ok: GetVM, ListVMs, GetManagedObjects, GetConsoleLog, OpenConsole, Version, Subscribe"

# names with characters object paths cannot hold are escaped (sd_bus_path_encode)
gcall CreateVM "$(cat "$cfg")" "{'name': <'a.b-c_d'>}" | grep -F "('a.b-c_d', objectpath '/org/pvm1/vm/a_2eb_2dc_5fd')" >/dev/null ||
	fail "escaped path"
busctl --system get-property org.pvm1 /org/pvm1/vm/a_2eb_2dc_5fd org.pvm1.VM Name | grep -F '"a.b-c_d"' >/dev/null ||
	fail "escaped object's Name"
gcall RemoveVM a.b-c_d >/dev/null
log "ok: object paths of names with . - _"

# --- every named error ---
expect_error org.pvm1.Error.NoSuchVM gcall GetVM nope
expect_error org.pvm1.Error.NoSuchVM dbus-send --system --print-reply --dest=org.pvm1 /org/pvm1 \
	org.pvm1.Manager.StopVM string:nope uint64:0
expect_error org.pvm1.Error.InvalidConfig gcall CreateVM '{ not json' '{}'
expect_error org.pvm1.Error.InvalidConfig gcall CreateVM '{"name": "x"}' '{}'
expect_error org.pvm1.Error.InvalidArgument gcall CreateVM "$(cat "$cfg")" "{'name': <'../bad'>}"
expect_error org.pvm1.Error.InvalidArgument gcall CreateVM "$(cat "$cfg")" "{'bogus': <true>}"
expect_error org.pvm1.Error.AlreadyExists gcall CreateVM "$(cat "$cfg")" '{}'
expect_error org.pvm1.Error.Busy gcall StartVM w1
expect_error org.pvm1.Error.Busy gcall RemoveVM w1
# created, not started
gcall CreateVM "$(cat "$cfg")" "{'name': <'c1'>}" | grep "'/org/pvm1/vm/c1'" >/dev/null || fail "CreateVM c1"
[ "$(vm_prop c1 State)" = created ] || fail "c1 state $(vm_prop c1 State)"
expect_error org.pvm1.Error.NotRunning gcall StopVM c1 0
expect_error org.pvm1.Error.NotRunning gcall KillVM c1
expect_error org.pvm1.Error.NotRunning gcall OpenConsole c1
# a payload that is not a PVH ELF cannot start
printf 'not an elf\n' >"$T/junk.bin"
chmod 644 "$T/junk.bin"
sed "s|\"kernel\": \"[^\"]*\"|\"kernel\": \"$T/junk.bin\"|" "$cfg" >"$T/junk.json"
if out=$(gcall CreateVM "$(cat "$T/junk.json")" "{'name': <'junk'>, 'start': <true>}" 2>&1); then
	# the runner found out after the call returned: the VM must end as failed
	wait_until 10 vm_state_is junk failed || fail "junk VM: $(vm_prop junk State)"
	[ "$(vm_prop junk DeathReason)" = start-failed ] || fail "junk reason $(vm_prop junk DeathReason)"
	gcall RemoveVM junk >/dev/null
	log "ok: a bad payload ends as failed/start-failed (engine checks it after the spawn)"
else
	grep -q org.pvm1.Error.StartFailed <<<"$out" || fail "junk payload: $out"
	log "ok: org.pvm1.Error.StartFailed <- bad payload"
fi
# the bytes loaded are the bytes pvmd copied and hashed at CreateVM: a file changed afterwards
# changes nothing
cp "$PVM_GUEST_DIR/wait-stop.elf" "$T/changing.elf"
chmod 644 "$T/changing.elf"
sed "s|\"kernel\": \"[^\"]*\"|\"kernel\": \"$T/changing.elf\"|" "$cfg" >"$T/changing.json"
gcall CreateVM "$(cat "$T/changing.json")" "{'name': <'changing'>}" >/dev/null
printf 'not an elf\n' >"$T/changing.elf"
gcall StartVM changing >/dev/null || fail "StartVM changing"
wait_until 10 vm_state_is changing ready || fail "changing: $(vm_prop changing State) $(vm_prop changing Message)"
gcall KillVM changing >/dev/null
wait_until 10 vm_state_is changing stopped || fail "changing did not stop"
gcall RemoveVM changing >/dev/null
log "ok: a payload changed after CreateVM: the VM runs the copy pvmd made"
# a payload path naming a FIFO (root's config): refused at once, pvmd does not wait for a writer
mkfifo "$T/fifo-initrd"
vm_config fifo wait-stop.elf "\"initrd\": \"$T/fifo-initrd\"" >/dev/null
expect_error "org.pvm1.Error.InvalidConfig.*not a regular file" timeout 20 gdbus call --system \
	--dest org.pvm1 --object-path /org/pvm1 --method org.pvm1.Manager.CreateVM "$(cat "$T/fifo.json")" "{}"
# no console
vm_config quiet wait-stop.elf >/dev/null
sed -i 's|"console": { "output": "ring", "input": true }|"console": { "output": "none", "input": false }|' "$T/quiet.json"
gcall CreateVM "$(cat "$T/quiet.json")" "{'start': <true>}" >/dev/null
wait_until 10 vm_state_is quiet ready || fail "quiet not ready"
expect_error org.pvm1.Error.NoConsole gcall OpenConsole quiet
# policy and limits: nobody
expect_error org.pvm1.Error.PolicyDenied as_nobody gdbus call --system --dest org.pvm1 \
	--object-path /org/pvm1 --method org.pvm1.Manager.KillVM w1
# pvmd opens no path for anyone but root: a config naming its payload without a descriptor
expect_error "org.pvm1.Error.InvalidArgument.*passes no kernel_fd" as_nobody gdbus call --system \
	--dest org.pvm1 --object-path /org/pvm1 --method org.pvm1.Manager.CreateVM "$(cat "$T/junk.json")" "{'name': <'nb0'>}"
# pvmd never reads more than guest memory holds (a sparse 1 TiB file would keep a thread busy
# for an hour)
truncate -s 1T "$T/huge.elf"
chmod 644 "$T/huge.elf"
vm_config nb-huge wait-stop.elf >/dev/null
out=$(as_nobody "$FD_CALLER" payload file "$T/nb-huge.json" "$T/huge.elf")
grep -q "^error org.pvm1.Error.InvalidConfig: .*kernel: 1099511627776 bytes; must be 1 to 16777216" <<<"$out" ||
	fail "a 1 TiB kernel: $out"
sed "s|\"kernel\": \"[^\"]*\"|\"kernel\": \"$T/huge.elf\"|" "$cfg" >"$T/huge.json"
expect_error "must be 1 to 16777216" timeout 20 gdbus call --system --dest org.pvm1 \
	--object-path /org/pvm1 --method org.pvm1.Manager.CreateVM "$(cat "$T/huge.json")" "{'name': <'huge'>}"
rm -f "$T/huge.elf"
vm_config nb1 wait-stop.elf >/dev/null
vm_config nb2 wait-stop.elf >/dev/null
out=$(as_nobody "$FD_CALLER" payload file "$T/nb1.json" "$PVM_GUEST_DIR/wait-stop.elf" start)
[ "$out" = "reply nb1" ] || fail "nobody may create nb1: $out"
[ "$(vm_prop nb1 Owner)" = $NOBODY ] || fail "nb1 owner $(vm_prop nb1 Owner)"
out=$(as_nobody "$FD_CALLER" payload file "$T/nb2.json" "$PVM_GUEST_DIR/wait-stop.elf" start)
grep -q "^error org.pvm1.Error.LimitExceeded" <<<"$out" || fail "nb2 beyond nobody's limit: $out"
# groups come from the bus credentials: supplementary and primary
getvm_as() { # getvm_as SETPRIV-ARGS...: GetVM w1 as that identity
	setpriv "$@" --inh-caps=-all env DBUS_SYSTEM_BUS_ADDRESS="$DBUS_SYSTEM_BUS_ADDRESS" \
		gdbus call --system --dest org.pvm1 --object-path /org/pvm1 --method org.pvm1.Manager.GetVM w1
}
getvm_as --reuid=$STRANGER --regid=$STRANGER --groups=$GROUP >/dev/null ||
	fail "a member of group $GROUP (supplementary) may inspect"
getvm_as --reuid=$STRANGER --regid=$GROUP --clear-groups >/dev/null ||
	fail "a member of group $GROUP (primary) may inspect"
# not a member: w1 is hidden, as a name nobody uses
expect_error org.pvm1.Error.NoSuchVM getvm_as --reuid=$STRANGER --regid=$STRANGER --clear-groups
# a caller who may inspect but not act is denied before the VM's state shows through
# (root gets Busy / NotRunning for these same calls above)
as_member() { setpriv --reuid=$STRANGER --regid=$STRANGER --groups=$GROUP --inh-caps=-all \
	env DBUS_SYSTEM_BUS_ADDRESS="$DBUS_SYSTEM_BUS_ADDRESS" gdbus call --system --dest org.pvm1 \
	--object-path /org/pvm1 --method "org.pvm1.Manager.$1" "${@:2}"; }
expect_error org.pvm1.Error.PolicyDenied as_member RemoveVM w1
expect_error org.pvm1.Error.PolicyDenied as_member StopVM c1 0
expect_error org.pvm1.Error.PolicyDenied as_member KillVM c1
expect_error org.pvm1.Error.PolicyDenied as_member OpenConsole c1
log "ok: group rules match supplementary and primary groups from the bus credentials"
# a VM the caller may not inspect is not there for them: not listed, its object does not answer
as_stranger() { setpriv --reuid=$STRANGER --regid=$STRANGER --clear-groups --inh-caps=-all \
	env DBUS_SYSTEM_BUS_ADDRESS="$DBUS_SYSTEM_BUS_ADDRESS" "$@"; }
expect_error org.freedesktop.DBus.Error.UnknownObject as_stranger dbus-send --system --print-reply \
	--dest=org.pvm1 $path org.freedesktop.DBus.Properties.Get string:org.pvm1.VM string:State
out=$(as_stranger dbus-send --system --print-reply --dest=org.pvm1 /org/pvm1 \
	org.freedesktop.DBus.ObjectManager.GetManagedObjects) || fail "stranger's GetManagedObjects failed"
grep -q "/org/pvm1/vm/" <<<"$out" && fail "GetManagedObjects shows VMs to a caller who may not inspect them"
out=$(as_stranger dbus-send --system --print-reply --dest=org.pvm1 /org/pvm1 org.pvm1.Manager.ListVMs) ||
	fail "stranger's ListVMs failed"
grep -q "array \[" <<<"$out" && ! grep -q '"w1"' <<<"$out" || fail "ListVMs shows w1 to a stranger: $out"
log "ok: hidden from a caller who may not inspect: object, GetManagedObjects, ListVMs"
# the bus policy: only root owns org.pvm1
expect_error org.freedesktop.DBus.Error.AccessDenied as_nobody dbus-send --system --print-reply \
	--dest=org.freedesktop.DBus /org/freedesktop/DBus org.freedesktop.DBus.RequestName string:org.pvm1 uint32:0

# ShuttingDown is exercised in bus-lifetime (it needs pvmd in its shutdown).

# --- stop, kill, remove, start again ---
gdbus call --system --dest org.pvm1 --object-path $path --method org.pvm1.VM.Stop 5000000 >/dev/null
wait_until 10 vm_state_is w1 stopped || fail "w1 did not stop: $(vm_prop w1 State)"
r=$(vm_prop w1 DeathReason)
[ "$r" = shutdown ] || [ "$r" = stopped ] || fail "w1 graceful stop reason: $r"
[ "$(vm_prop w1 RunnerPID)" = 0 ] || fail "w1 RunnerPID after stop"
kill -0 "$pid" 2>/dev/null && fail "runner $pid still alive after stop"
log "ok: graceful stop ($r)"
gcall StartVM w1 >/dev/null
wait_until 10 vm_state_is w1 ready || fail "w1 restart"
gcall KillVM w1 >/dev/null
wait_until 10 vm_state_is w1 stopped || wait_until 1 vm_state_is w1 failed || fail "w1 kill"
[ "$(vm_prop w1 DeathReason)" = killed ] || fail "w1 kill reason $(vm_prop w1 DeathReason)"
busctl --system call org.pvm1 $path org.pvm1.VM Start
wait_until 10 vm_state_is w1 ready || fail "VM.Start"
busctl --system call org.pvm1 $path org.pvm1.VM Kill
wait_until 10 vm_state_is w1 stopped || fail "VM.Kill"
gcall StopVM quiet 2000000 >/dev/null
gcall StopVM nb1 2000000 >/dev/null
wait_until 10 vm_state_is quiet stopped || fail "quiet stop"
for v in w1 c1 quiet; do gcall RemoveVM $v >/dev/null; done
expect_error org.pvm1.Error.NoSuchVM gcall GetVM w1
log "ok: Stop, Kill, Start, Remove (Manager and VM object)"

# --- what the monitors saw ---
wait_until 10 jq -se 'any(.[]; .event == "removed" and .vm == "w1")' "$T/subscriber.jsonl" ||
	fail "the subscriber saw no removal of w1: $(cat "$T/subscriber.jsonl" "$T/subscriber.err")"
sub=$(jq -r 'select(.member == "Subscribe") | .sender' "$T/busctl-monitor.jsonl" | head -n 1)
[ -n "$sub" ] || fail "busctl monitor saw no Subscribe call"
signals() { # signals JQ-FILTER: the signals to the subscriber that match, one JSON line each
	jq -c --arg sub "$sub" "select(.type == \"signal\" and .destination == \$sub) | $1" \
		"$T/busctl-monitor.jsonl"
}
# (greps read their whole input: "grep -q" would end early, and under pipefail a writer still
# writing would die of SIGPIPE and fail the check)
# the bus monitor writes at its own pace: w1's removal is the last of its signals
monitor_saw_w1_removed() {
	signals 'select(.member == "VMRemoved") | .payload.data[0]' | grep -x '"w1"' >/dev/null
}
wait_until 10 monitor_saw_w1_removed || fail "busctl monitor saw no VMRemoved of w1 to the subscriber"
for m in VMAdded VMRemoved VMStateChanged InterfacesAdded InterfacesRemoved PropertiesChanged; do
	[ -n "$(signals "select(.member == \"$m\")")" ] || fail "busctl monitor saw no $m to the subscriber"
done
signals 'select(.member == "VMAdded") | .payload.data' | grep -F '["w1","/org/pvm1/vm/w1"]' >/dev/null || fail "VMAdded w1"
signals 'select(.member == "VMRemoved") | .payload.data' | grep -F '["w1","/org/pvm1/vm/w1"]' >/dev/null || fail "VMRemoved w1"
for st in starting ready; do
	signals 'select(.member == "VMStateChanged") | .payload.data' |
		grep -F "[\"w1\",\"/org/pvm1/vm/w1\",\"$st\"" >/dev/null || fail "VMStateChanged w1 $st"
done
signals 'select(.member == "VMStateChanged") | .payload.data' |
	grep -F '["w1","/org/pvm1/vm/w1","stopped","killed"' >/dev/null || fail "VMStateChanged w1 stopped killed"
signals 'select(.member == "PropertiesChanged" and .path == "/org/pvm1/vm/w1") | .payload.data[1].State.data' |
	grep -x '"ready"' >/dev/null || fail "no PropertiesChanged State ready"
signals 'select(.member == "PropertiesChanged") | .payload.data[1].RunnerPID.data' | grep -x 0 >/dev/null ||
	fail "no RunnerPID change to 0 seen"
signals 'select(.member == "InterfacesAdded" and .payload.data[0] == "/org/pvm1/vm/w1") | .payload.data[1]["org.pvm1.VM"].Name.data' |
	grep -x '"w1"' >/dev/null || fail "InterfacesAdded of w1 lacks its properties"
added_ifaces=$(signals 'select(.member == "InterfacesAdded" and .payload.data[0] == "/org/pvm1/vm/w1") | .payload.data[1] | keys' |
	head -n 1)
[ "$added_ifaces" = "$gmo_ifaces" ] || fail "InterfacesAdded names $added_ifaces, GetManagedObjects $gmo_ifaces"
signals 'select(.member == "InterfacesRemoved") | .payload.data[0]' | grep -x '"/org/pvm1/vm/w1"' >/dev/null ||
	fail "InterfacesRemoved w1"
# the subscriber's own view, as pvmctl monitor prints it
jq -se 'any(.[]; .event == "state" and .vm == "w1" and .state == "ready")' "$T/subscriber.jsonl" >/dev/null ||
	fail "pvmctl monitor: no w1 ready"
# nothing about a VM is broadcast: a client that is not subscribed hears nothing of it
if grep -E "VMAdded|VMRemoved|VMStateChanged|PropertiesChanged|InterfacesAdded|InterfacesRemoved" \
	"$T/gdbus-monitor.txt"; then
	fail "gdbus monitor, not subscribed, saw VM signals"
fi
[ -z "$(jq -c 'select(.type == "signal" and .destination == null and (.path | startswith("/org/pvm1")))' \
	"$T/busctl-monitor.jsonl")" ] || fail "pvmd broadcast a signal about a VM"
log "ok: VM signals (VMAdded/VMRemoved/VMStateChanged, PropertiesChanged, InterfacesAdded/Removed) go to the subscriber only"
log "PASS bus-api"
