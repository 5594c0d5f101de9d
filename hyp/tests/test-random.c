// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Random sequences of ownership calls, most of them valid, many not, checking every invariant
 * after every step against the real stage-2 tables; a failed call must change nothing, a
 * reclaimed guest page must read as zeros. Seeded and reproducible:
 *   hyp-random [seed [operations]]   (the seed is printed; default: from the clock)
 */
#include <string.h>
#include <time.h>

#include "hyp-test.h"

static struct hyp_mem mem;
static uint64_t rng_state;

/* splitmix64: small, good enough, and the same on every machine. */
static uint64_t rnd(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static uint64_t below(uint64_t n)
{
	return rnd() % n;
}

/* Mostly pages of the memory map (some in the hole and just outside), rarely anything. */
static uint64_t pick_pfn(void)
{
	switch (below(20)) {
	case 0:
		return rnd();
	case 1:
		return T_PFN(T_MEM_BASE) - 1 - below(4);
	default:
		return T_PFN(T_MEM_BASE) + below(T_MEM_SIZE >> HYP_PAGE_SHIFT);
	}
}

static uint64_t pick_nr(void)
{
	switch (below(40)) {
	case 0:
		return 0;
	case 1:
		return PVM_HYP_MAX_PAGES_PER_CALL + below(3);
	case 2:
		return rnd();
	case 3:
		return 1 + below(PVM_HYP_MAX_PAGES_PER_CALL);
	default:
		return 1 + below(4);
	}
}

static uint64_t pick_gfn(void)
{
	return below(30) ? below(48) : rnd() >> below(64);
}

/* Mostly a guest that exists (alive if there is one), sometimes any handle. */
static uint64_t pick_handle(void)
{
	uint64_t h = below(HYP_MAX_GUESTS);

	if (!below(20))
		return rnd() >> below(64);
	for (unsigned i = 0; i < HYP_MAX_GUESTS && below(8); i++)
		if (mem.guests[(h + i) % HYP_MAX_GUESTS].status == HYP_GUEST_ALIVE)
			return (h + i) % HYP_MAX_GUESTS;
	return h;
}

/* The pfn of a page satisfying want(), searched from a random place; or any pfn. */
static uint64_t pick_pfn_where(bool (*want)(const struct hyp_page *p))
{
	size_t start = below(mem.nr_pages);

	for (size_t i = 0; i < mem.nr_pages; i++) {
		size_t idx = (start + i) % mem.nr_pages;
		if (!want(&mem.pages[idx]))
			continue;
		for (size_t r = 0; r < mem.nr_regions; r++) {
			const struct hyp_region *reg = &mem.regions[r];
			if (idx - reg->first_page < reg->map.size >> HYP_PAGE_SHIFT)
				return T_PFN(hyp_pa_addr(reg->map.base)) + idx - reg->first_page;
		}
	}
	return pick_pfn();
}

static bool host_owned(const struct hyp_page *p)
{
	return p->owner == HYP_ID_HOST;
}

static bool guest_owned(const struct hyp_page *p)
{
	return p->owner >= HYP_ID_GUEST0 && p->owner < HYP_ID_GUESTS;
}

static bool lent_to_guests(const struct hyp_page *p)
{
	return p->owner == HYP_ID_HOST && p->borrower == HYP_ID_GUESTS;
}

static bool shared_with_hyp(const struct hyp_page *p)
{
	return p->owner == HYP_ID_HOST && p->borrower == HYP_ID_HYP;
}

static bool donated_to_hyp(const struct hyp_page *p)
{
	return p->owner == HYP_ID_HYP && (p->flags & HYP_PAGE_F_DONATED);
}

static bool pinned(const struct hyp_page *p)
{
	return shared_with_hyp(p) && p->pins;
}

static bool held(const struct hyp_page *p)
{
	return donated_to_hyp(p) && p->pins;
}

/* The hypervisor drops one of its holds on a page that has one: never on any other page. */
static int release_one(bool (*has)(const struct hyp_page *p),
		       void (*release)(struct hyp_mem *m, uint64_t pfn, uint64_t nr))
{
	uint64_t pfn = pick_pfn_where(has);
	const struct hyp_page *p = pfn << HYP_PAGE_SHIFT >= T_MEM_BASE
				       ? hyp_page_lookup(&mem, hyp_pa(pfn << HYP_PAGE_SHIFT))
				       : NULL;

	if (!p || !has(p))
		return -HYP_ENOENT;
	release(&mem, pfn, 1);
	return 0;
}

/* A gfn where guest h maps a page the host lends, if one is found quickly. */
static uint64_t pick_lent_gfn(uint64_t h)
{
	for (int tries = 0; h < HYP_MAX_GUESTS && tries < 64; tries++) {
		uint64_t gfn = below(48);
		uint64_t pte =
		    mem.guests[h].status == HYP_GUEST_ALIVE
			? s2_lookup(&mem.guests[h].pgt, hyp_ipa(gfn << HYP_PAGE_SHIFT), NULL)
			: 0;
		if (pte && s2_pte_state(pte) == HYP_PAGE_SHARED_BORROWED)
			return gfn;
	}
	return pick_gfn();
}

/* For guest calls: often a gfn the guest has mapped. */
static uint64_t pick_guest_gfn(uint64_t h)
{
	if (h < HYP_MAX_GUESTS && below(4)) {
		size_t start = below(mem.nr_pages);
		for (size_t i = 0; i < mem.nr_pages; i++) {
			const struct hyp_page *p = &mem.pages[(start + i) % mem.nr_pages];
			if (p->owner == HYP_ID_GUEST0 + h)
				return p->gfn;
		}
	}
	return pick_gfn();
}

enum op {
	OP_SHARE_HYP,
	OP_UNSHARE_HYP,
	OP_DONATE_HYP,
	OP_RECLAIM_HYP,
	OP_DONATE_GUEST,
	OP_RECLAIM_GUEST,
	OP_GUEST_SHARE,
	OP_GUEST_UNSHARE,
	OP_GUEST_CREATE,
	OP_GUEST_DESTROY,
	OP_HOST_ACCESS,
	OP_SHARE_GUEST,
	OP_UNSHARE_GUEST,
	OP_FORCE_RECLAIM,
	OP_PIN,
	OP_UNPIN,
	NR_OPS,
};

static const char *const op_names[] = {
	"share-hyp",	 "unshare-hyp",	  "donate-hyp",	 "reclaim-hyp",
	"donate-guest",	 "reclaim-guest", "guest-share", "guest-unshare",
	"guest-create",	 "guest-destroy", "host-access", "share-guest",
	"unshare-guest", "force-reclaim", "pin",	 "unpin",
};

struct stats {
	uint64_t ok[NR_OPS], failed[NR_OPS];
};

static uint8_t host_view(uint64_t pa)
{
	uint64_t pte = s2_lookup(&mem.host_s2, hyp_ipa(pa), NULL);

	return pte ? (uint8_t)(1 + s2_pte_state(pte)) : 0;
}

static int snapshot_leaf(hyp_ipa_t ipa, uint64_t pte, unsigned level, void *userdata)
{
	uint8_t *views = userdata;

	for (uint64_t off = 0; off < s2_level_size(level); off += HYP_PAGE_SIZE) {
		uint64_t pa = hyp_ipa_addr(ipa) + off;
		if (pa >= T_MEM_BASE && pa - T_MEM_BASE < T_MEM_SIZE)
			views[(pa - T_MEM_BASE) >> HYP_PAGE_SHIFT] =
			    (uint8_t)(1 + s2_pte_state(pte));
	}
	return 0;
}

/* The host's translation of every page: unmapped, or mapped in some state. */
static void snapshot_host(uint8_t *views)
{
	memset(views, 0, T_MEM_SIZE >> HYP_PAGE_SHIFT);
	T_ASSERT_EQ(s2_walk_leaves(&mem.host_s2, snapshot_leaf, views), 0);
}

/* Every page the host maps after, it mapped the same way before. */
static bool host_only_dropped(const uint8_t *before, const uint8_t *after)
{
	for (size_t i = 0; i < T_MEM_SIZE >> HYP_PAGE_SHIFT; i++)
		if (after[i] && after[i] != before[i])
			return false;
	return true;
}

static bool range_is(uint64_t pfn, uint64_t nr, uint8_t byte)
{
	for (uint64_t i = 0; i < nr; i++) {
		const uint8_t *b = t_va((pfn + i) << HYP_PAGE_SHIFT);
		for (size_t j = 0; j < HYP_PAGE_SIZE; j++)
			if (b[j] != byte)
				return false;
	}
	return true;
}

/* The host touches a page: a fault must succeed exactly when the host may access it. */
static int host_access(uint64_t pfn)
{
	uint64_t pa = pfn << HYP_PAGE_SHIFT;
	const struct hyp_page *p = hyp_page_lookup(&mem, hyp_pa(pa));
	int r;

	if (!p || host_view(pa))
		return 0;
	r = hyp_host_handle_s2_fault(&mem, hyp_ipa(pa));
	if (r == 0)
		T_ASSERT(host_view(pa));
	/*
	 * The host's own tables are recycled when the pool runs dry: a fault fails with -ENOMEM
	 * only when guests hold the pool (a fault needs at most two new tables).
	 */
	if (r == -HYP_ENOMEM)
		T_ASSERT(mem.pool.nr_free < 2);
	else
		T_ASSERT_EQ(r == 0, hyp_page_state_of(p, HYP_ID_HOST) != HYP_PAGE_NOPAGE);
	return r;
}

static void run(uint64_t seed, uint64_t nr_ops, size_t pool_pages, struct stats *st)
{
	static uint8_t host_before[T_MEM_SIZE >> HYP_PAGE_SHIFT], host_after[sizeof(host_before)];
	struct hyp_page *pages_before;
	char err[256];

	rng_state = seed;
	t_setup(&mem, pool_pages);
	pages_before = malloc(mem.nr_pages * sizeof(*pages_before));
	T_ASSERT(pages_before);

	for (uint64_t i = 0; i < nr_ops; i++) {
		enum op op = (enum op)below(NR_OPS);
		uint64_t pfn = pick_pfn(), nr = below(2) ? 1 : pick_nr(), gfn = pick_gfn();
		uint64_t h = pick_handle();
		bool zero_pages = nr <= PVM_HYP_MAX_PAGES_PER_CALL;
		int r;

		memcpy(pages_before, mem.pages, mem.nr_pages * sizeof(*pages_before));
		snapshot_host(host_before);

		switch (op) {
		case OP_SHARE_HYP:
			r = hyp_host_share_hyp(&mem, pfn, nr);
			break;
		case OP_UNSHARE_HYP:
			r = hyp_host_unshare_hyp(&mem, pfn, nr);
			break;
		case OP_DONATE_HYP:
			r = hyp_host_donate_hyp(&mem, pfn, nr);
			break;
		case OP_RECLAIM_HYP:
			r = hyp_host_reclaim_hyp(&mem, pfn, nr);
			if (r == 0 && !range_is(pfn, nr, 0)) {
				fprintf(stderr,
					"step %llu: pages back from the hypervisor not zeroed\n",
					(unsigned long long)i);
				exit(EXIT_FAILURE);
			}
			break;
		case OP_DONATE_GUEST:
			if (below(2))
				pfn = pick_pfn_where(host_owned);
			r = hyp_host_donate_guest(&mem, h, pfn, gfn, nr);
			if (r == 0) /* the guest fills its new memory with secrets */
				for (uint64_t j = 0; j < nr; j++)
					memset(t_va((pfn + j) << HYP_PAGE_SHIFT), 0xa5,
					       HYP_PAGE_SIZE);
			break;
		case OP_RECLAIM_GUEST:
			if (below(2))
				pfn = pick_pfn_where(guest_owned);
			r = hyp_host_reclaim_guest(&mem, pfn, nr);
			if (r == 0 && zero_pages && !range_is(pfn, nr, 0)) {
				fprintf(stderr, "step %llu: reclaimed pages not zeroed\n",
					(unsigned long long)i);
				exit(EXIT_FAILURE);
			}
			break;
		case OP_GUEST_SHARE:
			gfn = pick_guest_gfn(h);
			r = hyp_guest_share_host(&mem, h, gfn, nr);
			break;
		case OP_GUEST_UNSHARE:
			gfn = pick_guest_gfn(h);
			r = hyp_guest_unshare_host(&mem, h, gfn, nr);
			break;
		case OP_GUEST_CREATE:
			r = hyp_guest_create(&mem, &h);
			break;
		case OP_GUEST_DESTROY:
			r = hyp_guest_destroy(&mem, h);
			break;
		case OP_HOST_ACCESS:
			r = host_access(pfn);
			break;
		case OP_SHARE_GUEST:
			if (below(2))
				pfn = pick_pfn_where(below(2) ? host_owned : lent_to_guests);
			r = hyp_host_share_guest(&mem, h, pfn, gfn, nr);
			break;
		case OP_UNSHARE_GUEST:
			gfn = pick_lent_gfn(h);
			r = hyp_host_unshare_guest(&mem, h, gfn, nr);
			break;
		case OP_FORCE_RECLAIM:
			if (below(4))
				pfn = pick_pfn_where(guest_owned);
			r = hyp_host_force_reclaim_guest(&mem, pfn);
			if (r == 0 && !range_is(pfn, 1, 0)) {
				fprintf(stderr, "step %llu: force-reclaimed page not zeroed\n",
					(unsigned long long)i);
				exit(EXIT_FAILURE);
			}
			break;
		case OP_PIN:
			if (below(2)) {
				if (below(2))
					pfn = pick_pfn_where(shared_with_hyp);
				r = hyp_pin_shared(&mem, pfn, nr);
			} else {
				if (below(2))
					pfn = pick_pfn_where(donated_to_hyp);
				r = hyp_hold_donated(&mem, pfn, nr);
			}
			break;
		case OP_UNPIN:
			r = below(2) ? release_one(pinned, hyp_unpin_shared)
				     : release_one(held, hyp_release_donated);
			break;
		default:
			T_ASSERT(0);
		}

		if (r != 0 && r != -HYP_EPERM && r != -HYP_EBUSY && r != -HYP_ENOENT &&
		    r != -HYP_EINVAL && r != -HYP_ENOMEM && r != -HYP_ERANGE &&
		    r != -HYP_EHWPOISON) {
			fprintf(stderr, "step %llu: %s returned %d\n", (unsigned long long)i,
				op_names[op], r);
			exit(EXIT_FAILURE);
		}
		if (t_check_invariants(&mem, err, sizeof(err)) < 0) {
			fprintf(stderr,
				"seed %llu step %llu: after %s(pfn %#llx nr %llu gfn %llu "
				"handle %llu) = %d: %s\n",
				(unsigned long long)seed, (unsigned long long)i, op_names[op],
				(unsigned long long)pfn, (unsigned long long)nr,
				(unsigned long long)gfn, (unsigned long long)h, r, err);
			exit(EXIT_FAILURE);
		}
		if (r < 0) {
			/*
			 * All or nothing: a refused call leaves ownership and translation as is,
			 * but for host mappings dropped when its tables were recycled.
			 */
			snapshot_host(host_after);
			if (memcmp(pages_before, mem.pages, mem.nr_pages * sizeof(*pages_before)) ||
			    !host_only_dropped(host_before, host_after)) {
				fprintf(stderr, "seed %llu step %llu: failed %s changed state\n",
					(unsigned long long)seed, (unsigned long long)i,
					op_names[op]);
				exit(EXIT_FAILURE);
			}
			st->failed[op]++;
		} else {
			st->ok[op]++;
		}
	}
	free(pages_before);
}

int main(int argc, char **argv)
{
	uint64_t seed = argc > 1 ? strtoull(argv[1], NULL, 0) : (uint64_t)time(NULL);
	uint64_t nr_ops = argc > 2 ? strtoull(argv[2], NULL, 0) : 100000;
	struct stats st = { 0 };
	uint64_t total_ok = 0;

	t_require_lock_on_flush(&mem);

	printf("1..2\n# seed %llu (rerun: hyp-random %llu %llu)\n", (unsigned long long)seed,
	       (unsigned long long)seed, (unsigned long long)nr_ops);
	fflush(stdout);

	run(seed, nr_ops, T_POOL_MAX_PAGES, &st);
	printf("ok 1 - %llu operations with a roomy pool\n", (unsigned long long)nr_ops);
	/* A pool a few pages deep: -ENOMEM in the middle of transitions. */
	run(seed ^ 0x5eed, nr_ops / 5, 4 + 1 + 2 + 5, &st);
	printf("ok 2 - %llu operations with a nearly empty pool\n",
	       (unsigned long long)(nr_ops / 5));
	for (int op = 0; op < NR_OPS; op++) {
		printf("# %-14s %8llu ok %8llu refused\n", op_names[op],
		       (unsigned long long)st.ok[op], (unsigned long long)st.failed[op]);
		total_ok += st.ok[op];
	}
	/* A run where nothing succeeds would check nothing. */
	T_ASSERT(total_ok > nr_ops / 10);
	return 0;
}
