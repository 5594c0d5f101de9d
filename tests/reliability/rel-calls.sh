#!/bin/bash
# At least 10 000 random and malformed calls over every method and property of org.pvm1.Manager
# and org.pvm1.VM (as introspected), every fd kind for fd arguments, from root, nobody and a test
# user with its own drop-in. Contracts: every answer is a documented error or a success
# (org.pvm1(5)); pvmd answers another connection within 1 s even while a caller holds a
# stalling fd (an MSG_OOB socket, a pipe or FIFO without end); no alias object path reaches a VM;
# after each batch pvmd is alive, ListVMs answers within 1 s, its fd count and RSS are back.
. "$(dirname "$0")/rel-lib.sh"

setup_rel

batches=${REL_BATCHES:-$(scale 2 8)} # per caller
calls=${REL_CALLS:-$(scale 1700 12000)} # random calls per batch, after one call per fd kind
callers=(root nobody testuser)

# the configs the storm draws from (and mutates): a guest that ends by itself, one that waits
# for a stop, one that never signals ready; the test user's from its own payload directory
vm_config rel-fz-1 hello.elf >/dev/null
vm_config rel-fz-2 wait-stop.elf >/dev/null
vm_config rel-fz-3 no-ready.elf >/dev/null
vm_config rel-fz-4 wait-stop.elf >/dev/null
sed -i "s|$PVM_GUEST_DIR|$T/payloads-testuser|" "$T/rel-fz-4.json"
configs=()
for i in 1 2 3 4; do configs+=(--config "$T/rel-fz-$i.json"); done

# VMs of each owner for the calls to aim at
names=(--name fx-root --name fx-nobody --name fx-test)

owner_vms fx
"$REL_CLIENT" members /org/pvm1/vm/fx_2droot >"$T/members.txt" || fail "introspection"
methods=$(grep -c '^M ' "$T/members.txt")
props=$(grep -c '^P ' "$T/members.txt")
log "member table: $methods methods, $props properties"
[ "$methods" -ge 15 ] && [ "$props" -ge 20 ] || fail "member table too small: $(cat "$T/members.txt")"
rel_fig methods "$methods"
rel_fig properties "$props"

storm() { # storm CALLER SEED CALLS [more rel-client options]: one batch; its report in $T
	local who=$1 seed=$2 n=$3 rc=0
	shift 3
	mkdir -p "$T/tmp-$who"
	chmod 777 "$T/tmp-$who"
	"as_$who" "$REL_CLIENT" storm --members "$T/members.txt" --tmp "$T/tmp-$who" --seed "$seed" \
		--calls "$n" "${names[@]}" "${configs[@]}" "$@" >"$T/storm-$who-$seed.json" \
		2>"$T/storm-$who-$seed.err" || rc=$?
	grep VIOLATION "$T/storm-$who-$seed.err" | sort | uniq -c | sort -rn | head -20 >&2
	return $rc
}

# warm-up: pvmd's steady state before the baseline
storm root 1 300 --no-sweep || true
"$REL_CLIENT" reap || fail "reap after the warm-up"
health_baseline
leak_baseline

seed=100
for b in $(seq "$batches"); do
	for who in "${callers[@]}"; do
		seed=$((seed + 1))
		owner_vms fx
		if storm "$who" "$seed" "$calls"; then
			log "batch $b as $who (seed $seed): contract kept"
		else
			log "batch $b as $who (seed $seed): VIOLATIONS (replay: rel-client storm --seed $seed)"
		fi
		"$REL_CLIENT" reap || fail "reap after batch $b as $who"
		health_check "after batch $b as $who"
		no_leaks "after batch $b as $who"
	done
done
rel_case "after each batch pvmd is alive, answers ListVMs within 1 s, its fds and RSS are back, nothing leaked"

# the figures: sums over every batch
reports=$(cat "$T"/storm-*-[0-9][0-9][0-9].json)
sum() { jq -s "map(.$1) | add" <<<"$reports"; }
rel_fig calls "$(sum calls)"
rel_fig calls_wellformed "$(sum wellformed)"
rel_fig calls_malformed "$(sum malformed)"
rel_fig calls_succeeded "$(sum succeeded)"
rel_fig fd_calls "$(sum fd_calls)"
rel_fig fd_kinds "$(jq -s 'map(.fd_kinds | keys) | add | unique | length' <<<"$reports")"
rel_fig fd_kinds_defined "$(jq -s '.[0].fd_kinds_total' <<<"$reports")"
rel_fig error_names "$(jq -s 'map(.errors | keys) | add | unique | join(" ")' <<<"$reports" | tr -d '"')"
rel_fig probes "$(sum probes)"
rel_fig probe_max_ms "$(jq -s 'map(.probe_max_ms) | max' <<<"$reports")"
rel_fig stalls "$(sum stalls)"
rel_fig violations "$(sum violations)"
rel_fig callers "${#callers[@]}"
rel_fig batches $((batches * ${#callers[@]}))

# the verdicts, by contract (rel-storm.c names each kind of violation)
violations_of() { # the number of violations whose kind matches the regex
	jq -s --arg re "$1" 'map(.violation_kinds | to_entries[] | select(.key | test($re)) | .value) | add // 0' <<<"$reports"
}
examples_of() {
	jq -s -r --arg re "$1" 'map(.violation_examples[] | select(test($re))) | unique | .[:8][]' <<<"$reports" >&2
}
verdict() { # verdict REGEX: no violation of that kind
	local n
	n=$(violations_of "$1")
	[ "$n" -eq 0 ] || { log "$n violations: $1"; examples_of "$1"; return 1; }
}
check "every answer is a success or an error name org.pvm1(5) documents (never a raw errno)" \
	verdict 'error name org.pvm1|raw errno'
check "pvmd answers another connection within 1 s while a caller holds any kind of fd open" \
	verdict 'did not answer ListVMs'
check "every call gets an answer" verdict 'no answer'
check "what must be refused is: alias object paths, writes to read-only properties, malformed calls" \
	verdict 'must be refused'
[ "$(violations_of .)" -eq "$(violations_of 'error name org.pvm1|raw errno|did not answer ListVMs|no answer|must be refused')" ] ||
	check "no other violation" false

enough_calls() { [ "$(sum calls)" -ge 10000 ]; }
check "at least 10 000 calls" enough_calls

stop_pvmd_checked
rel_finish
