#!/bin/bash
# pvmctl's offline checks and its command line: exit 0 for valid input, 5 with the library's
# message (file name first) for invalid input, 2 for usage errors (with a "did you mean"); help
# after any verb; --json gives the same facts, and errors with their exit code, on stdout.
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
expect 5 "pvmctl config check: $tmp/vm.json: \$.kernel: cannot open $tmp/missing: No such file or directory" -- config check "$tmp/vm.json"
expect 0 "" -- config check --no-file-check "$tmp/vm.json"

# invalid configs: exit 5, one message naming the file, the JSON path and the expectation
printf '{"name": "t", "kernel": "/k", "memory_mib": 0}' >"$tmp/bad.json"
expect 5 "pvmctl config check: $tmp/bad.json: \$.memory_mib: expected an integer from 1 to 65536, got 0" -- config check --no-file-check "$tmp/bad.json"
[ ! -s "$tmp/out" ] || fail "nothing on stdout for an invalid config"
expect 5 "" -- --json config check --no-file-check "$tmp/bad.json"
[ "$(jq -r .error "$tmp/out")" = "$tmp/bad.json: \$.memory_mib: expected an integer from 1 to 65536, got 0" ] || fail "json error: $(cat "$tmp/out")"
[ "$(jq -r .errno_name "$tmp/out")" = "ERANGE" ] || fail "json errno: $(cat "$tmp/out")"
[ "$(jq -r .exit_code "$tmp/out")" = 5 ] || fail "json exit_code: $(cat "$tmp/out")"
expect 5 "pvmctl config check: $tmp/none.json: cannot open: No such file or directory" -- config check "$tmp/none.json"

# --json on a valid config gives the config with defaults filled in
expect 0 "" -- --json --no-file-check config check "$src/examples/vm-hello-x86_64.json"
[ "$(jq -r '.valid, .config.name, .config.console.output, .config.debug' "$tmp/out" | tr '\n' ' ')" = "true hello ring-and-log false " ] || fail "json config: $(cat "$tmp/out")"

# policies: the shipped default, the example on top, directories by argument or by flag
expect 0 "" -- policy check "$src/policy/policy.d"
grep -q "^valid: 1 file, 1 rule$" "$tmp/out" || fail "policy summary: $(cat "$tmp/out")"
expect 0 "" -- policy check "$src/policy/policy.d" "$src/examples/policy.d"
expect 0 "" -- --json policy check --policy-dir "$src/policy/policy.d" --policy-dir "$src/examples/policy.d"
[ "$(jq -r '.files | length' "$tmp/out")" = 2 ] || fail "policy files: $(cat "$tmp/out")"
# a directory named on the command line must exist: a typo checks nothing
expect 5 "pvmctl policy check: $tmp/no-such-dir: No such file or directory (a policy directory named on the command line must exist)" -- policy check "$tmp/no-such-dir"
expect 5 "*" -- policy check --policy-dir "$tmp/no-such-dir"
# a valid policy that allows nothing says so
mkdir "$tmp/empty.d"
expect 0 "" -- policy check "$tmp/empty.d"
grep -q "^note: no rule allows anything: pvmd denies every action to every caller, root included$" "$tmp/out" ||
        fail "deny-everything note: $(cat "$tmp/out")"
expect 0 "" -- policy check "$tmp/empty.d" --json
[ "$(jq -r .denies_everything "$tmp/out")" = true ] || fail "json denies_everything: $(cat "$tmp/out")"
expect 0 "" -- policy check "$src/policy/policy.d" --json
[ "$(jq -r .denies_everything "$tmp/out")" = false ] || fail "shipped policy denies everything: $(cat "$tmp/out")"
mkdir "$tmp/policy.d"
printf '{"rules": [{"who": {"users": [0]}, "actions": ["create"], "vms": ["*"], "limits": {"vms": 1.5}}]}' >"$tmp/policy.d/10-bad.json"
expect 5 "pvmctl policy check: $tmp/policy.d/10-bad.json: \$.rules[0].limits.vms: expected an integer from 0 to 4294967295, got 1.5" -- policy check --policy-dir "$tmp/policy.d"
printf '{"rules": [], "rules": []}' >"$tmp/policy.d/10-bad.json"
expect 5 "pvmctl policy check: $tmp/policy.d/10-bad.json: \$.rules: duplicate key in one object" -- policy check "$src/policy/policy.d" "$tmp/policy.d"

