// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Every ownership transition from every relevant page state, with its expected result and the
 * host/hypervisor/guest view of the page afterwards; then malformed arguments of every kind,
 * atomicity of multi-page calls, lazy host faults with blocks, and pool exhaustion.
 */
#include <string.h>

#include "hyp-test.h"

static struct hyp_mem mem;
static char err[256];

#define X_PA (T_RAM_A + 0x205000) /* a host page in the second 2 MiB block of RAM A */
#define X_GFN 7
#define FILL 0xa5

#define O HYP_PAGE_OWNED
#define SO HYP_PAGE_SHARED_OWNED
#define SB HYP_PAGE_SHARED_BORROWED
#define N HYP_PAGE_NOPAGE
#define POISON 4 /* a guest address emptied by a forced reclaim */

struct views {
	int host, hyp, guest; /* enum hyp_page_state, or POISON for the guest */
};

struct expect {
	int ret;
	struct views end; /* when ret == 0; a failed call leaves the start state */
};

/*
 * The start states, the calls, and the expected result and views of every call from every
 * state come from model/transitions.txt, the table the spin model is checked against too.
 */
#include "transitions.h"

static void check_invariants(const char *where)
{
	if (t_check_invariants(&mem, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s: invariant broken: %s\n", where, err);
		exit(EXIT_FAILURE);
	}
}

/* Bring page pa into a start state with guest handle *guest. */
static void reach(enum start s, uint64_t pa, uint64_t *guest)
{
	uint64_t pfn = T_PFN(pa);

	t_setup(&mem, 128);
	T_ASSERT_EQ(hyp_guest_create(&mem, guest), 0);
	switch (s) {
	case ST_HOST:
	case ST_HYP_OWN:
		break;
	case ST_HOST_SHARED:
		T_ASSERT_EQ(hyp_host_share_hyp(&mem, pfn, 1), 0);
		break;
	case ST_HYP_DONATED:
		T_ASSERT_EQ(hyp_host_donate_hyp(&mem, pfn, 1), 0);
		break;
	case ST_GUEST:
	case ST_GUEST_SHARED:
	case ST_GUEST_DEAD:
	case ST_GUEST_SHARED_DEAD:
		T_ASSERT_EQ(hyp_host_donate_guest(&mem, *guest, pfn, X_GFN, 1), 0);
		memset(t_va(pa), FILL, HYP_PAGE_SIZE); /* the guest's data */
		if (s == ST_GUEST_SHARED || s == ST_GUEST_SHARED_DEAD)
			T_ASSERT_EQ(hyp_guest_share_host(&mem, *guest, X_GFN, 1), 0);
		if (s == ST_GUEST_DEAD || s == ST_GUEST_SHARED_DEAD)
			T_ASSERT_EQ(hyp_guest_destroy(&mem, *guest), 0);
		break;
	case ST_HOST_LENT:
		T_ASSERT_EQ(hyp_host_share_guest(&mem, *guest, pfn, X_GFN, 1), 0);
		break;
	default:
		T_ASSERT(0);
	}
	/* The host has touched the page if it may: its stage 2 (and TLB) map it. */
	hyp_host_handle_s2_fault(&mem, hyp_ipa(pa));
	check_invariants(start_names[s]);
}

/*
 * What the TLBs may still hold for the page under test: its host and guest mappings as of
 * each VMID's last flush (none for a guest no longer alive: nothing runs on its VMID to
 * refill them). A side that lost the page must not reach it after the call.
 */
static uint64_t tlb_pa, tlb_guest;
static bool host_tlb, guest_tlb;

static bool host_maps(void)
{
	return s2_lookup(&mem.host_s2, hyp_ipa(tlb_pa), NULL) != 0;
}

static bool guest_maps(void)
{
	const struct hyp_guest *g = &mem.guests[tlb_guest];
	uint64_t pte;

	if (g->status == HYP_GUEST_FREE)
		return false;
	pte = s2_lookup(&g->pgt, hyp_ipa(X_GFN << HYP_PAGE_SHIFT), NULL);
	return pte && hyp_pa_addr(s2_pte_pa(pte)) == tlb_pa;
}

static void on_tlb_flush(uint16_t vmid)
{
	t_check_locked(vmid);
	if (vmid == mem.host_s2.vmid)
		host_tlb = host_maps();
	else if (vmid == tlb_guest + 1) /* a dead guest's VMID is never walked again */
		guest_tlb = mem.guests[tlb_guest].status == HYP_GUEST_ALIVE && guest_maps();
}

static void check_reach(const struct views *v, const char *what)
{
	if (v->host == HYP_PAGE_NOPAGE && (host_maps() || host_tlb)) {
		fprintf(stderr, "%s: the host still reaches the page%s\n", what,
			host_maps() ? "" : " through a stale TLB entry");
		exit(EXIT_FAILURE);
	}
	if ((v->guest == N || v->guest == POISON) && (guest_maps() || guest_tlb)) {
		fprintf(stderr, "%s: the guest still reaches the page%s\n", what,
			guest_maps() ? "" : " through a stale TLB entry");
		exit(EXIT_FAILURE);
	}
}

static int run_op(enum op op, uint64_t pa, uint64_t guest)
{
	uint64_t pfn = T_PFN(pa);

	switch (op) {
	case OP_SHARE_HYP:
		return hyp_host_share_hyp(&mem, pfn, 1);
	case OP_UNSHARE_HYP:
		return hyp_host_unshare_hyp(&mem, pfn, 1);
	case OP_DONATE_HYP:
		return hyp_host_donate_hyp(&mem, pfn, 1);
	case OP_RECLAIM_HYP:
		return hyp_host_reclaim_hyp(&mem, pfn, 1);
	case OP_DONATE_GUEST:
		return hyp_host_donate_guest(&mem, guest, pfn, X_GFN, 1);
	case OP_GUEST_SHARE:
		return hyp_guest_share_host(&mem, guest, X_GFN, 1);
	case OP_GUEST_UNSHARE:
		return hyp_guest_unshare_host(&mem, guest, X_GFN, 1);
	case OP_RECLAIM_GUEST:
		return hyp_host_reclaim_guest(&mem, pfn, 1);
	case OP_HOST_FAULT:
		return hyp_host_handle_s2_fault(&mem, hyp_ipa(pa + 0x123));
	case OP_GUEST_DESTROY:
		return hyp_guest_destroy(&mem, guest);
	case OP_SHARE_GUEST:
		return hyp_host_share_guest(&mem, guest, pfn, X_GFN, 1);
	case OP_UNSHARE_GUEST:
		return hyp_host_unshare_guest(&mem, guest, X_GFN, 1);
	case OP_FORCE_RECLAIM:
		return hyp_host_force_reclaim_guest(&mem, pfn);
	default:
		T_ASSERT(0);
	}
}

/* The guest's view of the page, from its table at X_GFN (nothing once the guest is gone). */
static int guest_view(uint64_t pa, uint64_t guest)
{
	const struct hyp_guest *g = &mem.guests[guest];
	uint64_t desc;

	if (g->status == HYP_GUEST_FREE)
		return N;
	desc = s2_lookup_desc(&g->pgt, hyp_ipa(X_GFN << HYP_PAGE_SHIFT));
	if (desc & S2_PTE_POISON)
		return POISON;
	if (!(desc & S2_PTE_VALID) || hyp_pa_addr(s2_pte_pa(desc)) != pa)
		return N;
	return s2_pte_state(desc);
}

static struct views views_of(uint64_t pa, uint64_t guest)
{
	const struct hyp_page *p = hyp_page_lookup(&mem, hyp_pa(pa));

	return (struct views){
		hyp_page_state_of(p, HYP_ID_HOST),
		hyp_page_state_of(p, HYP_ID_HYP),
		guest_view(pa, guest),
	};
}

static bool holds_guest_data(enum start s)
{
	return s == ST_GUEST || s == ST_GUEST_SHARED || s == ST_GUEST_DEAD ||
	       s == ST_GUEST_SHARED_DEAD;
}

static bool page_is(uint64_t pa, uint8_t byte)
{
	const uint8_t *b = t_va(pa);

	for (size_t i = 0; i < HYP_PAGE_SIZE; i++)
		if (b[i] != byte)
			return false;
	return true;
}

static int test_transition_table(void)
{
	int n = 0;

	for (int s = 0; s < NR_STARTS; s++) {
		for (int op = 0; op < NR_OPS; op++) {
			uint64_t pa = s == ST_HYP_OWN ? T_HYP : X_PA, guest;
			struct hyp_page before;
			const struct expect *e = &expected[s][op];
			struct views v, want;
			int r;

			reach(s, pa, &guest);
			before = *hyp_page_lookup(&mem, hyp_pa(pa));
			tlb_pa = pa;
			tlb_guest = guest;
			host_tlb = host_maps();
			guest_tlb = mem.guests[guest].status == HYP_GUEST_ALIVE && guest_maps();
			fake_arch_tlb_hook = on_tlb_flush;
			r = run_op(op, pa, guest);
			fake_arch_tlb_hook = t_check_locked;
			if (r != e->ret) {
				fprintf(stderr, "%s from %s: returned %d, expected %d\n",
					op_names[op], start_names[s], r, e->ret);
				exit(EXIT_FAILURE);
			}
			check_invariants(op_names[op]);
			v = views_of(pa, guest);
			check_reach(&v, op_names[op]);
			want = r == 0 ? e->end : start_views[s];
			if (v.host != want.host || v.hyp != want.hyp || v.guest != want.guest) {
				fprintf(stderr, "%s from %s: views %d/%d/%d, expected %d/%d/%d\n",
					op_names[op], start_names[s], v.host, v.hyp, v.guest,
					want.host, want.hyp, want.guest);
				exit(EXIT_FAILURE);
			}
			if (r < 0)
				T_ASSERT(!memcmp(&before, hyp_page_lookup(&mem, hyp_pa(pa)),
						 sizeof(before)));
			/* Reclaimed guest pages come back zeroed; nothing else touches data. */
			if ((op == OP_RECLAIM_GUEST || op == OP_FORCE_RECLAIM) && r == 0)
				T_ASSERT(page_is(pa, 0));
			else if (holds_guest_data(s))
				T_ASSERT(page_is(pa, FILL));
			/* A successful fault leaves the page mapped in the host stage-2. */
			if (op == OP_HOST_FAULT && r == 0)
				T_ASSERT(s2_lookup(&mem.host_s2, hyp_ipa(pa), NULL));
			printf("ok %d - %s from %s -> %d\n", ++n + 0, op_names[op], start_names[s],
			       r);
		}
	}
	return n;
}

struct arg_case {
	const char *name;
	enum op op;
	uint64_t pfn, gfn, nr, handle; /* handle ~0: the live guest */
	int ret;
};

#define LIVE UINT64_MAX
#define GFN_LIMIT (1ULL << (HYP_GUEST_IPA_BITS - HYP_PAGE_SHIFT))

static const struct arg_case arg_cases[] = {
	{ "zero pages", OP_SHARE_HYP, T_PFN(X_PA), 0, 0, LIVE, -HYP_EINVAL },
	{ "too many pages", OP_SHARE_HYP, T_PFN(T_RAM_A), 0, 513, LIVE, -HYP_EINVAL },
	{ "most pages", OP_SHARE_HYP, T_PFN(T_RAM_A), 0, 512, LIVE, 0 },
	{ "pfn max", OP_SHARE_HYP, UINT64_MAX, 0, 1, LIVE, -HYP_EINVAL },
	{ "pfn address overflow", OP_DONATE_HYP, UINT64_MAX >> 12, 0, 1, LIVE, -HYP_EINVAL },
	{ "pfn+nr overflow", OP_DONATE_HYP, (UINT64_MAX >> 12) - 1, 0, 3, LIVE, -HYP_EINVAL },
	{ "pfn below RAM", OP_SHARE_HYP, 0, 0, 1, LIVE, -HYP_EPERM },
	{ "pfn in a hole", OP_DONATE_HYP, T_PFN(T_HOLE), 0, 1, LIVE, -HYP_EPERM },
	{ "pfn past RAM", OP_RECLAIM_HYP, T_PFN(T_RAM_C + T_RAM_C_SIZE), 0, 1, LIVE, -HYP_EPERM },
	{ "range across regions", OP_SHARE_HYP, T_PFN(T_HYP) - 1, 0, 2, LIVE, -HYP_EPERM },
	{ "range into a hole", OP_RECLAIM_GUEST, T_PFN(T_HOLE) - 1, 0, 2, LIVE, -HYP_EPERM },
	{ "range past the end of RAM", OP_DONATE_HYP, T_PFN(T_RAM_C + T_RAM_C_SIZE) - 1, 0, 2, LIVE,
	  -HYP_EPERM },
	{ "hyp pool page", OP_SHARE_HYP, T_PFN(T_HYP) + T_HYP_IMAGE_PAGES + 3, 0, 1, LIVE,
	  -HYP_EPERM },
	{ "handle out of range", OP_DONATE_GUEST, T_PFN(X_PA), 0, 1, HYP_MAX_GUESTS, -HYP_ENOENT },
	{ "handle huge", OP_DONATE_GUEST, T_PFN(X_PA), 0, 1, UINT64_MAX - 1, -HYP_ENOENT },
	{ "handle of a free slot", OP_DONATE_GUEST, T_PFN(X_PA), 0, 1, 5, -HYP_ENOENT },
	{ "gfn past IPA space", OP_DONATE_GUEST, T_PFN(X_PA), GFN_LIMIT, 1, LIVE, -HYP_ERANGE },
	{ "gfn+nr past IPA space", OP_DONATE_GUEST, T_PFN(X_PA), GFN_LIMIT - 1, 2, LIVE,
	  -HYP_ERANGE },
	{ "gfn max", OP_DONATE_GUEST, T_PFN(X_PA), UINT64_MAX, 1, LIVE, -HYP_ERANGE },
	{ "last gfn", OP_DONATE_GUEST, T_PFN(X_PA), GFN_LIMIT - 1, 1, LIVE, 0 },
	{ "guest call, zero pages", OP_GUEST_SHARE, 0, 0, 0, LIVE, -HYP_EINVAL },
	{ "guest call, gfn past IPA space", OP_GUEST_UNSHARE, 0, GFN_LIMIT, 1, LIVE, -HYP_ERANGE },
	{ "guest call, bad handle", OP_GUEST_SHARE, 0, 0, 1, 99, -HYP_ENOENT },
	{ "guest call, nothing mapped", OP_GUEST_SHARE, 0, 3, 1, LIVE, -HYP_ENOENT },
};

static int run_arg_case(const struct arg_case *c, uint64_t guest)
{
	uint64_t h = c->handle == LIVE ? guest : c->handle;

	switch (c->op) {
	case OP_SHARE_HYP:
		return hyp_host_share_hyp(&mem, c->pfn, c->nr);
	case OP_DONATE_HYP:
		return hyp_host_donate_hyp(&mem, c->pfn, c->nr);
	case OP_RECLAIM_HYP:
		return hyp_host_reclaim_hyp(&mem, c->pfn, c->nr);
	case OP_RECLAIM_GUEST:
		return hyp_host_reclaim_guest(&mem, c->pfn, c->nr);
	case OP_DONATE_GUEST:
		return hyp_host_donate_guest(&mem, h, c->pfn, c->gfn, c->nr);
	case OP_GUEST_SHARE:
		return hyp_guest_share_host(&mem, h, c->gfn, c->nr);
	case OP_GUEST_UNSHARE:
		return hyp_guest_unshare_host(&mem, h, c->gfn, c->nr);
	default:
		T_ASSERT(0);
	}
}

static int test_bad_arguments(int n)
{
	for (size_t i = 0; i < HYP_ARRAY_SIZE(arg_cases); i++) {
		const struct arg_case *c = &arg_cases[i];
		uint64_t guest;
		int r;

		t_setup(&mem, 128);
		T_ASSERT_EQ(hyp_guest_create(&mem, &guest), 0);
		r = run_arg_case(c, guest);
		if (r != c->ret) {
			fprintf(stderr, "%s: returned %d, expected %d\n", c->name, r, c->ret);
			exit(EXIT_FAILURE);
		}
		check_invariants(c->name);
		printf("ok %d - arguments: %s -> %d\n", ++n, c->name, r);
	}
	return n;
}

static int test_atomic_ranges(int n)
{
	uint64_t guest, pfn = T_PFN(X_PA);
	struct hyp_page before[4];

	t_setup(&mem, 128);
	T_ASSERT_EQ(hyp_guest_create(&mem, &guest), 0);
	/* The last page of the range is not the host's: nothing of the range changes. */
	T_ASSERT_EQ(hyp_host_donate_hyp(&mem, pfn + 3, 1), 0);
	memcpy(before, hyp_page_lookup(&mem, hyp_pa(X_PA)), sizeof(before));
	T_ASSERT_EQ(hyp_host_share_hyp(&mem, pfn, 4), -HYP_EPERM);
	T_ASSERT_EQ(hyp_host_donate_guest(&mem, guest, pfn, 0, 4), -HYP_EPERM);
	T_ASSERT(!memcmp(before, hyp_page_lookup(&mem, hyp_pa(X_PA)), sizeof(before)));
	/* The guest's target range is partly occupied: -EPERM, nothing changes. */
	T_ASSERT_EQ(hyp_host_donate_guest(&mem, guest, pfn + 10, 2, 1), 0);
	T_ASSERT_EQ(hyp_host_donate_guest(&mem, guest, pfn, 0, 3), -HYP_EPERM);
	T_ASSERT(!memcmp(before, hyp_page_lookup(&mem, hyp_pa(X_PA)), sizeof(before)));
	/* Guest shares a range with a hole in it: -ENOENT, nothing changes. */
	T_ASSERT_EQ(hyp_guest_share_host(&mem, guest, 1, 3), -HYP_ENOENT);
	T_ASSERT_EQ(hyp_page_state_of(hyp_page_lookup(&mem, hyp_pa(X_PA + 0xa000)), HYP_ID_HOST),
		    HYP_PAGE_NOPAGE);
	/* Multi-page success in one call, over physically scattered guest pages. */
	T_ASSERT_EQ(hyp_host_donate_guest(&mem, guest, pfn + 20, 3, 1), 0);
	T_ASSERT_EQ(hyp_guest_share_host(&mem, guest, 2, 2), 0);
	T_ASSERT_EQ(hyp_page_state_of(hyp_page_lookup(&mem, hyp_pa(X_PA + 0x14000)), HYP_ID_HOST),
		    HYP_PAGE_SHARED_BORROWED);
	check_invariants("atomic ranges");
	printf("ok %d - multi-page calls are all or nothing\n", ++n);
	return n;
}

static int test_faults_and_blocks(int n)
{
	unsigned level;

	t_setup(&mem, 128);
	/* A block the host owns entirely is mapped as a block on the first fault. */
	T_ASSERT_EQ(hyp_host_handle_s2_fault(&mem, hyp_ipa(T_RAM_C + 0x1234)), 0);
	T_ASSERT(s2_lookup(&mem.host_s2, hyp_ipa(T_RAM_C + 0x1ff000), &level));
	T_ASSERT_EQ(level, 2);
	/* Sharing a page inside it splits the block; the rest stays mapped, owned. */
	T_ASSERT_EQ(hyp_host_share_hyp(&mem, T_PFN(T_RAM_C) + 9, 1), 0);
	T_ASSERT_EQ(s2_pte_state(s2_lookup(&mem.host_s2, hyp_ipa(T_RAM_C + 0x9000), &level)),
		    HYP_PAGE_SHARED_OWNED);
	T_ASSERT_EQ(level, 3);
	T_ASSERT_EQ(s2_pte_state(s2_lookup(&mem.host_s2, hyp_ipa(T_RAM_C + 0x8000), NULL)),
		    HYP_PAGE_OWNED);
	/* Donating a page of a block unmaps just that page. */
	T_ASSERT_EQ(hyp_host_donate_hyp(&mem, T_PFN(T_RAM_C) + 10, 1), 0);
	T_ASSERT_EQ(s2_lookup(&mem.host_s2, hyp_ipa(T_RAM_C + 0xa000), NULL), 0);
	T_ASSERT_EQ(hyp_host_handle_s2_fault(&mem, hyp_ipa(T_RAM_C + 0xa000)), -HYP_EPERM);
	/* A block with a page the host lacks is faulted in page by page. */
	T_ASSERT_EQ(hyp_host_donate_hyp(&mem, T_PFN(T_RAM_A) + 1, 1), 0);
	T_ASSERT_EQ(hyp_host_handle_s2_fault(&mem, hyp_ipa(T_RAM_A)), 0);
	T_ASSERT(s2_lookup(&mem.host_s2, hyp_ipa(T_RAM_A), &level));
	T_ASSERT_EQ(level, 3);
	/* The hypervisor's own memory never faults in. */
	T_ASSERT_EQ(hyp_host_handle_s2_fault(&mem, hyp_ipa(T_HYP)), -HYP_EPERM);
	T_ASSERT_EQ(hyp_host_handle_s2_fault(&mem, hyp_ipa(T_HYP + T_HYP_SIZE - 1)), -HYP_EPERM);
	/* Outside RAM: device memory, not executable. */
	T_ASSERT_EQ(hyp_host_handle_s2_fault(&mem, hyp_ipa(T_HOLE + 0x10)), 0);
	uint64_t pte = s2_lookup(&mem.host_s2, hyp_ipa(T_HOLE), NULL);
	T_ASSERT_EQ(pte & S2_PTE_MEMATTR_MASK, S2_MEMATTR_DEVICE_nGnRE << S2_PTE_MEMATTR_SHIFT);
	T_ASSERT(pte & S2_PTE_XN);
	T_ASSERT_EQ(hyp_host_handle_s2_fault(&mem, hyp_ipa(1ULL << HYP_HOST_IPA_BITS)),
		    -HYP_EINVAL);
	check_invariants("faults");
	printf("ok %d - lazy host faults: blocks, pages, device memory, refusals\n", ++n);
	return n;
}

static int test_guests_and_pool(int n)
{
	uint64_t handles[HYP_MAX_GUESTS], h, pfn = T_PFN(X_PA);
	size_t free_start;

	t_setup(&mem, 128);
	free_start = mem.pool.nr_free;
	for (int i = 0; i < HYP_MAX_GUESTS; i++)
		T_ASSERT_EQ(hyp_guest_create(&mem, &handles[i]), 0);
	T_ASSERT_EQ(hyp_guest_create(&mem, &h), -HYP_ENOMEM);
	/* Destroying an empty guest frees its slot and tables at once. */
	T_ASSERT_EQ(hyp_guest_destroy(&mem, handles[3]), 0);
	T_ASSERT_EQ(hyp_guest_destroy(&mem, handles[3]), -HYP_ENOENT);
	T_ASSERT_EQ(hyp_guest_create(&mem, &h), 0);
	T_ASSERT_EQ(h, handles[3]);
	for (int i = 0; i < HYP_MAX_GUESTS; i++)
		T_ASSERT_EQ(hyp_guest_destroy(&mem, handles[i]), 0);
	T_ASSERT_EQ(mem.pool.nr_free, free_start);

	/* A guest's slot is kept until its last page is reclaimed, then freed with its tables. */
	T_ASSERT_EQ(hyp_guest_create(&mem, &h), 0);
	T_ASSERT_EQ(hyp_host_donate_guest(&mem, h, pfn, 100, 8), 0);
	T_ASSERT_EQ(hyp_guest_destroy(&mem, h), 0);
	T_ASSERT_EQ(hyp_host_reclaim_guest(&mem, pfn, 4), 0);
	T_ASSERT_EQ(mem.guests[h].status, HYP_GUEST_DEAD);
	check_invariants("half reclaimed");
	T_ASSERT_EQ(hyp_host_reclaim_guest(&mem, pfn + 4, 4), 0);
	T_ASSERT_EQ(mem.guests[h].status, HYP_GUEST_FREE);
	check_invariants("all reclaimed");

	/* A pool too small for the guest's tables: -ENOMEM and no state change. */
	t_setup(&mem, 4 + 1 + 2 + 3);
	T_ASSERT_EQ(hyp_guest_create(&mem, &h), 0);
	while (mem.pool.nr_free)
		T_ASSERT(hyp_pool_alloc(&mem.pool, 1));
	T_ASSERT_EQ(hyp_host_donate_guest(&mem, h, pfn, 0, 1), -HYP_ENOMEM);
	T_ASSERT_EQ(hyp_page_lookup(&mem, hyp_pa(X_PA))->owner, HYP_ID_HOST);
	T_ASSERT_EQ(hyp_host_share_hyp(&mem, pfn, 1), -HYP_ENOMEM);
	T_ASSERT_EQ(hyp_page_lookup(&mem, hyp_pa(X_PA))->borrower, HYP_ID_NONE);
	T_ASSERT_EQ(hyp_guest_create(&mem, &h), -HYP_ENOMEM);
	printf("ok %d - guest slots, teardown, reclaim frees, -ENOMEM leaves state alone\n", ++n);
	return n;
}

static int test_holds_and_loaded_vcpus(int n)
{
	uint64_t guest, vttbr, pfn = T_PFN(X_PA);

	t_setup(&mem, 128);
	/* A page the hypervisor holds stays with it; once released it goes back zeroed. */
	T_ASSERT_EQ(hyp_host_donate_hyp(&mem, pfn, 2), 0);
	T_ASSERT_EQ(hyp_hold_donated(&mem, pfn, 2), 0);
	T_ASSERT_EQ(hyp_hold_donated(&mem, pfn + 1, 1), 0);
	memset(t_va(X_PA), 0x77, 2 * HYP_PAGE_SIZE); /* the hypervisor's own data */
	T_ASSERT_EQ(hyp_host_reclaim_hyp(&mem, pfn, 1), -HYP_EBUSY);
	hyp_release_donated(&mem, pfn, 2);
	T_ASSERT_EQ(hyp_host_reclaim_hyp(&mem, pfn, 2), -HYP_EBUSY); /* pfn + 1 held twice */
	T_ASSERT_EQ(hyp_host_reclaim_hyp(&mem, pfn, 1), 0);
	T_ASSERT(page_is(X_PA, 0));
	hyp_release_donated(&mem, pfn + 1, 1);
	T_ASSERT_EQ(hyp_host_reclaim_hyp(&mem, pfn + 1, 1), 0);
	T_ASSERT(page_is(X_PA + HYP_PAGE_SIZE, 0));
	/* Only donated pages: not the hypervisor's own, not the host's. */
	T_ASSERT_EQ(hyp_hold_donated(&mem, T_PFN(T_HYP), 1), -HYP_EPERM);
	T_ASSERT_EQ(hyp_hold_donated(&mem, pfn, 1), -HYP_EPERM);
	T_ASSERT_EQ(hyp_hold_donated(&mem, T_PFN(T_HOLE), 1), -HYP_EPERM);
	check_invariants("holds");

	/* Counts do not wrap: a full one refuses another loan, pin or hold. */
	T_ASSERT_EQ(hyp_guest_create(&mem, &guest), 0);
	T_ASSERT_EQ(hyp_host_share_guest(&mem, guest, pfn + 4, 10, 1), 0);
	hyp_page_lookup(&mem, hyp_pa(X_PA + 4 * HYP_PAGE_SIZE))->share_count = UINT32_MAX;
	T_ASSERT_EQ(hyp_host_share_guest(&mem, guest, pfn + 4, 11, 1), -HYP_EBUSY);
	T_ASSERT_EQ(hyp_host_share_hyp(&mem, pfn + 5, 1), 0);
	hyp_page_lookup(&mem, hyp_pa(X_PA + 5 * HYP_PAGE_SIZE))->pins = UINT32_MAX;
	T_ASSERT_EQ(hyp_pin_shared(&mem, pfn + 5, 1), -HYP_EBUSY);
	T_ASSERT_EQ(hyp_host_donate_hyp(&mem, pfn + 6, 1), 0);
	hyp_page_lookup(&mem, hyp_pa(X_PA + 6 * HYP_PAGE_SIZE))->pins = UINT32_MAX;
	T_ASSERT_EQ(hyp_hold_donated(&mem, pfn + 6, 1), -HYP_EBUSY);
	t_setup(&mem, 128);

	/* A guest whose vCPU is loaded cannot be destroyed; its one vCPU loads once. */
	T_ASSERT_EQ(hyp_guest_create(&mem, &guest), 0);
	T_ASSERT_EQ(hyp_vcpu_load(&mem, guest, &vttbr), 0);
	T_ASSERT_EQ(vttbr, s2_vttbr(&mem.guests[guest].pgt));
	T_ASSERT_EQ(hyp_vcpu_load(&mem, guest, &vttbr), -HYP_EBUSY);
	T_ASSERT_EQ(hyp_guest_destroy(&mem, guest), -HYP_EBUSY);
	T_ASSERT_EQ(mem.guests[guest].status, HYP_GUEST_ALIVE);
	hyp_vcpu_put(&mem, guest);
	T_ASSERT_EQ(hyp_guest_destroy(&mem, guest), 0);
	T_ASSERT_EQ(hyp_vcpu_load(&mem, guest, &vttbr), -HYP_ENOENT);
	T_ASSERT_EQ(hyp_vcpu_load(&mem, HYP_MAX_GUESTS, &vttbr), -HYP_ENOENT);
	check_invariants("loaded vCPUs");
	printf("ok %d - holds on donated pages, zeroed on return; no destroy under a loaded vCPU\n",
	       ++n);
	return n;
}

static int test_mmio_flood(int n)
{
	uint64_t guest, pfn = T_PFN(X_PA), ipa = 1ULL << 32;
	size_t guest_tables;

	/* A guest with a page of its own and one lent by the host, both mapped. */
	t_setup(&mem, 128);
	T_ASSERT_EQ(hyp_guest_create(&mem, &guest), 0);
	T_ASSERT_EQ(hyp_host_donate_guest(&mem, guest, pfn, X_GFN, 1), 0);
	T_ASSERT_EQ(hyp_host_share_hyp(&mem, pfn + 1, 1), 0);
	T_ASSERT_EQ(hyp_host_handle_s2_fault(&mem, hyp_ipa(X_PA + HYP_PAGE_SIZE)), 0);
	guest_tables = s2_count_table_pages(&mem.guests[guest].pgt);

	/* Each fault in a new 2 MiB window needs a table; the host's tables are recycled. */
	for (int i = 0; i < 10000; i++, ipa += s2_level_size(2))
		T_ASSERT_EQ(hyp_host_handle_s2_fault(&mem, hyp_ipa(ipa)), 0);
	check_invariants("MMIO flood");
	T_ASSERT_EQ(s2_count_table_pages(&mem.guests[guest].pgt), guest_tables);
	T_ASSERT(s2_lookup(&mem.guests[guest].pgt, hyp_ipa(X_GFN << HYP_PAGE_SHIFT), NULL));
	/* The host's shared page faults back in with its state; guests still get tables. */
	T_ASSERT_EQ(hyp_host_handle_s2_fault(&mem, hyp_ipa(X_PA + HYP_PAGE_SIZE)), 0);
	T_ASSERT_EQ(s2_pte_state(s2_lookup(&mem.host_s2, hyp_ipa(X_PA + HYP_PAGE_SIZE), NULL)),
		    HYP_PAGE_SHARED_OWNED);
	T_ASSERT_EQ(hyp_host_donate_guest(&mem, guest, pfn + 2, 1ULL << 20, 1), 0);
	T_ASSERT_EQ(hyp_guest_share_host(&mem, guest, X_GFN, 1), 0);
	check_invariants("after the flood");
	printf("ok %d - 10000 MMIO faults in distinct windows: host tables recycled, guests kept\n",
	       ++n);
	return n;
}

int main(void)
{
	int n;

	t_require_lock_on_flush(&mem);

	printf("1..%zu\n", (size_t)NR_STARTS * NR_OPS + HYP_ARRAY_SIZE(arg_cases) + 5);
	n = test_transition_table();
	n = test_bad_arguments(n);
	n = test_atomic_ranges(n);
	n = test_faults_and_blocks(n);
	n = test_guests_and_pool(n);
	n = test_holds_and_loaded_vcpus(n);
	n = test_mmio_flood(n);
	return 0;
}
