#!/bin/bash
# Faults around pvmd, each with the contract pvmd(8) states for it: a runner killed (-9) while
# its guest boots or runs ends that VM with a death reason and frees its memory, nothing else;
# pvmd killed (-9) and restarted accounts for every VM and leaves no runner behind (RECOVERY);
# the bus daemon killed and restarted costs no VM, and pvmd serves again on the new bus; a full
# log disk costs console logs, not VMs or pvmd's answers; SIGTERM with guests that ignore stop
# requests ends every VM within --shutdown-timeout and pvmd exits 0.
. "$(dirname "$0")/rel-lib.sh"

mcall() { busctl --system call org.pvm1 /org/pvm1 org.pvm1.Manager "$@"; }
start_vm() { # start_vm NAME GUEST [CONSOLE-OUTPUT]: create and start as root
	local c
	c=$(vm_config "$1" "$2")
	sed -i "s/\"output\": \"ring\"/\"output\": \"${3:-ring}\"/" "$c"
	mcall CreateVM 'sa{sv}' "$(cat "$c")" 1 start b true >/dev/null
}
ended() { # ended NAME: not running, with a death reason
	local s
	s=$(vm_prop "$1" State) || return 1
	[[ $s =~ ^(stopped|failed)$ ]] && [ "$(vm_prop "$1" DeathReason)" != none ] &&
		[ "$(vm_prop "$1" RunnerPID)" = 0 ]
}
runner_gone() { proc_gone "$1"; }
forget() { mcall KillVM s "$1" >/dev/null 2>&1 || true; wait_until 20 ended "$1" || true; mcall RemoveVM s "$1" >/dev/null 2>&1 || true; }

setup_rel
leak_baseline
# warm-up: one VM's life first, so that the baseline is pvmd's steady state (libraries that
# set themselves up on first use, like the payload hashing, are not a leak)
start_vm warm-up wait-stop.elf && wait_until 20 vm_state_is warm-up ready || fail "warm-up VM"
"$REL_CLIENT" reap
health_baseline

# --- a runner killed while its guest boots: as soon as it exists, and before the guest is ready
kill_runner_at_start() {
	local pid=0 deadline=$(($(date +%s) + 20))
	mcall CreateVM 'sa{sv}' "$(cat "$(vm_config f-start no-ready.elf)")" 1 start b true >/dev/null || return 1
	while [ "$pid" = 0 ] && [ "$(date +%s)" -lt "$deadline" ]; do pid=$(vm_prop f-start RunnerPID); done
	[ "$pid" != 0 ] || return 1
	log "f-start is $(vm_prop f-start State); kill -9 runner $pid"
	kill -KILL "$pid"
	rel_add faults 1
	wait_until 20 ended f-start || { log "f-start: $(vm_prop f-start State) $(vm_prop f-start DeathReason)"; return 1; }
	log "f-start: $(vm_prop f-start State), $(vm_prop f-start DeathReason): $(vm_prop f-start Message)"
	[ "$(gmem_fds)" = 0 ] && list_answers
}
check "a runner killed as it starts: the VM ends with a reason, its memory is freed" kill_runner_at_start

kill_runner_mid_boot() {
	local pid
	start_vm f-boot no-ready.elf || return 1
	wait_until 20 vm_state_is f-boot running || return 1
	pid=$(vm_prop f-boot RunnerPID)
	kill -KILL "$pid"
	rel_add faults 1
	wait_until 20 ended f-boot || return 1
	log "f-boot: $(vm_prop f-boot State), $(vm_prop f-boot DeathReason): $(vm_prop f-boot Message)"
	[ "$(gmem_fds)" = 0 ] && list_answers &&
		# and it can run again
		mcall StartVM s f-boot && wait_until 20 vm_state_is f-boot running
}
check "a runner killed while its guest boots: the VM ends with a reason and can start again" kill_runner_mid_boot

kill_runner_mid_run() {
	local pid other gmem
	start_vm f-run wait-stop.elf && start_vm f-other wait-stop.elf || return 1
	wait_until 20 vm_state_is f-run ready && wait_until 20 vm_state_is f-other ready || return 1
	gmem=$(gmem_fds)
	pid=$(vm_prop f-run RunnerPID)
	other=$(vm_prop f-other RunnerPID)
	kill -KILL "$pid"
	rel_add faults 1
	wait_until 20 ended f-run || return 1
	log "f-run: $(vm_prop f-run State), $(vm_prop f-run DeathReason): $(vm_prop f-run Message)"
	# only that VM: the other one runs on, with the same runner
	vm_state_is f-other ready && [ "$(vm_prop f-other RunnerPID)" = "$other" ] &&
		[ "$(gmem_fds)" -lt "$gmem" ] && list_answers
}
check "a runner killed while its guest runs: that VM alone ends, its memory is freed" kill_runner_mid_run
for v in f-start f-boot f-run f-other; do forget $v; done
health_check "after killing runners"

# --- pvmd killed with VMs running, then restarted ---
kill_pvmd() {
	local pids=() v ok=0
	for v in p-1 p-2 p-3; do start_vm $v wait-stop.elf || return 1; done
	for v in p-1 p-2 p-3; do
		wait_until 20 vm_state_is $v ready || return 1
		pids+=("$(vm_prop $v RunnerPID)")
	done
	kill -KILL "$PVMD_PID"
	rel_add faults 1
	wait_until 10 proc_gone "$PVMD_PID" || return 1
	wait "$PVMD_PID" 2>/dev/null || true
	start_pvmd
	for v in p-1 p-2 p-3; do
		[ "$(vm_prop $v State)" = stopped ] && [ "$(vm_prop $v DeathReason)" = killed ] &&
			[ "$(vm_prop $v Message)" = "pvmd restarted" ] ||
			{ log "$v after restart: $(vm_prop $v State) $(vm_prop $v DeathReason) '$(vm_prop $v Message)'"; ok=1; }
	done
	for p in "${pids[@]}"; do wait_until 10 runner_gone "$p" || { log "runner $p survived"; ok=1; }; done
	# every VM is usable again
	mcall StartVM s p-1 >/dev/null && wait_until 20 vm_state_is p-1 ready || ok=1
	return $ok
}
check "pvmd killed and restarted: every VM accounted for, no runner left, VMs start again" kill_pvmd
for v in p-1 p-2 p-3; do forget $v; done
REL_BASE_FDS= # a new pvmd: a new baseline
health_check "after restarting pvmd"
health_baseline

