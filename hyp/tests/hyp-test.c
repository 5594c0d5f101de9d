// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Fake physical memory for the core's host tests, and the ownership invariant checker: it walks
 * the host's and every guest's stage-2 tables and compares what they map with the page array.
 */
#include <stdarg.h>
#include <string.h>

#include "hyp-test.h"

static uint8_t *t_mem;

static struct hyp_mem *t_locked_mem;

void t_check_locked(uint16_t vmid)
{
	if (t_locked_mem && !__atomic_load_n(&t_locked_mem->lock, __ATOMIC_RELAXED)) {
		fprintf(stderr, "TLB flush of VMID %u without the lock held\n", vmid);
		exit(EXIT_FAILURE);
	}
}

void t_require_lock_on_flush(struct hyp_mem *m)
{
	t_locked_mem = m;
	fake_arch_tlb_hook = t_check_locked;
}

void *t_va(uint64_t pa)
{
	return arch_pa_to_va(hyp_pa(pa));
}

void t_setup(struct hyp_mem *m, size_t pool_pages)
{
	const struct hyp_memmap_region map[] = {
		{ hyp_pa(T_RAM_A), T_RAM_A_SIZE, HYP_REGION_HOST_RAM },
		{ hyp_pa(T_HYP), T_HYP_SIZE, HYP_REGION_HYP },
		{ hyp_pa(T_RAM_C), T_RAM_C_SIZE, HYP_REGION_HOST_RAM },
	};

	if (!t_mem) {
		t_mem = aligned_alloc(2 << 20, T_MEM_SIZE);
		T_ASSERT(t_mem);
	}
	/* Memory the host never touched reads as a pattern, not zero, so zeroing is visible. */
	memset(t_mem, 0x5a, T_MEM_SIZE);
	fake_arch_set_memory(hyp_pa(T_MEM_BASE), t_mem, T_MEM_SIZE);
	T_ASSERT(pool_pages <= T_POOL_MAX_PAGES);
	T_ASSERT_EQ(hyp_mem_init(m, map, HYP_ARRAY_SIZE(map),
				 hyp_pa(T_HYP + T_HYP_IMAGE_PAGES * HYP_PAGE_SIZE), pool_pages),
		    0);
}

/* What the tables say about one physical page. */
struct page_view {
	int host_state; /* -1: not mapped in the host stage-2 */
	unsigned guest_maps;
	unsigned guest_borrowed; /* mappings in state SHARED_BORROWED (pages the host lends) */
	unsigned guest_id;
	uint64_t guest_gfn;
	int guest_state;
};

struct walk_ctx {
	struct hyp_mem *m;
	struct page_view *views;
	unsigned guest_id;
	char *err;
	size_t errlen;
};

static int __attribute__((format(printf, 3, 4)))
fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -1;
}

static long page_index(struct hyp_mem *m, uint64_t pa)
{
	struct hyp_page *p = hyp_page_lookup(m, hyp_pa(pa));

	return p ? p - m->pages : -1;
}

static int host_leaf(hyp_ipa_t ipa, uint64_t pte, unsigned level, void *userdata)
{
	struct walk_ctx *c = userdata;
	uint64_t size = s2_level_size(level), memattr = pte & S2_PTE_MEMATTR_MASK;

	if (hyp_pa_addr(s2_pte_pa(pte)) != hyp_ipa_addr(ipa))
		return fail(c->err, c->errlen, "host ipa %#llx maps pa %#llx: not identity",
			    (unsigned long long)hyp_ipa_addr(ipa),
			    (unsigned long long)hyp_pa_addr(s2_pte_pa(pte)));
	for (uint64_t off = 0; off < size; off += HYP_PAGE_SIZE) {
		uint64_t pa = hyp_ipa_addr(ipa) + off;
		long i = page_index(c->m, pa);
		if (i < 0) {
			if (memattr != S2_MEMATTR_DEVICE_nGnRE << S2_PTE_MEMATTR_SHIFT ||
			    !(pte & S2_PTE_XN))
				return fail(c->err, c->errlen, "host MMIO %#llx not device/XN",
					    (unsigned long long)pa);
			continue;
		}
		if (memattr != S2_MEMATTR_NORMAL_WB << S2_PTE_MEMATTR_SHIFT)
			return fail(c->err, c->errlen, "host RAM %#llx not normal memory",
				    (unsigned long long)pa);
		c->views[i].host_state = s2_pte_state(pte);
	}
	return 0;
}

