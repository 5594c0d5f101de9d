#!/usr/bin/env python3
# Boots pvm-fw under qemu-system-aarch64 (virt, TCG) with a payload and a descriptor placed by
# QEMU's loader device where a host places them (docs/pvm-fw.md), for one case: the correctly
# signed arm64 test guest must run; each tampered variant (payload, descriptor, or a device tree
# with overlapping memory regions) must be refused by the firmware with its reason on the
# console and a power-off, before any guest code runs.
# Usage: run-fw.py QEMU PVMCTL FIRMWARE KEY OTHER_KEY GUEST CASE
import os
import selectors
import struct
import subprocess
import sys
import tempfile
import time

RAM = 0x40000000         # QEMU virt's RAM start
# QEMU puts its own boot stub at the start of RAM and loads an Image with text_offset 0 at
# RAM + 2 MiB: that is pvm-fw's load address, from which its layout counts.
BASE = RAM + 0x200000
DESCRIPTOR = BASE + 0x200000
KERNEL = BASE + 0x400000
ALIGN = 0x200000
TIMEOUT = 60.0
CMDLINE = 'console=ttyS0 pvm.test=1'
BOOTED = 'pvm-guest: ready'

# case -> (what to do, the console line the firmware must print); None: the guest must run.
CASES = {
    'good': None,
    'kernel-flipped': 'refused: kernel does not match the signed digest (reason 4)',
    'initrd-swapped': 'refused: initrd does not match the signed digest (reason 5)',
    'cmdline-changed': 'refused: descriptor signature does not verify with the built-in key (reason 2)',
    'wrong-key': 'refused: descriptor signature does not verify with the built-in key (reason 2)',
    'truncated-descriptor': 'refused: malformed descriptor (reason 1)',
    'replayed-descriptor': 'refused: kernel does not match the signed digest (reason 4)',
    'no-descriptor': 'refused: malformed descriptor (reason 1)',
    # pvmd's device tree has one RAM region: the machine's own tree plus a second memory node
    # over the same RAM stands for a host that lies about the layout
    'overlapping-memory': 'refused: device tree rejected (reason 6)',
}


def sign(pvmctl, key, kernel, out, initrd=None, cmdline=CMDLINE):
    cmd = [pvmctl, 'payload', 'sign', '--key', key, '--kernel', kernel, '--cmdline', cmdline,
           '-o', out]
    if initrd:
        cmd += ['--initrd', initrd]
    subprocess.run(cmd, check=True)


def initrd_address(kernel_path):
    with open(kernel_path, 'rb') as f:
        data = f.read()
    image_size = struct.unpack_from('<Q', data, 16)[0]
    span = max(len(data), image_size)
    return KERNEL + (span + ALIGN - 1) // ALIGN * ALIGN


def prepare(case, pvmctl, key, other_key, guest, tmp):
    """Returns the loader arguments for this case's guest memory."""
    desc = os.path.join(tmp, 'descriptor')
    kernel = guest
    initrd = os.path.join(tmp, 'initrd')
    with open(initrd, 'wb') as f:
        f.write(bytes(range(256)) * 64)
    signed_initrd = None
    if case in ('good', 'initrd-swapped'):
        signed_initrd = initrd
    if case == 'wrong-key':
        sign(pvmctl, other_key, guest, desc)
    elif case == 'replayed-descriptor':
        sign(pvmctl, key, initrd, desc)  # a good signature, for another kernel
    else:
        sign(pvmctl, key, guest, desc, initrd=signed_initrd)

    with open(desc, 'rb') as f:
        d = bytearray(f.read())
    if case == 'cmdline-changed':
        d[96:96 + 13] = b'console=ttyX0'
    elif case == 'truncated-descriptor':
        d = d[:2048]
    if case == 'kernel-flipped':
        with open(guest, 'rb') as f:
            k = bytearray(f.read())
        k[0x80] ^= 1
        kernel = os.path.join(tmp, 'kernel')
        with open(kernel, 'wb') as f:
            f.write(k)
    if case == 'initrd-swapped':
        with open(initrd, 'wb') as f:
            f.write(bytes(range(255, -1, -1)) * 64)
    with open(desc, 'wb') as f:
        f.write(d)

    loaders = ['-device', 'loader,file=%s,addr=%#x,force-raw=on' % (kernel, KERNEL)]
    if case != 'no-descriptor':
        loaders += ['-device', 'loader,file=%s,addr=%#x,force-raw=on' % (desc, DESCRIPTOR)]
    if signed_initrd:
        loaders += ['-device', 'loader,file=%s,addr=%#x,force-raw=on'
                    % (initrd, initrd_address(guest))]
    return loaders


