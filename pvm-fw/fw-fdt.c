/* pvm-fw's device tree checks and edits with libfdt (Debian's arm64 libfdt.a in the firmware,
 * the native library in the host tests). The tree comes from the host: it is copied once, and
 * only the copy is read, after fdt_check_full has checked its structure. */
#include <libfdt.h>
#include <string.h>

#include "fw-fdt.h"

static PvmFwVerdict refuse(const char **ret_detail, const char *why)
{
	*ret_detail = why;
	return PVM_FW_BAD_DEVICE_TREE;
}

PvmFwVerdict pvm_fw_fdt_copy(const void *src, void *buf, size_t buf_size, const char **ret_detail)
{
	uint32_t copied;

	if (!src || (uintptr_t)src % 8 != 0 || fdt_magic(src) != FDT_MAGIC)
		return refuse(ret_detail, "no device tree at x0");
	/* A tree may claim more room than it uses (QEMU's claim 1 MiB); what it uses must fit
	 * in the first 64 KiB, which fdt_check_full checks on the copy. */
	copied = fdt_totalsize(src) < PVM_FW_FDT_MAX ? fdt_totalsize(src) : PVM_FW_FDT_MAX;
	memcpy(buf, src, copied);
	fdt_set_totalsize(buf, copied);
	if (fdt_check_full(buf, copied) != 0)
		return refuse(ret_detail, "device tree invalid or larger than 64 KiB");
	if (fdt_open_into(buf, buf, (int)buf_size) != 0)
		return refuse(ret_detail, "device tree cannot be opened for editing");
	return PVM_FW_OK;
}

static uint64_t read_cells(const fdt32_t *p, int cells)
{
	return cells == 2 ? (uint64_t)fdt32_to_cpu(p[0]) << 32 | fdt32_to_cpu(p[1])
			  : fdt32_to_cpu(p[0]);
}

PvmFwVerdict pvm_fw_fdt_ram(const void *fdt, uint64_t base, uint64_t *ret_start, uint64_t *ret_end,
			    const char **ret_detail)
{
	uint64_t starts[PVM_FW_FDT_MAX_REGIONS], ends[PVM_FW_FDT_MAX_REGIONS];
	int n = 0, found = -1, ac, sc, node;

	ac = fdt_address_cells(fdt, 0);
	sc = fdt_size_cells(fdt, 0);
	if (ac < 1 || ac > 2 || sc < 1 || sc > 2)
		return refuse(ret_detail, "root #address-cells/#size-cells not 1 or 2");
	for (node = fdt_node_offset_by_prop_value(fdt, -1, "device_type", "memory", 7); node >= 0;
	     node = fdt_node_offset_by_prop_value(fdt, node, "device_type", "memory", 7)) {
		int len, entry = (ac + sc) * 4;
		const fdt32_t *reg = fdt_getprop(fdt, node, "reg", &len);

		if (!reg || len <= 0 || len % entry != 0)
			return refuse(ret_detail, "memory node without a well-formed reg");
		for (int off = 0; off < len; off += entry) {
			const fdt32_t *cell = reg + off / 4;
			uint64_t start = read_cells(cell, ac), size = read_cells(cell + ac, sc);

			if (n == PVM_FW_FDT_MAX_REGIONS)
				return refuse(ret_detail, "more than 8 memory regions");
			if (size == 0 || start + size < start)
				return refuse(ret_detail, "memory region empty or wrapping");
			for (int i = 0; i < n; i++)
				if (start < ends[i] && starts[i] < start + size)
					return refuse(ret_detail, "memory regions overlap");
			starts[n] = start;
			ends[n] = start + size;
			if (start <= base && base < start + size)
				found = n;
			n++;
		}
	}
	if (found < 0)
		return refuse(ret_detail, "no memory region holds the firmware");
	*ret_start = starts[found];
	*ret_end = ends[found];
	return PVM_FW_OK;
}

PvmFwVerdict pvm_fw_fdt_set_chosen(void *fdt, const char *cmdline, uint64_t initrd_start,
				   uint64_t initrd_size, const char **ret_detail)
{
	int chosen = fdt_path_offset(fdt, "/chosen");
	int r;

	if (chosen < 0)
		chosen = fdt_add_subnode(fdt, 0, "chosen");
	if (chosen < 0)
		return refuse(ret_detail, "cannot add /chosen");
	r = fdt_setprop_string(fdt, chosen, "bootargs", cmdline);
	if (r == 0 && initrd_size > 0) {
		r = fdt_setprop_u64(fdt, chosen, "linux,initrd-start", initrd_start);
		if (r == 0)
			r = fdt_setprop_u64(fdt, chosen, "linux,initrd-end",
					    initrd_start + initrd_size);
	} else if (r == 0) {
		fdt_delprop(fdt, chosen, "linux,initrd-start");
		fdt_delprop(fdt, chosen, "linux,initrd-end");
	}
	if (r != 0)
		return refuse(ret_detail, "cannot write /chosen");
	return PVM_FW_OK;
}
