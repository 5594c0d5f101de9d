#!/bin/bash
# `meson install` puts each integration file where the system's services read it, whatever the
# prefix: the bus policy and activation file where dbus-daemon looks, the polkit actions where
# polkitd looks, the unit and its bus alias where systemd looks, the interface XML for
# introspection tools; and only the sample guest, not the test guests, as product data.
# Usage: test-install.sh BUILD-DIR
set -euo pipefail
build=$1
t=$(mktemp -d)
trap 'rm -rf "$t"' EXIT
fail() { echo "FAIL: $*"; (cd "$t/root" && find . -type f -o -type l | sort) | sed 's/^/  installed: /'; exit 1; }

meson install -C "$build" --no-rebuild --destdir "$t/root" >"$t/install.log" 2>&1 ||
	{ cat "$t/install.log"; exit 1; }
prefix=$(meson introspect "$build" --buildoptions | python3 -c '
import json, sys
print(next(o["value"] for o in json.load(sys.stdin) if o["name"] == "prefix"))')
r=$t/root

# the system's directories, as pkg-config or the fixed defaults give them (never under $prefix
# unless the prefix is /usr)
dbus=$(pkg-config --variable=datadir dbus-1 2>/dev/null || echo /usr/share)/dbus-1
polkit=$(pkg-config --variable=policydir polkit-gobject-1 2>/dev/null || echo /usr/share/polkit-1/actions)
units=$(pkg-config --variable=systemdsystemunitdir systemd 2>/dev/null || echo /lib/systemd/system)
for f in "$dbus/system.d/org.pvm1.conf" "$dbus/system-services/org.pvm1.service" \
	"$dbus/interfaces/org.pvm1.Manager.xml" "$dbus/interfaces/org.pvm1.VM.xml" \
	"$polkit/org.pvm1.policy" "$units/pvmd.service"; do
	[ -f "$r$f" ] || fail "$f not installed"
done
[ "$(readlink "$r$units/dbus-org.pvm1.service")" = pvmd.service ] ||
	fail "$units/dbus-org.pvm1.service is not an alias of pvmd.service"
# the activation file names the alias that is installed
grep -q '^SystemdService=dbus-org.pvm1.service$' "$r$dbus/system-services/org.pvm1.service" ||
	fail "the activation file does not name dbus-org.pvm1.service"
[ -x "$r$prefix/sbin/pvmd" ] && [ -x "$r$prefix/bin/pvmctl" ] || fail "pvmd or pvmctl missing"
[ -f "$r$prefix/share/pvm/guests/x86_64/hello.elf" ] || fail "the sample guest is not installed"
for g in flood triple-fault spin bad-fetch; do
	[ ! -e "$r$prefix/share/pvm/guests/x86_64/$g.elf" ] || fail "test guest $g.elf is installed"
done
echo "test-install: ok (prefix $prefix)"