def overlapping_dtb(qemu, machine, tmp):
    """QEMU's own tree for this machine plus a memory node overlapping its RAM. Named ram@,
    not memory@: QEMU drops extra memory@ nodes of a -dtb, pvm-fw finds them by device_type."""
    dtb = os.path.join(tmp, 'overlap.dtb')
    subprocess.run([qemu] + machine + ['-machine', 'dumpdtb=' + dtb], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    node = '/ram@%x' % RAM
    subprocess.run(['fdtput', '-c', dtb, node], check=True)
    subprocess.run(['fdtput', '-t', 's', dtb, node, 'device_type', 'memory'], check=True)
    subprocess.run(['fdtput', '-t', 'x', dtb, node, 'reg', '0', '%x' % RAM, '0', '1000000'],
                   check=True)
    return ['-dtb', dtb]


def run_qemu(cmd, stop_at):
    """Runs QEMU until it exits by itself or prints stop_at; returns (output, exited_itself)."""
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    deadline = time.monotonic() + TIMEOUT
    buf = b''
    exited = False
    while time.monotonic() < deadline:
        if not sel.select(deadline - time.monotonic()):
            continue
        chunk = os.read(proc.stdout.fileno(), 4096)
        if not chunk:
            exited = True  # PSCI SYSTEM_OFF ends QEMU
            break
        buf += chunk
        if stop_at and stop_at.encode() in buf:
            break  # the test guest then waits for a stop request QEMU's virt cannot send
    if proc.poll() is None:
        proc.kill()
    proc.wait()
    return buf.decode('utf-8', 'replace').replace('\r', ''), exited


def main():
    qemu, pvmctl, firmware, key, other_key, guest, case = sys.argv[1:8]
    want = CASES[case]
    with tempfile.TemporaryDirectory() as tmp:
        loaders = prepare(case, pvmctl, key, other_key, guest, tmp)
        machine = ['-M', 'virt', '-cpu', 'max,pauth-impdef=on', '-m', '256M', '-display', 'none',
                   '-monitor', 'none', '-no-reboot']
        if case == 'overlapping-memory':
            loaders += overlapping_dtb(qemu, machine, tmp)
        cmd = [qemu] + machine + ['-serial', 'stdio', '-kernel', firmware] + loaders
        print('# ' + ' '.join(cmd), flush=True)
        out, exited = run_qemu(cmd, BOOTED if want is None else None)
    sys.stdout.write(out)
    problems = []
    if want is None:
        for line in ('pvm-fw: descriptor signature verified', 'pvm-fw: booting the kernel', BOOTED):
            if line not in out:
                problems.append('missing "%s"' % line)
    else:
        if 'pvm-fw: ' + want not in out:
            problems.append('missing "pvm-fw: %s"' % want)
        if 'pvm-guest' in out or 'booting the kernel' in out:
            problems.append('the payload ran')
        if not exited:
            problems.append('QEMU did not power off within %.0f s' % TIMEOUT)
    if problems:
        print('FAIL %s: %s' % (case, '; '.join(problems)))
        return 1
    print('PASS %s' % case)
    return 0


if __name__ == '__main__':
    sys.exit(main())
