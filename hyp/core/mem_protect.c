// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Page ownership for host, hypervisor and guests, and every transition between states. Each
 * transition validates its untrusted arguments before taking the lock, checks every page's
 * state, prepares the page tables (the only step that can fail: -ENOMEM), then commits.
 *
 * Lock order: hyp_mem.lock is the only lock; it covers the page array, the pool, the host
 * stage-2 and every guest's stage-2.
 */
#include "hyp/arch.h"
#include "hyp/mem_protect.h"

static void hyp_lock(struct hyp_mem *m)
{
	while (__atomic_exchange_n(&m->lock, 1, __ATOMIC_ACQUIRE))
		;
}

static void hyp_unlock(struct hyp_mem *m)
{
	__atomic_store_n(&m->lock, 0, __ATOMIC_RELEASE);
}

static uint64_t pages_to_bytes(uint64_t nr)
{
	return nr << HYP_PAGE_SHIFT;
}

static const struct hyp_region *region_of(const struct hyp_mem *m, uint64_t pa)
{
	for (size_t i = 0; i < m->nr_regions; i++) {
		const struct hyp_region *r = &m->regions[i];
		if (pa >= hyp_pa_addr(r->map.base) && pa - hyp_pa_addr(r->map.base) < r->map.size)
			return r;
	}
	return NULL;
}

struct hyp_page *hyp_page_lookup(struct hyp_mem *m, hyp_pa_t pa)
{
	const struct hyp_region *r = region_of(m, hyp_pa_addr(pa));

	if (!r)
		return NULL;
	return &m->pages[r->first_page +
			 ((hyp_pa_addr(pa) - hyp_pa_addr(r->map.base)) >> HYP_PAGE_SHIFT)];
}

enum hyp_page_state hyp_page_state_of(const struct hyp_page *p, unsigned component)
{
	if (p->owner == component)
		return p->borrower == HYP_ID_NONE ? HYP_PAGE_OWNED : HYP_PAGE_SHARED_OWNED;
	if (p->borrower == component)
		return HYP_PAGE_SHARED_BORROWED;
	return HYP_PAGE_NOPAGE;
}

/*
 * pfn and nr as the host passed them: a non-empty, bounded run of pages (-EINVAL) in one RAM
 * region (-EPERM otherwise, as pKVM answers for memory the host does not own).
 */
static int check_host_range(const struct hyp_mem *m, uint64_t pfn, uint64_t nr, hyp_pa_t *ret_pa)
{
	const struct hyp_region *r;
	uint64_t pa;

	if (nr == 0 || nr > PVM_HYP_MAX_PAGES_PER_CALL)
		return -HYP_EINVAL;
	if (pfn > (UINT64_MAX >> HYP_PAGE_SHIFT) - nr)
		return -HYP_EINVAL;
	pa = pages_to_bytes(pfn);
	r = region_of(m, pa);
	if (!r || pages_to_bytes(nr) > r->map.size - (pa - hyp_pa_addr(r->map.base)))
		return -HYP_EPERM;
	*ret_pa = hyp_pa(pa);
	return 0;
}

/* gfn and nr from the host or a guest: -EINVAL for a bad count, -ERANGE past the IPA space. */
static int check_guest_range(uint64_t gfn, uint64_t nr)
{
	const uint64_t limit = 1ULL << (HYP_GUEST_IPA_BITS - HYP_PAGE_SHIFT);

	if (nr == 0 || nr > PVM_HYP_MAX_PAGES_PER_CALL)
		return -HYP_EINVAL;
	if (gfn >= limit || nr > limit - gfn)
		return -HYP_ERANGE;
	return 0;
}

static hyp_pa_t nth_page(hyp_pa_t pa, uint64_t i)
{
	return hyp_pa(hyp_pa_addr(pa) + pages_to_bytes(i));
}

static hyp_ipa_t gfn_ipa(uint64_t gfn)
{
	return hyp_ipa(pages_to_bytes(gfn));
}

static unsigned guest_id(uint64_t handle)
{
	return HYP_ID_GUEST0 + (unsigned)handle;
}

static struct hyp_guest *guest_of_id(struct hyp_mem *m, unsigned id)
{
	CHECK(id >= HYP_ID_GUEST0 && id - HYP_ID_GUEST0 < HYP_MAX_GUESTS);
	return &m->guests[id - HYP_ID_GUEST0];
}

/* A handle as the host passed it: a slot number, checked before the lock. */
static int check_guest_handle(uint64_t handle)
{
	return handle < HYP_MAX_GUESTS ? 0 : -HYP_ENOENT;
}

/* Guest frames and handle as a caller passed them, checked before the lock. */
static int check_guest_call(uint64_t handle, uint64_t gfn, uint64_t nr)
{
	int r;

	r = check_guest_range(gfn, nr);
	if (r < 0)
		return r;
	return check_guest_handle(handle);
}

/* The live guest with this (range-checked) handle, or NULL. */
static struct hyp_guest *guest_alive(struct hyp_mem *m, uint64_t handle)
{
	CHECK(handle < HYP_MAX_GUESTS);
	if (m->guests[handle].status != HYP_GUEST_ALIVE)
		return NULL;
	return &m->guests[handle];
}

