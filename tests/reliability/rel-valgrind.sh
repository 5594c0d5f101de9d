#!/bin/bash
# pvmd under valgrind memcheck through a shorter run of the suite's work: random and malformed
# calls from root and nobody, then VM lifecycles by 4 clients, then SIGTERM. Contract: zero
# memcheck errors (invalid accesses, uses of uninitialised values, definite or indirect leaks)
# and a clean exit.
. "$(dirname "$0")/rel-lib.sh"

# Debian 12's valgrind answers pidfd_open with ENOSYS: a newer one, cached
vg=$("$PVM_SRCDIR/scripts/fetch-valgrind") || fail "no valgrind that knows pidfd_open (scripts/fetch-valgrind)"
rel_fig valgrind "$(cat "$vg/SOURCE" | sed 's/.*version=\([^ ]*\).*/\1/')"
REAL_PVMD=$PVMD
PVMD=$T/pvmd-memcheck
cat >"$PVMD" <<EOF2
#!/bin/sh
VALGRIND_LIB=$vg/usr/libexec/valgrind exec $vg/usr/bin/valgrind.bin --tool=memcheck --error-exitcode=99 --leak-check=full \
	--show-leak-kinds=definite,indirect --errors-for-leak-kinds=definite,indirect \
	--num-callers=30 --log-file=$T/memcheck.log "$REAL_PVMD" "\$@"
EOF2
chmod 755 "$PVMD"
export PVMD_START_TIMEOUT=180

calls=${REL_CALLS:-$(scale 400 4000)}
cycles=${REL_CYCLES:-$(scale 2 10)}
setup_rel

# calls: the same storm as rel-calls, shorter; its verdicts are rel-calls' business, here it is
# the work memcheck watches
vm_config rel-fz-1 hello.elf >/dev/null
vm_config rel-fz-2 wait-stop.elf >/dev/null
cfg=$(vm_config fx-root wait-stop.elf)
busctl --system call org.pvm1 /org/pvm1 org.pvm1.Manager CreateVM 'sa{sv}' "$(cat "$cfg")" 1 start b true >/dev/null
wait_until 60 vm_state_is fx-root ready || fail "fx-root: $(vm_prop fx-root State)"
"$REL_CLIENT" members /org/pvm1/vm/fx_2droot >"$T/members.txt" || fail "introspection"
n=0
for who in root nobody; do
	mkdir -p "$T/tmp-$who"
	chmod 777 "$T/tmp-$who"
	"as_$who" "$REL_CLIENT" storm --members "$T/members.txt" --tmp "$T/tmp-$who" --seed 7 \
		--calls "$calls" --name fx-root --config "$T/rel-fz-1.json" --config "$T/rel-fz-2.json" \
		>"$T/storm-$who.json" 2>/dev/null || true
	n=$((n + $(jq .calls "$T/storm-$who.json")))
done
rel_fig calls "$n"
"$REL_CLIENT" reap || fail "reap after the calls"

# lifecycles: 4 clients of 4 VMs
cfg=$(vm_config load wait-stop.elf)
for c in $(seq "$cycles"); do
	pids=()
	for i in 0 1 2 3; do "$REL_CLIENT" up "v$i" 4 "$cfg" & pids+=($!); done
	for p in "${pids[@]}"; do wait "$p" || fail "cycle $c: start"; done
	pids=()
	for i in 0 1 2 3; do "$REL_CLIENT" down "v$i" 4 5 & pids+=($!); done
	for p in "${pids[@]}"; do wait "$p" || fail "cycle $c: stop"; done
done
rel_fig lifecycles $((cycles * 16))
health_check "under memcheck"

pid=$PVMD_PID
kill -TERM "$pid"
wait_until 120 proc_gone "$pid" || fail "pvmd under memcheck did not exit within 120 s of SIGTERM"
rc=0
wait "$pid" || rc=$?
PVMD_PID=
errors=$(sed -n 's/.*ERROR SUMMARY: \([0-9]*\) errors.*/\1/p' "$T/memcheck.log" | tail -1)
rel_fig memcheck_errors "${errors:-unknown}"
if [ "$rc" -ne 0 ] || [ "${errors:-1}" -ne 0 ]; then
	grep -vE '^==[0-9]+== (Warning|   (at|by) 0x)' "$T/memcheck.log" | head -80 >&2
	fail "memcheck: exit $rc, ${errors:-unknown} errors"
fi
grep -E "definitely lost|indirectly lost|still reachable|ERROR SUMMARY" "$T/memcheck.log" >&2
rel_case "pvmd under memcheck: $n calls and $((cycles * 16)) VM lifecycles, zero errors"
