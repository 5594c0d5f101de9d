#!/bin/bash
# Unprivileged callers against other owners' VMs and against pvmd's own rights. Contracts
# (pvmd(8) AUTHORIZATION, org.pvm1(5)): every method on another owner's VM is refused and
# leaves it as it was; a VM the caller may not inspect is absent for it (same answer as a VM
# that does not exist, nothing of it in ListVMs, GetManagedObjects or any signal it receives);
# created VMs count against limits; alias object paths reach no VM; and no file trick (symlink,
# FIFO, unreadable file, /proc path, ..) gets a caller a VM from a payload it could not open
# itself, stalls pvmd, or tells it which files exist where it cannot look.
. "$(dirname "$0")/rel-lib.sh"

setup_rel

# callers as gdbus runs them; errors come out as "GDBus.Error:NAME: MESSAGE"
call_as() { # call_as WHO PATH IFACE.METHOD ARGS...: prints the answer on one line
	local who=$1 path=$2 method=$3
	shift 3
	"as_$who" gdbus call --system --dest org.pvm1 --object-path "$path" --method "$method" "$@" 2>&1 |
		tr '\n' ' ' | sed 's/^Error: //'
}
vm_path() { busctl --system call org.pvm1 /org/pvm1 org.pvm1.Manager GetVM s "$1" | awk '{print $2}' | tr -d '"'; }
encode() { # what sd_bus_path_encode makes of a name: [A-Za-z0-9] as is, else _xx
	local s=$1 out= c i
	for ((i = 0; i < ${#s}; i++)); do
		c=${s:i:1}
		if [[ $c =~ [A-Za-z0-9] ]]; then out+=$c; else out+=$(printf '_%02x' "'$c"); fi
	done
	echo "/org/pvm1/vm/$out"
}

# --- the owners' VMs ---
owner_vms acc
root_pid=$(vm_prop acc-root RunnerPID)
"$REL_CLIENT" members "$(vm_path acc-root)" >"$T/members.txt" || fail "introspection"

# Every method of both interfaces, with arguments aimed at VM NAME. A method this table does
# not know fails the test: the contract covers every method.
try_method() { # try_method WHO IFACE METHOD SIG NAME
	local who=$1 iface=$2 m=$3 sig=$4 name=$5 c
	case "$iface $sig" in
	"org.pvm1.Manager s") call_as "$who" /org/pvm1 "$iface.$m" "$name" ;;
	"org.pvm1.Manager st") call_as "$who" /org/pvm1 "$iface.$m" "$name" 0 ;;
	"org.pvm1.Manager su") call_as "$who" /org/pvm1 "$iface.$m" "$name" 5000 ;;
	"org.pvm1.Manager sa{sv}")
		c=$(own_config "$who" "tmp-$name")
		call_as "$who" /org/pvm1 "$iface.$m" "$(cat "$c")" "{'name': <'$name'>}" ;;
	"org.pvm1.Manager ha{sv}")
		c=$(own_config "$who" "tmp-$name")
		call_as "$who" /org/pvm1 "$iface.$m" 0 "{'name': <'$name'>}" 0<"$c" ;;
	"org.pvm1.Manager -") call_as "$who" /org/pvm1 "$iface.$m" ;;
	"org.pvm1.VM -") call_as "$who" "$(encode "$name")" "$iface.$m" ;;
	"org.pvm1.VM t") call_as "$who" "$(encode "$name")" "$iface.$m" 0 ;;
	*) fail "no arguments known for $iface.$m($sig): extend try_method" ;;
	esac
}
# a config whose payload WHO may use: only the name decides the answer
own_config() { # own_config WHO NAME
	local c
	c=$(vm_config "$2" wait-stop.elf)
	[ "$1" != testuser ] || sed -i "s|$PVM_GUEST_DIR|$T/payloads-testuser|" "$c"
	echo "$c"
}
# Manager methods without arguments (ListVMs, Subscribe, ...) name no VM
not_about_a_vm() { [ "$1" = org.pvm1.Manager ] && [ "$2" = - ]; }
vm_methods() { awk '$1 == "M" {print $2, $3, $4}' "$T/members.txt"; }

