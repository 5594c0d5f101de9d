/* pvm-fw's entry: an arm64 Linux Image header (so pvm's loader and QEMU's -kernel both load and
 * enter it, x0 = device tree), then zeroing .bss, applying the image's own R_AARCH64_RELATIVE
 * relocations (it is linked at 0 and runs wherever RAM starts), a stack, FP/SIMD enabled for
 * the C code, and fw_main(dtb, load address). Also fw_enter_kernel and fw_power_off. */
#define R_AARCH64_RELATIVE 1027
#define PSCI_0_2_FN_SYSTEM_OFF 0x84000008

	.section .head, "ax"
	.globl _head
_head:
	b	start                   /* code0 */
	.long	0                       /* code1 */
	.quad	0                       /* text_offset */
	.quad	_image_end - _head      /* image_size: up to the end of stack and heap */
	.quad	0xa                     /* flags: little-endian, 4K pages, anywhere in RAM */
	.quad	0, 0, 0
	.ascii	"ARM\x64"
	.long	0

	.text
start:
	mov	x19, x0                 /* the device tree, as the host passed it */
	adr	x20, _head              /* load address = RAM start (linked at 0) */

	adr	x1, __bss_start
	adr	x2, __bss_end
1:	cmp	x1, x2
	b.hs	2f
	str	xzr, [x1], #8
	b	1b

2:	adr	x1, __rela_start
	adr	x2, __rela_end
3:	cmp	x1, x2
	b.hs	4f
	ldp	x3, x4, [x1], #16       /* r_offset, r_info */
	ldr	x5, [x1], #8            /* r_addend */
	cmp	x4, #R_AARCH64_RELATIVE
	b.ne	3b                      /* the link check (build-fw.sh) allows no other type */
	add	x5, x5, x20
	str	x5, [x20, x3]
	b	3b

4:	adr	x1, __stack_end
	mov	sp, x1
	mrs	x1, cpacr_el1
	orr	x1, x1, #(3 << 20)      /* FPEN: the libraries are built for the full ISA */
	msr	cpacr_el1, x1
	isb
	mov	x0, x19
	mov	x1, x20
	bl	fw_main
	b	fw_power_off

/* fw_enter_kernel(entry, dtb): the arm64 boot protocol, x0 = dtb, x1-x3 = 0. */
	.globl fw_enter_kernel
fw_enter_kernel:
	mov	x4, x0
	mov	x0, x1
	mov	x1, xzr
	mov	x2, xzr
	mov	x3, xzr
	dsb	sy
	isb
	br	x4

	.globl fw_power_off
fw_power_off:
	movz	x0, #(PSCI_0_2_FN_SYSTEM_OFF & 0xffff)
	movk	x0, #(PSCI_0_2_FN_SYSTEM_OFF >> 16), lsl #16
	hvc	#0
	b	fw_power_off
