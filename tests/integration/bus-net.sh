#!/bin/bash
# VM networks through a real pvmd and pvmctl, in a network namespace of the test's own: policy
# denies a network to a caller whose rule has no "network" (and a bridge its patterns do not
# name) and allows it once a rule does; root's VM gets a tap on the bridge it names (up, MTU
# 1500, the host side's address fe:<guest's last five bytes>, NetworkInterface says which), and
# the guest's ARP request arrives on it; a missing bridge fails the start naming it; the tap is
# gone after stop, after kill, after the runner is killed outright and when pvmd stops its VMs;
# a VM pvmd keeps across its restart (the fd store) keeps its tap, which the new pvmd names,
# until it ends.
set -euo pipefail
[ "$(id -u)" -eq 0 ] || { echo "needs root"; exit 77; }
# taps and bridges in a namespace of our own: nothing touches the host's network
if [ -z "${PVM_NET_TEST_NETNS:-}" ]; then
	exec env PVM_NET_TEST_NETNS=1 unshare --net "$0" "$@"
fi
[ -c /dev/net/tun ] || { echo "no /dev/net/tun"; exit 77; }
. "$(dirname "$0")/bus-lib.sh"

setup_pvmd
ip link add pvmbr0 type bridge
ip link set pvmbr0 up

tap_gone() { ! ip link show "$1" >/dev/null 2>&1; }
link_json() { ip -j -d link show "$1" | jq -r ".[0].$2"; }

# --- policy: nobody's rule has no "network" ---
cfg=$(vm_config n0 virtio-io.elf '"window_mib": 2, "net": {}')
expect_error "asks for a network" as_nobody "$PVMCTL" start "$cfg"
# it is refused before anything is made
tap_gone pvm0 || fail "a refused VM left a tap"

# --- root: a tap on the bridge ---
cfg=$(vm_config n1 virtio-io.elf '"window_mib": 2, "net": {"mac": "52:54:00:aa:bb:cc", "bridge": "pvmbr0"}')
"$PVMCTL" start "$cfg" --wait-ready >"$T/out" 2>&1 || fail "start n1: $(cat "$T/out")"
tap=$(vm_prop n1 NetworkInterface)
[[ "$tap" == pvm* ]] || fail "NetworkInterface '$tap'"
[ "$(link_json "$tap" master)" = pvmbr0 ] || fail "$tap master: $(ip -d link show "$tap")"
[ "$(link_json "$tap" mtu)" = 1500 ] || fail "$tap mtu: $(ip link show "$tap")"
[ "$(link_json "$tap" address)" = fe:54:00:aa:bb:cc ] || fail "$tap address: $(ip link show "$tap")"
ip -j link show "$tap" | jq -e '.[0].flags | index("UP")' >/dev/null || fail "$tap is not up"
output_has "net mac 52:54:00:aa:bb:cc" "$PVMCTL" logs n1 || fail "guest MAC: $("$PVMCTL" logs n1)"
# the guest's ARP request went out on the tap (and into the bridge): its counters moved
wait_until 10 sh -c "[ \$(ip -j -s link show '$tap' | jq '.[0].stats64.rx.packets') -ge 1 ]" ||
	fail "no frame from the guest on $tap"
[ "$("$PVMCTL" inspect --json n1 | jq -r .net_interface)" = "$tap" ] || fail "inspect --json: $("$PVMCTL" inspect --json n1)"
output_has "^Network: *tap $tap\$" "$PVMCTL" inspect n1 || fail "inspect: $("$PVMCTL" inspect n1)"
log "ok: $tap on pvmbr0, up, MTU 1500, the guest's frames arrive; pvmctl inspect names it"
"$PVMCTL" stop n1 >/dev/null || fail "stop n1"
wait_until 10 tap_gone "$tap" || fail "$tap outlived stop"
[ -z "$(vm_prop n1 NetworkInterface)" ] || fail "NetworkInterface after stop: $(vm_prop n1 NetworkInterface)"
log "ok: $tap gone after stop"

