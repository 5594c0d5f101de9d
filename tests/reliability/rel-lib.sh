# Shared harness of the reliability tests (sourced), on top of the bus tests' harness
# (tests/integration/bus-lib.sh: private dbus-daemon with the shipped policy, pvmd, callers by
# uid). Adds: a test user with a policy drop-in of its own, pvmd's health (alive, ListVMs within
# 1 s, fd count and RSS back), leak checks, a checked pvmd exit, and the figures each test
# writes to $REL_RESULTS/<test>-<build>.json for scripts/reliability --write-doc.
# Inputs (from meson): those of bus-lib.sh, REL_CLIENT, REL_RESULTS, REL_BUILD; REL_SCALE=long
# (scripts/reliability --long) makes the runs longer.
REL_TEST=$(basename "$0" .sh)
REL_STARTED=$(date +%s)
REL_SCALE=${REL_SCALE:-bounded}
: "${REL_CLIENT:?}" "${REL_RESULTS:?}" "${REL_BUILD:?}"
. "$(dirname "$0")/../integration/bus-lib.sh"

# what stopped the test, for its results
REL_FAILURE=
fail() {
	REL_FAILURE="$*"
	log "FAIL: $*"
	exit 1
}

TESTUSER=1 # "daemon": a user with its own drop-in (70-test-user.json below)
declare -A REL_FIGURES=()
REL_CASES=()
REL_EXIT_HOOKS=()

install -m 755 "$REL_CLIENT" "$T/rel-client"
REL_CLIENT=$T/rel-client

