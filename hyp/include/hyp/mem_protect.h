/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Page ownership: which component (host, hypervisor, a guest) owns each physical page, who
 * borrows it, and the transitions between those states. The one place the hypervisor decides
 * whether the host or a guest may touch a page; the stage-2 tables are written from here.
 */
#ifndef HYP_MEM_PROTECT_H
#define HYP_MEM_PROTECT_H

#include "hyp/pgtable.h"
#include "hyp/pool.h"
#include "hyp/types.h"

#define HYP_MAX_REGIONS 8
#define HYP_MAX_GUESTS 16
#define HYP_HOST_IPA_BITS 40
#define HYP_GUEST_IPA_BITS 36

/* Component IDs as stored per page. */
enum hyp_component {
	HYP_ID_HOST = 0,
	HYP_ID_HYP = 1,
	HYP_ID_GUEST0 = 2,    /* guest with handle h has ID HYP_ID_GUEST0 + h */
	HYP_ID_GUESTS = 0xfe, /* borrower: one or more guests the host shares the page with */
	HYP_ID_NONE = 0xff,
};

enum hyp_region_type {
	HYP_REGION_HOST_RAM, /* the host owns it at boot */
	HYP_REGION_HYP,	     /* hypervisor image, pool: the hypervisor owns it at boot */
};

/* One range of physical RAM; everything outside the map is MMIO to the host. */
struct hyp_memmap_region {
	hyp_pa_t base;
	uint64_t size;
	enum hyp_region_type type;
};

/* Per physical page: the tracking the ownership checks consult. */
struct hyp_page {
	uint8_t owner;	  /* enum hyp_component or a guest ID */
	uint8_t borrower; /* who it is shared with (HYP_ID_GUESTS: guests), or HYP_ID_NONE */
	uint8_t flags;	  /* HYP_PAGE_F_* */
	uint8_t reserved;
	/* Which one holds follows from owner and borrower; the others are then 0. */
	union {
		uint32_t gfn;	      /* owner a guest: the guest frame it is mapped at */
		uint32_t share_count; /* owner host, borrower HYP_ID_GUESTS: guest mappings */
		uint32_t pins;	      /* borrower hyp, or owner hyp and donated: hyp's holds */
	};
};

#define HYP_PAGE_F_DONATED (1U << 0) /* given to the hypervisor by the host: may go back */

struct hyp_region {
	struct hyp_memmap_region map;
	size_t first_page; /* index of its first page in hyp_mem.pages */
};

enum hyp_guest_status {
	HYP_GUEST_FREE,
	HYP_GUEST_ALIVE,
	HYP_GUEST_DEAD, /* torn down; its pages wait for the host to reclaim them */
};

struct hyp_guest {
	enum hyp_guest_status status;
	struct s2_pgtable pgt;
	uint64_t nr_pages; /* pages it owns (not those the host shares with it) */
	bool vcpu_loaded;  /* its vCPU runs on a CPU: the guest cannot be destroyed */
};

struct hyp_mem {
	uint32_t lock;
	struct hyp_region regions[HYP_MAX_REGIONS];
	size_t nr_regions;
	size_t nr_pages;
	struct hyp_page *pages;
	struct hyp_pool pool;
	struct s2_pgtable host_s2;
	struct hyp_guest guests[HYP_MAX_GUESTS];
};

/*
 * Set up ownership for a memory map (sorted, page-aligned, non-overlapping regions); the pool
 * [pool_base, +pool_pages) must lie in a HYP region and backs the page tables and page array.
 */
int hyp_mem_init(struct hyp_mem *m, const struct hyp_memmap_region *map, size_t nr_regions,
		 hyp_pa_t pool_base, size_t pool_pages);

