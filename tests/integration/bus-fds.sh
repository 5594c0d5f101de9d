#!/bin/bash
# Descriptors callers hand pvmd, over a real bus with the shipped policy: every kind a client
# can send as CreateVMFromFd's config gets either a VM or a documented org.pvm1.Error; none
# stalls pvmd (root's ListVMs answers while a caller holds a pipe or socket open, and SIGTERM
# still ends pvmd). Payloads come only as descriptors the caller opened: pvmd opens no path a
# caller names, and the policy judges where the files really are. VM object paths resolve only
# in pvmd's own escaping.
. "$(dirname "$0")/bus-lib.sh"
: "${FD_CALLER:?}"

# nobody may also use payloads under $T/drop, a directory anyone can write to
write_policy
mkdir -m 1777 "$T/drop"
sed -i "s|\"path_prefixes\": \[\"$PVM_GUEST_DIR\"\]|\"path_prefixes\": [\"$PVM_GUEST_DIR\", \"$T/drop\"]|" \
	"$T/policy/70-test-nobody.json"
grep -q "$T/drop" "$T/policy/70-test-nobody.json" || fail "test policy: no $T/drop prefix"
# uid 2 may create VMs of its own from one kernel digest: the initrd must match it as well
digest=$(sha256sum "$PVM_GUEST_DIR/wait-stop.elf" | cut -d' ' -f1)
cat >"$T/policy/80-test-digest.json" <<-EOF
{ "rules": [ { "who": { "users": [$STRANGER] }, "actions": ["create", "stop", "inspect"],
	"vms": ["@own"], "payloads": { "sha256": ["$digest"] } } ] }
EOF
start_bus
start_pvmd
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
for kind in file-wronly file-path dir devnull devzero tty eventfd epoll timerfd signalfd inotify pidfd pipe-write \
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
log "ok: O_WRONLY, O_PATH, directory, devices, tty, eventfd, epoll, timerfd, signalfd, inotify, pidfd, pipe write end, listening, unconnected and datagram sockets, urgent data: InvalidArgument"

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

