/* pvm-fw's device tree step, portable so the host tests run it: copy the host's tree out of
 * its reach, check its memory layout, and write the verified payload into /chosen. Each
 * function returns PVM_FW_OK or PVM_FW_BAD_DEVICE_TREE with *ret_detail saying why. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "descriptor.h"

#define PVM_FW_FDT_MAX 0x10000u /* pvm's device trees are at most 64 KiB */
#define PVM_FW_FDT_MAX_REGIONS 8

/* Copies the tree at src (its first PVM_FW_FDT_MAX bytes at most) into buf, checks it with
 * fdt_check_full and opens it for editing in buf_size bytes (> PVM_FW_FDT_MAX). */
PvmFwVerdict pvm_fw_fdt_copy(const void *src, void *buf, size_t buf_size, const char **ret_detail);

/* The memory nodes: at most PVM_FW_FDT_MAX_REGIONS regions, none empty, wrapping or
 * overlapping another; returns the one holding base as [*ret_start, *ret_end). */
PvmFwVerdict pvm_fw_fdt_ram(const void *fdt, uint64_t base, uint64_t *ret_start, uint64_t *ret_end,
			    const char **ret_detail);

/* /chosen: bootargs = cmdline, linux,initrd-start/end = the initrd (removed if size is 0). */
PvmFwVerdict pvm_fw_fdt_set_chosen(void *fdt, const char *cmdline, uint64_t initrd_start,
				   uint64_t initrd_size, const char **ret_detail);
