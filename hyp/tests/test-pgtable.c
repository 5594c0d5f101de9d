// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Stage-2 table code on the fake architecture: geometry and VTCR_EL2 per IPA size, descriptor
 * bits, block and page mappings, block splitting that keeps the translation, concatenated
 * roots, and the pool accounting (destroy frees every table, -ENOMEM leaves mappings intact).
 */
#include <string.h>

#include "hyp-test.h"

static struct hyp_mem mem;

static void test_geometry(void)
{
	static const struct {
		unsigned ipa_bits, start_level, root_pages;
		uint64_t root_entries;
	} cases[] = {
		{ 32, 2, 4, 2048 },  { 33, 2, 8, 4096 }, { 34, 2, 16, 8192 }, { 35, 1, 1, 32 },
		{ 36, 1, 1, 64 },    { 39, 1, 1, 512 },	 { 40, 1, 2, 1024 },  { 42, 1, 8, 4096 },
		{ 43, 1, 16, 8192 }, { 44, 0, 1, 32 },	 { 48, 0, 1, 512 },
	};

	for (size_t i = 0; i < HYP_ARRAY_SIZE(cases); i++) {
		struct s2_geometry g;
		T_ASSERT_EQ(s2_geometry(cases[i].ipa_bits, &g), 0);
		T_ASSERT_EQ(g.start_level, cases[i].start_level);
		T_ASSERT_EQ(g.root_pages, cases[i].root_pages);
		T_ASSERT_EQ(g.root_entries, cases[i].root_entries);
	}
	struct s2_geometry g;
	T_ASSERT_EQ(s2_geometry(31, &g), -HYP_EINVAL);
	T_ASSERT_EQ(s2_geometry(49, &g), -HYP_EINVAL);
	printf("ok - geometry for %zu IPA sizes\n", HYP_ARRAY_SIZE(cases));
}

static void test_vtcr(void)
{
	struct s2_geometry g;
	uint64_t vtcr;

	/* T0SZ=24, SL0=1, IRGN0=ORGN0=WBWA, SH0=inner, TG0=4K, PS=48 bits, RES1 bit 31. */
	T_ASSERT_EQ(s2_geometry(40, &g), 0);
	T_ASSERT_EQ(s2_vtcr(&g, 5, &vtcr), 0);
	T_ASSERT_EQ(vtcr, 0x80053558);
	/* A 52-bit PARange is capped to 48 bits. */
	T_ASSERT_EQ(s2_vtcr(&g, 6, &vtcr), 0);
	T_ASSERT_EQ(vtcr, 0x80053558);
	/* IPA 32: T0SZ=32, SL0=0 (level 2), PS=32 bits. */
	T_ASSERT_EQ(s2_geometry(32, &g), 0);
	T_ASSERT_EQ(s2_vtcr(&g, 0, &vtcr), 0);
	T_ASSERT_EQ(vtcr, 0x80003520);
	/* IPA 48: SL0=2 (level 0). */
	T_ASSERT_EQ(s2_geometry(48, &g), 0);
	T_ASSERT_EQ(s2_vtcr(&g, 5, &vtcr), 0);
	T_ASSERT_EQ(vtcr, 0x80053590);
	/* An IPA space larger than the PA range is refused; so is an unknown PARange. */
	T_ASSERT_EQ(s2_vtcr(&g, 2, &vtcr), -HYP_EINVAL);
	T_ASSERT_EQ(s2_vtcr(&g, 7, &vtcr), -HYP_EINVAL);
	printf("ok - VTCR_EL2 fields\n");
}

