/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What the portable core needs from an architecture port: its view of physical memory and TLB
 * maintenance. arch/fake implements it over a malloc'd arena for host tests, arch/aarch64 at EL2.
 */
#ifndef HYP_ARCH_H
#define HYP_ARCH_H

#include "hyp/types.h"

/* The hypervisor's own mapping of a physical address (and back). */
void *arch_pa_to_va(hyp_pa_t pa);
hyp_pa_t arch_va_to_pa(const void *va);

/*
 * Stage-2 page-table entries of this VMID changed: make the writes visible to the table walker
 * and drop stale TLB entries, before the caller relies on the new translation.
 */
void arch_s2_tlb_flush_vmid(uint16_t vmid);

/* The hypervisor wrote this page; its next owner may read it with caches off: clean to PoC. */
void arch_clean_dcache_page(void *va);

#endif