/* Takes the lock (the caller drops it whatever the result); -ENOENT if not alive. */
static int lock_guest(struct hyp_mem *m, uint64_t handle, struct hyp_guest **ret_guest)
{
	hyp_lock(m);
	*ret_guest = guest_alive(m, handle);
	return *ret_guest ? 0 : -HYP_ENOENT;
}

/* Host stage-2 descriptor that matches the tracked state of one page (0: no access). */
static uint64_t host_pte(hyp_pa_t pa, const struct hyp_page *p)
{
	enum hyp_page_state s = hyp_page_state_of(p, HYP_ID_HOST);

	if (s == HYP_PAGE_NOPAGE)
		return 0;
	return s2_leaf_pte(pa, S2_MAX_LEVEL, S2_PROT_RWX, S2_MEM_NORMAL, s);
}

static uint64_t guest_pte(hyp_pa_t pa, const struct hyp_page *p)
{
	return s2_leaf_pte(pa, S2_MAX_LEVEL, S2_PROT_RWX, S2_MEM_NORMAL,
			   hyp_page_state_of(p, p->owner));
}

/*
 * The host's stage 2 is a cache of the tracking: what it does not map yet, the host faults in.
 * So only entries that exist are rewritten, and when the pool runs dry its tables are what
 * the hypervisor takes back (the host cannot use the pool up with faults, say on MMIO in ever
 * new windows). host_s2_recycle() returns whether that freed anything.
 */
static void host_sync_page(struct hyp_mem *m, hyp_pa_t pa, const struct hyp_page *p)
{
	/* The host's IPA space is the identity map of physical memory. */
	s2_update_page(&m->host_s2, hyp_ipa(hyp_pa_addr(pa)), host_pte(pa, p));
}

static bool host_s2_recycle(struct hyp_mem *m)
{
	size_t before = m->pool.nr_free;

	s2_clear(&m->host_s2);
	return m->pool.nr_free > before;
}

/* Split any host block over the range (the one allocation a host-side commit may need). */
static int host_prepare(struct hyp_mem *m, hyp_pa_t pa, uint64_t size)
{
	int r = s2_prepare(&m->host_s2, hyp_ipa(hyp_pa_addr(pa)), size);

	if (r == -HYP_ENOMEM && host_s2_recycle(m))
		r = s2_prepare(&m->host_s2, hyp_ipa(hyp_pa_addr(pa)), size);
	return r;
}

/* Tables for a guest's range: a guest's tables are never recycled, the host's may be. */
static int guest_prepare(struct hyp_mem *m, struct hyp_guest *g, uint64_t gfn, uint64_t nr)
{
	int r = s2_prepare(&g->pgt, gfn_ipa(gfn), pages_to_bytes(nr));

	if (r == -HYP_ENOMEM && host_s2_recycle(m))
		r = s2_prepare(&g->pgt, gfn_ipa(gfn), pages_to_bytes(nr));
	return r;
}

/*
 * Guests run with their MMU and caches off (non-cacheable), the host and the hypervisor with
 * caches on; HCR_EL2.FWB is not used. Every page that goes to a guest or comes back from one
 * is cleaned and invalidated to PoC between the losing side's unmapping and the winning
 * side's mapping.
 */
static void page_to_poc(hyp_pa_t pa)
{
	arch_dcache_clean_inval_page(pa);
}

static void guest_free(struct hyp_mem *m, struct hyp_guest *g)
{
	s2_pgtable_destroy(&g->pgt);
	g->status = HYP_GUEST_FREE;
}

/* Nothing at this guest address: not mapped, and not poisoned by a forced reclaim. */
static bool guest_gfn_free(const struct hyp_guest *g, uint64_t gfn)
{
	return s2_lookup_desc(&g->pgt, gfn_ipa(gfn)) == 0;
}

/* The guest's own mapping at gfn: 0 and the page, -EHWPOISON or -ENOENT. */
static int guest_page_at(struct hyp_mem *m, const struct hyp_guest *g, uint64_t gfn,
			 struct hyp_page **ret_page)
{
	uint64_t pte = s2_lookup(&g->pgt, gfn_ipa(gfn), NULL);

	if (!pte)
		return s2_lookup_desc(&g->pgt, gfn_ipa(gfn)) & S2_PTE_POISON ? -HYP_EHWPOISON
									     : -HYP_ENOENT;
	*ret_page = hyp_page_lookup(m, s2_pte_pa(pte));
	CHECK(*ret_page);
	return 0;
}

/*
 * A transition of the host's own pages, as a check and a commit per page. The check sees the
 * page as it is; the commit cannot fail and leaves the page array updated; the host stage-2 is
 * rewritten from it afterwards.
 */
struct host_transition {
	int (*check)(struct hyp_mem *m, const struct hyp_page *p);
	void (*commit)(struct hyp_mem *m, hyp_pa_t pa, struct hyp_page *p);
};

static int share_hyp_check(struct hyp_mem *m, const struct hyp_page *p)
{
	return p->owner == HYP_ID_HOST && p->borrower == HYP_ID_NONE ? 0 : -HYP_EPERM;
}

static void share_hyp_commit(struct hyp_mem *m, hyp_pa_t pa, struct hyp_page *p)
{
	p->borrower = HYP_ID_HYP;
}