static void test_leaf_bits(void)
{
	uint64_t pte;

	/* Page, normal WB, inner shareable, RW, executable, AF, owned. */
	pte = s2_leaf_pte(hyp_pa(0x40000000), 3, S2_PROT_RWX, S2_MEM_NORMAL, HYP_PAGE_OWNED);
	T_ASSERT_EQ(pte, 0x400007ffULL);
	pte = s2_leaf_pte(hyp_pa(0x40000000), 3, S2_PROT_RWX, S2_MEM_NORMAL,
			  HYP_PAGE_SHARED_BORROWED);
	T_ASSERT_EQ(pte, 0x400007ffULL | (2ULL << 55));
	T_ASSERT_EQ(s2_pte_state(pte), HYP_PAGE_SHARED_BORROWED);
	/* 2 MiB block, device, read-only, XN, shared-owned. */
	pte = s2_leaf_pte(hyp_pa(0x08000000), 2, S2_PROT_R, S2_MEM_DEVICE, HYP_PAGE_SHARED_OWNED);
	T_ASSERT_EQ(pte, 0x08000000ULL | 1 | (1 << 2) | (1 << 6) | (1 << 10) | (1ULL << 54) |
			     (1ULL << 55));
	T_ASSERT_EQ(hyp_pa_addr(s2_pte_pa(pte)), 0x08000000);
	printf("ok - descriptor bits\n");
}

static int count_leaf(hyp_ipa_t ipa, uint64_t pte, unsigned level, void *userdata)
{
	size_t *n = userdata;

	n[level]++;
	return 0;
}

static void test_map_split(void)
{
	struct s2_pgtable pgt;
	size_t free_before, leaves[4] = { 0 };
	unsigned level;
	uint64_t pte;

	t_setup(&mem, 128);
	free_before = mem.pool.nr_free;
	T_ASSERT_EQ(s2_pgtable_init(&pgt, &mem.pool, 40, 7), 0);
	T_ASSERT_EQ(hyp_pa_addr(pgt.root_pa) & 0x1fff, 0); /* two concatenated pages, aligned */
	T_ASSERT_EQ(s2_vttbr(&pgt), hyp_pa_addr(pgt.root_pa) | (7ULL << 48));

	/* 1 GiB block, then a 2 MiB block, then pages. */
	T_ASSERT_EQ(s2_map(&pgt, hyp_ipa(0x80000000), hyp_pa(0x40000000), 1ULL << 30, S2_PROT_RWX,
			   S2_MEM_NORMAL, HYP_PAGE_OWNED, true),
		    0);
	pte = s2_lookup(&pgt, hyp_ipa(0x80123456), &level);
	T_ASSERT_EQ(level, 1);
	T_ASSERT_EQ(hyp_pa_addr(s2_pte_pa(pte)), 0x40000000);
	T_ASSERT_EQ(s2_map(&pgt, hyp_ipa(0x200000), hyp_pa(0x40200000), 0x200000, S2_PROT_RWX,
			   S2_MEM_NORMAL, HYP_PAGE_OWNED, true),
		    0);
	T_ASSERT(s2_lookup(&pgt, hyp_ipa(0x3ff000), &level));
	T_ASSERT_EQ(level, 2);
	/* Without blocks the same range becomes 512 pages. */
	T_ASSERT_EQ(s2_map(&pgt, hyp_ipa(0x600000), hyp_pa(0x40200000), 0x200000, S2_PROT_RWX,
			   S2_MEM_NORMAL, HYP_PAGE_OWNED, false),
		    0);
	pte = s2_lookup(&pgt, hyp_ipa(0x7ff000), &level);
	T_ASSERT_EQ(level, 3);
	T_ASSERT_EQ(hyp_pa_addr(s2_pte_pa(pte)), 0x403ff000);
	/* Highest IPA of the concatenated root (its second page). */
	T_ASSERT_EQ(s2_map(&pgt, hyp_ipa(0xfffffff000), hyp_pa(0x40000000), 0x1000, S2_PROT_R,
			   S2_MEM_NORMAL, HYP_PAGE_OWNED, true),
		    0);
	T_ASSERT(pgt.root[1023] & S2_PTE_VALID);
	T_ASSERT_EQ(s2_map(&pgt, hyp_ipa(1ULL << 40), hyp_pa(0x40000000), 0x1000, S2_PROT_R,
			   S2_MEM_NORMAL, HYP_PAGE_OWNED, true),
		    -HYP_EINVAL);

	/* Preparing splits the 1 GiB block down to pages with the same translation. */
	T_ASSERT_EQ(s2_prepare(&pgt, hyp_ipa(0x80201000), 0x1000), 0);
	for (uint64_t off = 0; off < (1ULL << 30); off += 0x1000 * 97) {
		pte = s2_lookup(&pgt, hyp_ipa(0x80000000 + off), &level);
		T_ASSERT_EQ(hyp_pa_addr(s2_pte_pa(pte)) + (off & (s2_level_size(level) - 1)),
			    0x40000000 + off);
		T_ASSERT_EQ(s2_pte_state(pte), HYP_PAGE_OWNED);
		T_ASSERT_EQ(level, off >> 21 == 1 ? 3 : 2);
	}
	s2_set_page(&pgt, hyp_ipa(0x80201000), 0);
	T_ASSERT_EQ(s2_lookup(&pgt, hyp_ipa(0x80201000), NULL), 0);
	T_ASSERT(s2_lookup(&pgt, hyp_ipa(0x80202000), NULL));

	T_ASSERT_EQ(s2_walk_leaves(&pgt, count_leaf, leaves), 0);
	T_ASSERT_EQ(leaves[1], 0);
	T_ASSERT_EQ(leaves[2], 511 + 1);       /* split 1 GiB block, the 2 MiB block */
	T_ASSERT_EQ(leaves[3], 511 + 512 + 1); /* split 2 MiB less one, 512 pages, top page */

	/* A block mapped over a table frees the table. */
	size_t tables = s2_count_table_pages(&pgt);
	T_ASSERT_EQ(s2_map(&pgt, hyp_ipa(0x600000), hyp_pa(0x40200000), 0x200000, S2_PROT_RWX,
			   S2_MEM_NORMAL, HYP_PAGE_OWNED, true),
		    0);
	T_ASSERT_EQ(s2_count_table_pages(&pgt), tables - 1);
	T_ASSERT_EQ(mem.pool.nr_free, free_before - s2_count_table_pages(&pgt));

	s2_pgtable_destroy(&pgt);
	T_ASSERT_EQ(mem.pool.nr_free, free_before);
	printf("ok - block and page mappings, split, concatenated root, destroy\n");
}

