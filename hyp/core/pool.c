// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The hypervisor's page pool: a byte map of used pages kept at the start of the pool itself, so
 * the pool needs no memory besides what it manages. Callers hold the hyp_mem lock.
 */
#include "hyp/arch.h"
#include "hyp/pool.h"

int hyp_pool_init(struct hyp_pool *pool, hyp_pa_t base, size_t nr_pages)
{
	size_t map_pages = (nr_pages + HYP_PAGE_SIZE - 1) / HYP_PAGE_SIZE;

	if (hyp_pa_addr(base) & (HYP_PAGE_SIZE - 1) || nr_pages <= map_pages)
		return -HYP_EINVAL;

	pool->base = base;
	pool->nr_pages = nr_pages;
	pool->used = arch_pa_to_va(base);
	__builtin_memset(pool->used, 0, nr_pages);
	for (size_t i = 0; i < map_pages; i++)
		pool->used[i] = 1;
	pool->nr_free = nr_pages - map_pages;
	pool->hint = map_pages;
	return 0;
}

static bool run_is_free(const struct hyp_pool *pool, size_t first, size_t nr)
{
	for (size_t i = 0; i < nr; i++)
		if (pool->used[first + i])
			return false;
	return true;
}

void *hyp_pool_alloc(struct hyp_pool *pool, size_t nr)
{
	uint64_t base_pfn = hyp_pa_addr(pool->base) >> HYP_PAGE_SHIFT;

	CHECK(nr > 0 && (nr & (nr - 1)) == 0);
	if (pool->nr_free < nr)
		return NULL;

	/* Two passes: from the hint to the end, then from the start. */
	for (size_t pass = 0; pass < 2; pass++) {
		size_t from = pass ? 0 : pool->hint;
		for (size_t i = from; i + nr <= pool->nr_pages; i++) {
			if ((base_pfn + i) & (nr - 1))
				continue;
			if (!run_is_free(pool, i, nr))
				continue;
			for (size_t j = 0; j < nr; j++)
				pool->used[i + j] = 1;
			pool->nr_free -= nr;
			pool->hint = i + nr;
			void *va =
			    arch_pa_to_va(hyp_pa(hyp_pa_addr(pool->base) + i * HYP_PAGE_SIZE));
			__builtin_memset(va, 0, nr * HYP_PAGE_SIZE);
			return va;
		}
	}
	return NULL;
}

void hyp_pool_free(struct hyp_pool *pool, void *va, size_t nr)
{
	uint64_t pa = hyp_pa_addr(arch_va_to_pa(va));
	size_t first;

	CHECK(pa >= hyp_pa_addr(pool->base));
	first = (pa - hyp_pa_addr(pool->base)) >> HYP_PAGE_SHIFT;
	CHECK(first + nr <= pool->nr_pages);
	for (size_t i = 0; i < nr; i++) {
		CHECK(pool->used[first + i]);
		pool->used[first + i] = 0;
	}
	pool->nr_free += nr;
}
