// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * arm64 stage-2 tables with the 4 KiB granule: geometry and VTCR_EL2 for an IPA size, leaf
 * descriptors carrying the page state in software bits, mapping with blocks, splitting blocks
 * ahead of a transition so that the transition's commit cannot fail, and walks for checkers.
 */
#include "hyp/arch.h"
#include "hyp/pgtable.h"

#define S2_ENTRIES_PER_TABLE 512ULL

static void pte_write(uint64_t *ptep, uint64_t pte)
{
	__atomic_store_n(ptep, pte, __ATOMIC_RELAXED);
}

static bool pte_valid(uint64_t pte)
{
	return pte & S2_PTE_VALID;
}

static bool pte_is_table(uint64_t pte, unsigned level)
{
	return level < S2_MAX_LEVEL &&
	       (pte & (S2_PTE_VALID | S2_PTE_TABLE)) == (S2_PTE_VALID | S2_PTE_TABLE);
}

static uint64_t *pte_table(uint64_t pte)
{
	return arch_pa_to_va(s2_pte_pa(pte));
}

static uint64_t table_pte(uint64_t *table)
{
	return (hyp_pa_addr(arch_va_to_pa(table)) & S2_PTE_OA_MASK) | S2_PTE_VALID | S2_PTE_TABLE;
}

static unsigned level_shift(unsigned level)
{
	return HYP_PAGE_SHIFT + 9 * (S2_MAX_LEVEL - level);
}

int s2_geometry(unsigned ipa_bits, struct s2_geometry *ret_geo)
{
	unsigned levels;

	/* Below 32 bits is not worth a stage 2; above 48 needs 52-bit (LPA2) descriptors. */
	if (ipa_bits < 32 || ipa_bits > 48)
		return -HYP_EINVAL;

	/*
	 * Up to 16 root tables may be concatenated, which resolves 4 more bits at the start
	 * level: the levels needed are those of a 4-bit smaller input address.
	 */
	levels = (ipa_bits - 4 - 4) / 9;
	ret_geo->ipa_bits = ipa_bits;
	ret_geo->start_level = S2_MAX_LEVEL + 1 - levels;
	ret_geo->root_entries = 1ULL << (ipa_bits - level_shift(ret_geo->start_level));
	ret_geo->root_pages = ret_geo->root_entries > S2_ENTRIES_PER_TABLE
				  ? (unsigned)(ret_geo->root_entries / S2_ENTRIES_PER_TABLE)
				  : 1;
	return 0;
}

int s2_vtcr(const struct s2_geometry *geo, unsigned parange, uint64_t *ret_vtcr)
{
	static const unsigned parange_bits[] = { 32, 36, 40, 42, 44, 48, 52 };
	static const uint64_t sl0_of_start_level[] = { 2, 1, 0 }; /* 4 KiB granule encoding */
	uint64_t vtcr;

	if (parange >= HYP_ARRAY_SIZE(parange_bits) || geo->start_level > 2)
		return -HYP_EINVAL;
	/* 52-bit output addresses need LPA2 descriptors, which we do not build. */
	if (parange > 5)
		parange = 5;
	if (geo->ipa_bits > parange_bits[parange])
		return -HYP_EINVAL;

	vtcr = (uint64_t)(64 - geo->ipa_bits);		   /* T0SZ */
	vtcr |= sl0_of_start_level[geo->start_level] << 6; /* SL0 */
	vtcr |= 1ULL << 8;				   /* IRGN0: write-back, allocate */
	vtcr |= 1ULL << 10;				   /* ORGN0: write-back, allocate */
	vtcr |= 3ULL << 12;				   /* SH0: inner shareable */
	vtcr |= 0ULL << 14;				   /* TG0: 4 KiB */
	vtcr |= (uint64_t)parange << 16;		   /* PS */
	vtcr |= 1ULL << 31;				   /* RES1 */
	*ret_vtcr = vtcr;
	return 0;
}

uint64_t s2_vttbr(const struct s2_pgtable *pgt)
{
	return hyp_pa_addr(pgt->root_pa) | ((uint64_t)pgt->vmid << 48);
}

int s2_pgtable_init(struct s2_pgtable *pgt, struct hyp_pool *pool, unsigned ipa_bits, uint16_t vmid)
{
	struct s2_geometry geo;
	int r;

	r = s2_geometry(ipa_bits, &geo);
	if (r < 0)
		return r;
	/* Concatenated root tables must be contiguous and aligned to their total size. */
	pgt->root = hyp_pool_alloc(pool, geo.root_pages);
	if (!pgt->root)
		return -HYP_ENOMEM;
	pgt->geo = geo;
	pgt->root_pa = arch_va_to_pa(pgt->root);
	pgt->vmid = vmid;
	pgt->pool = pool;
	return 0;
}