static int unshare_hyp_check(struct hyp_mem *m, const struct hyp_page *p)
{
	if (p->owner != HYP_ID_HOST || p->borrower != HYP_ID_HYP)
		return -HYP_EPERM;
	return p->pins ? -HYP_EBUSY : 0; /* the hypervisor is using it */
}

static void unshare_hyp_commit(struct hyp_mem *m, hyp_pa_t pa, struct hyp_page *p)
{
	p->borrower = HYP_ID_NONE;
}

/* The host owns the page alone: lent pages cannot be given away (pKVM: -EPERM). */
static int donate_check(struct hyp_mem *m, const struct hyp_page *p)
{
	return p->owner == HYP_ID_HOST && p->borrower == HYP_ID_NONE ? 0 : -HYP_EPERM;
}

static void donate_hyp_commit(struct hyp_mem *m, hyp_pa_t pa, struct hyp_page *p)
{
	p->owner = HYP_ID_HYP;
	p->flags |= HYP_PAGE_F_DONATED;
}

static int reclaim_hyp_check(struct hyp_mem *m, const struct hyp_page *p)
{
	/* Only what the host gave: the hypervisor's image and pool never go to the host. */
	if (p->owner != HYP_ID_HYP || !(p->flags & HYP_PAGE_F_DONATED))
		return -HYP_EPERM;
	return p->pins ? -HYP_EBUSY : 0; /* the hypervisor still uses it */
}

static void reclaim_hyp_commit(struct hyp_mem *m, hyp_pa_t pa, struct hyp_page *p)
{
	/* What the hypervisor kept there is not the host's to read, with caches on or off. */
	arch_zero_page(pa);
	page_to_poc(pa);
	p->owner = HYP_ID_HOST;
	p->flags &= (uint8_t)~HYP_PAGE_F_DONATED;
}

static bool owner_is_guest(const struct hyp_page *p)
{
	return p->owner >= HYP_ID_GUEST0 && p->owner - HYP_ID_GUEST0 < HYP_MAX_GUESTS;
}

/* A live guest's pages stay its own (pKVM refuses a VM that is not dying with -EINVAL). */
static int reclaim_guest_check(struct hyp_mem *m, const struct hyp_page *p)
{
	if (!owner_is_guest(p))
		return -HYP_EPERM;
	return guest_of_id(m, p->owner)->status == HYP_GUEST_DEAD ? 0 : -HYP_EINVAL;
}

static void reclaim_guest_commit(struct hyp_mem *m, hyp_pa_t pa, struct hyp_page *p)
{
	struct hyp_guest *g = guest_of_id(m, p->owner);

	/*
	 * The guest's data must not reach the host: zero before the host can map it. The guest
	 * is dead, so none of its vCPUs can reach the page through a stale TLB entry meanwhile.
	 */
	arch_zero_page(pa);
	page_to_poc(pa);
	s2_set_page(&g->pgt, hyp_ipa(pages_to_bytes(p->gfn)), 0);
	p->owner = HYP_ID_HOST;
	p->borrower = HYP_ID_NONE;
	p->gfn = 0;
	CHECK(g->nr_pages > 0);
	if (--g->nr_pages == 0)
		guest_free(m, g);
}

static int host_transition(struct hyp_mem *m, uint64_t pfn, uint64_t nr,
			   const struct host_transition *t)
{
	hyp_pa_t pa;
	int r;

	r = check_host_range(m, pfn, nr, &pa);
	if (r < 0)
		return r;

	hyp_lock(m);
	for (uint64_t i = 0; i < nr; i++) {
		r = t->check(m, hyp_page_lookup(m, hyp_pa(hyp_pa_addr(pa) + pages_to_bytes(i))));
		if (r < 0)
			goto unlock;
	}
	r = host_prepare(m, pa, pages_to_bytes(nr));
	if (r < 0)
		goto unlock;

	for (uint64_t i = 0; i < nr; i++) {
		hyp_pa_t page_pa = hyp_pa(hyp_pa_addr(pa) + pages_to_bytes(i));
		struct hyp_page *p = hyp_page_lookup(m, page_pa);
		t->commit(m, page_pa, p);
		host_sync_page(m, page_pa, p);
	}
	arch_s2_tlb_flush_vmid(m->host_s2.vmid);
unlock:
	hyp_unlock(m);
	return r;
}

static const struct host_transition share_hyp = { share_hyp_check, share_hyp_commit };
static const struct host_transition unshare_hyp = { unshare_hyp_check, unshare_hyp_commit };
static const struct host_transition donate_hyp = { donate_check, donate_hyp_commit };
static const struct host_transition reclaim_hyp = { reclaim_hyp_check, reclaim_hyp_commit };
static const struct host_transition reclaim_guest = { reclaim_guest_check, reclaim_guest_commit };

int hyp_host_share_hyp(struct hyp_mem *m, uint64_t pfn, uint64_t nr)
{
	return host_transition(m, pfn, nr, &share_hyp);
}

int hyp_host_unshare_hyp(struct hyp_mem *m, uint64_t pfn, uint64_t nr)
{
	return host_transition(m, pfn, nr, &unshare_hyp);
}

int hyp_host_donate_hyp(struct hyp_mem *m, uint64_t pfn, uint64_t nr)
{
	return host_transition(m, pfn, nr, &donate_hyp);
}

