#!/bin/bash
# pvmd decides on the credentials the bus vouches for (uid, pid and the group list dbus-daemon
# took from the socket when the caller connected), never on what /proc/PID says at call time:
# a caller that changes its groups after connecting, as a setgid exec or a reused pid would,
# neither gains a group rule nor loses one.
. "$(dirname "$0")/bus-lib.sh"
: "${LATE_GROUPS:?}"
install -m 755 "$LATE_GROUPS" "$T/late-groups"

setup_pvmd
cfg=$(vm_config g1 wait-stop.elf)
gcall CreateVM "$(cat "$cfg")" '{}' >/dev/null

# late GROUPS [SETPRIV-GROUP-ARGS]: as uid 2 with CAP_SETGID only, groups set after connecting
late() {
	local groups=$1
	shift
	setpriv --reuid=$STRANGER --regid=$STRANGER "${@:---clear-groups}" --inh-caps=-all,+setgid \
		--ambient-caps=-all,+setgid env DBUS_SYSTEM_BUS_ADDRESS="$DBUS_SYSTEM_BUS_ADDRESS" \
		"$T/late-groups" "$groups" g1
}

# control: the group rule matches groups the bus saw at connect time
out=$(late $GROUP --groups=$GROUP) || fail "member of $GROUP at connect time denied: $out"
[ "$out" = /org/pvm1/vm/g1 ] || fail "GetVM g1: $out"
expect_error org.pvm1.Error.NoSuchVM late none
# a group joined after connecting is not one the bus vouches for
expect_error org.pvm1.Error.NoSuchVM late $GROUP
log "ok: a group taken after connecting does not match (the bus did not see it)"
# and a group left after connecting still counts: the bus's view of the connection holds
out=$(late none --groups=$GROUP) || fail "group left after connecting: $out"
log "ok: the groups the bus reports decide, not /proc/PID at call time"
log "PASS bus-creds"