static void test_enomem(void)
{
	struct s2_pgtable pgt;
	uint64_t pte;
	unsigned level;

	/* Page array (4 pages), pool map (1), host root (2), then a little room. */
	t_setup(&mem, 4 + 1 + 2 + 6);
	T_ASSERT_EQ(s2_pgtable_init(&pgt, &mem.pool, 40, 1), 0);
	T_ASSERT_EQ(s2_map(&pgt, hyp_ipa(0x40000000), hyp_pa(0x40000000), 0x200000, S2_PROT_RWX,
			   S2_MEM_NORMAL, HYP_PAGE_OWNED, true),
		    0);
	/* Splitting needs a level-3 table and a level-2 one elsewhere: runs dry half way. */
	while (mem.pool.nr_free > 1)
		T_ASSERT(hyp_pool_alloc(&mem.pool, 1));
	T_ASSERT_EQ(s2_prepare(&pgt, hyp_ipa(0x401ff000), 0x2000), -HYP_ENOMEM);
	for (uint64_t off = 0; off < 0x200000; off += 0x1000) {
		pte = s2_lookup(&pgt, hyp_ipa(0x40000000 + off), &level);
		T_ASSERT_EQ(hyp_pa_addr(s2_pte_pa(pte)) + (off & (s2_level_size(level) - 1)),
			    0x40000000 + off);
	}
	T_ASSERT_EQ(s2_lookup(&pgt, hyp_ipa(0x40200000), NULL), 0);
	printf("ok - -ENOMEM while preparing keeps the translation\n");
}

int main(void)
{
	printf("1..5\n");
	test_geometry();
	test_vtcr();
	test_leaf_bits();
	test_map_split();
	test_enomem();
	return 0;
}
