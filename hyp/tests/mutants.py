#!/usr/bin/env python3
# Mutation testing of the ownership core: each mutant below is core/mem_protect.c with one
# mistake put in (a check dropped, a flush, a zeroing or a cache operation left out, an order
# swapped, the lock gone). The host tests are rebuilt against each mutant and run; every
# mutant must make one of them fail (a wrong result, a broken invariant, a CHECK). A mutant
# nothing catches, or whose text no longer exists in the core, fails this test. The spin
# model's own mutants (hyp-model-mutant-*) are run by meson.
# Usage: mutants.py CC HYP_SOURCE_DIR [MUTANT...]
import os
import shutil
import subprocess
import sys
import tempfile

# (name, text in core/mem_protect.c, exactly once; its replacement)
MUTANTS = [
    # The lock, and the order in which the losing side goes first.
    ('no-lock',
     'while (__atomic_exchange_n(&m->lock, 1, __ATOMIC_ACQUIRE))\n\t\t;',
     '(void)m;'),
    ('guest-unshare-changes-guest-first',
     '{ HYP_PAGE_SHARED_OWNED, HYP_ID_NONE, true }',
     '{ HYP_PAGE_SHARED_OWNED, HYP_ID_NONE, false }'),
    ('guest-share-changes-host-first',
     '{ HYP_PAGE_OWNED, HYP_ID_HOST, false }',
     '{ HYP_PAGE_OWNED, HYP_ID_HOST, true }'),
    ('cache-maintenance-before-host-unmap',
     '\t\thost_sync_guest_range(m, g, gfn, nr);\n\t\tguest_range_to_poc(m, g, gfn, nr);',
     '\t\tguest_range_to_poc(m, g, gfn, nr);\n\t\thost_sync_guest_range(m, g, gfn, nr);'),
    # TLB flushes after a side loses access.
    ('no-host-flush-in-host-transition',
     '\t\thost_sync_page(m, page_pa, p);\n\t}\n\tarch_s2_tlb_flush_vmid(m->host_s2.vmid);',
     '\t\thost_sync_page(m, page_pa, p);\n\t}'),
    ('no-host-flush-before-guest-maps',
     '\tarch_s2_tlb_flush_vmid(m->host_s2.vmid);\n\tfor (uint64_t i = 0; i < nr; i++)\n'
     '\t\tpage_to_poc(nth_page(pa, i));',
     '\tfor (uint64_t i = 0; i < nr; i++)\n\t\tpage_to_poc(nth_page(pa, i));'),
    ('no-host-flush-on-guest-unshare',
     '\t\thost_sync_page(m, page_pa, hyp_page_lookup(m, page_pa));\n\t}\n'
     '\tarch_s2_tlb_flush_vmid(m->host_s2.vmid);',
     '\t\thost_sync_page(m, page_pa, hyp_page_lookup(m, page_pa));\n\t}'),
    ('no-guest-flush-on-loan-return',
     '\t\ts2_set_page(&g->pgt, gfn_ipa(gfn + i), 0);\n\t\tarch_s2_tlb_flush_vmid(g->pgt.vmid);',
     '\t\ts2_set_page(&g->pgt, gfn_ipa(gfn + i), 0);'),
    ('no-guest-flush-on-force-reclaim',
     'S2_PTE_POISON);\n\tarch_s2_tlb_flush_vmid(g->pgt.vmid);',
     'S2_PTE_POISON);'),
    ('no-guest-flush-on-destroy',
     '\ts2_set_page(&c->g->pgt, ipa, 0);\n\tarch_s2_tlb_flush_vmid(c->g->pgt.vmid);',
     '\ts2_set_page(&c->g->pgt, ipa, 0);'),
    # Zeroing and cache maintenance.
    ('no-zeroing-on-reclaim-guest',
     '\tarch_zero_page(pa);\n\tpage_to_poc(pa);\n'
     '\ts2_set_page(&g->pgt',
     '\tpage_to_poc(pa);\n\ts2_set_page(&g->pgt'),
    ('no-zeroing-on-force-reclaim',
     'arch_s2_tlb_flush_vmid(g->pgt.vmid);\n\tarch_zero_page(pa);',
     'arch_s2_tlb_flush_vmid(g->pgt.vmid);'),
    ('no-zeroing-on-reclaim-hyp',
     'with caches on or off. */\n\tarch_zero_page(pa);',
     'with caches on or off. */'),
    ('no-cache-maintenance',
     '\tarch_dcache_clean_inval_page(pa);',
     '\t(void)pa;'),
    ('no-cache-maintenance-on-donate',
     '\t\tpage_to_poc(nth_page(pa, i));',
     '\t\t;'),
    ('no-icache-invalidation',
     '\tarch_icache_inval_all();',
     ''),
    # One dropped precondition per transition.
    ('share-hyp-of-a-lent-page',
     'int share_hyp_check(struct hyp_mem *m, const struct hyp_page *p)\n{\n'
     '\treturn p->owner == HYP_ID_HOST && p->borrower == HYP_ID_NONE ? 0 : -HYP_EPERM;',
     'int share_hyp_check(struct hyp_mem *m, const struct hyp_page *p)\n{\n'
     '\treturn p->owner == HYP_ID_HOST ? 0 : -HYP_EPERM;'),
    ('unshare-hyp-of-a-pinned-page',
     'return p->pins ? -HYP_EBUSY : 0; /* the hypervisor is using it */',
     'return 0;'),
    ('unshare-hyp-of-a-page-not-shared-with-hyp',
     'if (p->owner != HYP_ID_HOST || p->borrower != HYP_ID_HYP)\n\t\treturn -HYP_EPERM;\n'
     '\treturn p->pins',
     'if (p->owner != HYP_ID_HOST)\n\t\treturn -HYP_EPERM;\n\treturn p->pins'),
    ('donate-of-a-lent-page',
     'static int donate_check(struct hyp_mem *m, const struct hyp_page *p)\n{\n'
     '\treturn p->owner == HYP_ID_HOST && p->borrower == HYP_ID_NONE ? 0 : -HYP_EPERM;',
     'static int donate_check(struct hyp_mem *m, const struct hyp_page *p)\n{\n'
     '\treturn p->owner == HYP_ID_HOST ? 0 : -HYP_EPERM;'),
    ('reclaim-hyp-of-the-hypervisors-own-page',
     'if (p->owner != HYP_ID_HYP || !(p->flags & HYP_PAGE_F_DONATED))\n\t\treturn -HYP_EPERM;\n'
     '\treturn p->pins ? -HYP_EBUSY : 0; /* the hypervisor still uses it */',
     'if (p->owner != HYP_ID_HYP)\n\t\treturn -HYP_EPERM;\n'
     '\treturn p->pins ? -HYP_EBUSY : 0; /* the hypervisor still uses it */'),
    ('reclaim-hyp-of-a-held-page',
     'return p->pins ? -HYP_EBUSY : 0; /* the hypervisor still uses it */',
     'return 0;'),
    ('reclaim-guest-of-a-live-guest',
     'return guest_of_id(m, p->owner)->status == HYP_GUEST_DEAD ? 0 : -HYP_EINVAL;',
     'return 0;'),
    ('map-into-an-occupied-guest-address',
     'if (!guest_gfn_free(g, gfn + i)) {\n\t\t\tr = -HYP_EPERM; /* occupied or poisoned',
     'if (false) {\n\t\t\tr = -HYP_EPERM; /* occupied or poisoned'),
    ('lend-a-page-the-host-does-not-own',
     'if (p->owner != HYP_ID_HOST)\n\t\treturn -HYP_EPERM;\n\tif (p->borrower == HYP_ID_NONE)',
     'if (p->borrower == HYP_ID_NONE)'),
    ('lend-a-page-lent-to-the-hypervisor',
     'if (p->borrower != HYP_ID_GUESTS)\n\t\treturn -HYP_EPERM;\n\treturn p->share_count',
     'return p->share_count'),
    ('lend-past-the-count',
     'return p->share_count == UINT32_MAX ? -HYP_EBUSY : 0;',
     'return 0;'),
    ('guest-shares-a-page-it-borrows',
     'if (p->owner != guest_id(handle) || hyp_page_state_of(p, p->owner) != t->from) {',
     'if (p->owner == guest_id(handle) && hyp_page_state_of(p, p->owner) != t->from) {'),
    ('guest-share-from-any-state',
     'if (p->owner != guest_id(handle) || hyp_page_state_of(p, p->owner) != t->from) {',
     'if (p->owner != guest_id(handle)) {'),
    ('host-takes-back-a-guests-own-page-as-a-loan',
     'if (p->owner != HYP_ID_HOST) {\n\t\t\tr = -HYP_EPERM; /* the guest\'s own page',
     'if (false) {\n\t\t\tr = -HYP_EPERM; /* the guest\'s own page'),
    ('force-reclaim-of-a-shared-page',
     'if (!owner_is_guest(p) || p->borrower != HYP_ID_NONE) {',
     'if (!owner_is_guest(p)) {'),
    ('force-reclaim-of-any-page',
     'if (!owner_is_guest(p) || p->borrower != HYP_ID_NONE) {',
     'if (p->borrower != HYP_ID_NONE) {'),
    ('hold-any-page',
     '\t\tif (!holdable(p)) {',
     '\t\tif (false) {'),
    ('hold-past-the-count',
     '\t\tif (p->pins == UINT32_MAX) {',
     '\t\tif (false) {'),
    ('load-a-loaded-vcpu',
     'if (g->vcpu_loaded) {\n\t\tr = -HYP_EBUSY; /* its one vCPU runs elsewhere */',
     'if (false) {\n\t\tr = -HYP_EBUSY; /* its one vCPU runs elsewhere */'),
    ('destroy-under-a-loaded-vcpu',
     'if (g->vcpu_loaded) {\n\t\tr = -HYP_EBUSY;\n\t\tgoto unlock;\n\t}\n\t/*\n\t * Its pages',
     'if (false) {\n\t\tr = -HYP_EBUSY;\n\t\tgoto unlock;\n\t}\n\t/*\n\t * Its pages'),
    ('host-range-past-its-region',
     'if (!r || pages_to_bytes(nr) > r->map.size - (pa - hyp_pa_addr(r->map.base)))',
     'if (!r)'),
    ('guest-range-past-the-ipa-space',
     'if (gfn >= limit || nr > limit - gfn)',
     'if (gfn >= limit)'),
    ('host-faults-in-a-page-it-may-not-touch',
     'if (hyp_page_state_of(p, HYP_ID_HOST) == HYP_PAGE_NOPAGE)\n\t\treturn -HYP_EPERM;',
     ''),
    ('host-block-over-pages-not-its-own',
     '\t\t    HYP_PAGE_OWNED)\n\t\t\treturn false;',
     '\t\t    HYP_PAGE_OWNED)\n\t\t\treturn true;'),
    ('no-recycling-of-host-tables',
     '\ts2_clear(&m->host_s2);\n\treturn m->pool.nr_free > before;',
     '\treturn before != before;'),
]

