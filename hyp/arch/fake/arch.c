// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The fake architecture: physical memory is one window of host memory, so the core's page
 * tables and page array are ordinary memory the tests can inspect; a panic aborts the test.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fake-arch.h"

static uint64_t mem_pa;
static uint8_t *mem_va;
static uint64_t mem_size;
uint64_t fake_arch_tlb_flushes, fake_arch_icache_invals;
void (*fake_arch_dcache_hook)(hyp_pa_t pa);
void (*fake_arch_tlb_hook)(uint16_t vmid);

void fake_arch_set_memory(hyp_pa_t pa_base, void *va, uint64_t size)
{
	mem_pa = hyp_pa_addr(pa_base);
	mem_va = va;
	mem_size = size;
}

void *arch_pa_to_va(hyp_pa_t pa)
{
	uint64_t addr = hyp_pa_addr(pa);

	CHECK(addr >= mem_pa && addr - mem_pa < mem_size);
	return mem_va + (addr - mem_pa);
}

hyp_pa_t arch_va_to_pa(const void *va)
{
	const uint8_t *p = va;

	CHECK(p >= mem_va && (uint64_t)(p - mem_va) < mem_size);
	return hyp_pa(mem_pa + (uint64_t)(p - mem_va));
}

void arch_s2_tlb_flush_vmid(uint16_t vmid)
{
	fake_arch_tlb_flushes++;
	if (fake_arch_tlb_hook)
		fake_arch_tlb_hook(vmid);
}

void arch_zero_page(hyp_pa_t pa)
{
	memset(arch_pa_to_va(pa), 0, HYP_PAGE_SIZE);
}

void arch_dcache_clean_inval_page(hyp_pa_t pa)
{
	CHECK((hyp_pa_addr(pa) & (HYP_PAGE_SIZE - 1)) == 0);
	if (fake_arch_dcache_hook)
		fake_arch_dcache_hook(pa);
}

void arch_icache_inval_all(void)
{
	fake_arch_icache_invals++;
}

_Noreturn void arch_panic(const char *file, int line, const char *what)
{
	fprintf(stderr, "hyp CHECK failed: %s:%d: %s\n", file, line, what);
	abort();
}
