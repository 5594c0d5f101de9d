#!/bin/bash
# The JSON examples in pvm-config(5) and pvm-policy(5) must stay valid: each ``` block of a page
# is checked with pvmctl as a config or as a one-file policy directory.
# Usage: test-man-examples.sh PVMCTL SOURCE_ROOT
set -u
pvmctl=$1
src=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failures=0
blocks=0

# split PAGE's ``` blocks into $tmp/PREFIX-N.json
split_blocks() {
        awk -v out="$tmp/$2" '/^```/ { if (inblock) { inblock = 0; close(f) } else { inblock = 1; n++; f = out "-" n ".json" } next }
                inblock { print > f }' "$1"
}

split_blocks "$src/man/pvm-config.5.scd" config
split_blocks "$src/man/pvm-policy.5.scd" policy
for f in "$tmp"/config-*.json; do
        blocks=$((blocks + 1))
        "$pvmctl" --no-file-check config check "$f" >/dev/null || { echo "FAIL: pvm-config(5) block $f" >&2; failures=$((failures + 1)); }
done
for f in "$tmp"/policy-*.json; do
        blocks=$((blocks + 1))
        mkdir "$f.d" && cp "$f" "$f.d/50-example.json"
        "$pvmctl" policy check "$f.d" >/dev/null || { echo "FAIL: pvm-policy(5) block $f" >&2; cat "$f" >&2; failures=$((failures + 1)); }
done
# the pages show the shipped files: they must say the same
cmp -s <(jq -S . "$tmp/policy-1.json") <(jq -S . "$src/policy/policy.d/50-default.json") || { echo "FAIL: pvm-policy(5) DEFAULT differs from 50-default.json" >&2; failures=$((failures + 1)); }
cmp -s <(jq -S . "$tmp/policy-2.json") <(jq -S . "$src/examples/policy.d/60-vm-users.json") || { echo "FAIL: pvm-policy(5) example differs from 60-vm-users.json" >&2; failures=$((failures + 1)); }
cmp -s <(jq -S . "$tmp/config-1.json") <(jq -S . "$src/examples/vm-hello-x86_64.json") || { echo "FAIL: pvm-config(5) example differs from vm-hello-x86_64.json" >&2; failures=$((failures + 1)); }

echo "test-man-examples: $blocks blocks, $failures failed"
[ "$blocks" -ge 4 ] && [ "$failures" -eq 0 ]