int hyp_host_reclaim_hyp(struct hyp_mem *m, uint64_t pfn, uint64_t nr)
{
	return host_transition(m, pfn, nr, &reclaim_hyp);
}

int hyp_host_reclaim_guest(struct hyp_mem *m, uint64_t pfn, uint64_t nr)
{
	return host_transition(m, pfn, nr, &reclaim_guest);
}

/* Arguments of a host call that maps host pages into a guest, checked before the lock. */
static int check_host_to_guest(const struct hyp_mem *m, uint64_t handle, uint64_t pfn, uint64_t gfn,
			       uint64_t nr, hyp_pa_t *ret_pa)
{
	int r;

	r = check_host_range(m, pfn, nr, ret_pa);
	if (r < 0)
		return r;
	return check_guest_call(handle, gfn, nr);
}

/*
 * Host pages mapped into a live guest: given (donate) or lent (share). Every page passes its
 * check and every guest address is free, then the host's side changes (and is flushed)
 * before the guest's table maps the pages.
 */
struct host_to_guest {
	int (*check)(struct hyp_mem *m, const struct hyp_page *p);
	void (*commit)(struct hyp_page *p, unsigned guest, uint64_t gfn);
	bool owned; /* the guest owns the pages afterwards (counted in nr_pages) */
};

static void donate_guest_commit(struct hyp_page *p, unsigned guest, uint64_t gfn)
{
	p->owner = (uint8_t)guest;
	p->gfn = (uint32_t)gfn;
}

/* Lendable to guests: the host's alone, or already lent to guests with room in the count. */
static int share_guest_check(struct hyp_mem *m, const struct hyp_page *p)
{
	if (p->owner != HYP_ID_HOST)
		return -HYP_EPERM;
	if (p->borrower == HYP_ID_NONE)
		return 0;
	if (p->borrower != HYP_ID_GUESTS)
		return -HYP_EPERM;
	return p->share_count == UINT32_MAX ? -HYP_EBUSY : 0;
}

static void share_guest_commit(struct hyp_page *p, unsigned guest, uint64_t gfn)
{
	p->borrower = HYP_ID_GUESTS;
	p->share_count++;
}

static int host_to_guest_transition(struct hyp_mem *m, uint64_t handle, uint64_t pfn, uint64_t gfn,
				    uint64_t nr, const struct host_to_guest *t)
{
	struct hyp_guest *g;
	hyp_pa_t pa;
	int r;

	r = check_host_to_guest(m, handle, pfn, gfn, nr, &pa);
	if (r < 0)
		return r;

	r = lock_guest(m, handle, &g);
	if (r < 0)
		goto unlock;
	for (uint64_t i = 0; i < nr; i++) {
		if (!guest_gfn_free(g, gfn + i)) {
			r = -HYP_EPERM; /* occupied or poisoned, as pKVM answers */
			goto unlock;
		}
		r = t->check(m, hyp_page_lookup(m, nth_page(pa, i)));
		if (r < 0)
			goto unlock;
	}
	r = host_prepare(m, pa, pages_to_bytes(nr));
	if (r < 0)
		goto unlock;
	r = guest_prepare(m, g, gfn, nr);
	if (r < 0)
		goto unlock;

	/* The host loses the pages (or their exclusivity), TLB included, first. */
	for (uint64_t i = 0; i < nr; i++) {
		struct hyp_page *p = hyp_page_lookup(m, nth_page(pa, i));
		t->commit(p, guest_id(handle), gfn + i);
		host_sync_page(m, nth_page(pa, i), p);
	}
	arch_s2_tlb_flush_vmid(m->host_s2.vmid);
	for (uint64_t i = 0; i < nr; i++)
		page_to_poc(nth_page(pa, i));
	arch_icache_inval_all();
	for (uint64_t i = 0; i < nr; i++)
		s2_set_page(&g->pgt, gfn_ipa(gfn + i),
			    s2_leaf_pte(nth_page(pa, i), S2_MAX_LEVEL, S2_PROT_RWX, S2_MEM_NORMAL,
					t->owned ? HYP_PAGE_OWNED : HYP_PAGE_SHARED_BORROWED));
	if (t->owned)
		g->nr_pages += nr;
	arch_s2_tlb_flush_vmid(g->pgt.vmid);
unlock:
	hyp_unlock(m);
	return r;
}

int hyp_host_donate_guest(struct hyp_mem *m, uint64_t handle, uint64_t pfn, uint64_t gfn,
			  uint64_t nr)
{
	static const struct host_to_guest t = { donate_check, donate_guest_commit, true };

	return host_to_guest_transition(m, handle, pfn, gfn, nr, &t);
}

int hyp_host_share_guest(struct hyp_mem *m, uint64_t handle, uint64_t pfn, uint64_t gfn,
			 uint64_t nr)
{
	static const struct host_to_guest t = { share_guest_check, share_guest_commit, false };

	return host_to_guest_transition(m, handle, pfn, gfn, nr, &t);
}

/* Sharing between a guest and the host, seen from the guest's side of the page. */
struct guest_transition {
	enum hyp_page_state from; /* the guest's state the call needs */
	uint8_t new_borrower;
	bool host_first; /* the host loses access: its side changes (and is flushed) first */
};

