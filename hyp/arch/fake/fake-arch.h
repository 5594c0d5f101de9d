/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The fake architecture for host tests: "physical memory" is a malloc'd arena placed at a
 * chosen physical base address; TLB flushes and icache invalidations are counted, and each
 * TLB flush and data-cache maintenance of a page is reported to hooks the test sets.
 */
#ifndef HYP_FAKE_ARCH_H
#define HYP_FAKE_ARCH_H

#include "hyp/arch.h"

/* Physical addresses [pa_base, pa_base + size) are backed by va. */
void fake_arch_set_memory(hyp_pa_t pa_base, void *va, uint64_t size);

extern uint64_t fake_arch_tlb_flushes, fake_arch_icache_invals;
extern void (*fake_arch_dcache_hook)(hyp_pa_t pa);
extern void (*fake_arch_tlb_hook)(uint16_t vmid);

#endif