# the answer for a VM, with its name replaced, compared with the answer for a missing VM
same_as_missing() { # same_as_missing WHO IFACE METHOD SIG NAME
	local a b
	a=$(try_method "$@" | sed "s/$5/NAME/g; s/$(encode "$5" | sed 's|/|\\/|g')/PATH/g")
	b=$(try_method "$1" "$2" "$3" "$4" no-such-vm-xyz | sed "s/no-such-vm-xyz/NAME/g; s/$(encode no-such-vm-xyz | sed 's|/|\\/|g')/PATH/g")
	[ "$a" = "$b" ] || { log "$1 $2.$3 on $5: '$a'; on a missing VM: '$b'"; return 1; }
}

# --- every method on another owner's VM: refused, nothing changes ---
refused_everywhere() { # WHO NAME
	local who=$1 name=$2 iface m sig out bad=0
	while read -r iface m sig; do
		not_about_a_vm "$iface" "$sig" && continue
		[ "$m" = CreateVMFromFd ] && continue
		out=$(try_method "$who" "$iface" "$m" "$sig" "$name")
		if ! grep -qE "org.pvm1.Error.|org.freedesktop.DBus.Error.UnknownObject" <<<"$out"; then
			# the test policy lets nobody inspect every VM: reads may answer it
			if [ "$who" = nobody ] && [[ $m =~ ^(GetVM|GetConsoleLog)$ ]]; then continue; fi
			log "$who $iface.$m on $name: not refused: $out"
			bad=1
		fi
	done < <(vm_methods)
	return $bad
}
unchanged() { # the VMs are as they were
	vm_state_is acc-root ready && [ "$(vm_prop acc-root RunnerPID)" = "$root_pid" ] &&
		vm_state_is acc-nobody created && vm_state_is acc-test created
}
refused_nobody() { refused_everywhere nobody acc-root && refused_everywhere nobody acc-test; }
refused_testuser() { refused_everywhere testuser acc-root && refused_everywhere testuser acc-nobody; }
check "nobody: every method on root's and the test user's VMs is refused" refused_nobody
check "the test user: every method on root's and nobody's VMs is refused" refused_testuser
check "after those calls every VM is as it was (state, runner)" unchanged

# --- hidden VMs are absent ---
hidden_absent() {
	local iface m sig bad=0 name a b
	while read -r iface m sig; do
		not_about_a_vm "$iface" "$sig" && continue
		# names are global: one allowed to create learns a name is taken (AlreadyExists)
		[[ $m =~ ^(CreateVM|CreateVMFromFd)$ ]] && continue
		same_as_missing testuser "$iface" "$m" "$sig" acc-root || bad=1
		same_as_missing testuser "$iface" "$m" "$sig" acc-nobody || bad=1
	done < <(vm_methods)
	for name in acc-root acc-nobody; do
		a=$(call_as testuser "$(encode $name)" org.freedesktop.DBus.Properties.Get org.pvm1.VM Name | sed "s/$name/NAME/g; s/$(encode $name | sed 's|/|\\/|g')/PATH/g")
		b=$(call_as testuser "$(encode no-such-vm-xyz)" org.freedesktop.DBus.Properties.Get org.pvm1.VM Name | sed "s/no-such-vm-xyz/NAME/g; s/$(encode no-such-vm-xyz | sed 's|/|\\/|g')/PATH/g")
		[ "$a" = "$b" ] || { log "testuser Properties.Get on $name: '$a'; on a missing VM: '$b'"; bad=1; }
	done
	return $bad
}
check "a VM the caller may not inspect answers every method and property as a missing VM does" hidden_absent
not_listed() {
	! as_testuser busctl --system call org.pvm1 /org/pvm1 org.pvm1.Manager ListVMs | grep -qE 'acc-root|acc-nobody' &&
		! as_testuser busctl --system call org.pvm1 /org/pvm1 org.freedesktop.DBus.ObjectManager GetManagedObjects |
			grep -qE 'acc_2droot|acc_2dnobody|acc-root|acc-nobody'
}
# one who may not create at all learns nothing from a taken name: authorization comes first
create_auth_first() {
	local iface m sig bad=0
	while read -r iface m sig; do
		[[ $m =~ ^(CreateVM|CreateVMFromFd)$ ]] || continue
		same_as_missing stranger "$iface" "$m" "$sig" acc-root || bad=1
	done < <(vm_methods)
	return $bad
}
check "CreateVM by a caller who may not create answers the same for a taken name" create_auth_first
check "ListVMs and GetManagedObjects show a caller only the VMs it may inspect" not_listed