static void guest_sync_range(struct hyp_mem *m, struct hyp_guest *g, uint64_t gfn, uint64_t nr)
{
	for (uint64_t i = 0; i < nr; i++) {
		hyp_ipa_t ipa = hyp_ipa(pages_to_bytes(gfn + i));
		hyp_pa_t page_pa = s2_pte_pa(s2_lookup(&g->pgt, ipa, NULL));
		s2_set_page(&g->pgt, ipa, guest_pte(page_pa, hyp_page_lookup(m, page_pa)));
	}
	arch_s2_tlb_flush_vmid(g->pgt.vmid);
}

static void host_sync_guest_range(struct hyp_mem *m, struct hyp_guest *g, uint64_t gfn, uint64_t nr)
{
	for (uint64_t i = 0; i < nr; i++) {
		hyp_ipa_t ipa = hyp_ipa(pages_to_bytes(gfn + i));
		hyp_pa_t page_pa = s2_pte_pa(s2_lookup(&g->pgt, ipa, NULL));
		host_sync_page(m, page_pa, hyp_page_lookup(m, page_pa));
	}
	arch_s2_tlb_flush_vmid(m->host_s2.vmid);
}

static void guest_range_to_poc(struct hyp_mem *m, struct hyp_guest *g, uint64_t gfn, uint64_t nr)
{
	for (uint64_t i = 0; i < nr; i++)
		page_to_poc(s2_pte_pa(s2_lookup(&g->pgt, gfn_ipa(gfn + i), NULL)));
}

static int guest_share_transition(struct hyp_mem *m, uint64_t handle, uint64_t gfn, uint64_t nr,
				  const struct guest_transition *t)
{
	struct hyp_guest *g;
	int r;

	r = check_guest_call(handle, gfn, nr);
	if (r < 0)
		return r;

	r = lock_guest(m, handle, &g);
	if (r < 0)
		goto unlock;
	for (uint64_t i = 0; i < nr; i++) {
		struct hyp_page *p;

		r = guest_page_at(m, g, gfn + i, &p);
		if (r < 0)
			goto unlock;
		/* A page the host lends the guest is not the guest's to share. */
		if (p->owner != guest_id(handle) || hyp_page_state_of(p, p->owner) != t->from) {
			r = -HYP_EPERM;
			goto unlock;
		}
	}
	/* Guest pages need not be physically contiguous: prepare the host table page by page. */
	for (uint64_t i = 0; i < nr; i++) {
		uint64_t pte = s2_lookup(&g->pgt, hyp_ipa(pages_to_bytes(gfn + i)), NULL);
		r = host_prepare(m, s2_pte_pa(pte), HYP_PAGE_SIZE);
		if (r < 0)
			goto unlock;
	}

	for (uint64_t i = 0; i < nr; i++) {
		uint64_t pte = s2_lookup(&g->pgt, hyp_ipa(pages_to_bytes(gfn + i)), NULL);
		hyp_page_lookup(m, s2_pte_pa(pte))->borrower = t->new_borrower;
	}
	/*
	 * Whoever loses something goes first, TLB flushed: on share the guest's table stops
	 * calling the page its own before the host maps it; on unshare the host's mapping is gone
	 * before the guest's table calls the page its own again (hyp/model/ownership.pml).
	 */
	if (t->host_first) {
		host_sync_guest_range(m, g, gfn, nr);
		guest_range_to_poc(m, g, gfn, nr);
		guest_sync_range(m, g, gfn, nr);
	} else {
		guest_sync_range(m, g, gfn, nr);
		guest_range_to_poc(m, g, gfn, nr);
		host_sync_guest_range(m, g, gfn, nr);
	}
unlock:
	hyp_unlock(m);
	return r;
}

int hyp_guest_share_host(struct hyp_mem *m, uint64_t handle, uint64_t gfn, uint64_t nr)
{
	static const struct guest_transition t = { HYP_PAGE_OWNED, HYP_ID_HOST, false };

	return guest_share_transition(m, handle, gfn, nr, &t);
}

int hyp_guest_unshare_host(struct hyp_mem *m, uint64_t handle, uint64_t gfn, uint64_t nr)
{
	static const struct guest_transition t = { HYP_PAGE_SHARED_OWNED, HYP_ID_NONE, true };

	return guest_share_transition(m, handle, gfn, nr, &t);
}

int hyp_host_unshare_guest(struct hyp_mem *m, uint64_t handle, uint64_t gfn, uint64_t nr)
{
	struct hyp_guest *g;
	int r;

	r = check_guest_call(handle, gfn, nr);
	if (r < 0)
		return r;

	r = lock_guest(m, handle, &g);
	if (r < 0)
		goto unlock;
	for (uint64_t i = 0; i < nr; i++) {
		uint64_t pte = s2_lookup(&g->pgt, gfn_ipa(gfn + i), NULL);
		const struct hyp_page *p;

		if (!pte) {
			r = -HYP_ENOENT;
			goto unlock;
		}
		p = hyp_page_lookup(m, s2_pte_pa(pte));
		if (p->owner != HYP_ID_HOST) {
			r = -HYP_EPERM; /* the guest's own page, not one the host lent */
			goto unlock;
		}
		CHECK(p->borrower == HYP_ID_GUESTS && p->share_count > 0);
		r = host_prepare(m, s2_pte_pa(pte), HYP_PAGE_SIZE);
		if (r < 0)
			goto unlock;
	}

	/*
	 * Page by page, the guest loses the mapping, TLB included, before the host may own the
	 * page alone again (guest pages need not be physically contiguous).
	 */
	for (uint64_t i = 0; i < nr; i++) {
		hyp_pa_t page_pa = s2_pte_pa(s2_lookup(&g->pgt, gfn_ipa(gfn + i), NULL));
		struct hyp_page *p = hyp_page_lookup(m, page_pa);

		s2_set_page(&g->pgt, gfn_ipa(gfn + i), 0);
		arch_s2_tlb_flush_vmid(g->pgt.vmid);
		page_to_poc(page_pa);
		if (--p->share_count == 0) {
			p->borrower = HYP_ID_NONE;
			host_sync_page(m, page_pa, p);
		}
	}
	arch_s2_tlb_flush_vmid(m->host_s2.vmid);
unlock:
	hyp_unlock(m);
	return r;
}

