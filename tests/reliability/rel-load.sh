#!/bin/bash
# Load: 8 clients, each on its own connection, start 8 VMs apiece so that 64 VMs are alive at
# once, then stop and remove them; 10 cycles. One client's guests stop when asked, the others' ignore
# the request and are killed after the stop timeout. Contracts: every VM reaches ready and ends;
# afterwards no fd, process, state file, guest memory fd or Unevictable memory is left, and
# pvmd's RSS is within 1 MiB of where it was (in the ASan+UBSan build LeakSanitizer checks
# pvmd's heap at its exit instead).
. "$(dirname "$0")/rel-lib.sh"

clients=8
per_client=8
cycles=${REL_CYCLES:-$(scale 10 50)}

setup_rel
cfg_coop=$(vm_config load-coop wait-stop.elf)
cfg_stubborn=$(vm_config load-stubborn halt-idle.elf)
# one client's guests poll for the stop request (busy: a VM exit per poll, so few of them on
# 2 cores); the others' halt and are killed after the 1 s stop timeout
client_cfg() { if [ "$1" -eq 0 ]; then echo "$cfg_coop"; else echo "$cfg_stubborn"; fi; }

# one phase of every client at once; fails if any client fails
all_clients() { # all_clients up|down
	local i pids=() rc=0
	for i in $(seq 0 $((clients - 1))); do
		if [ "$1" = up ]; then
			"$REL_CLIENT" up "c$i" $per_client "$(client_cfg "$i")" 2>"$T/client-$i.err" &
		else
			"$REL_CLIENT" down "c$i" $per_client 1 2>"$T/client-$i.err" &
		fi
		pids+=($!)
	done
	for i in "${!pids[@]}"; do
		wait "${pids[$i]}" || { rc=1; log "client $i ($1): $(cat "$T/client-$i.err")"; }
	done
	return $rc
}

ready_count() {
	busctl --system --json=short call org.pvm1 /org/pvm1 org.pvm1.Manager ListVMs |
		jq '[.data[0][] | select(.[1] == "ready")] | length'
}

# warm-up: one cycle, so the baseline is pvmd's steady state
leak_baseline
all_clients up || fail "warm-up: start"
all_clients down || fail "warm-up: stop"
health_baseline
no_leaks "after the warm-up"

t0=$(date +%s)
max_alive=0
for c in $(seq "$cycles"); do
	all_clients up || fail "cycle $c: not every VM became ready"
	alive=$(runners_alive | wc -l)
	ready=$(ready_count)
	log "cycle $c: $alive runners alive, $ready VMs ready, pvmd $(pvmd_fds) fds, RSS $(pvmd_rss_kib) KiB, $(gmem_fds) guest memory fds"
	[ "$alive" -eq $((clients * per_client)) ] && [ "$ready" -eq $((clients * per_client)) ] ||
		fail "cycle $c: $alive runners and $ready ready VMs, expected $((clients * per_client))"
	[ "$alive" -gt "$max_alive" ] && max_alive=$alive
	all_clients down || fail "cycle $c: not every VM stopped and went"
	pvmd_alive || fail "cycle $c: pvmd died"
	log "cycle $c: all gone; pvmd $(pvmd_fds) fds, RSS $(pvmd_rss_kib) KiB"
done
rel_fig load_seconds $(($(date +%s) - t0))
rel_fig clients $clients
rel_fig cycles "$cycles"
rel_fig vms_alive_max "$max_alive"
rel_fig lifecycles $((cycles * clients * per_client))

health_check "after $cycles cycles"
no_leaks "after $cycles cycles"
rel_fig pvmd_rss_kib_delta $(($(pvmd_rss_kib) - REL_BASE_RSS))
rel_fig pvmd_fds_delta $(($(pvmd_fds) - REL_BASE_FDS))
stop_pvmd_checked
rel_case "$((cycles * clients * per_client)) VM lifecycles by $clients clients, $max_alive alive at once: nothing leaked"