"$PVMCTL" start n1 --wait-ready >/dev/null || fail "restart n1"
tap=$(vm_prop n1 NetworkInterface)
"$PVMCTL" kill n1 >/dev/null || fail "kill n1"
wait_until 10 tap_gone "$tap" || fail "$tap outlived kill"
log "ok: $tap gone after kill"

"$PVMCTL" start n1 --wait-ready >/dev/null || fail "restart n1"
tap=$(vm_prop n1 NetworkInterface)
kill -KILL "$(vm_prop n1 RunnerPID)"
wait_until 10 vm_state_is n1 failed || fail "n1 after its runner was killed: $(vm_prop n1 State)"
wait_until 10 tap_gone "$tap" || fail "$tap outlived its runner"
log "ok: $tap gone with a runner killed outright"

# a bridge that is not there: the start fails naming it
cfg=$(vm_config n2 virtio-io.elf '"window_mib": 2, "net": {"bridge": "nosuchbr"}')
expect_error "bridge 'nosuchbr' does not exist" "$PVMCTL" start "$cfg"

# --- policy: a rule with "network" lets nobody have one, on the bridges it names ---
cat >"$T/policy/80-test-net.json" <<EOF
{ "rules": [ { "who": { "users": [$NOBODY] }, "actions": ["create"], "vms": ["@own"],
	       "payloads": { "path_prefixes": ["$PVM_GUEST_DIR"] },
	       "network": { "bridges": ["pvmbr*"] } } ] }
EOF
kill -HUP "$PVMD_PID"
wait_until 5 grep -q "Policy reloaded" "$T/pvmd$PVMD_N.log" || fail "no reload"
cfg=$(vm_config n3 virtio-io.elf '"window_mib": 2, "net": {"bridge": "lan0"}')
expect_error "asks to join bridge 'lan0'" as_nobody "$PVMCTL" start "$cfg"
cfg=$(vm_config n3 virtio-io.elf '"window_mib": 2, "net": {"bridge": "pvmbr0"}')
as_nobody "$PVMCTL" start "$cfg" --wait-ready >"$T/out" 2>&1 || fail "nobody's n3: $(cat "$T/out")"
tap=$(vm_prop n3 NetworkInterface)
[ "$(link_json "$tap" master)" = pvmbr0 ] || fail "n3's $tap master"
log "ok: nobody's VM on pvmbr0 once the policy allows it"

# --- pvmd's own end: SIGTERM stops every VM, their taps go with them ---
stop_pid "$PVMD_PID"
wait_until 10 tap_gone "$tap" || fail "$tap outlived pvmd's VMs"
log "ok: $tap gone when pvmd stopped its VMs"

# --- a VM kept across a restart of pvmd (the fd store) keeps its tap, which goes when it ends ---
start_supervised_pvmd
cfg=$(vm_config n4 virtio-io.elf '"window_mib": 2, "net": {"bridge": "pvmbr0"}')
"$PVMCTL" start "$cfg" --wait-ready >"$T/out" 2>&1 || fail "start n4: $(cat "$T/out")"
tap=$(vm_prop n4 NetworkInterface)
wait_until 5 stored n4-control || fail "n4's fds were not stored"
old=$PVMD_PID
kill -KILL "$old"
wait_until 20 main_is_new "$old" || fail "pvmd not restarted by the supervisor"
[ "$(vm_prop n4 State)" = ready ] || fail "n4 after the restart: $(vm_prop n4 State)"
ip link show "$tap" >/dev/null || fail "$tap went with pvmd, not with the VM"
[ "$(vm_prop n4 NetworkInterface)" = "$tap" ] ||
	fail "the new pvmd says n4's tap is '$(vm_prop n4 NetworkInterface)', not $tap"
"$PVMCTL" stop n4 >/dev/null || fail "stop n4"
wait_until 10 tap_gone "$tap" || fail "$tap outlived the VM kept across the restart"
log "ok: $tap kept across pvmd's restart, gone when the VM stopped"
log "PASS"