int hyp_host_force_reclaim_guest(struct hyp_mem *m, uint64_t pfn)
{
	struct hyp_guest *g;
	struct hyp_page *p;
	hyp_pa_t pa;
	int r;

	r = check_host_range(m, pfn, 1, &pa);
	if (r < 0)
		return r;

	hyp_lock(m);
	p = hyp_page_lookup(m, pa);
	/* Only a page the guest holds alone: one it shares is the host's to reach already. */
	if (!owner_is_guest(p) || p->borrower != HYP_ID_NONE) {
		r = -HYP_EPERM;
		goto unlock;
	}
	r = host_prepare(m, pa, HYP_PAGE_SIZE);
	if (r < 0)
		goto unlock;

	/* The guest loses the page (its address stays poisoned) before the data is wiped. */
	g = guest_of_id(m, p->owner);
	s2_set_page(&g->pgt, gfn_ipa(p->gfn), S2_PTE_POISON);
	arch_s2_tlb_flush_vmid(g->pgt.vmid);
	arch_zero_page(pa);
	page_to_poc(pa);
	p->owner = HYP_ID_HOST;
	p->gfn = 0;
	host_sync_page(m, pa, p);
	arch_s2_tlb_flush_vmid(m->host_s2.vmid);
	CHECK(g->nr_pages > 0);
	if (--g->nr_pages == 0 && g->status == HYP_GUEST_DEAD)
		guest_free(m, g);
unlock:
	hyp_unlock(m);
	return r;
}

/*
 * The hypervisor's holds on pages it may use: pages the host shares with it (pins) and pages
 * the host donated to it. Taken and dropped on the hypervisor's behalf; pfn and nr are still
 * checked, and dropping a hold that is not there is a hypervisor bug.
 */
static bool shared_with_hyp(const struct hyp_page *p)
{
	return p->owner == HYP_ID_HOST && p->borrower == HYP_ID_HYP;
}

static bool donated_to_hyp(const struct hyp_page *p)
{
	return p->owner == HYP_ID_HYP && (p->flags & HYP_PAGE_F_DONATED);
}

static int hold_pages(struct hyp_mem *m, uint64_t pfn, uint64_t nr,
		      bool (*holdable)(const struct hyp_page *p))
{
	hyp_pa_t pa;
	int r;

	r = check_host_range(m, pfn, nr, &pa);
	if (r < 0)
		return r;

	hyp_lock(m);
	for (uint64_t i = 0; i < nr; i++) {
		const struct hyp_page *p = hyp_page_lookup(m, nth_page(pa, i));
		if (!holdable(p)) {
			r = -HYP_EPERM;
			goto unlock;
		}
		if (p->pins == UINT32_MAX) {
			r = -HYP_EBUSY;
			goto unlock;
		}
	}
	for (uint64_t i = 0; i < nr; i++)
		hyp_page_lookup(m, nth_page(pa, i))->pins++;
unlock:
	hyp_unlock(m);
	return r;
}

static void release_pages(struct hyp_mem *m, uint64_t pfn, uint64_t nr,
			  bool (*holdable)(const struct hyp_page *p))
{
	hyp_pa_t pa;

	CHECK(check_host_range(m, pfn, nr, &pa) == 0);
	hyp_lock(m);
	for (uint64_t i = 0; i < nr; i++) {
		struct hyp_page *p = hyp_page_lookup(m, nth_page(pa, i));
		CHECK(holdable(p) && p->pins > 0);
		p->pins--;
	}
	hyp_unlock(m);
}

int hyp_pin_shared(struct hyp_mem *m, uint64_t pfn, uint64_t nr)
{
	return hold_pages(m, pfn, nr, shared_with_hyp);
}

void hyp_unpin_shared(struct hyp_mem *m, uint64_t pfn, uint64_t nr)
{
	release_pages(m, pfn, nr, shared_with_hyp);
}

int hyp_hold_donated(struct hyp_mem *m, uint64_t pfn, uint64_t nr)
{
	return hold_pages(m, pfn, nr, donated_to_hyp);
}

void hyp_release_donated(struct hyp_mem *m, uint64_t pfn, uint64_t nr)
{
	release_pages(m, pfn, nr, donated_to_hyp);
}