static uint64_t entries_at(const struct s2_pgtable *pgt, unsigned level)
{
	return level == pgt->geo.start_level ? pgt->geo.root_entries : S2_ENTRIES_PER_TABLE;
}

static uint64_t *entry_at(const struct s2_pgtable *pgt, uint64_t *table, unsigned level,
			  uint64_t ipa)
{
	return &table[(ipa >> level_shift(level)) & (entries_at(pgt, level) - 1)];
}

static void free_table(struct s2_pgtable *pgt, uint64_t *table, unsigned level)
{
	for (uint64_t i = 0; i < S2_ENTRIES_PER_TABLE; i++)
		if (pte_is_table(table[i], level))
			free_table(pgt, pte_table(table[i]), level + 1);
	hyp_pool_free(pgt->pool, table, 1);
}

void s2_pgtable_destroy(struct s2_pgtable *pgt)
{
	unsigned level = pgt->geo.start_level;

	for (uint64_t i = 0; i < pgt->geo.root_entries; i++)
		if (pte_is_table(pgt->root[i], level))
			free_table(pgt, pte_table(pgt->root[i]), level + 1);
	hyp_pool_free(pgt->pool, pgt->root, pgt->geo.root_pages);
	pgt->root = NULL;
}

uint64_t s2_leaf_pte(hyp_pa_t pa, unsigned level, unsigned prot, enum s2_mem mem,
		     enum hyp_page_state state)
{
	uint64_t pte;

	CHECK(level >= 1 && level <= S2_MAX_LEVEL);
	CHECK((hyp_pa_addr(pa) & (s2_level_size(level) - 1)) == 0);
	CHECK(state != HYP_PAGE_NOPAGE);

	pte = (hyp_pa_addr(pa) & S2_PTE_OA_MASK) | S2_PTE_VALID | S2_PTE_AF;
	if (level == S2_MAX_LEVEL)
		pte |= S2_PTE_TABLE; /* "page" descriptor encoding */
	if (mem == S2_MEM_NORMAL)
		pte |= (S2_MEMATTR_NORMAL_WB << S2_PTE_MEMATTR_SHIFT) | S2_PTE_SH_INNER;
	else
		pte |= S2_MEMATTR_DEVICE_nGnRE << S2_PTE_MEMATTR_SHIFT;
	if (prot & S2_PROT_R)
		pte |= S2_PTE_S2AP_R;
	if (prot & S2_PROT_W)
		pte |= S2_PTE_S2AP_W;
	if (!(prot & S2_PROT_X))
		pte |= S2_PTE_XN;
	pte |= (uint64_t)state << S2_PTE_SW_SHIFT;
	return pte;
}

/* Replace a valid leaf or table entry: break, flush, make (Arm ARM "break-before-make"). */
static void pte_replace(struct s2_pgtable *pgt, uint64_t *ptep, uint64_t pte)
{
	if (pte_valid(*ptep) && *ptep != pte) {
		pte_write(ptep, 0);
		arch_s2_tlb_flush_vmid(pgt->vmid);
	}
	pte_write(ptep, pte);
}

/* Turn a block into a table of the same translation one level down. */
static int split_block(struct s2_pgtable *pgt, uint64_t *ptep, unsigned level)
{
	uint64_t block = *ptep, sub = s2_level_size(level + 1);
	uint64_t attrs = block & ~(S2_PTE_OA_MASK | S2_PTE_VALID | S2_PTE_TABLE);
	uint64_t *table;

	table = hyp_pool_alloc(pgt->pool, 1);
	if (!table)
		return -HYP_ENOMEM;
	for (uint64_t i = 0; i < S2_ENTRIES_PER_TABLE; i++) {
		uint64_t pte = ((block & S2_PTE_OA_MASK) + i * sub) | attrs | S2_PTE_VALID;
		if (level + 1 == S2_MAX_LEVEL)
			pte |= S2_PTE_TABLE;
		table[i] = pte;
	}
	pte_replace(pgt, ptep, table_pte(table));
	return 0;
}

enum s2_walk_mode {
	S2_WALK_MAP,
	S2_WALK_PREPARE,
};

