/* pvm-fw's boot flow: copy the device tree and the descriptor into the firmware's own memory,
 * check the device tree's memory layout, verify the descriptor's signature with the built-in
 * key, hash the kernel and initrd where they will run, hand the kernel a device tree whose
 * /chosen says the signed command line and the verified initrd, and jump - or refuse and power
 * off. Either way the verdict goes to pvm's control page first. Layout and format:
 * docs/pvm-fw.md. */
#include <libfdt.h>
#include <string.h>

#include "arm64-layout.h"
#include "fw-pubkey.h"
#include "fw-fdt.h"
#include "fw.h"

/* Room for the tree, the command line and the initrd properties pvm-fw adds to /chosen. */
_Static_assert(PVM_FW_DESCRIPTOR_OFFSET == PVM_ARM64_FW_DESCRIPTOR_OFFSET &&
		   PVM_FW_KERNEL_OFFSET == PVM_ARM64_FW_KERNEL_OFFSET &&
		   PVM_FW_DESCRIPTOR_SIZE == PVM_ARM64_FW_DESCRIPTOR_SIZE &&
		   PVM_FW_PAYLOAD_ALIGN == PVM_ARM64_FW_PAYLOAD_ALIGN &&
		   PVM_FW_IMAGE_MAX == PVM_ARM64_FW_IMAGE_MAX &&
		   PVM_FW_PUBKEY_SIZE == PVM_ARM64_FW_KEY_POINT_SIZE,
	       "pvm-fw's layout is the one pvmd places (arm64-layout.h)");
_Static_assert(_PVM_FW_VERDICT_MAX - 1 <= PVM_ARM64_FW_VERDICT_MASK, "verdicts fit the register");

static uint8_t fdt_copy[PVM_FW_FDT_MAX + PVM_FW_CMDLINE_MAX + 0x1000] __attribute__((aligned(8)));
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

/* The host learns the verdict from this write (the console is for people); pvm's runner ends
 * the VM on a refusal, other machines ignore the write and the power-off below ends it. */
static void fw_report(PvmFwVerdict v)
{
	volatile uint32_t *reg =
	    (volatile uint32_t *)(uintptr_t)(PVM_ARM64_CONTROL_BASE + PVM_ARM64_CONTROL_FW_VERDICT);

	*reg = PVM_ARM64_FW_VERDICT_MAGIC | (uint32_t)v;
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
	fw_report(v);
	fw_power_off();
}

_Noreturn void pvm_fw_crypto_abort(int status)
{
	fw_fail(PVM_FW_INTERNAL, "mbedTLS found its arena corrupted");
}

void fw_main(uint64_t dtb, uint64_t base)
{
	PvmFwDescriptor d;
	PvmFwVerdict v;
	uint64_t ram_start, ram_end;
	const char *why;
	uint64_t kernel, image_size, initrd;
	int m;

	fw_puts("pvm-fw: started\n");
	pvm_fw_crypto_init();
	if (base % PVM_FW_PAYLOAD_ALIGN != 0)
		fw_fail(PVM_FW_BAD_LAYOUT, "firmware not loaded at a 2 MiB-aligned RAM start");
	v = pvm_fw_fdt_copy((const void *)(uintptr_t)dtb, fdt_copy, sizeof(fdt_copy), &why);
	if (v == PVM_FW_OK)
		v = pvm_fw_fdt_ram(fdt_copy, base, &ram_start, &ram_end, &why);
	if (v != PVM_FW_OK)
		fw_fail(v, why);
	if (ram_end - base < PVM_FW_KERNEL_OFFSET)
		fw_fail(PVM_FW_BAD_LAYOUT, "RAM smaller than the firmware's own layout");

	memcpy(descriptor_copy, (const void *)(uintptr_t)(base + PVM_FW_DESCRIPTOR_OFFSET),
	       sizeof(descriptor_copy));
	v = pvm_fw_descriptor_verify(descriptor_copy, pvm_fw_pubkey, &d);
	if (v != PVM_FW_OK)
		fw_fail(v, "descriptor at RAM + 2 MiB");
	fw_puts("pvm-fw: descriptor signature verified\n");

	/* Sizes are signed but bounded here anyway: nothing may reach past RAM. */
	kernel = base + PVM_FW_KERNEL_OFFSET;
	if (d.kernel_size < 64 || d.kernel_size > ram_end - kernel)
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
	if (image_size > ram_end - kernel)
		fw_fail(PVM_FW_BAD_LAYOUT, "kernel image_size outside RAM");

	initrd = base + pvm_fw_initrd_offset(d.kernel_size, image_size);
	if (initrd > ram_end || d.initrd_size > ram_end - initrd)
		fw_fail(PVM_FW_BAD_LAYOUT, "initrd outside RAM");
	m = pvm_fw_digest_check((const void *)(uintptr_t)initrd, d.initrd_size, d.initrd_sha256);
	if (m != 0)
		fw_fail(m < 0 ? PVM_FW_INTERNAL : PVM_FW_INITRD_MISMATCH,
			"initrd after the kernel");
	fw_puts("pvm-fw: kernel and initrd verified\n");

	v = pvm_fw_fdt_set_chosen(fdt_copy, d.cmdline, initrd, d.initrd_size, &why);
	if (v != PVM_FW_OK)
		fw_fail(v, why);
	if (fdt_pack(fdt_copy) != 0)
		fw_fail(PVM_FW_BAD_DEVICE_TREE, "cannot pack the device tree");
	fw_puts("pvm-fw: booting the kernel\n");
	fw_report(PVM_FW_OK);
	fw_enter_kernel(kernel, (uint64_t)(uintptr_t)fdt_copy);
}