# signals: the test user subscribed to pvmd's signals, and an unsubscribed monitor of its own,
# while root's VM lives and dies: neither hears of it; the subscriber hears of its own VM (so it
# was listening)
as_testuser "$REL_CLIENT" listen >"$T/listen-testuser.txt" 2>&1 &
listener=$!
PIDS+=($listener)
as_testuser gdbus monitor --system --dest org.pvm1 >"$T/monitor-testuser.txt" 2>&1 &
mon=$!
PIDS+=($mon)
wait_until 10 grep -q "^subscribed" "$T/listen-testuser.txt" || fail "listener: $(cat "$T/listen-testuser.txt")"
wait_until 10 grep -q "owned by" "$T/monitor-testuser.txt" || fail "monitor did not start"
cfg=$(vm_config sig-root wait-stop.elf)
busctl --system call org.pvm1 /org/pvm1 org.pvm1.Manager CreateVM 'sa{sv}' "$(cat "$cfg")" 1 start b true >/dev/null
wait_until 20 vm_state_is sig-root ready || fail "sig-root: $(vm_prop sig-root State)"
busctl --system call org.pvm1 /org/pvm1 org.pvm1.Manager StopVM st sig-root 0
wait_until 20 vm_state_is sig-root stopped || fail "sig-root did not stop"
busctl --system call org.pvm1 /org/pvm1 org.pvm1.Manager RemoveVM s sig-root
as_testuser busctl --system call org.pvm1 /org/pvm1 org.pvm1.Manager StartVM s acc-test
wait_until 20 grep -q acc_2dtest "$T/listen-testuser.txt" ||
	fail "the test user's subscription heard nothing of its own VM: $(cat "$T/listen-testuser.txt")"
no_foreign_signals() {
	! grep -E 'sig-root|sig_2droot' "$T/listen-testuser.txt" "$T/monitor-testuser.txt" >&2
}
check "signals about a VM reach no caller who may not inspect it, subscribed or not" no_foreign_signals
stop_pid "$listener"
stop_pid "$mon"
busctl --system call org.pvm1 /org/pvm1 org.pvm1.Manager KillVM s acc-test

# --- limits count created VMs ---
limit_counts_created() {
	local c out i
	# acc-test is one; the limit is 2
	c=$(vm_config lim-1 wait-stop.elf)
	sed -i "s|$PVM_GUEST_DIR|$T/payloads-testuser|" "$c"
	create_as testuser "$c" || return 1
	for i in 2 3 4; do
		sed -i "s/\"name\": \"[^\"]*\"/\"name\": \"lim-$i\"/" "$c"
		out=$(create_as testuser "$c" 2>&1) || { grep -q LimitExceeded <<<"$out" || { log "lim-$i: $out"; return 1; }; continue; }
		log "the test user created lim-$i beyond its limit of 2 VMs"
		return 1
	done
}
check "VMs created and not started count against the caller's limit" limit_counts_created
for n in lim-1 lim-2 lim-3 lim-4; do
	busctl --system call org.pvm1 /org/pvm1 org.pvm1.Manager RemoveVM s $n >/dev/null 2>&1 || true
done

