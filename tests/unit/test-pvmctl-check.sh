#!/bin/bash
# pvmctl's offline checks: exit 0 for valid input, 1 with the library's message (file name first)
# for invalid input, 2 for usage errors; --json gives the same facts on stdout.
# Usage: test-pvmctl-check.sh PVMCTL SOURCE_ROOT
set -u
pvmctl=$1
src=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failures=0
checks=0

fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }

# expect STATUS STDERR_TEXT -- ARGS...: run pvmctl, compare the exit status and the whole stderr
expect() {
        local want_status=$1 want_err=$2; shift 3
        checks=$((checks + 1))
        "$pvmctl" "$@" >"$tmp/out" 2>"$tmp/err"
        local status=$?
        [ "$status" -eq "$want_status" ] || fail "pvmctl $*: exit $status, want $want_status ($(cat "$tmp/err"))"
        if [ "$want_err" != "*" ] && [ "$(cat "$tmp/err")" != "$want_err" ]; then
                fail "pvmctl $*: stderr '$(cat "$tmp/err")', want '$want_err'"
        fi
}

# every shipped example config is valid (their payloads live on the target, not here)
for f in "$src"/examples/*.json; do
        expect 0 "" -- --no-file-check config check "$f"
done

# payload files are opened unless told not to
printf 'payload' >"$tmp/kernel"
printf '{"name": "t", "kernel": "%s"}' "$tmp/kernel" >"$tmp/vm.json"
expect 0 "" -- config check "$tmp/vm.json"
grep -q "^$tmp/vm.json: valid: VM 't', 64 MiB, 1 vCPU, protected$" "$tmp/out" || fail "summary: $(cat "$tmp/out")"
printf '{"name": "t", "kernel": "%s/missing"}' "$tmp" >"$tmp/vm.json"
expect 1 "$tmp/vm.json: \$.kernel: cannot open $tmp/missing: No such file or directory" -- config check "$tmp/vm.json"
expect 0 "" -- config check --no-file-check "$tmp/vm.json"

# invalid configs: exit 1, one message naming the file, the JSON path and the expectation
printf '{"name": "t", "kernel": "/k", "memory_mib": 0}' >"$tmp/bad.json"
expect 1 "$tmp/bad.json: \$.memory_mib: expected an integer from 1 to 65536, got 0" -- config check --no-file-check "$tmp/bad.json"
[ ! -s "$tmp/out" ] || fail "nothing on stdout for an invalid config"
expect 1 "" -- --json config check --no-file-check "$tmp/bad.json"
[ "$(jq -r .error "$tmp/out")" = "$tmp/bad.json: \$.memory_mib: expected an integer from 1 to 65536, got 0" ] || fail "json error: $(cat "$tmp/out")"
[ "$(jq -r .errno_name "$tmp/out")" = "ERANGE" ] || fail "json errno: $(cat "$tmp/out")"
expect 1 "$tmp/none.json: cannot open: No such file or directory" -- config check "$tmp/none.json"

# --json on a valid config gives the config with defaults filled in
expect 0 "" -- --json --no-file-check config check "$src/examples/vm-hello-x86_64.json"
[ "$(jq -r '.valid, .config.name, .config.console.output, .config.debug' "$tmp/out" | tr '\n' ' ')" = "true hello ring-and-log false " ] || fail "json config: $(cat "$tmp/out")"

# policies: the shipped default, the example on top, directories by argument or by flag
expect 0 "" -- policy check "$src/policy/policy.d"
grep -q "^valid: 1 file, 1 rule$" "$tmp/out" || fail "policy summary: $(cat "$tmp/out")"
expect 0 "" -- policy check "$src/policy/policy.d" "$src/examples/policy.d"
expect 0 "" -- --json policy check --policy-dir "$src/policy/policy.d" --policy-dir "$src/examples/policy.d"
[ "$(jq -r '.files | length' "$tmp/out")" = 2 ] || fail "policy files: $(cat "$tmp/out")"
expect 0 "" -- policy check "$tmp/no-such-dir"
grep -q "^valid: 0 files, 0 rules$" "$tmp/out" || fail "empty policy: $(cat "$tmp/out")"
mkdir "$tmp/policy.d"
printf '{"rules": [{"who": {"users": [0]}, "actions": ["create"], "vms": ["*"], "limits": {"vms": 1.5}}]}' >"$tmp/policy.d/10-bad.json"
expect 1 "$tmp/policy.d/10-bad.json: \$.rules[0].limits.vms: expected an integer from 0 to 4294967295, got 1.5" -- policy check --policy-dir "$tmp/policy.d"
printf '{"rules": [], "rules": []}' >"$tmp/policy.d/10-bad.json"
expect 1 "$tmp/policy.d/10-bad.json: \$.rules: duplicate key in one object" -- policy check "$src/policy/policy.d" "$tmp/policy.d"

# usage errors
expect 2 "*" -- config check
expect 2 "*" -- config check a b
expect 2 "*" -- frobnicate
expect 2 "*" -- --no-such-option policy check
expect 2 "*" --
expect 0 "" -- --help

echo "test-pvmctl-check: $checks runs, $failures failed"
[ "$failures" -eq 0 ]
