/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Entry of the EL2 image: QEMU's virt machine with virtualization=on starts an ELF here at EL2
 * with the MMU off. Set up a stack, clear .bss, run hyp_main(); hyp_enter_host() later leaves
 * for the host at EL1 with a fresh hypervisor stack for the traps to come.
 */
	.section .text.start, "ax"
	.global _start
_start:
	mrs	x0, CurrentEL
	cmp	x0, #(2 << 2)
	b.ne	not_el2
	ldr	x0, =__hyp_stack_top
	mov	sp, x0
	ldr	x0, =__bss_start
	ldr	x1, =__bss_end
1:	cmp	x0, x1
	b.hs	2f
	str	xzr, [x0], #8
	b	1b
2:	bl	hyp_main
not_el2:
	/* Not at EL2: nothing this image can do. Tell QEMU's PSCI to power off. */
	ldr	x0, =0x84000008
	smc	#0
	hvc	#0
3:	wfi
	b	3b

	.text
	/* hyp_enter_host(entry, arg): eret to EL1h at entry with x0 = arg, interrupts masked. */
	.global hyp_enter_host
hyp_enter_host:
	ldr	x2, =__hyp_stack_top
	mov	sp, x2
	msr	elr_el2, x0
	mov	x2, #0x3c5		/* EL1h, DAIF masked */
	msr	spsr_el2, x2
	mov	x0, x1
	mov	x1, xzr
	mov	x2, xzr
	mov	x30, xzr
	eret