# --- alias object paths ---
no_alias() {
	local p bad=0
	for p in /org/pvm1/vm/_61cc_2droot /org/pvm1/vm/_41cc_2droot /org/pvm1/vm/acc_2Droot \
		/org/pvm1/vm/acc_2droot_00; do
		if busctl --system get-property org.pvm1 "$p" org.pvm1.VM Name >/dev/null 2>&1; then
			log "alias path $p reaches acc-root"
			bad=1
		fi
	done
	busctl --system get-property org.pvm1 /org/pvm1/vm/acc_2droot org.pvm1.VM Name >/dev/null || bad=1
	return $bad
}
check "only a VM's canonical object path reaches it" no_alias

# --- file tricks: the test user may create VMs from its own directory only ---
P=$T/payloads-testuser
install -m 0600 -o root -g root "$PVM_GUEST_DIR/wait-stop.elf" "$T/secret.elf"  # root's only
install -m 0600 -o root -g root "$PVM_GUEST_DIR/wait-stop.elf" "$P/unreadable.elf"
mkdir -m 0700 "$P/private"
install -m 0600 -o root -g root "$PVM_GUEST_DIR/wait-stop.elf" "$P/private/exists.elf"
as_testuser ln -s "$T/secret.elf" "$P/link-to-secret.elf"
as_testuser ln -s /proc/self/root"$T/secret.elf" "$P/link-via-proc.elf"
as_testuser mkfifo "$P/fifo.elf"
trick_cfg() { # trick_cfg NAME KERNEL [INITRD]
	local c
	c=$(vm_config "$1" wait-stop.elf)
	sed -i "s|\"kernel\": \"[^\"]*\"|\"kernel\": \"$2\"${3:+, \"initrd\": \"$3\"}|" "$c"
	echo "$c"
}
# create and start as the test user; prints the answer
trick_start() {
	as_testuser timeout 30 gdbus call --system --dest org.pvm1 --object-path /org/pvm1 \
		--method org.pvm1.Manager.CreateVM "$(cat "$1")" "{'start': <true>}" 2>&1 | tr '\n' ' '
}
forget_vm() { # as root: end and remove a VM a case created
	busctl --system call org.pvm1 /org/pvm1 org.pvm1.Manager KillVM s "$1" >/dev/null 2>&1 || true
	wait_until 20 bash -c "! busctl --system call org.pvm1 /org/pvm1 org.pvm1.Manager RemoveVM s '$1' 2>&1 | grep -q Busy" || true
	busctl --system call org.pvm1 /org/pvm1 org.pvm1.Manager RemoveVM s "$1" >/dev/null 2>&1 || true
}
# the caller could not open it itself: it must not get a VM from it
no_vm_from() { # no_vm_from NAME KERNEL [INITRD]
	local c out
	c=$(trick_cfg "$@")
	out=$(trick_start "$c")
	if ! grep -q "Error" <<<"$out"; then
		log "the test user got VM $1 running from ${3:-$2}: $out"
		forget_vm "$1"
		return 1
	fi
	# the refusal must be about the file: at its limit the caller would be refused anyway
	if grep -q LimitExceeded <<<"$out"; then
		log "cannot tell: the test user is at its VM limit ($out)"
		return 1
	fi
	log "refused: $1 ($out)"
}
check "a symlink in the caller's directory to a root-only file gives no VM" no_vm_from t-link "$P/link-to-secret.elf"
check "a symlink through /proc/self/root gives no VM" no_vm_from t-proc-link "$P/link-via-proc.elf"
check "a root-only file placed in the caller's directory gives no VM" no_vm_from t-unreadable "$P/unreadable.elf"
check "a root-only initrd gives no VM (/etc/shadow)" no_vm_from t-initrd "$P/wait-stop.elf" /etc/shadow
check "a root-only initrd under the caller's prefix gives no VM" no_vm_from t-initrd2 "$P/wait-stop.elf" "$P/unreadable.elf"
check "/proc/self/root paths give no VM" no_vm_from t-proc /proc/self/root"$T/secret.elf"
check "a path through .. out of the prefix gives no VM" no_vm_from t-dotdot "$P/../secret.elf"

