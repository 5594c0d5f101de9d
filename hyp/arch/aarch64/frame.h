/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Assembler macros for an exception frame of 32 x-registers (slot n holds xn), shared by the
 * EL2 vectors and the EL1 test host's. Only the registers a C handler may clobber are saved:
 * x0-x18, x29, x30; the handler preserves x19-x28 itself. Assembler, so not clang-formatted.
 */
/* clang-format off */
	.macro	frame_save
	sub	sp, sp, #(32 * 8)
	stp	x0, x1, [sp, #(0 * 8)]
	stp	x2, x3, [sp, #(2 * 8)]
	stp	x4, x5, [sp, #(4 * 8)]
	stp	x6, x7, [sp, #(6 * 8)]
	stp	x8, x9, [sp, #(8 * 8)]
	stp	x10, x11, [sp, #(10 * 8)]
	stp	x12, x13, [sp, #(12 * 8)]
	stp	x14, x15, [sp, #(14 * 8)]
	stp	x16, x17, [sp, #(16 * 8)]
	str	x18, [sp, #(18 * 8)]
	stp	x29, x30, [sp, #(29 * 8)]
	.endm

	.macro	frame_restore_eret
	ldp	x0, x1, [sp, #(0 * 8)]
	ldp	x2, x3, [sp, #(2 * 8)]
	ldp	x4, x5, [sp, #(4 * 8)]
	ldp	x6, x7, [sp, #(6 * 8)]
	ldp	x8, x9, [sp, #(8 * 8)]
	ldp	x10, x11, [sp, #(10 * 8)]
	ldp	x12, x13, [sp, #(12 * 8)]
	ldp	x14, x15, [sp, #(14 * 8)]
	ldp	x16, x17, [sp, #(16 * 8)]
	ldr	x18, [sp, #(18 * 8)]
	ldp	x29, x30, [sp, #(29 * 8)]
	add	sp, sp, #(32 * 8)
	eret
	.endm

	/* One vector table slot that reports which slot it is: mov x0, #kind; b target. */
	.macro	vector_report kind, target
	.balign	0x80
	mov	x0, #\kind
	b	\target
	.endm