# rel_fig KEY VALUE: a figure of this run (numbers or short strings); rel_add KEY N adds to it.
rel_fig() { REL_FIGURES[$1]=$2; }
rel_add() { REL_FIGURES[$1]=$((${REL_FIGURES[$1]:-0} + $2)); }
# rel_case TEXT: a contract that held (called after its checks passed).
rel_case() {
	REL_CASES+=("$1")
	log "case ok: $1"
}
# check TEXT CMD...: a case that does not stop the test: a failed one is listed, and
# rel_finish fails the test at the end with every failed case named.
REL_FAILED=()
check() {
	local text=$1
	shift
	if "$@"; then
		rel_case "$text"
	else
		REL_FAILED+=("$text")
		log "CASE FAILED: $text"
	fi
}
rel_finish() {
	rel_fig cases_checked $((${#REL_CASES[@]} + ${#REL_FAILED[@]}))
	rel_fig cases_failed "${#REL_FAILED[@]}"
	[ ${#REL_FAILED[@]} -eq 0 ] || fail "${#REL_FAILED[@]} cases failed: $(printf '%s; ' "${REL_FAILED[@]}")"
}

rel_write_results() { # $1: exit status
	local figs='{}' k cases failed
	mkdir -p "$REL_RESULTS"
	for k in "${!REL_FIGURES[@]}"; do
		figs=$(jq --arg k "$k" --arg v "${REL_FIGURES[$k]}" \
			'. + {($k): ($v | tonumber? // $v)}' <<<"$figs")
	done
	cases=$(printf '%s\n' "${REL_CASES[@]}" | jq -R . | jq -s 'map(select(. != ""))')
	failed=$(printf '%s\n' "${REL_FAILED[@]}" | jq -R . | jq -s 'map(select(. != ""))')
	jq -n --arg test "$REL_TEST" --arg build "$REL_BUILD" --arg scale "$REL_SCALE" \
		--argjson rc "$1" --argjson started "$REL_STARTED" --argjson ended "$(date +%s)" \
		--arg commit "$(git -C "$PVM_SRCDIR" describe --always --dirty 2>/dev/null || echo unknown)" \
		--argjson figures "$figs" --argjson cases "$cases" --argjson failed "$failed" \
		--arg failure "$REL_FAILURE" \
		'{test: $test, build: $build, scale: $scale, result: (if $rc == 0 then "pass" else "fail" end),
		  started: $started, duration_s: ($ended - $started), commit: $commit,
		  cases: $cases, failed_cases: $failed, failure: $failure, figures: $figures}' >"$REL_RESULTS/$REL_TEST-$REL_BUILD.json"
}

rel_exit() {
	local rc=$? h
	set +e
	for h in "${REL_EXIT_HOOKS[@]}"; do $h; done
	rel_write_results "$rc"
	(exit "$rc")
	cleanup
}
trap rel_exit EXIT

as_testuser() {
	setpriv --reuid=$TESTUSER --regid=$TESTUSER --clear-groups --inh-caps=-all \
		env DBUS_SYSTEM_BUS_ADDRESS="$DBUS_SYSTEM_BUS_ADDRESS" "$@"
}
as_root() { "$@"; } # so that "as_$who" names every caller
# a user no policy rule names
as_stranger() {
	setpriv --reuid=$STRANGER --regid=$STRANGER --clear-groups --inh-caps=-all \
		env DBUS_SYSTEM_BUS_ADDRESS="$DBUS_SYSTEM_BUS_ADDRESS" "$@"
}

# The bus tests' policy, plus the test user: VMs of its own (up to 2) from its own payload
# directory, and nothing on anyone else's.
write_rel_policy() {
	write_policy
	mkdir -p "$T/payloads-testuser"
	cp "$PVM_GUEST_DIR"/*.elf "$T/payloads-testuser/"
	chown -R $TESTUSER:$TESTUSER "$T/payloads-testuser"
	cat >"$T/policy/70-test-user.json" <<-EOF
	{
		"rules": [
			{
				"who": { "users": [$TESTUSER] },
				"actions": ["create", "stop", "inspect", "attach"],
				"vms": ["@own"],
				"payloads": { "path_prefixes": ["$T/payloads-testuser"] },
				"limits": { "vms": 2, "vcpus": 2, "memory_mib": 64 }
			}
		]
	}
	EOF
}

setup_rel() {
	write_rel_policy
	start_bus
	start_pvmd "$@"
}

# ---- pvmd's health ----

pvmd_fds() { ls "/proc/$PVMD_PID/fd" 2>/dev/null | wc -l; }
pvmd_rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$PVMD_PID/status"; }
pvmd_alive() { kill -0 "$PVMD_PID" 2>/dev/null && ! proc_gone "$PVMD_PID"; }

# ListVMs answers within 1 s (the caller's own timeout: a stalled pvmd fails it)
list_answers() { busctl --system --timeout=1 call org.pvm1 /org/pvm1 org.pvm1.Manager ListVMs >/dev/null; }

REL_BASE_FDS=
REL_BASE_RSS=
# The reference for "back": taken with no VM known, after a warm-up (allocator arenas, bus
# match rules and the like are pvmd's steady state, not a leak).
health_baseline() {
	wait_until 30 no_vms || fail "VMs left before the baseline"
	# the pool refills when pvmd is idle: full, it holds its share of fds and memory
	wait_until 30 pool_full || fail "pvmd's runner pool did not fill: $(waiting_runners | wc -l) ready runners"
	REL_BASE_FDS=$(pvmd_fds)
	REL_BASE_RSS=$(pvmd_rss_kib)
	rel_fig pvmd_fds_baseline "$REL_BASE_FDS"
	rel_fig pvmd_rss_kib_baseline "$REL_BASE_RSS"
	log "baseline: pvmd has $REL_BASE_FDS fds, RSS $REL_BASE_RSS KiB"
}

no_vms() { [ "$(busctl --system --timeout=5 call org.pvm1 /org/pvm1 org.pvm1.Manager ListVMs | awk '{print $2}')" = 0 ]; }
fds_back() { [ "$(pvmd_fds)" -le "$REL_BASE_FDS" ]; }

# RSS is compared in the plain build only: under ASan freed memory sits in quarantine, and
# LeakSanitizer checks pvmd's heap at its exit instead (stop_pvmd_checked).
rss_limit_kib=1024
rss_back() { [ "$REL_BUILD" != plain ] || [ "$(pvmd_rss_kib)" -le $((REL_BASE_RSS + rss_limit_kib)) ]; }

# health_check LABEL: pvmd alive, ListVMs within 1 s, and (with no VM left) fds and RSS back.
health_check() {
	local label=$1
	pvmd_alive || fail "$label: pvmd died"
	list_answers || fail "$label: ListVMs did not answer within 1 s"
	rel_add health_checks 1
	log "$label: pvmd has $(pvmd_fds) fds, RSS $(pvmd_rss_kib) KiB, $(ls /proc/$PVMD_PID/task | wc -l) threads"
	if [ -n "$REL_BASE_FDS" ]; then
		# config readers that wait end within 10 s; runners' pipes once reaped
		wait_until 30 fds_back || fail "$label: pvmd holds $(pvmd_fds) fds, $REL_BASE_FDS before: $(ls -l /proc/$PVMD_PID/fd | tail -n +2 | awk '{print $NF}' | sort | uniq -c | sort -rn | head)"
		wait_until 10 rss_back || fail "$label: pvmd RSS $(pvmd_rss_kib) KiB, $REL_BASE_RSS KiB before (limit +$rss_limit_kib KiB)"
		rel_fig pvmd_rss_kib_last "$(pvmd_rss_kib)"
		rel_fig pvmd_fds_last "$(pvmd_fds)"
	fi
}

# ---- leaks outside pvmd ----

runners_of_build() { # the pids of this build's runners that are alive
	local p
	for p in /proc/[0-9]*; do
		[ "$(readlink "$p/exe" 2>/dev/null)" = "$(readlink -f "$PVM_RUNNER")" ] && ! proc_gone "${p#/proc/}" && echo "${p#/proc/}"
	done
	return 0
}
holds_vm() { ls -l "/proc/$1/fd" 2>/dev/null | grep -q 'kvm-vm'; }
runners_alive() { # the runners that hold a VM; pvmd's pool keeps ready ones that hold none
	local p
	for p in $(runners_of_build); do holds_vm "$p" && echo "$p"; done
	return 0
}
waiting_runners() { # pvmd's ready runners (--runner-pool, 2 by default): no VM in them
	local p
	for p in $(runners_of_build); do holds_vm "$p" || echo "$p"; done
	return 0
}
REL_POOL_SIZE=2
pool_full() { [ "$(waiting_runners | wc -l)" -eq "$REL_POOL_SIZE" ]; }
no_runners() { [ -z "$(runners_alive)" ] && [ "$(waiting_runners | wc -l)" -le "$REL_POOL_SIZE" ]; }
gmem_fds() { # guest memory fds pvmd holds (guest_memfd, or the memfd fallback)
	ls -l "/proc/$PVMD_PID/fd" 2>/dev/null | grep -cE 'kvm-gmem|memfd:pvm-guest-ram' || true
}
unevictable_kib() { awk '/^Unevictable:/ {print $2}' /proc/meminfo; }

REL_BASE_UNEVICTABLE=
leak_baseline() { REL_BASE_UNEVICTABLE=$(unevictable_kib); }
# Another VM manager on the machine may hold some; one of our VMs is 16 MiB, so a 4 MiB margin
# still shows any VM's memory left behind.
unevictable_back() { [ "$(unevictable_kib)" -le $((REL_BASE_UNEVICTABLE + 4096)) ]; }

# no_leaks LABEL: no runner, no state file, no guest memory fd, no Unevictable memory left.
no_leaks() {
	local label=$1 n
	wait_until 30 no_runners || fail "$label: runners left: $(runners_alive | tr '\n' ' '), waiting: $(waiting_runners | tr '\n' ' ')"
	n=$(find "$T/run/state" -type f 2>/dev/null | wc -l)
	[ "$n" -eq 0 ] || fail "$label: $n state files left: $(ls "$T/run/state")"
	n=$(gmem_fds)
	[ "$n" -eq 0 ] || fail "$label: pvmd holds $n guest memory fds"
	wait_until 30 unevictable_back || fail "$label: Unevictable $(unevictable_kib) KiB, $REL_BASE_UNEVICTABLE KiB before"
	rel_fig unevictable_kib_delta $(($(unevictable_kib) - REL_BASE_UNEVICTABLE))
	rel_add leak_checks 1
}

# SIGTERM; pvmd must exit 0 within its shutdown timeout, with no sanitizer report in its log.
stop_pvmd_checked() {
	local pid=$PVMD_PID rc=0 log_file="$T/pvmd$PVMD_N.log"
	kill -TERM "$pid"
	wait_until 60 proc_gone "$pid" || fail "pvmd did not exit within 60 s of SIGTERM"
	wait "$pid" || rc=$?
	PVMD_PID=
	if grep -qE 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:' "$log_file"; then
		grep -E -A20 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:' "$log_file" | head -40 >&2
		fail "sanitizer report in pvmd's log"
	fi
	[ "$rc" -eq 0 ] || fail "pvmd exited $rc on SIGTERM (log: $(tail -n 5 "$log_file"))"
}

# create_as WHO CONFIG [--start]: CreateVM as WHO, the payload passed as a descriptor WHO
# opened (org.pvm1(5): pvmd opens payload paths for root only); a pvmd without payload
# descriptors gets the path alone.
create_as() {
	local who=$1 cfg=$2 out
	shift 2
	out=$("as_$who" "$REL_CLIENT" create "$cfg" "$@" --kernel-fd "$(jq -r .kernel "$cfg")")
	if [[ $out == *"Unknown option 'kernel_fd'"* ]]; then
		out=$("as_$who" "$REL_CLIENT" create "$cfg" "$@")
	fi
	[[ $out == ok* ]] || { log "create_as $who $cfg: $out"; return 1; }
}

# owner_vms PREFIX: one VM per owner for calls to aim at, PREFIX-root (started, READY),
# PREFIX-nobody and PREFIX-test (the test user's, from its own payload directory)
owner_vms() {
	local cfg
	cfg=$(vm_config "$1-root" wait-stop.elf)
	busctl --system call org.pvm1 /org/pvm1 org.pvm1.Manager CreateVM 'sa{sv}' "$(cat "$cfg")" 1 start b true >/dev/null
	create_as nobody "$(vm_config "$1-nobody" wait-stop.elf)" || fail "VM $1-nobody"
	cfg=$(vm_config "$1-test" wait-stop.elf)
	sed -i "s|$PVM_GUEST_DIR|$T/payloads-testuser|" "$cfg"
	create_as testuser "$cfg" || fail "VM $1-test"
	wait_until 20 vm_state_is "$1-root" ready || fail "$1-root: $(vm_prop "$1-root" State)"
}


# scale BOUNDED LONG: the value for this run
scale() { if [ "$REL_SCALE" = long ]; then echo "$2"; else echo "$1"; fi; }
