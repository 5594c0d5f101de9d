/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What the portable core needs from an architecture port: its view of physical memory, TLB and
 * cache maintenance. arch/fake implements it over a malloc'd arena for host tests (recording
 * the maintenance), arch/aarch64 at EL2.
 */
#ifndef HYP_ARCH_H
#define HYP_ARCH_H

#include "hyp/types.h"

/*
 * The hypervisor's own mapping of a physical address (and back): only for its own memory
 * (image, pool: page tables and the page array). Pages of the host or a guest are not mapped
 * in the hypervisor; it reaches them only through arch_zero_page() and the cache maintenance.
 */
void *arch_pa_to_va(hyp_pa_t pa);
hyp_pa_t arch_va_to_pa(const void *va);

/* Zero a page of the host or a guest (through a temporary mapping of its own). */
void arch_zero_page(hyp_pa_t pa);

/*
 * Stage-2 page-table entries of this VMID changed: make the writes visible to the table walker
 * and drop stale TLB entries, before the caller relies on the new translation.
 */
void arch_s2_tlb_flush_vmid(uint16_t vmid);

/*
 * This page changes hands between the cached host and a guest that may run with caches off:
 * clean and invalidate it to the point of coherency, so no dirty line is later written back
 * over the new owner's data and no stale line hides what the old owner wrote.
 */
void arch_dcache_clean_inval_page(hyp_pa_t pa);

/* A guest was given pages it may execute: drop stale instructions (to the PoU, all CPUs). */
void arch_icache_inval_all(void);

#endif