int hyp_guest_create(struct hyp_mem *m, uint64_t *ret_handle)
{
	int r = -HYP_ENOMEM;

	hyp_lock(m);
	for (uint64_t h = 0; h < HYP_MAX_GUESTS; h++) {
		struct hyp_guest *g = &m->guests[h];
		if (g->status != HYP_GUEST_FREE)
			continue;
		/* VMID 0 is the host's. */
		r = s2_pgtable_init(&g->pgt, &m->pool, HYP_GUEST_IPA_BITS, (uint16_t)(h + 1));
		if (r == -HYP_ENOMEM && host_s2_recycle(m))
			r = s2_pgtable_init(&g->pgt, &m->pool, HYP_GUEST_IPA_BITS,
					    (uint16_t)(h + 1));
		if (r < 0)
			break;
		g->status = HYP_GUEST_ALIVE;
		g->nr_pages = 0;
		g->vcpu_loaded = false;
		*ret_handle = h;
		break;
	}
	hyp_unlock(m);
	return r;
}

struct drop_ctx {
	struct hyp_mem *m;
	struct hyp_guest *g;
	bool dropped;
};

/* One leaf of a dying guest: a page the host lent it is unmapped and its count dropped. */
static int drop_host_share(hyp_ipa_t ipa, uint64_t pte, unsigned level, void *userdata)
{
	struct drop_ctx *c = userdata;
	hyp_pa_t pa = s2_pte_pa(pte);
	struct hyp_page *p = hyp_page_lookup(c->m, pa);

	CHECK(level == S2_MAX_LEVEL && p);
	if (p->owner != HYP_ID_HOST)
		return 0;
	CHECK(p->borrower == HYP_ID_GUESTS && p->share_count > 0);
	s2_set_page(&c->g->pgt, ipa, 0);
	arch_s2_tlb_flush_vmid(c->g->pgt.vmid);
	page_to_poc(pa);
	if (--p->share_count == 0) {
		p->borrower = HYP_ID_NONE;
		host_sync_page(c->m, pa, p);
	}
	c->dropped = true;
	return 0;
}

int hyp_guest_destroy(struct hyp_mem *m, uint64_t handle)
{
	struct hyp_guest *g;
	int r;

	r = check_guest_handle(handle);
	if (r < 0)
		return r;

	r = lock_guest(m, handle, &g);
	if (r < 0)
		goto unlock;
	/* Its tables must not be in use on a CPU while they change, let alone freed. */
	if (g->vcpu_loaded) {
		r = -HYP_EBUSY;
		goto unlock;
	}
	/*
	 * Its pages stay its own until the host reclaims them, zeroed, one by one; what the
	 * host lent it goes back now, the guest's mappings first.
	 */
	g->status = HYP_GUEST_DEAD;
	{
		struct drop_ctx c = { m, g, false };
		s2_walk_leaves(&g->pgt, drop_host_share, &c);
		arch_s2_tlb_flush_vmid(g->pgt.vmid);
		if (c.dropped)
			arch_s2_tlb_flush_vmid(m->host_s2.vmid);
	}
	if (g->nr_pages == 0)
		guest_free(m, g);
unlock:
	hyp_unlock(m);
	return r;
}

int hyp_vcpu_load(struct hyp_mem *m, uint64_t handle, uint64_t *ret_vttbr)
{
	struct hyp_guest *g;
	int r;

	r = check_guest_handle(handle);
	if (r < 0)
		return r;
	r = lock_guest(m, handle, &g);
	if (r < 0)
		goto unlock;
	if (g->vcpu_loaded) {
		r = -HYP_EBUSY; /* its one vCPU runs elsewhere */
		goto unlock;
	}
	g->vcpu_loaded = true;
	*ret_vttbr = s2_vttbr(&g->pgt);
unlock:
	hyp_unlock(m);
	return r;
}

void hyp_vcpu_put(struct hyp_mem *m, uint64_t handle)
{
	CHECK(handle < HYP_MAX_GUESTS);
	hyp_lock(m);
	CHECK(m->guests[handle].status == HYP_GUEST_ALIVE && m->guests[handle].vcpu_loaded);
	m->guests[handle].vcpu_loaded = false;
	hyp_unlock(m);
}

int hyp_host_page_state(struct hyp_mem *m, uint64_t pfn, enum hyp_page_state *ret_state,
			unsigned *ret_owner)
{
	const struct hyp_page *p;
	hyp_pa_t pa;
	int r;

	r = check_host_range(m, pfn, 1, &pa);
	if (r < 0)
		return r;
	hyp_lock(m);
	p = hyp_page_lookup(m, pa);
	*ret_state = hyp_page_state_of(p, HYP_ID_HOST);
	*ret_owner = p->owner >= HYP_ID_GUEST0 ? PVM_HYP_OWNER_GUEST : p->owner;
	hyp_unlock(m);
	return 0;
}

/* Every page of the 2 MiB block around pa is the host's alone: map it as one block. */
static bool host_owns_block(struct hyp_mem *m, uint64_t block)
{
	const struct hyp_region *r = region_of(m, block);
	uint64_t size = s2_level_size(2);

	if (!r || size > r->map.size - (block - hyp_pa_addr(r->map.base)))
		return false;
	for (uint64_t off = 0; off < size; off += HYP_PAGE_SIZE)
		if (hyp_page_state_of(hyp_page_lookup(m, hyp_pa(block + off)), HYP_ID_HOST) !=
		    HYP_PAGE_OWNED)
			return false;
	return true;
}

