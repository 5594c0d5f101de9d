#!/bin/bash
# Descriptors callers hand pvmd, over a real bus with the shipped policy: every kind a client
# can send as CreateVMFromFd's config gets either a VM or a documented org.pvm1.Error; none
# stalls pvmd (root's ListVMs answers while a caller holds a pipe or socket open, and SIGTERM
# still ends pvmd); and VM object paths resolve only in pvmd's own escaping.
. "$(dirname "$0")/bus-lib.sh"
: "${FD_CALLER:?}"

setup_pvmd
install -m 755 "$FD_CALLER" "$T/fd-caller"
FDC=$T/fd-caller
cfg=$(vm_config fdcfg wait-stop.elf)

# root is served within 2 s whatever callers are doing
list_answers() {
	busctl --system --timeout=2 call org.pvm1 /org/pvm1 org.pvm1.Manager ListVMs >/dev/null
}

# --- kinds that carry a config: a VM comes of each ---
for kind in file memfd memfd-sealed pipe socket seqpacket; do
	out=$("$FDC" config $kind "$cfg")
	[ "$out" = "reply fdcfg" ] || fail "config from a $kind: $out"
	busctl --system call org.pvm1 /org/pvm1 org.pvm1.Manager RemoveVM s fdcfg
done
log "ok: a config from a regular file, memfd, sealed memfd, pipe, stream and seqpacket socket"

# --- kinds pvmd does not read: InvalidArgument at once, from an unprivileged caller ---
for kind in file-wronly file-path dir devnull devzero tty eventfd epoll timerfd pidfd pipe-write \
	socket-listen socket-unconnected dgram socket-oob socket-data-oob; do
	arg=$cfg
	if [ $kind = file-wronly ]; then # a file nobody may write
		arg=$T/writable.json
		install -m 666 "$cfg" "$arg"
	fi
	out=$(as_nobody "$FDC" config $kind "$arg")
	case "$out" in
	"error org.pvm1.Error.InvalidArgument: "*) ;;
	*) fail "config from a $kind: want org.pvm1.Error.InvalidArgument, got: $out" ;;
	esac
	list_answers || fail "ListVMs does not answer after a $kind"
done
log "ok: O_WRONLY, O_PATH, directory, devices, tty, eventfd, epoll, timerfd, pidfd, pipe write end, listening, unconnected and datagram sockets, urgent data: InvalidArgument"

# --- callers that hold their end open: pvmd keeps serving, and answers by the deadline ---
for kind in socket-oob pipe-open fifo-rdwr; do
	as_nobody "$FDC" config $kind "$cfg" >"$T/held-$kind.out" 2>&1 &
	PIDS+=($!)
done
for i in 1 2 3 4 5; do
	list_answers || fail "ListVMs does not answer while callers hold descriptors open ($i)"
done
for kind in socket-oob pipe-open fifo-rdwr; do
	wait_until 20 grep -q "^error org.pvm1.Error.InvalidArgument: " "$T/held-$kind.out" ||
		fail "held $kind: $(cat "$T/held-$kind.out")"
done
log "ok: urgent data, a pipe and a FIFO held open: pvmd serves root meanwhile, answers InvalidArgument"

# --- alias object paths: only pvmd's own escaping names a VM ---
busctl --system call org.pvm1 /org/pvm1 org.pvm1.Manager CreateVM 'sa{sv}' "$(cat "$cfg")" 1 \
	name s a-b >/dev/null
path=$(busctl --system call org.pvm1 /org/pvm1 org.pvm1.Manager GetVM s a-b | awk '{print $2}' | tr -d '"')
[ "$path" = /org/pvm1/vm/a_2db ] || fail "a-b is published as $path"
busctl --system get-property org.pvm1 "$path" org.pvm1.VM Name >/dev/null || fail "$path"
for alias in /org/pvm1/vm/a_2Db /org/pvm1/vm/a_2db_00; do
	expect_error "org.freedesktop.DBus.Error.UnknownObject\|Unknown object" \
		busctl --system get-property org.pvm1 "$alias" org.pvm1.VM Name
done
busctl --system call org.pvm1 /org/pvm1 org.pvm1.Manager RemoveVM s a-b
log "ok: upper-case escapes and a trailing _00 name no VM"

# --- SIGTERM ends pvmd while a caller holds a pipe open ---
as_nobody "$FDC" config pipe-open "$cfg" >"$T/term.out" 2>&1 &
PIDS+=($!)
list_answers || fail "ListVMs before SIGTERM"
kill -TERM "$PVMD_PID"
wait_until 15 proc_gone "$PVMD_PID" || fail "pvmd did not end on SIGTERM while a caller held a pipe"
log "ok: SIGTERM ends pvmd while a caller holds a pipe open"