# Host tests, quickest first; the first failure kills the mutant.
TESTS = [
    ('test-pkvm-expectations.c', []),
    ('test-cache.c', []),
    ('test-mem-protect.c', []),
    ('test-random.c', ['1', '5000']),
]
SUPPORT = ['core/pgtable.c', 'core/pool.c', 'arch/fake/arch.c', 'tests/hyp-test.c']
CFLAGS = ['-std=gnu17', '-O1', '-w', '-D_GNU_SOURCE']


def compile_obj(cc, src, obj, includes):
    subprocess.run([cc] + CFLAGS + includes + ['-c', src, '-o', obj], check=True)


def run_tests(cc, tmp, core_obj, support_objs, test_objs):
    """The first failing test's name and output, or None if all pass."""
    for (name, args), obj in zip(TESTS, test_objs):
        exe = os.path.join(tmp, name[:-2])
        subprocess.run([cc, '-o', exe, core_obj, obj] + support_objs, check=True)
        try:
            p = subprocess.run([exe] + args, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, timeout=120)
        except subprocess.TimeoutExpired:
            return name, 'timed out'
        if p.returncode != 0:
            err = p.stderr.decode('utf-8', 'replace').strip().splitlines()
            return name, (err[-1] if err else 'exit status %d' % p.returncode)
    return None


