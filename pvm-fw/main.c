/* pvm-fw's boot flow: copy the device tree and the descriptor into the firmware's own memory,
 * check the device tree's memory layout, verify the descriptor's signature with the built-in
 * key, hash the kernel and initrd where they will run, hand the kernel a device tree whose
 * /chosen says the signed command line and the verified initrd, and jump - or refuse and power
 * off. Layout and format: docs/pvm-fw.md. */
#include <libfdt.h>
#include <string.h>

#include "arm64-layout.h"
#include "fw-pubkey.h"
#include "fw.h"

#define FDT_MAX 0x10000u /* pvm's device trees are at most 64 KiB (arm64 guest interface) */
#define FDT_SLACK 0x1000u
#define MAX_MEM_REGIONS 8

static uint8_t fdt_copy[FDT_MAX + PVM_FW_CMDLINE_MAX + FDT_SLACK] __attribute__((aligned(8)));
static uint8_t descriptor_copy[PVM_FW_DESCRIPTOR_SIZE] __attribute__((aligned(8)));

void fw_puts(const char *s)
{
	volatile uint8_t *thr = (volatile uint8_t *)(uintptr_t)PVM_ARM64_UART_BASE;

	for (; *s; s++)
		*thr = (uint8_t)*s;
}

static void fw_putu(uint64_t v)
{
	char buf[21];
	int i = sizeof(buf) - 1;

	buf[i] = '\0';
	do {
		buf[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	fw_puts(buf + i);
}

_Noreturn void fw_fail(PvmFwVerdict v, const char *detail)
{
	fw_puts("pvm-fw: refused: ");
	fw_puts(pvm_fw_verdict_to_string(v));
	fw_puts(" (reason ");
	fw_putu(v);
	fw_puts("): ");
	fw_puts(detail);
	fw_puts("\npvm-fw: powering off\n");
	fw_power_off();
}

_Noreturn void pvm_fw_crypto_abort(int status)
{
	fw_fail(PVM_FW_INTERNAL, "mbedTLS found its arena corrupted");
}

typedef struct Region {
	uint64_t start, end; /* [start, end) */
} Region;

static int overlaps(Region a, Region b)
{
	return a.start < b.end && b.start < a.end;
}

static uint64_t read_cells(const fdt32_t *p, int cells)
{
	return cells == 2 ? (uint64_t)fdt32_to_cpu(p[0]) << 32 | fdt32_to_cpu(p[1])
			  : fdt32_to_cpu(p[0]);
}

/* Copies the host's device tree into fdt_copy (the host cannot change it under us from there)
 * and finds the RAM region the firmware runs in; memory regions must not overlap. */
static Region check_device_tree(uint64_t dtb, uint64_t base)
{
	const struct fdt_header *h = (const void *)(uintptr_t)dtb;
	Region regions[MAX_MEM_REGIONS], ram = { 0, 0 };
	int n = 0, ac, sc, node;

	uint32_t copied;

	if (dtb == 0 || dtb % 8 != 0 || fdt_magic(h) != FDT_MAGIC)
		fw_fail(PVM_FW_BAD_DEVICE_TREE, "no device tree at x0");
	/* One copy, then only the copy is read. A tree may claim more room than it uses (QEMU's
	 * claim 1 MiB); what it uses must fit in the first 64 KiB, which fdt_check_full checks. */
	copied = fdt_totalsize(h) < FDT_MAX ? fdt_totalsize(h) : FDT_MAX;
	memcpy(fdt_copy, h, copied);
	fdt_set_totalsize(fdt_copy, copied);
	if (fdt_check_full(fdt_copy, copied) != 0)
		fw_fail(PVM_FW_BAD_DEVICE_TREE, "device tree invalid or larger than 64 KiB");
	if (fdt_open_into(fdt_copy, fdt_copy, sizeof(fdt_copy)) != 0)
		fw_fail(PVM_FW_BAD_DEVICE_TREE, "device tree cannot be opened for editing");

	ac = fdt_address_cells(fdt_copy, 0);
	sc = fdt_size_cells(fdt_copy, 0);
	if (ac < 1 || ac > 2 || sc < 1 || sc > 2)
		fw_fail(PVM_FW_BAD_DEVICE_TREE, "root #address-cells/#size-cells not 1 or 2");
	for (node = fdt_node_offset_by_prop_value(fdt_copy, -1, "device_type", "memory", 7);
	     node >= 0;
	     node = fdt_node_offset_by_prop_value(fdt_copy, node, "device_type", "memory", 7)) {
		int len, entry = (ac + sc) * 4;
		const fdt32_t *reg = fdt_getprop(fdt_copy, node, "reg", &len);

		if (!reg || len <= 0 || len % entry != 0)
			fw_fail(PVM_FW_BAD_DEVICE_TREE, "memory node without a well-formed reg");
		for (int off = 0; off < len; off += entry) {
			const fdt32_t *cell = reg + off / 4;
			Region r = { read_cells(cell, ac), 0 };
			uint64_t size = read_cells(cell + ac, sc);

			if (n == MAX_MEM_REGIONS)
				fw_fail(PVM_FW_BAD_DEVICE_TREE, "more than 8 memory regions");
			if (size == 0 || r.start + size < r.start)
				fw_fail(PVM_FW_BAD_DEVICE_TREE, "memory region empty or wrapping");
			r.end = r.start + size;
			for (int i = 0; i < n; i++)
				if (overlaps(regions[i], r))
					fw_fail(PVM_FW_BAD_DEVICE_TREE, "memory regions overlap");
			regions[n++] = r;
			if (r.start <= base && base < r.end)
				ram = r;
		}
	}
	if (ram.end == 0)
		fw_fail(PVM_FW_BAD_DEVICE_TREE, "no memory region holds the firmware");
	return ram;
}

/* /chosen as the signed payload needs it: the signed command line, the verified initrd. */
static void set_chosen(const PvmFwDescriptor *d, uint64_t initrd_start)
{
	int chosen = fdt_path_offset(fdt_copy, "/chosen");
	int r;

	if (chosen < 0)
		chosen = fdt_add_subnode(fdt_copy, 0, "chosen");
	if (chosen < 0)
		fw_fail(PVM_FW_BAD_DEVICE_TREE, "cannot add /chosen");
	r = fdt_setprop_string(fdt_copy, chosen, "bootargs", d->cmdline);
	if (r == 0 && d->initrd_size > 0) {
		r = fdt_setprop_u64(fdt_copy, chosen, "linux,initrd-start", initrd_start);
		if (r == 0)
			r = fdt_setprop_u64(fdt_copy, chosen, "linux,initrd-end",
					    initrd_start + d->initrd_size);
	} else if (r == 0) {
		fdt_delprop(fdt_copy, chosen, "linux,initrd-start");
		fdt_delprop(fdt_copy, chosen, "linux,initrd-end");
	}
	if (r != 0)
		fw_fail(PVM_FW_BAD_DEVICE_TREE, "cannot write /chosen");
}

void fw_main(uint64_t dtb, uint64_t base)
{
	PvmFwDescriptor d;
	PvmFwVerdict v;
	Region ram;
	uint64_t kernel, image_size, initrd;
	int m;

	fw_puts("pvm-fw: started\n");
	pvm_fw_crypto_init();
	if (base % PVM_FW_PAYLOAD_ALIGN != 0)
		fw_fail(PVM_FW_BAD_LAYOUT, "firmware not loaded at a 2 MiB-aligned RAM start");
	ram = check_device_tree(dtb, base);
	if (ram.end - base < PVM_FW_KERNEL_OFFSET)
		fw_fail(PVM_FW_BAD_LAYOUT, "RAM smaller than the firmware's own layout");

	memcpy(descriptor_copy, (const void *)(uintptr_t)(base + PVM_FW_DESCRIPTOR_OFFSET),
	       sizeof(descriptor_copy));
	v = pvm_fw_descriptor_verify(descriptor_copy, pvm_fw_pubkey, &d);
	if (v != PVM_FW_OK)
		fw_fail(v, "descriptor at RAM + 2 MiB");
	fw_puts("pvm-fw: descriptor signature verified\n");

	/* Sizes are signed but bounded here anyway: nothing may reach past RAM. */
	kernel = base + PVM_FW_KERNEL_OFFSET;
	if (d.kernel_size < 64 || d.kernel_size > ram.end - kernel)
		fw_fail(PVM_FW_BAD_LAYOUT, "kernel size outside RAM");
	/* On pKVM each page the host populated becomes the guest's at its first access, so the
	 * bytes hashed here are the bytes that run. */
	m = pvm_fw_digest_check((const void *)(uintptr_t)kernel, d.kernel_size, d.kernel_sha256);
	if (m != 0)
		fw_fail(m < 0 ? PVM_FW_INTERNAL : PVM_FW_KERNEL_MISMATCH, "kernel at RAM + 4 MiB");
	if (memcmp((const void *)(uintptr_t)(kernel + 56), "ARM\x64", 4) != 0 ||
	    *(const uint64_t *)(uintptr_t)(kernel + 8) != 0)
		fw_fail(PVM_FW_BAD_LAYOUT, "kernel is not an arm64 Image with text_offset 0");
	image_size = *(const uint64_t *)(uintptr_t)(kernel + 16);
	if (image_size > ram.end - kernel)
		fw_fail(PVM_FW_BAD_LAYOUT, "kernel image_size outside RAM");

	initrd = base + pvm_fw_initrd_offset(d.kernel_size, image_size);
	if (initrd > ram.end || d.initrd_size > ram.end - initrd)
		fw_fail(PVM_FW_BAD_LAYOUT, "initrd outside RAM");
	m = pvm_fw_digest_check((const void *)(uintptr_t)initrd, d.initrd_size, d.initrd_sha256);
	if (m != 0)
		fw_fail(m < 0 ? PVM_FW_INTERNAL : PVM_FW_INITRD_MISMATCH,
			"initrd after the kernel");
	fw_puts("pvm-fw: kernel and initrd verified\n");

	set_chosen(&d, initrd);
	if (fdt_pack(fdt_copy) != 0)
		fw_fail(PVM_FW_BAD_DEVICE_TREE, "cannot pack the device tree");
	fw_puts("pvm-fw: booting the kernel\n");
	fw_enter_kernel(kernel, (uint64_t)(uintptr_t)fdt_copy);
}