# --- the bus daemon killed, then started again ---
kill_bus() {
	local pid old_bus=$BUS_PID
	start_vm b-1 wait-stop.elf || return 1
	wait_until 20 vm_state_is b-1 ready || return 1
	pid=$(vm_prop b-1 RunnerPID)
	kill -KILL "$BUS_PID"
	rel_add faults 1
	wait_until 10 proc_gone "$old_bus"
	wait "$old_bus" 2>/dev/null || true
	rm -f "$T/system_bus_socket"
	start_bus
	# pvmd comes back on the new bus by itself, its VM as it was
	wait_until 60 pvmd_up && pvmd_alive || { log "pvmd did not return to the bus; pvmd alive: $(pvmd_alive && echo yes || echo no)"; return 1; }
	vm_state_is b-1 ready && [ "$(vm_prop b-1 RunnerPID)" = "$pid" ] && ! proc_gone "$pid" ||
		{ log "b-1 after the bus came back: $(vm_prop b-1 State) runner $(vm_prop b-1 RunnerPID), was $pid"; return 1; }
}
check "the bus daemon killed and restarted: VMs keep running, pvmd serves on the new bus" kill_bus
if ! pvmd_alive || ! busctl --system status org.pvm1 >/dev/null 2>&1; then
	log "pvmd is gone after the bus loss (exit: $(wait "$PVMD_PID"; echo $?)); starting another for the next cases"
	stop_pid "$PVMD_PID"
	start_pvmd
fi
forget b-1
"$REL_CLIENT" reap

# --- a full log disk ---
stop_pvmd_checked
mkdir "$T/logs-full"
mount -t tmpfs -o size=64k,mode=0755 pvm-rel-full "$T/logs-full" || fail "cannot mount a tmpfs for the full-disk case"
unmount_logs() { umount -l "$T/logs-full" 2>/dev/null; }
REL_EXIT_HOOKS+=(unmount_logs)
start_pvmd --log-dir "$T/logs-full"
disk_full() { [ "$(df --output=avail "$T/logs-full" | tail -1)" -eq 0 ]; }
full_disk() {
	local v
	start_vm d-flood flood.elf ring-and-log || return 1
	wait_until 60 disk_full || { log "the log disk did not fill: $(df "$T/logs-full" | tail -1)"; return 1; }
	rel_add faults 1
	# pvmd still answers, still starts VMs, still stops them
	list_answers || return 1
	start_vm d-2 wait-stop.elf ring-and-log && wait_until 20 vm_state_is d-2 ready || return 1
	output_has '^ay ' mcall GetConsoleLog s d-2 || return 1
	mcall StopVM st d-flood 0 && mcall StopVM st d-2 0 || return 1
	wait_until 30 ended d-flood && wait_until 30 ended d-2 || return 1
	vm_state_is d-flood stopped && [ "$(vm_prop d-flood DeathReason)" != crash ] ||
		{ log "d-flood: $(vm_prop d-flood State) $(vm_prop d-flood DeathReason)"; return 1; }
}
check "a full log disk: pvmd answers, starts and stops VMs; the logging VM stops normally" full_disk
forget d-flood
forget d-2
stop_pvmd_checked
unmount_logs

# --- SIGTERM with guests that ignore stop requests ---
start_pvmd --shutdown-timeout 3 --stop-timeout 1
sigterm_stubborn() {
	local pids=() v t0 took
	for v in s-spin-1 s-spin-2; do start_vm $v spin.elf || return 1; done
	start_vm s-halt halt-idle.elf && start_vm s-coop wait-stop.elf || return 1
	for v in s-spin-1 s-spin-2 s-halt s-coop; do
		wait_until 20 vm_state_is $v ready || return 1
		pids+=("$(vm_prop $v RunnerPID)")
	done
	rel_add faults 1
	t0=$(date +%s%N)
	stop_pvmd_checked # exits 0, no sanitizer report
	took=$((($(date +%s%N) - t0) / 1000000))
	rel_fig sigterm_exit_ms "$took"
	log "pvmd exited $took ms after SIGTERM (shutdown timeout 3 s)"
	for p in "${pids[@]}"; do proc_gone "$p" || { log "runner $p survived pvmd"; return 1; }; done
	# the records say how each ended
	for v in s-spin-1 s-spin-2 s-halt s-coop; do
		jq -e '.state != "running" and .state != "ready" and .runner_pid == 0' "$T/run/state/$v.json" >/dev/null ||
			{ log "record of $v: $(jq -c '{state, death_reason, runner_pid}' "$T/run/state/$v.json")"; return 1; }
	done
	# the cooperative guest stopped by itself, the others were killed
	[ "$(jq -r .death_reason "$T/run/state/s-coop.json")" != killed ]
}
check "SIGTERM with guests ignoring stop: every VM ends within the timeout, pvmd exits 0" sigterm_stubborn
rm -f "$T"/run/state/*.json
no_leaks "after the faults"

rel_finish