static int guest_leaf(hyp_ipa_t ipa, uint64_t pte, unsigned level, void *userdata)
{
	struct walk_ctx *c = userdata;
	long i = page_index(c->m, hyp_pa_addr(s2_pte_pa(pte)));

	if (level != S2_MAX_LEVEL)
		return fail(c->err, c->errlen, "guest %u: block at ipa %#llx", c->guest_id,
			    (unsigned long long)hyp_ipa_addr(ipa));
	if (i < 0)
		return fail(c->err, c->errlen, "guest %u maps non-RAM pa", c->guest_id);
	c->views[i].guest_maps++;
	c->views[i].guest_borrowed += s2_pte_state(pte) == HYP_PAGE_SHARED_BORROWED;
	c->views[i].guest_id = c->guest_id;
	c->views[i].guest_gfn = hyp_ipa_addr(ipa) >> HYP_PAGE_SHIFT;
	c->views[i].guest_state = s2_pte_state(pte);
	return 0;
}

static int check_page(struct hyp_mem *m, size_t i, const struct hyp_page *p,
		      const struct page_view *v, char *err, size_t errlen)
{
	bool owner_is_guest = p->owner >= HYP_ID_GUEST0 && p->owner < HYP_ID_GUESTS;
	bool lent_to_guests = p->borrower == HYP_ID_GUESTS;
	enum hyp_page_state host_meta = hyp_page_state_of(p, HYP_ID_HOST);
	enum hyp_page_state views[3]; /* host, hyp, guest: as the tables (or array) say */
	unsigned owners = 0, shared_owned = 0, borrowed = 0;

	if (!(p->owner == HYP_ID_HOST || p->owner == HYP_ID_HYP || owner_is_guest))
		return fail(err, errlen, "page %zu: bad owner %u", i, p->owner);
	if (owner_is_guest && (p->owner - HYP_ID_GUEST0 >= HYP_MAX_GUESTS ||
			       m->guests[p->owner - HYP_ID_GUEST0].status == HYP_GUEST_FREE))
		return fail(err, errlen, "page %zu: owned by a free guest slot", i);
	if (p->borrower != HYP_ID_NONE && !(p->borrower == HYP_ID_HYP && p->owner == HYP_ID_HOST) &&
	    !(p->borrower == HYP_ID_HOST && owner_is_guest) &&
	    !(lent_to_guests && p->owner == HYP_ID_HOST))
		return fail(err, errlen, "page %zu: owner %u lends to %u", i, p->owner,
			    p->borrower);
	if (lent_to_guests && p->share_count == 0)
		return fail(err, errlen, "page %zu: lent to guests with a count of 0", i);
	/* The counter word is a gfn, a share count or pins; anything else keeps it 0. */
	if (!owner_is_guest && !lent_to_guests && p->pins &&
	    !(p->borrower == HYP_ID_HYP || (p->flags & HYP_PAGE_F_DONATED)))
		return fail(err, errlen, "page %zu: pins %u on a page the hypervisor lacks", i,
			    p->pins);
	if ((p->flags & HYP_PAGE_F_DONATED) && p->owner != HYP_ID_HYP)
		return fail(err, errlen, "page %zu: donated flag on a non-hyp page", i);

	/* The host stage-2 maps exactly what the host may touch, in the tracked state. */
	if (v->host_state >= 0 && host_meta == HYP_PAGE_NOPAGE)
		return fail(err, errlen, "page %zu: host maps a page it has no access to", i);
	if (v->host_state >= 0 && (enum hyp_page_state)v->host_state != host_meta)
		return fail(err, errlen, "page %zu: host pte state %d, tracked %d", i,
			    v->host_state, host_meta);

	/* A guest's page is mapped once, by that guest, at the tracked gfn; no other is. */
	if (owner_is_guest) {
		if (v->guest_maps != 1 || v->guest_id != p->owner || v->guest_gfn != p->gfn)
			return fail(err, errlen, "page %zu: guest %u page mapped %u times", i,
				    p->owner, v->guest_maps);
		if ((enum hyp_page_state)v->guest_state != hyp_page_state_of(p, p->owner))
			return fail(err, errlen, "page %zu: guest pte state %d", i, v->guest_state);
	} else if (lent_to_guests) {
		if (v->guest_maps != p->share_count || v->guest_borrowed != v->guest_maps)
			return fail(err, errlen,
				    "page %zu: lent %u times, %u guest mappings (%u borrowed)", i,
				    p->share_count, v->guest_maps, v->guest_borrowed);
	} else if (v->guest_maps) {
		return fail(err, errlen, "page %zu: guest maps a page it does not own", i);
	}

	/*
	 * Exclusivity and symmetry over the tables' views: the host's from its stage-2 (the
	 * tracked state where it has not faulted the page in yet), the hypervisor's from the
	 * array, a guest's from its stage-2.
	 */
	views[0] = v->host_state >= 0 ? (enum hyp_page_state)v->host_state : host_meta;
	views[1] = hyp_page_state_of(p, HYP_ID_HYP);
	views[2] = v->guest_maps ? (enum hyp_page_state)v->guest_state : HYP_PAGE_NOPAGE;
	for (int c = 0; c < 3; c++) {
		owners += views[c] == HYP_PAGE_OWNED || views[c] == HYP_PAGE_SHARED_OWNED;
		shared_owned += views[c] == HYP_PAGE_SHARED_OWNED;
		borrowed += views[c] == HYP_PAGE_SHARED_BORROWED;
	}
	if (owners != 1)
		return fail(err, errlen, "page %zu: %u owners", i, owners);
	if (shared_owned != borrowed)
		return fail(err, errlen, "page %zu: %u shared-owned but %u borrowed", i,
			    shared_owned, borrowed);
	return 0;
}

