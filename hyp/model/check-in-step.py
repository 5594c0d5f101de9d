#!/usr/bin/env python3
# Keeps the spin model in step with the C core: every state-changing call declared in
# mem_protect.h must be named by the model's rules (a comment over the inline that mirrors it),
# and every hyp_* name the rules cite must still exist in the header. That the inlines behave
# as the C does is checked by hyp-model-table and hyp-mem-protect against one table.
# Usage: check-in-step.py mem_protect.h rules.pml
import re
import sys

# Calls that change no ownership state, or are not transitions.
NOT_MODELLED = {'hyp_mem_init', 'hyp_host_page_state', 'hyp_page_lookup', 'hyp_page_state_of',
                'hyp_vcpu_load', 'hyp_vcpu_put'}
# Transitions the model does not cover; each is printed so the gap stays visible. The
# hypervisor's pins and holds only turn an unshare or a reclaim into -EBUSY; hyp-mem-protect,
# hyp-pkvm-expectations and hyp-mutants check them.
NOT_YET_MODELLED = {'hyp_pin_shared', 'hyp_unpin_shared', 'hyp_hold_donated',
                    'hyp_release_donated'}


def main():
    header = open(sys.argv[1]).read()
    model = open(sys.argv[2]).read()
    declared = set(re.findall(r'\b(hyp_[a-z0-9_]+)\s*\(', header)) - NOT_MODELLED
    for n in sorted(declared & NOT_YET_MODELLED):
        print('# %s: not modelled (see above)' % n)
    declared -= NOT_YET_MODELLED
    cited = set(re.findall(r'\b(hyp_[a-z0-9_]+)\b', model))
    missing = sorted(declared - cited)
    known = set(re.findall(r'\b(hyp_[a-z0-9_]+)\b', header))
    stale = sorted(cited - known)
    for n in missing:
        print('not ok - %s has no model in %s' % (n, sys.argv[2]))
    for n in stale:
        print('not ok - the model cites %s, which mem_protect.h no longer declares' % n)
    print('# %d transitions declared, %d cited by the model' % (len(declared), len(cited & declared)))
    return 1 if missing or stale else 0


if __name__ == '__main__':
    sys.exit(main())
