#!/bin/bash
# pvmd's shipped files agree with the code: the unit passes systemd-analyze verify, the bus and
# polkit policies are well-formed XML, every polkit action pvmd asks about is declared, and the
# bash completion offers every pvmctl command and parses. And pvmd's command line: --help,
# --version, a bad option (2), a policy that does not load (1, naming the file) - all before
# pvmd touches a bus.
# Usage: test-pvmd-files.sh SOURCE-DIR BUILD-DIR
set -euo pipefail
src=$1
build=$2
t=$(mktemp -d)
trap 'rm -rf "$t"' EXIT

# the unit, with ExecStart pointing at the built daemon
if command -v systemd-analyze >/dev/null; then
	sed "s|^ExecStart=[^ ]*|ExecStart=$build/pvmd/pvmd|" "$build/pvmd/pvmd.service" >"$t/pvmd.service"
	out=$(systemd-analyze verify --man=no "$t/pvmd.service" 2>&1) || { echo "$out"; exit 1; }
	[ -z "$out" ] || { echo "systemd-analyze verify: $out"; exit 1; }
	grep -q '^Type=notify$' "$t/pvmd.service" && grep -q '^BusName=org.pvm1$' "$t/pvmd.service"
	# hardening, as systemd scores it (lower is better; 10 is no sandbox at all): the figure is
	# printed, and a change that loosens the unit past 3.5 fails here
	exposure=$(systemd-analyze security --offline=true "$t/pvmd.service" 2>/dev/null |
		sed -n 's/.*Overall exposure level for pvmd.service: \([0-9.]*\).*/\1/p')
	[ -n "$exposure" ] || { echo "systemd-analyze security gave no exposure level"; exit 1; }
	echo "pvmd.service exposure (systemd-analyze security): $exposure"
	awk -v e="$exposure" 'BEGIN { exit !(e <= 3.5) }' ||
		{ echo "pvmd.service exposure $exposure is above 3.5"; exit 1; }
	# the bus daemon's restart must not stop pvmd: ordered after the socket, never bound to
	# dbus.service
	grep -q '^Requires=dbus.socket$' "$t/pvmd.service" || { echo "pvmd.service lacks Requires=dbus.socket"; exit 1; }
	if grep -v '^#' "$t/pvmd.service" | grep -q 'dbus.service'; then echo "pvmd.service names dbus.service"; exit 1; fi
	grep -q '^UMask=0077$' "$t/pvmd.service" || { echo "pvmd.service: UMask is not 0077"; exit 1; }
fi

python3 - "$src/policy/org.pvm1.conf" "$src/policy/org.pvm1.policy" <<'PY'
import sys, xml.etree.ElementTree as ET
conf = ET.parse(sys.argv[1]).getroot()
assert conf.tag == "busconfig"
owners = [p.get("user") for p in conf.findall("policy") if p.find("allow[@own='org.pvm1']") is not None]
assert owners == ["root"], owners
assert ET.parse(sys.argv[2]).getroot().tag == "policyconfig"
PY
declared=$(python3 -c '
import sys, xml.etree.ElementTree as ET
print(" ".join(a.get("id") for a in ET.parse(sys.argv[1]).getroot().findall("action")))' "$src/policy/org.pvm1.policy")
for used in $(grep -oh '"org\.pvm1\.[a-z-]*-vm"' "$src"/pvmd/*.c | tr -d '"' | sort -u); do
	grep -qw "$used" <<<"$declared" || { echo "polkit action $used is not in org.pvm1.policy"; exit 1; }
done

# completion: every command of `pvmctl --help` is offered, by bash and by zsh; a command's
# options come from pvmctl's own help (no jq needed)
bash -n "$src/shell/pvmctl.bash"
offered=$(bash -c "source '$src/shell/pvmctl.bash'; COMP_WORDS=(pvmctl ''); COMP_CWORD=1; _pvmctl; echo \${COMPREPLY[*]}")
commands=$("$build/pvmctl/pvmctl" --help | sed -n 's/^  pvmctl \([a-z]\+\).*/\1/p' | sort -u)
[ -n "$commands" ] || { echo "no commands in pvmctl --help"; exit 1; }
for cmd in $commands; do
	grep -qw "$cmd" <<<"$offered" || { echo "completion does not offer '$cmd' (offers: $offered)"; exit 1; }
	grep -q "^		'$cmd:" "$src/shell/_pvmctl" || { echo "zsh completion does not offer '$cmd'"; exit 1; }
done
offered=$(PATH="$build/pvmctl:$PATH" bash -c "source '$src/shell/pvmctl.bash'; COMP_WORDS=(pvmctl stop --); COMP_CWORD=2; _pvmctl; echo \${COMPREPLY[*]}")
[ "$offered" = "--json --timeout --force --no-wait --no-ask-password --help --version" ] || { echo "stop's options offered: $offered"; exit 1; }
zsh -n "$src/shell/_pvmctl" # zsh is in scripts/deps/base.list
# the daemon's command line, before any bus
pvmd=$build/pvmd/pvmd
"$pvmd" --help | grep -q -- "--policy-dir DIR"
"$pvmd" --version | grep -q "^pvmd "
rc=0
"$pvmd" --bogus 2>/dev/null || rc=$?
[ $rc -eq 2 ] || { echo "pvmd --bogus: exit $rc"; exit 1; }
mkdir "$t/policy"
echo '{ "rules": [ { "who": { "users": [0] }, "actions": ["fly"] } ] }' >"$t/policy/10-bad.json"
rc=0
out=$("$pvmd" --policy-dir "$t/policy" --runtime-dir "$t/run" 2>&1) || rc=$?
[ $rc -eq 1 ] || { echo "pvmd with a bad policy: exit $rc: $out"; exit 1; }
grep -q "10-bad.json" <<<"$out" || { echo "the error does not name the file: $out"; exit 1; }
[ ! -e "$t/run" ] || { echo "pvmd created its runtime dir although the policy did not load"; exit 1; }
# a runtime dir that is a symlink, or writable by others, is refused before any bus
good=$src/policy/policy.d
mkdir -m 0755 "$t/elsewhere"
ln -s "$t/elsewhere" "$t/run-link"
rc=0
out=$("$pvmd" --policy-dir "$good" --runtime-dir "$t/run-link" 2>&1) || rc=$?
[ $rc -eq 1 ] || { echo "pvmd with a symlinked runtime dir: exit $rc: $out"; exit 1; }
grep -q "not a directory" <<<"$out" || { echo "symlinked runtime dir: unclear error: $out"; exit 1; }
mkdir -m 0777 "$t/run-open"
chmod 0777 "$t/run-open"
rc=0
out=$("$pvmd" --policy-dir "$good" --runtime-dir "$t/run-open" 2>&1) || rc=$?
[ $rc -eq 1 ] || { echo "pvmd with a world-writable runtime dir: exit $rc: $out"; exit 1; }
grep -q "writable by nobody else" <<<"$out" || { echo "open runtime dir: unclear error: $out"; exit 1; }
echo "test-pvmd-files: ok"