int t_check_invariants(struct hyp_mem *m, char *err, size_t errlen)
{
	struct page_view *views = calloc(m->nr_pages, sizeof(*views));
	struct walk_ctx c = { .m = m, .views = views, .err = err, .errlen = errlen };
	size_t tables, guest_pages[HYP_MAX_GUESTS] = { 0 };
	int r = -1;

	T_ASSERT(views);
	for (size_t i = 0; i < m->nr_pages; i++)
		views[i].host_state = -1;

	if (s2_walk_leaves(&m->host_s2, host_leaf, &c))
		goto out;
	tables = s2_count_table_pages(&m->host_s2);
	for (unsigned h = 0; h < HYP_MAX_GUESTS; h++) {
		if (m->guests[h].status == HYP_GUEST_FREE)
			continue;
		c.guest_id = HYP_ID_GUEST0 + h;
		if (s2_walk_leaves(&m->guests[h].pgt, guest_leaf, &c))
			goto out;
		tables += s2_count_table_pages(&m->guests[h].pgt);
	}

	for (size_t i = 0; i < m->nr_pages; i++) {
		const struct hyp_page *p = &m->pages[i];
		if (check_page(m, i, p, &views[i], err, errlen))
			goto out;
		if (p->owner >= HYP_ID_GUEST0 && p->owner < HYP_ID_GUESTS)
			guest_pages[p->owner - HYP_ID_GUEST0]++;
	}

	for (unsigned h = 0; h < HYP_MAX_GUESTS; h++) {
		const struct hyp_guest *g = &m->guests[h];
		if (g->status != HYP_GUEST_FREE && g->nr_pages != guest_pages[h]) {
			fail(err, errlen, "guest %u: counts %llu pages, owns %zu", h,
			     (unsigned long long)g->nr_pages, guest_pages[h]);
			goto out;
		}
		if (g->status == HYP_GUEST_DEAD && g->nr_pages == 0) {
			fail(err, errlen, "guest %u: dead and empty but not freed", h);
			goto out;
		}
	}

	/* Every pool page in use is a page table (the pool's own map aside): nothing leaks. */
	{
		size_t map_pages = (m->pool.nr_pages + HYP_PAGE_SIZE - 1) / HYP_PAGE_SIZE;
		size_t used = m->pool.nr_pages - m->pool.nr_free - map_pages;
		if (used != tables) {
			fail(err, errlen, "pool: %zu pages used, %zu table pages", used, tables);
			goto out;
		}
	}
	r = 0;
out:
	free(views);
	return r;
}