struct s2_map_args {
	enum s2_walk_mode mode;
	uint64_t pa_delta; /* pa - ipa, modulo 2^64 */
	unsigned prot;
	enum s2_mem mem;
	enum hyp_page_state state;
	bool allow_block;
};

static int map_level(struct s2_pgtable *pgt, uint64_t *table, unsigned level, uint64_t ipa,
		     uint64_t end, const struct s2_map_args *a)
{
	uint64_t size = s2_level_size(level);

	while (ipa < end) {
		uint64_t *ptep = entry_at(pgt, table, level, ipa);
		uint64_t next = (ipa & ~(size - 1)) + size;
		uint64_t chunk_end = next < end ? next : end;
		bool whole = (ipa & (size - 1)) == 0 && chunk_end == next;
		uint64_t pa = ipa + a->pa_delta;
		int r;

		if (a->mode == S2_WALK_MAP &&
		    (level == S2_MAX_LEVEL ||
		     (whole && a->allow_block && level >= 1 && (pa & (size - 1)) == 0))) {
			uint64_t old = *ptep;
			pte_replace(pgt, ptep,
				    s2_leaf_pte(hyp_pa(pa), level, a->prot, a->mem, a->state));
			if (pte_is_table(old, level))
				free_table(pgt, pte_table(old), level + 1);
		} else if (level < S2_MAX_LEVEL) {
			if (!pte_valid(*ptep)) {
				uint64_t *t = hyp_pool_alloc(pgt->pool, 1);
				if (!t)
					return -HYP_ENOMEM;
				pte_write(ptep, table_pte(t));
			} else if (!pte_is_table(*ptep, level)) {
				r = split_block(pgt, ptep, level);
				if (r < 0)
					return r;
			}
			/* Preparing stops once the level-3 table exists. */
			if (a->mode == S2_WALK_MAP || level + 1 < S2_MAX_LEVEL) {
				r = map_level(pgt, pte_table(*ptep), level + 1, ipa, chunk_end, a);
				if (r < 0)
					return r;
			}
		}
		ipa = chunk_end;
	}
	return 0;
}

static int range_check(const struct s2_pgtable *pgt, uint64_t ipa, uint64_t size)
{
	uint64_t limit = 1ULL << pgt->geo.ipa_bits;

	if ((ipa | size) & (HYP_PAGE_SIZE - 1) || size == 0 || ipa >= limit || size > limit - ipa)
		return -HYP_EINVAL;
	return 0;
}

int s2_map(struct s2_pgtable *pgt, hyp_ipa_t ipa, hyp_pa_t pa, uint64_t size, unsigned prot,
	   enum s2_mem mem, enum hyp_page_state state, bool allow_block)
{
	const struct s2_map_args a = {
		.mode = S2_WALK_MAP,
		.pa_delta = hyp_pa_addr(pa) - hyp_ipa_addr(ipa),
		.prot = prot,
		.mem = mem,
		.state = state,
		.allow_block = allow_block,
	};
	int r;

	r = range_check(pgt, hyp_ipa_addr(ipa), size);
	if (r < 0)
		return r;
	if (hyp_pa_addr(pa) & (HYP_PAGE_SIZE - 1))
		return -HYP_EINVAL;
	r = map_level(pgt, pgt->root, pgt->geo.start_level, hyp_ipa_addr(ipa),
		      hyp_ipa_addr(ipa) + size, &a);
	arch_s2_tlb_flush_vmid(pgt->vmid);
	return r;
}

int s2_prepare(struct s2_pgtable *pgt, hyp_ipa_t ipa, uint64_t size)
{
	const struct s2_map_args a = { .mode = S2_WALK_PREPARE };
	int r;

	r = range_check(pgt, hyp_ipa_addr(ipa), size);
	if (r < 0)
		return r;
	r = map_level(pgt, pgt->root, pgt->geo.start_level, hyp_ipa_addr(ipa),
		      hyp_ipa_addr(ipa) + size, &a);
	arch_s2_tlb_flush_vmid(pgt->vmid);
	return r;
}

/* The level-3 entry of ipa, or NULL where a level above maps nothing. Never a block. */
static uint64_t *level3_entry(struct s2_pgtable *pgt, hyp_ipa_t ipa)
{
	uint64_t *table = pgt->root, *ptep;

	CHECK(range_check(pgt, hyp_ipa_addr(ipa), HYP_PAGE_SIZE) == 0);
	for (unsigned level = pgt->geo.start_level; level < S2_MAX_LEVEL; level++) {
		ptep = entry_at(pgt, table, level, hyp_ipa_addr(ipa));
		if (!pte_valid(*ptep))
			return NULL;
		CHECK(pte_is_table(*ptep, level)); /* s2_prepare() split any block */
		table = pte_table(*ptep);
	}
	return entry_at(pgt, table, S2_MAX_LEVEL, hyp_ipa_addr(ipa));
}