# a FIFO as the payload: the call fails and pvmd keeps answering others meanwhile
fifo_no_stall() {
	local c out_file=$T/fifo-call.txt pid ok=0
	c=$(trick_cfg t-fifo "$P/fifo.elf")
	trick_start "$c" >"$out_file" &
	pid=$!
	for _ in 1 2 3 4 5; do
		list_answers || { log "ListVMs did not answer within 1 s while a FIFO payload was pending"; ok=1; }
	done
	wait $pid
	grep -q Error "$out_file" || { log "a FIFO payload was accepted: $(cat "$out_file")"; ok=1; }
	return $ok
}
check "a FIFO as payload is refused without stalling pvmd" fifo_no_stall

# payloads as descriptors the caller opened (CreateVM options kernel_fd, initrd_fd)
fd_create() { # fd_create NAME KERNEL INITRD|- [rel-client create options]: as the test user
	local name=$1 kernel=$2 initrd=${3#-}
	shift 3
	as_testuser "$REL_CLIENT" create "$(trick_cfg "$name" "$kernel" "$initrd")" --start "$@" 2>&1 || true
}
fd_gives_vm() {
	local out
	out=$(fd_create t-fd-ok "$P/wait-stop.elf" - --kernel-fd "$P/wait-stop.elf")
	forget_vm t-fd-ok
	[[ $out == ok* ]] || { log "the test user's own payload by descriptor: $out"; return 1; }
}
check "a payload the caller opened, passed as a descriptor, gives a VM" fd_gives_vm
fd_refused() { # fd_refused NAME KERNEL INITRD|- OPTIONS...: no VM, and not for the limit's sake
	local out
	out=$(fd_create "$@")
	if [[ $out == ok* ]]; then
		log "the test user got VM $1 from descriptor ${*:4}: $out"
		forget_vm "$1"
		return 1
	fi
	! grep -q LimitExceeded <<<"$out" || { log "cannot tell: at the VM limit ($out)"; return 1; }
	! grep -q "Unknown option" <<<"$out" || { log "cannot tell: pvmd takes no payload descriptors ($out)"; return 1; }
	log "refused: $1 ($out)"
}
check "an O_PATH descriptor of a root-only kernel gives no VM" \
	fd_refused t-fd-opath "$P/unreadable.elf" - --kernel-opath "$P/unreadable.elf"
check "an O_PATH descriptor of a root-only initrd gives no VM" \
	fd_refused t-fd-opath-initrd "$P/wait-stop.elf" "$P/unreadable.elf" --kernel-fd "$P/wait-stop.elf" \
	--initrd-opath "$P/unreadable.elf"
fd_fifo_no_stall() {
	local out_file=$T/fd-fifo-call.txt pid ok=0
	fd_create t-fd-fifo "$P/fifo.elf" - --kernel-fd "$P/fifo.elf" >"$out_file" &
	pid=$!
	for _ in 1 2 3 4 5; do
		list_answers || { log "ListVMs did not answer within 1 s while a FIFO descriptor was pending"; ok=1; }
	done
	wait $pid
	grep -q '^error' "$out_file" || { log "a FIFO descriptor as payload: $(cat "$out_file")"; forget_vm t-fd-fifo; ok=1; }
	! grep -q "Unknown option" "$out_file" || { log "cannot tell: pvmd takes no payload descriptors"; ok=1; }
	return $ok
}
check "a FIFO descriptor as payload is refused without stalling pvmd" fd_fifo_no_stall

# what an error says about files in a directory the caller cannot list
no_existence_oracle() {
	local a b
	a=$(trick_start "$(trick_cfg t-ex "$P/private/exists.elf")" | sed 's/exists/FILE/g; s/t-ex/NAME/g')
	forget_vm t-ex
	b=$(trick_start "$(trick_cfg t-mi "$P/private/missing.elf")" | sed 's/missing/FILE/g; s/t-mi/NAME/g')
	forget_vm t-mi
	[ "$a" = "$b" ] || { log "existing: '$a'; missing: '$b'"; return 1; }
}
check "errors do not tell which files exist where the caller cannot look" no_existence_oracle

health_check "after the access cases"
rel_finish
