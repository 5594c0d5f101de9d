/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The fake architecture for host tests: "physical memory" is a malloc'd arena placed at a
 * chosen physical base address; TLB flushes are counted.
 */
#ifndef HYP_FAKE_ARCH_H
#define HYP_FAKE_ARCH_H

#include "hyp/arch.h"

/* Physical addresses [pa_base, pa_base + size) are backed by va. */
void fake_arch_set_memory(hyp_pa_t pa_base, void *va, uint64_t size);

extern uint64_t fake_arch_tlb_flushes;

#endif