# usage errors
expect 2 "*" -- config check
expect 2 "*" -- config check a b
expect 2 "*" -- frobnicate
expect 2 "*" -- --no-such-option policy check
expect 2 "*" --
expect 0 "" -- --help
grep -q "^  pvmctl start CONFIG|-|NAME" "$tmp/out" || fail "--help lists start: $(cat "$tmp/out")"

# help anywhere: after any verb, as a verb, for a verb group alone
for verb in start stop kill remove restart inspect list console logs monitor "config check" "policy check"; do
        # shellcheck disable=SC2086 # two-word verbs are two words
        expect 0 "" -- $verb --help
        grep -q "^Usage: pvmctl $verb" "$tmp/out" || fail "$verb --help: $(cat "$tmp/out")"
        # shellcheck disable=SC2086
        expect 0 "" -- help $verb
        grep -q "^Usage: pvmctl $verb" "$tmp/out" || fail "help $verb: $(cat "$tmp/out")"
done
expect 0 "" -- help
grep -q "^Usage: pvmctl COMMAND" "$tmp/out" || fail "help: $(cat "$tmp/out")"
expect 0 "" -- config --help
grep -q "^Usage: pvmctl config check FILE" "$tmp/out" || fail "config --help: $(cat "$tmp/out")"
expect 2 "*" -- config
grep -q "pvmctl config check FILE" "$tmp/err" || fail "config alone: $(cat "$tmp/err")"
expect 0 "" -- stop x --help --timeout abc   # help wins over everything after it

# did you mean, and errors that name the bad value
expect 2 "pvmctl: unknown command 'stpo'; did you mean 'stop'?
Try 'pvmctl --help'." -- stpo demo
expect 2 "pvmctl: unknown command 'config chek'; did you mean 'config check'?
Try 'pvmctl --help'." -- config chek x.json
expect 2 "pvmctl: unknown command 'frobnicate'
Try 'pvmctl --help'." -- frobnicate
expect 2 "pvmctl: unknown option '--wait-raedy'; did you mean '--wait-ready'?
Try 'pvmctl --help'." -- start vm.json --wait-raedy
expect 2 "pvmctl stop: invalid --timeout 'abc': expected a number of seconds from 0 to 31536000 (like 5 or 0.5)
Try 'pvmctl stop --help'." -- stop demo --timeout abc
expect 2 "*" -- stop demo --timeout inf
expect 2 "pvmctl list: option '--name' does not apply to list
Try 'pvmctl list --help'." -- list --name x
expect 2 "pvmctl inspect: too many arguments (usage: pvmctl inspect NAME)
Try 'pvmctl inspect --help'." -- inspect a b
expect 2 "" -- --json stop
[ "$(jq -r '.exit_code, .errno_name' "$tmp/out" | tr '
' ' ')" = "2 EINVAL " ] || fail "json usage error: $(cat "$tmp/out")"

# no bus: the socket tried and what to start, exit 9 (a verb that needs pvmd, started by name)
rc=0
DBUS_SYSTEM_BUS_ADDRESS="unix:path=$tmp/no-bus" "$pvmctl" start demo >"$tmp/out" 2>"$tmp/err" || rc=$?
checks=$((checks + 1))
[ $rc -eq 9 ] || fail "no bus: exit $rc"
grep -q "^pvmctl start: cannot connect to the system bus at unix:path=$tmp/no-bus: No such file or directory. Is the system bus running?" "$tmp/err" ||
        fail "no bus message: $(cat "$tmp/err")"

echo "test-pvmctl-check: $checks runs, $failures failed"
[ "$failures" -eq 0 ]
