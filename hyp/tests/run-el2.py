#!/usr/bin/env python3
# Boots the EL2 test image once under qemu-system-aarch64 (virt, virtualization=on: the image
# starts at EL2) for one test group, reads the TAP the test host prints on the PL011, and
# passes only if the plan is complete and nothing failed. QEMU is killed by pid on timeout.
# Usage: run-el2.py QEMU IMAGE GROUP [TIMEOUT_SECONDS]
import os
import re
import selectors
import subprocess
import sys
import time

TEST_SELECTOR = 0x40100000  # read by the hypervisor at boot (hyp/arch/aarch64/arch.c)


def main():
    qemu, image, group = sys.argv[1], sys.argv[2], int(sys.argv[3])
    timeout = float(sys.argv[4]) if len(sys.argv) > 4 else 60.0
    cmd = [qemu, '-M', 'virt,virtualization=on', '-cpu', 'max,pauth-impdef=on', '-m', '128M',
           '-display', 'none', '-monitor', 'none', '-serial', 'stdio', '-no-reboot',
           '-kernel', image,
           '-device', 'loader,addr=%#x,data=%d,data-len=4' % (TEST_SELECTOR, group)]
    print('# ' + ' '.join(cmd), flush=True)
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    deadline = time.monotonic() + timeout
    buf = b''
    timed_out = False
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            timed_out = True
            break
        if not sel.select(left):
            continue
        chunk = os.read(proc.stdout.fileno(), 4096)
        if not chunk:
            break  # QEMU closed its output: it exited (PSCI SYSTEM_OFF)
        buf += chunk
    if proc.poll() is None:
        proc.kill()
    proc.wait()

    text = buf.decode('utf-8', 'replace').replace('\r', '')
    sys.stdout.write(text)
    lines = text.splitlines()
    oks = [l for l in lines if re.match(r'ok \d+', l)]
    not_oks = [l for l in lines if re.match(r'not ok', l)]
    plans = [int(m.group(1)) for m in (re.match(r'1\.\.(\d+)$', l) for l in lines) if m]
    problems = []
    if timed_out:
        problems.append('timed out after %.0f s (QEMU killed)' % timeout)
    if not_oks:
        problems.append('%d failed' % len(not_oks))
    if any(l.startswith('# hyp panic') for l in lines):
        problems.append('hypervisor panicked')
    if len(plans) != 1:
        problems.append('no TAP plan' if not plans else 'several TAP plans')
    elif plans[0] != len(oks) + len(not_oks) or plans[0] == 0:
        problems.append('plan 1..%d but %d results' % (plans[0], len(oks) + len(not_oks)))
    if problems:
        print('# FAIL: ' + '; '.join(problems))
        return 1
    print('# PASS: %d tests' % len(oks))
    return 0


if __name__ == '__main__':
    sys.exit(main())