/* Host calls: pfn and nr come straight from the host and are checked here. */
int hyp_host_share_hyp(struct hyp_mem *m, uint64_t pfn, uint64_t nr);
int hyp_host_unshare_hyp(struct hyp_mem *m, uint64_t pfn, uint64_t nr);
int hyp_host_donate_hyp(struct hyp_mem *m, uint64_t pfn, uint64_t nr);
int hyp_host_reclaim_hyp(struct hyp_mem *m, uint64_t pfn, uint64_t nr);
int hyp_guest_create(struct hyp_mem *m, uint64_t *ret_handle);
int hyp_guest_destroy(struct hyp_mem *m, uint64_t handle);
int hyp_host_donate_guest(struct hyp_mem *m, uint64_t handle, uint64_t pfn, uint64_t gfn,
			  uint64_t nr);
int hyp_host_reclaim_guest(struct hyp_mem *m, uint64_t pfn, uint64_t nr);
int hyp_host_page_state(struct hyp_mem *m, uint64_t pfn, enum hyp_page_state *ret_state,
			unsigned *ret_owner);

/*
 * The host lends its pages to a live guest at gfn (the host keeps access); one page may be
 * lent at several guest addresses at once, counted per page. Unsharing takes the guest's
 * mapping away first; the host owns the page alone again when its count drops to zero.
 */
int hyp_host_share_guest(struct hyp_mem *m, uint64_t handle, uint64_t pfn, uint64_t gfn,
			 uint64_t nr);
int hyp_host_unshare_guest(struct hyp_mem *m, uint64_t handle, uint64_t gfn, uint64_t nr);

/*
 * The host takes one page back from a guest (alive or not) that owns it unshared: the guest's
 * address is poisoned (its calls there get -EHWPOISON, the host cannot map anything there
 * again), the page is zeroed and cleaned to the point of coherency, then the host's.
 */
int hyp_host_force_reclaim_guest(struct hyp_mem *m, uint64_t pfn);

/*
 * The hypervisor's own holds. A pin keeps a page the host shares with the hypervisor from
 * being unshared (-EBUSY) while the hypervisor uses it; unpinning what is not pinned is a
 * hypervisor bug (CHECK). Not callable by the host.
 */
int hyp_pin_shared(struct hyp_mem *m, uint64_t pfn, uint64_t nr);
void hyp_unpin_shared(struct hyp_mem *m, uint64_t pfn, uint64_t nr);

/*
 * A hold keeps a page the host donated to the hypervisor from going back (HOST_RECLAIM_HYP:
 * -EBUSY) while the hypervisor uses it. Pages that do go back are zeroed first.
 */
int hyp_hold_donated(struct hyp_mem *m, uint64_t pfn, uint64_t nr);
void hyp_release_donated(struct hyp_mem *m, uint64_t pfn, uint64_t nr);

/* Guest calls, on behalf of the guest with this handle. */
int hyp_guest_share_host(struct hyp_mem *m, uint64_t handle, uint64_t gfn, uint64_t nr);
int hyp_guest_unshare_host(struct hyp_mem *m, uint64_t handle, uint64_t gfn, uint64_t nr);

/*
 * Its vCPU is about to run on this CPU: the live guest's VTTBR_EL2 value, or -EBUSY if that
 * vCPU is loaded already. Until hyp_vcpu_put(), GUEST_DESTROY answers -EBUSY.
 */
int hyp_vcpu_load(struct hyp_mem *m, uint64_t handle, uint64_t *ret_vttbr);
void hyp_vcpu_put(struct hyp_mem *m, uint64_t handle);

/*
 * The host faulted on stage 2 at ipa: map it if the host may access it (lazily, in blocks where
 * the whole block is the host's); -EPERM if not (the caller injects an abort into the host).
 */
int hyp_host_handle_s2_fault(struct hyp_mem *m, hyp_ipa_t ipa);

/* Views of a page for tests and the invariant checker. */
struct hyp_page *hyp_page_lookup(struct hyp_mem *m, hyp_pa_t pa);
enum hyp_page_state hyp_page_state_of(const struct hyp_page *p, unsigned component);

#endif