static int host_map_fault(struct hyp_mem *m, uint64_t addr, uint64_t block)
{
	const struct hyp_page *p = hyp_page_lookup(m, hyp_pa(addr));

	if (!p) /* Outside the memory map: device memory, never executable. */
		return s2_map(&m->host_s2, hyp_ipa(addr), hyp_pa(addr), HYP_PAGE_SIZE,
			      S2_PROT_R | S2_PROT_W, S2_MEM_DEVICE, HYP_PAGE_OWNED, false);
	if (hyp_page_state_of(p, HYP_ID_HOST) == HYP_PAGE_NOPAGE)
		return -HYP_EPERM;
	if (host_owns_block(m, block))
		return s2_map(&m->host_s2, hyp_ipa(block), hyp_pa(block), s2_level_size(2),
			      S2_PROT_RWX, S2_MEM_NORMAL, HYP_PAGE_OWNED, true);
	return s2_map(&m->host_s2, hyp_ipa(addr), hyp_pa(addr), HYP_PAGE_SIZE, S2_PROT_RWX,
		      S2_MEM_NORMAL, hyp_page_state_of(p, HYP_ID_HOST), false);
}

int hyp_host_handle_s2_fault(struct hyp_mem *m, hyp_ipa_t ipa)
{
	uint64_t addr = hyp_ipa_addr(ipa) & ~(HYP_PAGE_SIZE - 1);
	uint64_t block = addr & ~(s2_level_size(2) - 1);
	int r;

	if (addr >> HYP_HOST_IPA_BITS)
		return -HYP_EINVAL;

	hyp_lock(m);
	r = host_map_fault(m, addr, block);
	if (r == -HYP_ENOMEM && host_s2_recycle(m))
		r = host_map_fault(m, addr, block);
	hyp_unlock(m);
	return r;
}

static int check_memmap(const struct hyp_memmap_region *map, size_t nr_regions)
{
	uint64_t prev_end = 0;

	if (nr_regions == 0 || nr_regions > HYP_MAX_REGIONS)
		return -HYP_EINVAL;
	for (size_t i = 0; i < nr_regions; i++) {
		uint64_t base = hyp_pa_addr(map[i].base), size = map[i].size;
		if ((base | size) & (HYP_PAGE_SIZE - 1) || size == 0 || base < prev_end)
			return -HYP_EINVAL;
		if (base >> HYP_HOST_IPA_BITS || size > (1ULL << HYP_HOST_IPA_BITS) - base)
			return -HYP_EINVAL;
		/* Guest frame numbers are stored in 32 bits. */
		if ((base + size) >> (32 + HYP_PAGE_SHIFT))
			return -HYP_EINVAL;
		prev_end = base + size;
	}
	return 0;
}

int hyp_mem_init(struct hyp_mem *m, const struct hyp_memmap_region *map, size_t nr_regions,
		 hyp_pa_t pool_base, size_t pool_pages)
{
	const struct hyp_region *pool_region;
	size_t array_pages;
	int r;

	r = check_memmap(map, nr_regions);
	if (r < 0)
		return r;

	__builtin_memset(m, 0, sizeof(*m));
	for (size_t i = 0; i < nr_regions; i++) {
		m->regions[i].map = map[i];
		m->regions[i].first_page = m->nr_pages;
		m->nr_pages += map[i].size >> HYP_PAGE_SHIFT;
	}
	m->nr_regions = nr_regions;

	pool_region = region_of(m, hyp_pa_addr(pool_base));
	if (!pool_region || pool_region->map.type != HYP_REGION_HYP ||
	    pool_pages > (pool_region->map.size -
			  (hyp_pa_addr(pool_base) - hyp_pa_addr(pool_region->map.base))) >>
		HYP_PAGE_SHIFT)
		return -HYP_EINVAL;

	/* The page array sits at the start of the pool memory, the pool proper after it. */
	array_pages = (m->nr_pages * sizeof(struct hyp_page) + HYP_PAGE_SIZE - 1) >> HYP_PAGE_SHIFT;
	if (array_pages >= pool_pages)
		return -HYP_EINVAL;
	m->pages = arch_pa_to_va(pool_base);
	r = hyp_pool_init(&m->pool, hyp_pa(hyp_pa_addr(pool_base) + pages_to_bytes(array_pages)),
			  pool_pages - array_pages);
	if (r < 0)
		return r;

	for (size_t i = 0; i < nr_regions; i++) {
		const struct hyp_region *reg = &m->regions[i];
		uint8_t owner = reg->map.type == HYP_REGION_HYP ? HYP_ID_HYP : HYP_ID_HOST;
		for (size_t j = 0; j < reg->map.size >> HYP_PAGE_SHIFT; j++)
			m->pages[reg->first_page + j] = (struct hyp_page){
				.owner = owner,
				.borrower = HYP_ID_NONE,
			};
	}
	for (size_t h = 0; h < HYP_MAX_GUESTS; h++)
		m->guests[h].status = HYP_GUEST_FREE;

	return s2_pgtable_init(&m->host_s2, &m->pool, HYP_HOST_IPA_BITS, 0);
}
