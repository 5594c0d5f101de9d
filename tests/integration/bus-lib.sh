# Shared harness of the bus-* integration tests (sourced): a private dbus-daemon whose policy is
# the shipped policy/org.pvm1.conf (included as is), pvmd and clients as separate processes,
# polling with deadlines, and a cleanup that stops every process by the pid it started.
# Inputs (from meson): PVMD, PVMCTL, PVM_RUNNER, PVM_GUEST_DIR, PVM_SRCDIR; PVMD_START_TIMEOUT
# (seconds pvmd may take to own its name, default 20) for a pvmd under valgrind.
set -euo pipefail

[ "$(id -u)" -eq 0 ] || { echo "needs root (owns org.pvm1, runs VMs)"; exit 77; }
[ -c /dev/kvm ] || { echo "no /dev/kvm"; exit 77; }
: "${PVMD:?}" "${PVMCTL:?}" "${PVM_RUNNER:?}" "${PVM_SRCDIR:?}" "${PVM_GUEST_DIR:?}"

T=$(mktemp -d /tmp/pvm-bus-test.XXXXXX)
chmod 755 "$T"
# Unprivileged callers run pvmctl from here: the build tree may sit under a directory they
# cannot enter (a checkout in /root, mode 0700).
install -m 755 "$PVMCTL" "$T/pvmctl"
PVMCTL=$T/pvmctl
PIDS=()
BUS_PID=
PVMD_PID=
NOBODY=65534
STRANGER=2     # "bin": a uid no rule names (dbus-daemon refuses uids without a passwd entry)
GROUP=4242     # a group whose members may inspect

log() { echo "[$(date +%T.%3N)] $*" >&2; }
fail() {
	log "FAIL: $*"
	exit 1
}
dump_logs() {
	for f in "$T"/pvmd*.log; do
		[ -f "$f" ] && { echo "---- $f" >&2; tail -n 60 "$f" >&2; }
	done
	return 0
}

stop_pid() { # stop_pid PID: TERM, wait up to 10 s, then KILL
	local pid=$1 i
	kill -0 "$pid" 2>/dev/null || return 0
	kill -TERM "$pid" 2>/dev/null || return 0
	for i in $(seq 100); do
		kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
}

