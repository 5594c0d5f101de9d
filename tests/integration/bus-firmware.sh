#!/bin/bash
# pvm-fw's host side through a real pvmd, busctl and pvmctl on x86 (where pvm-fw cannot run:
# its boot is the arm64 system test's): a config names an installed firmware by name and its
# signed descriptor, which pvmctl passes as descriptor_fd; pvmd opens the firmware from its
# --firmware-dir only, never a path a caller names, and reads the identity from the image;
# Firmware, FirmwareIdentity and FirmwareResult on the bus and in pvmctl inspect; policy's
# firmware.protected_requires_signed_payload and firmware.identities, with the reasons named;
# what pvmd refuses before any VM runs (no such firmware, not a pvm-fw image, a descriptor
# larger than a page, a descriptor path from a non-root caller without its descriptor).
. "$(dirname "$0")/bus-lib.sh"
: "${PVM_FW_IMAGE:?}" "${PVM_FW_KEY:?}" "${PVM_FW_OTHER_KEY:?}"

mkdir -p "$T/firmware"
cp "$PVM_FW_IMAGE" "$T/firmware/pvm-fw-test.img"
cp "$PVM_GUEST_DIR/hello.elf" "$T/firmware/not-fw.img"
identity() { openssl pkey -in "$1" -pubout -outform DER | sha256sum | cut -d' ' -f1; }
ID=$(identity "$PVM_FW_KEY")
OTHER_ID=$(identity "$PVM_FW_OTHER_KEY")
kernel=$PVM_GUEST_DIR/hello.elf
"$PVMCTL" payload sign --key "$PVM_FW_KEY" --kernel "$kernel" -o "$T/desc" || fail "payload sign"
chmod 644 "$T/desc"

write_policy
cat >"$T/policy/80-firmware.json" <<EOF
{ "firmware": { "protected_requires_signed_payload": true, "identities": ["$ID"] } }
EOF
start_bus
start_pvmd --firmware-dir "$T/firmware"

fw_config() { # fw_config NAME PROTECTED FIRMWARE [DESCRIPTOR]
	cat >"$T/$1.json" <<-EOF
	{
		"name": "$1",
		"kernel": "$kernel",
		"memory_mib": 16,
		"protected": $2,
		"memory_backing": "guest_memfd",
		"firmware": "$3",
		"descriptor": "${4:-$T/desc}"
	}
	EOF
	chmod 644 "$T/$1.json"
	echo "$T/$1.json"
}
create() { # create CONFIG: CreateVM without starting it, as the caller running this
	gcall CreateVM "$(cat "$1")" "{'start': <false>}"
}

# policy: a protected VM that boots its kernel directly is refused before its payload is read
cfg=$(vm_config direct hello.elf)
sed -i 's/"protected": false/"protected": true/' "$cfg"
expect_error "org.pvm1.Error.PolicyDenied.*firmware.protected_requires_signed_payload" create "$cfg"

# a protected VM through the trusted test firmware is created; its identity is the key's
cfg=$(fw_config fw1 true pvm-fw-test)
create "$cfg" >/dev/null || fail "create fw1: $(create "$cfg" 2>&1)"
[ "$(vm_prop fw1 Firmware)" = pvm-fw-test ] || fail "Firmware: $(vm_prop fw1 Firmware)"
[ "$(vm_prop fw1 FirmwareIdentity)" = "$ID" ] || fail "FirmwareIdentity $(vm_prop fw1 FirmwareIdentity), want $ID"
[ "$(vm_prop fw1 FirmwareResult)" = pending ] || fail "FirmwareResult: $(vm_prop fw1 FirmwareResult)"
"$PVMCTL" inspect fw1 >"$T/out" || fail "inspect fw1"
grep -q "^Firmware: *pvm-fw-test, pending" "$T/out" && grep -q "identity: *$ID" "$T/out" ||
	fail "inspect: $(cat "$T/out")"
"$PVMCTL" inspect fw1 --json | jq -e --arg id "$ID" \
	'.firmware == "pvm-fw-test" and .firmware_identity == $id and .firmware_result == "pending"' \
	>/dev/null || fail "inspect --json: $("$PVMCTL" inspect fw1 --json)"
# x86 has no pvm-fw: the start fails and says so
expect_error "org.pvm1.Error.StartFailed.*x86_64 has no pvm-fw" gcall StartVM fw1
log "ok: fw1 created with identity $ID; its start on x86 fails and says why"

# a VM without firmware reports none
cfg=$(vm_config plain hello.elf)
create "$cfg" >/dev/null || fail "create plain"
[ "$(vm_prop plain FirmwareResult)" = none ] && [ -z "$(vm_prop plain Firmware)" ] &&
	[ -z "$(vm_prop plain FirmwareIdentity)" ] || fail "plain: $(vm_prop plain FirmwareResult)"
output_has "^Firmware:" "$PVMCTL" inspect plain && fail "inspect shows a firmware for plain"

# an unprivileged caller: pvmctl opens the descriptor and passes it; without it, pvmd does not
# open the path for them
cfg=$(fw_config nb false pvm-fw-test)
out=$(as_nobody "$FD_CALLER" payload file "$cfg" "$kernel")
[[ $out == *"InvalidArgument"*"passes no descriptor_fd"* ]] || fail "nobody without descriptor_fd: $out"
as_nobody "$PVMCTL" start "$cfg" >"$T/out" 2>&1 && fail "nb started on x86"
grep -q "x86_64 has no pvm-fw" "$T/out" || fail "nobody's start through pvmctl: $(cat "$T/out")"

# only trusted identities: the same firmware under another policy is refused, naming it
cat >"$T/policy/80-firmware.json" <<EOF
{ "firmware": { "protected_requires_signed_payload": true, "identities": ["$OTHER_ID"] } }
EOF
kill -HUP "$PVMD_PID"
cfg=$(fw_config fw2 true pvm-fw-test)
# the reload is asynchronous: poll until the new policy decides
untrusted() {
	local out
	out=$(create "$cfg" 2>&1) || true
	grep -q "has identity $ID, which policy does not trust (firmware.identities)" <<<"$out"
}
wait_until 10 untrusted || fail "an untrusted identity was not refused: $(create "$cfg" 2>&1)"
log "ok: an identity policy does not list is refused, named"

# pvmd's own firmware directory only: a name, never a path; a name it does not have; a file
# there that is no pvm-fw image
cfg=$(fw_config fw3 false ../../../etc/passwd)
expect_error "org.pvm1.Error.InvalidConfig.*firmware: expected the name of an installed firmware" create "$cfg"
cfg=$(fw_config fw4 false no-such-fw)
expect_error "org.pvm1.Error.InvalidConfig.*firmware $T/firmware/no-such-fw.img: No such file" create "$cfg"
cfg=$(fw_config fw5 false not-fw)
expect_error "org.pvm1.Error.InvalidConfig.*not a pvm-fw image" create "$cfg"
# a descriptor is one page
head -c 8192 /dev/zero >"$T/big.desc"
chmod 644 "$T/big.desc"
cfg=$(fw_config fw6 false pvm-fw-test "$T/big.desc")
expect_error "org.pvm1.Error.InvalidConfig.*descriptor: 8192 bytes; must be 1 to 4096" create "$cfg"

log "PASS"
