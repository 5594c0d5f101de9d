// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Cache maintenance on every transition that gives a page to a guest or takes one back: the
 * fake architecture reports each clean-and-invalidate to PoC, and at that moment the side
 * that lost the page must no longer reach it and the side that gains it must not reach it yet
 * (otherwise a dirty line could still be written back over the new owner's data, or a stale
 * one refilled). Reach is the stage-2 table or a TLB entry: the test keeps what each VMID's
 * table mapped at its last flush, so a missing flush after an unmap shows as a stale entry.
 * Pages a guest may execute also need an instruction-cache invalidation. Every flush must
 * happen under the lock.
 */
#include <string.h>

#include "hyp-test.h"

static struct hyp_mem mem;
static uint64_t guest;

#define X_PA (T_RAM_A + 0x205000)
#define X_PFN T_PFN(X_PA)
#define GFN 0x40
#define NR 2

enum side {
	HOST = 1 << 0,
	GUEST = 1 << 1,
};

struct cmo_case {
	const char *name;
	int (*reach)(void); /* from a fresh core with one live guest */
	int (*op)(void);
	unsigned unmapped; /* sides that must not map the page when it is maintained */
	bool zeroed;	   /* the page reads as zeros when it is maintained */
	bool icache;	   /* the guest gains pages it may execute */
};

static const struct cmo_case *cur;
static unsigned seen[NR];
static bool host_tlb[NR], guest_tlb[NR]; /* mapped at the VMID's last TLB flush */
static char failure[256];

static bool host_maps(uint64_t pa)
{
	return s2_lookup(&mem.host_s2, hyp_ipa(pa), NULL) != 0;
}

static bool guest_maps(unsigned i)
{
	const struct hyp_guest *g = &mem.guests[guest];
	uint64_t pte;

	if (g->status == HYP_GUEST_FREE)
		return false;
	pte = s2_lookup(&g->pgt, hyp_ipa((GFN + i) << HYP_PAGE_SHIFT), NULL);
	return pte && hyp_pa_addr(s2_pte_pa(pte)) == X_PA + i * HYP_PAGE_SIZE;
}

static bool page_zero(uint64_t pa)
{
	const uint8_t *b = t_va(pa);

	for (size_t i = 0; i < HYP_PAGE_SIZE; i++)
		if (b[i])
			return false;
	return true;
}

static void on_dcache(hyp_pa_t pa)
{
	uint64_t addr = hyp_pa_addr(pa), i = (addr - X_PA) >> HYP_PAGE_SHIFT;

	if (failure[0])
		return;
	if (addr < X_PA || i >= NR) {
		snprintf(failure, sizeof(failure), "maintenance of an unrelated page %#llx",
			 (unsigned long long)addr);
		return;
	}
	seen[i]++;
	if ((cur->unmapped & HOST) && (host_maps(addr) || host_tlb[i]))
		snprintf(failure, sizeof(failure),
			 "page %llu maintained while the host reaches it%s", (unsigned long long)i,
			 host_maps(addr) ? "" : " (stale TLB entry)");
	else if ((cur->unmapped & GUEST) && (guest_maps((unsigned)i) || guest_tlb[i]))
		snprintf(failure, sizeof(failure),
			 "page %llu maintained while the guest reaches it%s", (unsigned long long)i,
			 guest_maps((unsigned)i) ? "" : " (stale TLB entry)");
	else if (cur->zeroed && !page_zero(addr))
		snprintf(failure, sizeof(failure), "page %llu maintained before it was zeroed",
			 (unsigned long long)i);
}

/* A flush makes each VMID's TLB what its table maps now. */
static void snapshot_tlb(bool host, bool guest_side)
{
	for (unsigned i = 0; i < NR; i++) {
		if (host)
			host_tlb[i] = host_maps(X_PA + i * HYP_PAGE_SIZE);
		/* Once its guest is dead a VMID is not walked again: its TLB stays empty. */
		if (guest_side)
			guest_tlb[i] = mem.guests[guest].status == HYP_GUEST_ALIVE && guest_maps(i);
	}
}

static void on_tlb_flush(uint16_t vmid)
{
	t_check_locked(vmid);
	snapshot_tlb(vmid == mem.host_s2.vmid, vmid == guest + 1);
}

/* The host has touched the pages (they are in its stage-2, and in its caches). */
static int host_touches(void)
{
	for (unsigned i = 0; i < NR; i++) {
		int r = hyp_host_handle_s2_fault(&mem, hyp_ipa(X_PA + i * HYP_PAGE_SIZE));
		if (r < 0)
			return r;
		memset(t_va(X_PA + i * HYP_PAGE_SIZE), 0x11, HYP_PAGE_SIZE);
	}
	return 0;
}

