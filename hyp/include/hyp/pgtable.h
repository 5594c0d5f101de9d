/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * arm64 stage-2 translation tables, 4 KiB granule: descriptors, VTCR_EL2, map/unmap/walk.
 * Page-table pages come from the hypervisor's pool; the page state of each leaf lives in
 * descriptor software bits so the tables themselves can be checked against the ownership core.
 */
#ifndef HYP_PGTABLE_H
#define HYP_PGTABLE_H

#include "hyp/pool.h"
#include "hyp/types.h"

/* Page state as one component sees a page (documented in pvm-hyp-abi.h and ABI.md). */
enum hyp_page_state {
	HYP_PAGE_OWNED = PVM_HYP_PAGE_OWNED,
	HYP_PAGE_SHARED_OWNED = PVM_HYP_PAGE_SHARED_OWNED,
	HYP_PAGE_SHARED_BORROWED = PVM_HYP_PAGE_SHARED_BORROWED,
	HYP_PAGE_NOPAGE = PVM_HYP_PAGE_NOPAGE,
};

/* Stage-2 descriptor fields (Arm ARM D8.3, VMSAv8-64 stage-2 block and page descriptors). */
#define S2_PTE_VALID (1ULL << 0)
#define S2_PTE_TABLE (1ULL << 1) /* table at levels 0-2, page at level 3; clear: block */
#define S2_PTE_MEMATTR_SHIFT 2
#define S2_PTE_MEMATTR_MASK (0xfULL << S2_PTE_MEMATTR_SHIFT)
#define S2_MEMATTR_DEVICE_nGnRE 0x1ULL
#define S2_MEMATTR_NORMAL_WB 0xfULL /* outer and inner write-back cacheable */
#define S2_PTE_S2AP_R (1ULL << 6)
#define S2_PTE_S2AP_W (1ULL << 7)
#define S2_PTE_SH_INNER (3ULL << 8)
#define S2_PTE_AF (1ULL << 10)
#define S2_PTE_OA_MASK 0x0000fffffffff000ULL
#define S2_PTE_XN (1ULL << 54)
#define S2_PTE_SW_SHIFT 55 /* software bits 56:55 hold enum hyp_page_state */
#define S2_PTE_SW_MASK (3ULL << S2_PTE_SW_SHIFT)
/*
 * An invalid level-3 descriptor that remembers a guest page taken back by force: the walker
 * ignores it (valid bit clear), the ownership core refuses to reuse the address.
 */
#define S2_PTE_POISON (1ULL << 58)

#define S2_MAX_LEVEL 3
#define S2_MAX_ROOT_PAGES 16

/* Access a leaf grants. */
enum s2_prot {
	S2_PROT_R = 1 << 0,
	S2_PROT_W = 1 << 1,
	S2_PROT_X = 1 << 2,
	S2_PROT_RWX = S2_PROT_R | S2_PROT_W | S2_PROT_X,
};

enum s2_mem {
	S2_MEM_NORMAL,
	S2_MEM_DEVICE,
};

/* Shape of a stage-2 table for an IPA size: start level and concatenated root tables. */
struct s2_geometry {
	unsigned ipa_bits;
	unsigned start_level;
	unsigned root_pages;   /* concatenated root tables, 1..16 */
	uint64_t root_entries; /* descriptors in the (concatenated) root */
};

struct s2_pgtable {
	struct s2_geometry geo;
	uint64_t *root;
	hyp_pa_t root_pa;
	uint16_t vmid;
	struct hyp_pool *pool;
};

int s2_geometry(unsigned ipa_bits, struct s2_geometry *ret_geo);

/* VTCR_EL2 for this geometry; parange is ID_AA64MMFR0_EL1.PARange (0..6). */
int s2_vtcr(const struct s2_geometry *geo, unsigned parange, uint64_t *ret_vtcr);

/* VTTBR_EL2: root table address and VMID. */
uint64_t s2_vttbr(const struct s2_pgtable *pgt);

int s2_pgtable_init(struct s2_pgtable *pgt, struct hyp_pool *pool, unsigned ipa_bits,
		    uint16_t vmid);
/* Frees every table page, root included; the translation must no longer be live. */
void s2_pgtable_destroy(struct s2_pgtable *pgt);

/* A leaf descriptor for a page (level 3) or block (levels 1, 2) at pa. */
uint64_t s2_leaf_pte(hyp_pa_t pa, unsigned level, unsigned prot, enum s2_mem mem,
		     enum hyp_page_state state);

static inline enum hyp_page_state s2_pte_state(uint64_t pte)
{
	return (enum hyp_page_state)((pte & S2_PTE_SW_MASK) >> S2_PTE_SW_SHIFT);
}

static inline hyp_pa_t s2_pte_pa(uint64_t pte)
{
	return hyp_pa(pte & S2_PTE_OA_MASK);
}

/* Bytes one descriptor at this level covers: 512 GiB, 1 GiB, 2 MiB, 4 KiB. */
static inline uint64_t s2_level_size(unsigned level)
{
	return 1ULL << (HYP_PAGE_SHIFT + 9 * (S2_MAX_LEVEL - level));
}

/*
 * Map [ipa, ipa + size) to [pa, ...) with leaves made by s2_leaf_pte(); uses blocks where the
 * range and alignment allow it and allow_block is set; replaces what was mapped there.
 * -ENOMEM when the pool runs dry; what was mapped before may then be partly replaced.
 */
int s2_map(struct s2_pgtable *pgt, hyp_ipa_t ipa, hyp_pa_t pa, uint64_t size, unsigned prot,
	   enum s2_mem mem, enum hyp_page_state state, bool allow_block);

/*
 * Make every page of the range addressable by a level-3 descriptor: allocate missing tables and
 * split blocks into equivalent pages. The translation stays the same, so -ENOMEM half way is
 * harmless. Afterwards s2_set_page() on the range cannot fail.
 */
int s2_prepare(struct s2_pgtable *pgt, hyp_ipa_t ipa, uint64_t size);

/* Write the level-3 descriptor of a prepared page (0 unmaps). Caller flushes the TLB. */
void s2_set_page(struct s2_pgtable *pgt, hyp_ipa_t ipa, uint64_t pte);

/*
 * The same for a table filled on demand (the host's): where no table reaches ipa's level-3
 * entry nothing is mapped there, and nothing is written. A block over ipa is a bug.
 */
void s2_update_page(struct s2_pgtable *pgt, hyp_ipa_t ipa, uint64_t pte);

/* Unmap everything and free every table below the root, flushing the TLB on the way. */
void s2_clear(struct s2_pgtable *pgt);

/* Descriptor translating ipa (0 if none) and the level it sits at. */
uint64_t s2_lookup(const struct s2_pgtable *pgt, hyp_ipa_t ipa, unsigned *ret_level);

/* The last descriptor on the walk to ipa as stored, valid or not (S2_PTE_POISON markers). */
uint64_t s2_lookup_desc(const struct s2_pgtable *pgt, hyp_ipa_t ipa);

/* Calls fn for every valid leaf in IPA order; stops at and returns the first nonzero result. */
typedef int (*s2_leaf_fn)(hyp_ipa_t ipa, uint64_t pte, unsigned level, void *userdata);
int s2_walk_leaves(const struct s2_pgtable *pgt, s2_leaf_fn fn, void *userdata);

/* Table pages this pgtable holds, root included (for leak checks). */
size_t s2_count_table_pages(const struct s2_pgtable *pgt);

#endif
