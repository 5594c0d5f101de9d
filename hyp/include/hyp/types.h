/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Basic types of the hypervisor core: physical and intermediate-physical addresses as distinct
 * struct types (a PA is never passed where an IPA is expected), page size, CHECK() for invariants.
 */
#ifndef HYP_TYPES_H
#define HYP_TYPES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pvm-hyp-abi.h"

#define HYP_PAGE_SHIFT PVM_HYP_PAGE_SHIFT
#define HYP_PAGE_SIZE (1UL << HYP_PAGE_SHIFT)

/* Error codes the core returns, negated; the same numbers the ABI uses. */
#define HYP_EPERM PVM_HYP_EPERM
#define HYP_ENOENT PVM_HYP_ENOENT
#define HYP_ENOMEM PVM_HYP_ENOMEM
#define HYP_EBUSY PVM_HYP_EBUSY
#define HYP_EINVAL PVM_HYP_EINVAL
#define HYP_ERANGE PVM_HYP_ERANGE
#define HYP_EHWPOISON PVM_HYP_EHWPOISON

typedef struct {
	uint64_t addr;
} hyp_pa_t;

typedef struct {
	uint64_t addr;
} hyp_ipa_t;

static inline hyp_pa_t hyp_pa(uint64_t addr)
{
	return (hyp_pa_t){ addr };
}

static inline hyp_ipa_t hyp_ipa(uint64_t addr)
{
	return (hyp_ipa_t){ addr };
}

static inline uint64_t hyp_pa_addr(hyp_pa_t pa)
{
	return pa.addr;
}

static inline uint64_t hyp_ipa_addr(hyp_ipa_t ipa)
{
	return ipa.addr;
}

_Noreturn void arch_panic(const char *file, int line, const char *what);

/* Invariants of the hypervisor's own state; never for values a host or guest passes in. */
#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (__builtin_expect(!(cond), 0))                                                  \
			arch_panic(__FILE__, __LINE__, #cond);                                     \
	} while (0)

#define HYP_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#endif