static int donate(void)
{
	return hyp_host_donate_guest(&mem, guest, X_PFN, GFN, NR);
}

static int lend(void)
{
	return hyp_host_share_guest(&mem, guest, X_PFN, GFN, NR);
}

static int guest_share(void)
{
	return hyp_guest_share_host(&mem, guest, GFN, NR);
}

static int guest_unshare(void)
{
	return hyp_guest_unshare_host(&mem, guest, GFN, NR);
}

static int take_back_loan(void)
{
	return hyp_host_unshare_guest(&mem, guest, GFN, NR);
}

static int destroy(void)
{
	return hyp_guest_destroy(&mem, guest);
}

static int reclaim(void)
{
	return hyp_host_reclaim_guest(&mem, X_PFN, NR);
}

static int force_reclaim(void)
{
	int r = hyp_host_force_reclaim_guest(&mem, X_PFN);

	return r < 0 ? r : hyp_host_force_reclaim_guest(&mem, X_PFN + 1);
}

static int reach_host(void)
{
	return host_touches();
}

static int reach_guest(void)
{
	int r = host_touches();

	return r < 0 ? r : donate();
}

static int reach_guest_shared(void)
{
	int r = reach_guest();

	if (r == 0)
		r = guest_share();
	return r < 0 ? r : host_touches();
}

static int reach_lent(void)
{
	int r = host_touches();

	return r < 0 ? r : lend();
}

static int reach_guest_dead(void)
{
	int r = reach_guest();

	return r < 0 ? r : destroy();
}

static int donate_hyp(void)
{
	return hyp_host_donate_hyp(&mem, X_PFN, NR);
}

static int reclaim_hyp(void)
{
	return hyp_host_reclaim_hyp(&mem, X_PFN, NR);
}

static const struct cmo_case cases[] = {
	{ "host donates to a guest", reach_host, donate, HOST | GUEST, false, true },
	{ "host lends to a guest", reach_host, lend, GUEST, false, true },
	{ "guest shares with the host", reach_guest, guest_share, HOST, false, false },
	{ "guest unshares from the host", reach_guest_shared, guest_unshare, HOST, false, false },
	{ "host takes a loan back", reach_lent, take_back_loan, GUEST, false, false },
	{ "guest destroyed with a loan", reach_lent, destroy, GUEST, false, false },
	{ "host reclaims a dead guest's pages", reach_guest_dead, reclaim, HOST, true, false },
	{ "host reclaims a live guest's pages by force", reach_guest, force_reclaim, HOST | GUEST,
	  true, false },
	{ "host reclaims pages it donated to the hypervisor", donate_hyp, reclaim_hyp, HOST, true,
	  false },
};

int main(void)
{
	t_require_lock_on_flush(&mem);
	printf("1..%zu\n", HYP_ARRAY_SIZE(cases));
	for (size_t c = 0; c < HYP_ARRAY_SIZE(cases); c++) {
		uint64_t icache_before;
		char err[256];

		cur = &cases[c];
		t_setup(&mem, 128);
		T_ASSERT_EQ(hyp_guest_create(&mem, &guest), 0);
		T_ASSERT_EQ(cur->reach(), 0);

		memset(seen, 0, sizeof(seen));
		failure[0] = 0;
		icache_before = fake_arch_icache_invals;
		snapshot_tlb(true, true);
		fake_arch_dcache_hook = on_dcache;
		fake_arch_tlb_hook = on_tlb_flush;
		T_ASSERT_EQ(cur->op(), 0);
		fake_arch_dcache_hook = NULL;

		if (failure[0]) {
			fprintf(stderr, "%s: %s\n", cur->name, failure);
			return EXIT_FAILURE;
		}
		for (unsigned i = 0; i < NR; i++) {
			if (!seen[i]) {
				fprintf(stderr, "%s: page %u not cleaned and invalidated to PoC\n",
					cur->name, i);
				return EXIT_FAILURE;
			}
		}
		if (cur->icache && fake_arch_icache_invals == icache_before) {
			fprintf(stderr, "%s: no instruction cache invalidation\n", cur->name);
			return EXIT_FAILURE;
		}
		if (t_check_invariants(&mem, err, sizeof(err)) < 0) {
			fprintf(stderr, "%s: invariant broken: %s\n", cur->name, err);
			return EXIT_FAILURE;
		}
		printf("ok %zu - %s: each page to PoC, %s\n", c + 1, cur->name,
		       cur->icache ? "icache invalidated" : "between unmap and map");
	}
	return 0;
}