static void write_page(uint64_t *ptep, uint64_t pte)
{
	/* Only permissions and software bits may change in place, never the output address. */
	CHECK(!pte_valid(*ptep) || !pte_valid(pte) ||
	      hyp_pa_addr(s2_pte_pa(*ptep)) == hyp_pa_addr(s2_pte_pa(pte)));
	pte_write(ptep, pte);
}

void s2_set_page(struct s2_pgtable *pgt, hyp_ipa_t ipa, uint64_t pte)
{
	uint64_t *ptep = level3_entry(pgt, ipa);

	CHECK(ptep); /* s2_prepare() ran on this page */
	write_page(ptep, pte);
}

void s2_update_page(struct s2_pgtable *pgt, hyp_ipa_t ipa, uint64_t pte)
{
	uint64_t *ptep = level3_entry(pgt, ipa);

	if (ptep)
		write_page(ptep, pte);
}

void s2_clear(struct s2_pgtable *pgt)
{
	unsigned level = pgt->geo.start_level;

	for (uint64_t i = 0; i < pgt->geo.root_entries; i++) {
		uint64_t old = pgt->root[i];

		if (!pte_valid(old))
			continue;
		pte_write(&pgt->root[i], 0);
		/* No walker may still hold the tables below before they are freed. */
		arch_s2_tlb_flush_vmid(pgt->vmid);
		if (pte_is_table(old, level))
			free_table(pgt, pte_table(old), level + 1);
	}
}

uint64_t s2_lookup(const struct s2_pgtable *pgt, hyp_ipa_t ipa, unsigned *ret_level)
{
	uint64_t *table = pgt->root;
	unsigned level;

	if (range_check(pgt, hyp_ipa_addr(ipa) & ~(HYP_PAGE_SIZE - 1), HYP_PAGE_SIZE) < 0)
		return 0;
	for (level = pgt->geo.start_level;; level++) {
		uint64_t pte = *entry_at(pgt, table, level, hyp_ipa_addr(ipa));
		if (!pte_is_table(pte, level)) {
			if (ret_level)
				*ret_level = level;
			return pte_valid(pte) ? pte : 0;
		}
		table = pte_table(pte);
	}
}

uint64_t s2_lookup_desc(const struct s2_pgtable *pgt, hyp_ipa_t ipa)
{
	uint64_t *table = pgt->root;

	if (range_check(pgt, hyp_ipa_addr(ipa) & ~(HYP_PAGE_SIZE - 1), HYP_PAGE_SIZE) < 0)
		return 0;
	for (unsigned level = pgt->geo.start_level;; level++) {
		uint64_t pte = *entry_at(pgt, table, level, hyp_ipa_addr(ipa));
		if (!pte_is_table(pte, level))
			return pte;
		table = pte_table(pte);
	}
}

static int walk_level(const struct s2_pgtable *pgt, const uint64_t *table, unsigned level,
		      uint64_t base, s2_leaf_fn fn, void *userdata)
{
	uint64_t n = entries_at(pgt, level);

	for (uint64_t i = 0; i < n; i++) {
		uint64_t pte = table[i], ipa = base + (i << level_shift(level));
		int r;

		if (!pte_valid(pte))
			continue;
		if (pte_is_table(pte, level))
			r = walk_level(pgt, pte_table(pte), level + 1, ipa, fn, userdata);
		else
			r = fn(hyp_ipa(ipa), pte, level, userdata);
		if (r)
			return r;
	}
	return 0;
}

int s2_walk_leaves(const struct s2_pgtable *pgt, s2_leaf_fn fn, void *userdata)
{
	return walk_level(pgt, pgt->root, pgt->geo.start_level, 0, fn, userdata);
}

static size_t count_level(const struct s2_pgtable *pgt, const uint64_t *table, unsigned level)
{
	size_t n = 0;

	for (uint64_t i = 0; i < entries_at(pgt, level); i++)
		if (pte_is_table(table[i], level))
			n += 1 + count_level(pgt, pte_table(table[i]), level + 1);
	return n;
}

size_t s2_count_table_pages(const struct s2_pgtable *pgt)
{
	return pgt->geo.root_pages + count_level(pgt, pgt->root, pgt->geo.start_level);
}
