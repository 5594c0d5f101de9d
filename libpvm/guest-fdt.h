/* The device tree pvm hands an arm64 guest (x0 at entry): memory, cpus with PSCI, GICv3 and
 * the architected timer, the console UART, /chosen, and with devices the shared window and
 * the virtio-mmio slots. Built with libfdt's sequential writer,
 * so nodes appear in one fixed, readable order; portable C, unit-tested on any host.
 * (Not named fdt.h: that would hide libfdt's own <fdt.h> from everything built with libpvm.) */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "error.h"

#define PVM_FDT_SIZE_MAX (64 * 1024) /* our trees are a few KiB; Linux takes up to 2 MiB */

typedef struct pvm_fdt_arm64 {
	uint64_t ram_base;
	uint64_t ram_size;
	uint32_t cpus;	       /* 1..PVM_CPUS_MAX */
	const char *bootargs;  /* NULL: no bootargs property */
	uint64_t initrd_start; /* guest physical; initrd_end == initrd_start: no initrd */
	uint64_t initrd_end;
	/* virtio: slots 0..virtio_slots-1 get a "virtio,mmio" node each, pointing at the shared
	 * window (a restricted-dma-pool) with memory-region; no window, no virtio nodes */
	uint64_t window_gpa;
	uint64_t window_size;
	unsigned virtio_slots; /* 0..PVM_VIRTIO_SLOTS */
} pvm_fdt_arm64;

/* Build the tree; *ret (malloc'ed, packed) and *ret_size only on success. */
int pvm_fdt_arm64_build(const pvm_fdt_arm64 *machine, void **ret, size_t *ret_size, pvm_error *err);
