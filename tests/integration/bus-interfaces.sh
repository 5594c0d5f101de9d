#!/bin/bash
# The installed interface descriptions (policy/org.pvm1.Manager.xml, policy/org.pvm1.VM.xml,
# for /usr/share/dbus-1/interfaces) are what pvmd really serves: each is compared with the
# live introspection of /org/pvm1 and of a VM object. PVM_UPDATE_INTERFACES=1 rewrites them.
. "$(dirname "$0")/bus-lib.sh"
setup_pvmd

vm=$(vm_config ifaces wait-stop.elf)
"$PVMCTL" start "$vm" --wait-ready >/dev/null || fail "cannot start a VM to introspect"
vm_path=$(busctl --system call org.pvm1 /org/pvm1 org.pvm1.Manager GetVM s ifaces | awk '{print $2}' | tr -d '"')

busctl --system introspect --xml-interface org.pvm1 /org/pvm1 >"$T/manager-node.xml"
busctl --system introspect --xml-interface org.pvm1 "$vm_path" >"$T/vm-node.xml"

# extract IFACE NODE_XML: the <interface> element, in a stable text form, with the doctype
extract() {
	python3 - "$1" "$2" <<-'PY'
	import sys, xml.etree.ElementTree as ET
	name, path = sys.argv[1], sys.argv[2]
	for i in ET.parse(path).getroot().findall('interface'):
	    if i.get('name') == name:
	        ET.indent(i, space='  ', level=1)
	        print('<!DOCTYPE node PUBLIC "-//freedesktop//DTD D-BUS Object Introspection 1.0//EN"')
	        print(' "http://www.freedesktop.org/standards/dbus/1.0/introspect.dtd">')
	        print('<!-- org.pvm1(5) documents every member; this file is compared with what pvmd')
	        print('     serves by tests/integration/bus-interfaces.sh -->')
	        print('<node>')
	        print('  ' + ET.tostring(i, encoding='unicode').strip())
	        print('</node>')
	        sys.exit(0)
	sys.exit('no interface ' + name + ' in ' + path)
	PY
}
extract org.pvm1.Manager "$T/manager-node.xml" >"$T/org.pvm1.Manager.xml" || fail "no org.pvm1.Manager"
extract org.pvm1.VM "$T/vm-node.xml" >"$T/org.pvm1.VM.xml" || fail "no org.pvm1.VM"

for i in org.pvm1.Manager org.pvm1.VM; do
	if [ "${PVM_UPDATE_INTERFACES:-0}" = 1 ]; then
		cp "$T/$i.xml" "$PVM_SRCDIR/policy/$i.xml"
		log "wrote policy/$i.xml"
	elif ! diff -u "$PVM_SRCDIR/policy/$i.xml" "$T/$i.xml" >&2; then
		fail "policy/$i.xml differs from what pvmd serves (update it and org.pvm1(5): PVM_UPDATE_INTERFACES=1 meson test -C build bus-interfaces)"
	fi
	xmllint --noout "$PVM_SRCDIR/policy/$i.xml" 2>/dev/null || python3 -c "import sys,xml.dom.minidom as m; m.parse(sys.argv[1])" "$PVM_SRCDIR/policy/$i.xml" ||
		fail "policy/$i.xml is not well-formed XML"
	log "ok: policy/$i.xml matches pvmd"
done
"$PVMCTL" stop ifaces >/dev/null