cleanup() {
	local rc=$?
	set +e
	for p in "${PIDS[@]}"; do stop_pid "$p"; done
	[ -n "$PVMD_PID" ] && stop_pid "$PVMD_PID"
	# runners left by a pvmd killed on purpose: the records name them
	for f in "$T"/run/state/*.json; do
		[ -f "$f" ] || continue
		p=$(jq -r .runner_pid "$f" 2>/dev/null || echo 0)
		if [ "${p:-0}" -gt 0 ] && [ "$(readlink /proc/$p/exe 2>/dev/null)" = "$(readlink -f "$PVM_RUNNER")" ]; then
			kill -KILL "$p" 2>/dev/null
		fi
	done
	[ -n "$BUS_PID" ] && stop_pid "$BUS_PID"
	if [ $rc -ne 0 ]; then dump_logs; fi
	rm -rf "$T"
	exit $rc
}
trap cleanup EXIT

# output_has PATTERN CMD...: CMD's whole output has a line matching PATTERN. Unlike
# "CMD | grep -q", grep does not end early: under pipefail a CMD still writing when grep -q
# exits would die of SIGPIPE and fail the check although the line was there.
output_has() {
	local pattern=$1 out
	shift
	out=$("$@") || return 1
	grep -q -- "$pattern" <<<"$out"
}

# wait_until DEADLINE_SEC CMD...: poll CMD every 50 ms until it succeeds or the deadline passes.
# On failure the last attempt's output goes to stderr, so the reason is never thrown away.
wait_until() {
	local deadline=$(($(date +%s%N) + $1 * 1000000000))
	shift
	while ! "$@" >"$T/wait_until.out" 2>&1; do
		if [ "$(date +%s%N)" -ge "$deadline" ]; then
			log "gave up waiting for: $* (last attempt said: $(tail -c 2000 "$T/wait_until.out"))"
			return 1
		fi
		sleep 0.05
	done
}

# bus_name_owned NAME: the bus daemon says NAME has an owner (a call that needs no credentials
# of the owner, so it works where sd-bus could not read them, e.g. without cgroupfs)
bus_name_owned() {
	local out
	out=$(busctl --system call org.freedesktop.DBus /org/freedesktop/DBus \
		org.freedesktop.DBus NameHasOwner s "$1") || return 1
	[ "$out" = "b true" ] || { echo "NameHasOwner $1: $out"; return 1; }
}

start_bus() {
	"$PVM_SRCDIR/scripts/private-bus-config" "$T/system_bus_socket" "$PVM_SRCDIR" >"$T/bus.conf"
	if [ -n "${BUS_EXTRA_POLICY:-}" ]; then
		sed -i "s|</busconfig>|${BUS_EXTRA_POLICY}</busconfig>|" "$T/bus.conf"
	fi
	dbus-daemon --config-file="$T/bus.conf" --nofork --nopidfile --nosyslog >"$T/bus.log" 2>&1 &
	BUS_PID=$!
	export DBUS_SYSTEM_BUS_ADDRESS="unix:path=$T/system_bus_socket"
	# the socket file appears at bind(), before listen(): wait for the bus to answer
	wait_until 10 dbus-send --system --print-reply --dest=org.freedesktop.DBus / \
		org.freedesktop.DBus.GetId || fail "dbus-daemon did not start: $(cat "$T/bus.log")"
}

# The test policy: root may do everything; nobody (65534) may run up to one VM of its own from
# the guest directory and inspect everything, nothing else; members of group 4242 may inspect.
write_policy() {
	mkdir -p "$T/policy"
	cp "$PVM_SRCDIR/policy/policy.d/"*.json "$T/policy/"
	cat >"$T/policy/70-test-nobody.json" <<-EOF
	{
		"rules": [
			{
				"who": { "users": [$NOBODY] },
				"actions": ["create", "stop", "inspect", "attach"],
				"vms": ["@own"],
				"payloads": { "path_prefixes": ["$PVM_GUEST_DIR"] },
				"limits": { "vms": 1, "vcpus": 2, "memory_mib": 256 }
			},
			{
				"who": { "users": [$NOBODY] },
				"actions": ["inspect"],
				"vms": ["*"]
			},
			{
				"who": { "groups": [$GROUP] },
				"actions": ["inspect"],
				"vms": ["*"]
			}
		]
	}
	EOF
}

# pvmd owns its name, or has already exited (then waiting longer is pointless)
pvmd_up() {
	bus_name_owned org.pvm1 || proc_gone "$PVMD_PID"
}

PVMD_N=0
start_pvmd() {
	PVMD_N=$((PVMD_N + 1))
	local machined=--no-machined
	if [ "${1:-}" = --machined ]; then
		machined=
		shift
	fi
	"$PVMD" --policy-dir "$T/policy" --runtime-dir "$T/run" --runner "$PVM_RUNNER" \
		$machined --stop-timeout 5 --shutdown-timeout 10 "$@" >"$T/pvmd$PVMD_N.log" 2>&1 &
	PVMD_PID=$!
	wait_until "${PVMD_START_TIMEOUT:-20}" pvmd_up || fail "pvmd did not take org.pvm1 (log: $(tail -n 5 "$T/pvmd$PVMD_N.log"))"
	bus_name_owned org.pvm1 ||
		fail "pvmd exited at start (log: $(tail -n 5 "$T/pvmd$PVMD_N.log"))"
}

# Runs as nobody, with no supplementary groups, same bus.
as_nobody() {
	setpriv --reuid=$NOBODY --regid=$NOBODY --clear-groups --inh-caps=-all \
		env DBUS_SYSTEM_BUS_ADDRESS="$DBUS_SYSTEM_BUS_ADDRESS" "$@"
}

# vm_config NAME GUEST [extra JSON members]: a config file for one of the engine's test guests.
# Not "protected": this x86 host's KVM offers no protected VM type (KVM_CAP_VM_TYPES 0x1); the
# runner refuses a protected VM here, and pvmd reports that as start-failed.
vm_config() {
	local name=$1 guest=$2 extra=${3:-}
	cat >"$T/$name.json" <<-EOF
	{
		"name": "$name",
		"kernel": "$PVM_GUEST_DIR/$guest",
		"memory_mib": 16,
		"cpus": 1,
		"protected": false,
		"memory_backing": "guest_memfd",
		"console": { "output": "ring", "input": true }${extra:+,$extra}
	}
	EOF
	chmod 644 "$T/$name.json"
	echo "$T/$name.json"
}

vm_prop() { # vm_prop NAME PROPERTY: the value as busctl prints it, without the type
	local path
	path=$(busctl --system call org.pvm1 /org/pvm1 org.pvm1.Manager GetVM s "$1" | awk '{print $2}' | tr -d '"')
	busctl --system get-property org.pvm1 "$path" org.pvm1.VM "$2" | cut -d' ' -f2- | sed 's/^"\(.*\)"$/\1/'
}

# proc_gone PID: the process has exited (gone, or a zombie nobody reaped yet)
proc_gone() {
	[ ! -r "/proc/$1/stat" ] || [ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" = Z ]
}

# is_live_runner PID: PID is a pvm-runner that has not exited (a zombie has exited)
is_live_runner() {
	[ -r "/proc/$1/stat" ] || return 1
	[ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" != Z ] || return 1
	[ "$(readlink "/proc/$1/exe" 2>/dev/null)" = "$(readlink -f "$PVM_RUNNER")" ]
}
not() { ! "$@"; }

vm_state_is() { [ "$(vm_prop "$1" State)" = "$2" ]; }

# expect_error ERRNAME CMD...: CMD fails and its output names ERRNAME.
expect_error() {
	local want=$1 out
	shift
	if out=$("$@" 2>&1); then
		fail "expected $want from: $*; it succeeded: $out"
	fi
	grep -q "$want" <<<"$out" || fail "expected $want from: $*; got: $out"
	log "ok: $want <- $*"
}

gcall() { # gcall METHOD ARGS...: a Manager method through gdbus
	local m=$1
	shift
	gdbus call --system --dest org.pvm1 --object-path /org/pvm1 --method "org.pvm1.Manager.$m" "$@"
}

# The usual start of a test: test policy, private bus, pvmd.
setup_pvmd() {
	write_policy
	start_bus
	start_pvmd
}