def main():
    cc, src = sys.argv[1], sys.argv[2]
    wanted = set(sys.argv[3:])
    includes = ['-I' + os.path.join(src, 'include'), '-I' + os.path.join(src, 'arch/fake'),
                '-I' + os.path.join(src, 'tests')]
    core = open(os.path.join(src, 'core/mem_protect.c')).read()
    mutants = [m for m in MUTANTS if not wanted or m[0] in wanted]
    tmp = tempfile.mkdtemp(prefix='hyp-mutants.')
    includes.append('-I' + tmp)
    failures = 0
    try:
        subprocess.run([sys.executable, os.path.join(src, 'model/transitions.py'), 'c',
                        os.path.join(src, 'model/transitions.txt'),
                        os.path.join(tmp, 'transitions.h')], check=True)
        support = []
        for s in SUPPORT:
            support.append(os.path.join(tmp, os.path.basename(s) + '.o'))
            compile_obj(cc, os.path.join(src, s), support[-1], includes)
        tests = []
        for name, _ in TESTS:
            tests.append(os.path.join(tmp, name + '.o'))
            compile_obj(cc, os.path.join(src, 'tests', name), tests[-1], includes)

        print('1..%d' % (len(mutants) + 1), flush=True)
        core_obj = os.path.join(tmp, 'mem_protect.o')
        compile_obj(cc, os.path.join(src, 'core/mem_protect.c'), core_obj, includes)
        res = run_tests(cc, tmp, core_obj, support, tests)
        if res:
            print('not ok 1 - the unmutated core fails %s: %s' % res)
            return 1
        print('ok 1 - the unmutated core passes every test', flush=True)

        for n, (name, find, replace) in enumerate(mutants, 2):
            if core.count(find) != 1:
                print('not ok %d - mutant %s: its text occurs %d times in the core, not once'
                      % (n, name, core.count(find)))
                failures += 1
                continue
            mutant_src = os.path.join(tmp, 'mem_protect.c')
            with open(mutant_src, 'w') as f:
                f.write(core.replace(find, replace))
            try:
                compile_obj(cc, mutant_src, core_obj, includes)
            except subprocess.CalledProcessError:
                print('not ok %d - mutant %s does not compile' % (n, name))
                failures += 1
                continue
            res = run_tests(cc, tmp, core_obj, support, tests)
            if res:
                print('ok %d - mutant %s killed by %s: %s' % (n, name, res[0], res[1]),
                      flush=True)
            else:
                print('not ok %d - mutant %s survives every test' % (n, name), flush=True)
                failures += 1
    finally:
        shutil.rmtree(tmp)
    print('# %d mutants, %d survived or broken' % (len(mutants), failures))
    return 1 if failures else 0


if __name__ == '__main__':
    sys.exit(main())