# --- one caller holding its ends open takes at most 4 readers; others are still served ---
# pvmd_holds_pipe_of PID: pvmd has a descriptor of the pipe process PID holds, i.e. it took
# that caller's config read (each holder is started only once the one before is in, so no
# probe below competes with a holder for nobody's 4 slots)
pvmd_holds_pipe_of() { # $1 is as_nobody's subshell; pipes this shell has too do not count
	local caller
	caller=$(pgrep -P "$1") || return 1
	comm -12 <(readlink /proc/"$caller"/fd/* 2>/dev/null | grep '^pipe:' | sort -u) \
		<(readlink /proc/"$PVMD_PID"/fd/* 2>/dev/null | grep '^pipe:' | sort -u) |
		comm -23 - <(readlink /proc/$$/fd/* 2>/dev/null | grep '^pipe:' | sort -u) | grep -q .
}
for i in 1 2 3 4; do
	as_nobody "$FDC" config pipe-open "$cfg" >"$T/cap-$i.out" 2>&1 &
	PIDS+=($!)
	wait_until 10 pvmd_holds_pipe_of $! || fail "holder $i: pvmd did not take its read: $(cat "$T/cap-$i.out")"
done
printf '{' >"$T/broken.json" # a probe that, if read, makes no VM
chmod 644 "$T/broken.json"
busy_for_nobody() {
	out=$(as_nobody "$FDC" config pipe "$T/broken.json")
	[[ $out == "error org.pvm1.Error.Busy: uid $NOBODY has 4 configs being read already"* ]]
}
wait_until 10 busy_for_nobody ||
	fail "a 5th config read for nobody: $out; holders said: $(cat "$T"/cap-*.out)"
out=$("$FDC" config pipe "$cfg")
[ "$out" = "reply fdcfg" ] || fail "root while nobody holds 4 readers: $out"
busctl --system call org.pvm1 /org/pvm1 org.pvm1.Manager RemoveVM s fdcfg
for i in 1 2 3 4; do
	wait_until 20 grep -q "^error org.pvm1.Error.InvalidArgument: " "$T/cap-$i.out" ||
		fail "held pipe $i: $(cat "$T/cap-$i.out")"
done
log "ok: nobody's 5th held config is Busy; root is served meanwhile"

# --- disks: only a regular file or block device open as the disk needs, refused at create ---
head -c 4096 /dev/urandom >"$T/disk.img"
chmod 644 "$T/disk.img"
vm_config dro wait-stop.elf '"disks": [{"id": "d0", "read_only": true}]' >/dev/null
vm_config drw wait-stop.elf '"disks": [{"id": "d0", "read_only": false}]' >/dev/null
for kind in file memfd memfd-sealed; do
	out=$(as_nobody "$FDC" disk $kind "$T/dro.json" "$T/disk.img" "$PVM_GUEST_DIR/wait-stop.elf")
	[ "$out" = "reply dro" ] || fail "read-only disk from a $kind: $out"
	busctl --system call org.pvm1 /org/pvm1 org.pvm1.Manager RemoveVM s dro
done
for kind in file-wronly file-path dir devnull devzero tty eventfd epoll timerfd signalfd inotify pidfd pipe \
	pipe-open pipe-write fifo-rdwr socket seqpacket dgram socket-listen socket-unconnected socket-oob; do
	arg=$T/disk.img
	[ $kind = file-wronly ] && arg=$T/writable.json # made writable by everyone above
	out=$(as_nobody "$FDC" disk $kind "$T/dro.json" "$arg" "$PVM_GUEST_DIR/wait-stop.elf")
	case "$out" in
	"error org.pvm1.Error.InvalidArgument: Option disk_fds: disk 0: "*) ;;
	*) fail "disk from a $kind: want InvalidArgument at create, got: $out" ;;
	esac
	list_answers || fail "ListVMs does not answer after a $kind disk"
done
out=$(as_nobody "$FDC" disk file "$T/drw.json" "$T/disk.img" "$PVM_GUEST_DIR/wait-stop.elf")
[[ $out == "error org.pvm1.Error.InvalidArgument: Option disk_fds: disk 0 is read-write but its descriptor is read-only"* ]] ||
	fail "a read-only descriptor for a read-write disk: $out"
expect_error org.pvm1.Error.NoSuchVM gcall GetVM drw
log "ok: disks from files and memfds; 22 other kinds and a read-only fd for a read-write disk: InvalidArgument at create"

# --- payloads: pvmd opens no path a caller names ---
# a config naming a file without its descriptor: refused the same way whether or not the file
# exists or nobody may read it, so the answer tells nothing about root's files
for f in /etc/shadow /etc/no-such-file; do
	vm_config shadow wait-stop.elf "\"initrd\": \"$f\"" >/dev/null
	out=$(as_nobody "$FDC" payload file "$T/shadow.json" "$PVM_GUEST_DIR/wait-stop.elf")
	[ "$out" = "error org.pvm1.Error.InvalidArgument: VM 'shadow': the config names initrd $f but the call passes no initrd_fd: pvmd opens payload paths for root only; open the file and pass it as option initrd_fd (pvmctl start does)" ] ||
		fail "initrd $f without a descriptor: $out"
done
log "ok: an initrd path without its descriptor (/etc/shadow, a missing file): the same InvalidArgument"
# a symlink planted under an allowed prefix, to a file only root may read: pvmctl opens it as
# the caller, and that fails before pvmd is asked
install -m 600 "$PVM_GUEST_DIR/wait-stop.elf" "$T/secret.elf"
as_nobody ln -s "$T/secret.elf" "$T/drop/guest.elf"
sed "s|\"kernel\": \"[^\"]*\"|\"kernel\": \"$T/drop/guest.elf\"|" "$(vm_config planted wait-stop.elf)" >"$T/planted2.json"
chmod 644 "$T/planted2.json"
if out=$(as_nobody "$PVMCTL" start "$T/planted2.json" 2>&1); then
	fail "a symlink to a root-only file was started: $out"
fi
grep -q "cannot open the kernel $T/drop/guest.elf: Permission denied" <<<"$out" || fail "planted symlink: $out"
expect_error org.pvm1.Error.NoSuchVM gcall GetVM planted
log "ok: a planted symlink to a root-only file: pvmctl cannot open it, no VM"
# the prefix is checked on where the descriptor's file is, not on the config's text
install -d -o $NOBODY -m 755 "$T/own"
install -o $NOBODY -m 644 "$PVM_GUEST_DIR/wait-stop.elf" "$T/own/guest.elf"
vm_config label wait-stop.elf >/dev/null # names $PVM_GUEST_DIR/wait-stop.elf, under the prefix
out=$(as_nobody "$FDC" payload file "$T/label.json" "$T/own/guest.elf")
[[ $out == "error org.pvm1.Error.PolicyDenied: "*"payload $T/own/guest.elf is not under a path prefix"* ]] ||
	fail "a file outside the prefixes behind a label inside them: $out"
out=$(as_nobody "$FDC" payload memfd "$T/label.json" "$PVM_GUEST_DIR/wait-stop.elf")
[[ $out == "error org.pvm1.Error.PolicyDenied: "*"cannot locate by path"*"is not under a path prefix"* ]] ||
	fail "a memfd as the payload of a caller with path prefixes: $out"
install -o $NOBODY -m 644 "$PVM_GUEST_DIR/wait-stop.elf" "$T/drop/mine.elf"
out=$(as_nobody "$FDC" payload file "$T/label.json" "$T/drop/mine.elf")
[ "$out" = "reply label" ] || fail "nobody's own file under an allowed prefix: $out"
[ "$(jq -r .config.kernel "$T/run/state/label.json")" = "$T/drop/mine.elf" ] ||
	fail "the record names $(jq -r .config.kernel "$T/run/state/label.json"), not the file loaded"
busctl --system call org.pvm1 /org/pvm1 org.pvm1.Manager RemoveVM s label
log "ok: path prefixes judge where the descriptor's file is; the record names that file"
# the digest rules judge the initrd as well as the kernel
as_stranger() {
	setpriv --reuid=$STRANGER --regid=$STRANGER --clear-groups --inh-caps=-all \
		env DBUS_SYSTEM_BUS_ADDRESS="$DBUS_SYSTEM_BUS_ADDRESS" "$@"
}
vm_config dg wait-stop.elf "\"initrd\": \"$PVM_GUEST_DIR/hello.elf\"" >/dev/null
if out=$(as_stranger "$PVMCTL" start "$T/dg.json" 2>&1); then
	fail "an initrd with no allowed digest was started: $out"
fi
grep -q "initrd $PVM_GUEST_DIR/hello.elf has no SHA-256 digest allowed" <<<"$out" || fail "initrd digest: $out"
vm_config dg wait-stop.elf "\"initrd\": \"$PVM_GUEST_DIR/wait-stop.elf\"" >/dev/null
out=$(as_stranger "$PVMCTL" start "$T/dg.json" 2>&1) || fail "kernel and initrd with allowed digests: $out"
gcall RemoveVM dg >/dev/null 2>&1 || { gcall KillVM dg >/dev/null 2>&1; wait_until 10 gcall RemoveVM dg; } ||
	fail "dg cannot be removed"
log "ok: an initrd whose digest the policy does not list is denied; a listed one is allowed"
# descriptors that are no regular file
for kind in pipe socket dir devzero file-path eventfd; do
	out=$(as_nobody "$FDC" payload $kind "$T/label.json" "$PVM_GUEST_DIR/wait-stop.elf")
	[[ $out == "error org.pvm1.Error.InvalidArgument: Option kernel_fd: "* ]] ||
		fail "a $kind as kernel_fd: $out"
done
log "ok: a pipe, socket, directory, device, O_PATH or eventfd as kernel_fd: InvalidArgument"

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
