/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Shared pieces of the hypervisor core's host tests: a fake physical memory layout, an
 * assertion macro, and the invariant checker that walks the real stage-2 tables.
 */
#ifndef HYP_TEST_H
#define HYP_TEST_H

#include <stdio.h>
#include <stdlib.h>

#include "fake-arch.h"
#include "hyp/mem_protect.h"

/*
 * Fake physical memory: host RAM A (4 MiB), the hypervisor's region (2 MiB: 64 pages of
 * "image", then the pool), host RAM C (2 MiB); a hole between B and C.
 */
#define T_MEM_BASE 0x40000000ULL
#define T_RAM_A 0x40000000ULL
#define T_RAM_A_SIZE (4ULL << 20)
#define T_HYP 0x40400000ULL
#define T_HYP_SIZE (2ULL << 20)
#define T_HYP_IMAGE_PAGES 64
#define T_HOLE 0x40600000ULL
#define T_RAM_C 0x40800000ULL
#define T_RAM_C_SIZE (2ULL << 20)
#define T_MEM_SIZE (T_RAM_C + T_RAM_C_SIZE - T_MEM_BASE)
#define T_POOL_MAX_PAGES ((T_HYP_SIZE >> HYP_PAGE_SHIFT) - T_HYP_IMAGE_PAGES)

#define T_PFN(pa) ((uint64_t)(pa) >> HYP_PAGE_SHIFT)

#define T_ASSERT(cond)                                                                             \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "%s:%d: assertion failed: %s\n", __FILE__, __LINE__,       \
				#cond);                                                            \
			exit(EXIT_FAILURE);                                                        \
		}                                                                                  \
	} while (0)

#define T_ASSERT_EQ(a, b)                                                                          \
	do {                                                                                       \
		long long _a = (long long)(a), _b = (long long)(b);                                \
		if (_a != _b) {                                                                    \
			fprintf(stderr, "%s:%d: %s == %lld, expected %s == %lld\n", __FILE__,      \
				__LINE__, #a, _a, #b, _b);                                         \
			exit(EXIT_FAILURE);                                                        \
		}                                                                                  \
	} while (0)

/* Fresh fake memory and a fresh hyp_mem with a pool of pool_pages pages. */
void t_setup(struct hyp_mem *m, size_t pool_pages);
void *t_va(uint64_t pa);

/*
 * From now on every TLB flush must happen with m's lock held (the core flushes only inside
 * its transitions); a flush without it ends the test. t_check_locked() is that check, for
 * tests that install a TLB hook of their own.
 */
void t_require_lock_on_flush(struct hyp_mem *m);
void t_check_locked(uint16_t vmid);

/*
 * Checks every ownership invariant against the page array and the stage-2 tables; returns 0
 * or -1 with a description in err.
 */
int t_check_invariants(struct hyp_mem *m, char *err, size_t errlen);

#endif
