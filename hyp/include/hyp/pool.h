/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The hypervisor's page pool: hypervisor-owned physical pages that back page tables and the
 * page-state array. Contiguous, aligned runs are possible (concatenated stage-2 root tables).
 */
#ifndef HYP_POOL_H
#define HYP_POOL_H

#include "hyp/types.h"

struct hyp_pool {
	hyp_pa_t base;
	size_t nr_pages;
	size_t nr_free;
	uint8_t *used; /* one byte per page, kept in the pool's own first pages */
	size_t hint;
};

/* Takes over [base, base + nr_pages pages). Returns -EINVAL if too small to hold its own map. */
int hyp_pool_init(struct hyp_pool *pool, hyp_pa_t base, size_t nr_pages);

/* nr zeroed pages aligned to nr pages (nr a power of two), or NULL when none is left. */
void *hyp_pool_alloc(struct hyp_pool *pool, size_t nr);
void hyp_pool_free(struct hyp_pool *pool, void *va, size_t nr);

#endif
