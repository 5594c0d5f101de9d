/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * EL2 exception vectors. Synchronous exceptions from the host (HVC, trapped SMC, stage-2
 * aborts) save the host's registers in a frame (frame.h), run hyp_handle_host_sync(frame)
 * and return to the host with the frame's registers; a running guest vCPU exits through
 * guest_exit back into guest_enter's caller. Anything else is a hypervisor bug.
 */
#include "frame.h"

	.macro	bad_entry kind
	vector_report \kind, hyp_bad_vector_entry
	.endm

	.text
	.balign	0x800
	.global	hyp_vectors
hyp_vectors:
	bad_entry 0	/* current EL, SP_EL0: sync, irq, fiq, serror */
	bad_entry 1
	bad_entry 2
	bad_entry 3
	.balign	0x80	/* current EL, SP_ELx: sync (a probe may expect one) */
	b	current_sync
	bad_entry 5
	bad_entry 6
	bad_entry 7
	.balign	0x80	/* lower EL, AArch64: sync */
	b	lower_sync
	bad_entry 9
	bad_entry 10
	bad_entry 11
	bad_entry 12	/* lower EL, AArch32 */
	bad_entry 13
	bad_entry 14
	bad_entry 15

lower_sync:
	/* A guest vCPU running (guest_vcpu_ctx set) leaves through guest_exit. */
	str	x0, [sp, #-16]!
	ldr	x0, =guest_vcpu_ctx
	ldr	x0, [x0]
	cbnz	x0, guest_exit
	ldr	x0, [sp], #16

host_sync:
	frame_save
	mov	x0, sp
	bl	hyp_handle_host_sync
	frame_restore_eret

/*
 * A synchronous exception at EL2: a bug, unless a probe set hyp_probe_resume. Then it goes on
 * there with x0 = ESR_EL2 (the probe's result) and everything else as it was.
 */
current_sync:
	stp	x1, x2, [sp, #-16]!
	ldr	x1, =hyp_probe_resume
	ldr	x2, [x1]
	cbz	x2, 1f
	str	xzr, [x1]
	msr	elr_el2, x2
	mrs	x0, esr_el2
	ldp	x1, x2, [sp], #16
	eret
1:	ldp	x1, x2, [sp], #16
	mov	x0, #4
	b	hyp_bad_vector_entry

/* hyp_probe_store(addr), hyp_probe_load(addr): 0 if the access worked, else its ESR_EL2. */
	.global	hyp_probe_store
hyp_probe_store:
	ldr	x1, =hyp_probe_resume
	adr	x2, 1f
	str	x2, [x1]
	str	xzr, [x0]
	str	xzr, [x1]
	mov	x0, #0
1:	ret

	.global	hyp_probe_load
hyp_probe_load:
	ldr	x1, =hyp_probe_resume
	adr	x2, 1f
	str	x2, [x1]
	ldr	x3, [x0]
	str	xzr, [x1]
	mov	x0, #0
1:	ret

/* hyp_probe_exec(addr): call addr (which just returns); 0 if that worked, else its ESR_EL2. */
	.global	hyp_probe_exec
hyp_probe_exec:
	stp	x29, x30, [sp, #-16]!
	ldr	x1, =hyp_probe_resume
	adr	x2, 1f
	str	x2, [x1]
	blr	x0
	ldr	x1, =hyp_probe_resume
	str	xzr, [x1]
	mov	x0, #0
1:	ldp	x29, x30, [sp], #16
	ret

	/* Targets: a function in the code, the same instruction in the data. */
	.global	hyp_probe_code
hyp_probe_code:
	ret

hyp_bad_vector_entry:
	ldr	x1, =__hyp_stack_top
	mov	sp, x1
	bl	hyp_bad_vector
1:	wfi
	b	1b

/*
 * guest_enter(ctx): run a guest vCPU (ELR_EL2, SPSR_EL2 and VTTBR_EL2 already set) with
 * x0-x30 from ctx; returns when it traps, with its registers saved back in ctx.
 */
	.global	guest_enter
guest_enter:
	ldr	x1, =hyp_saved
	stp	x19, x20, [x1, #(0 * 8)]
	stp	x21, x22, [x1, #(2 * 8)]
	stp	x23, x24, [x1, #(4 * 8)]
	stp	x25, x26, [x1, #(6 * 8)]
	stp	x27, x28, [x1, #(8 * 8)]
	stp	x29, x30, [x1, #(10 * 8)]
	mov	x2, sp
	str	x2, [x1, #(12 * 8)]
	ldr	x1, =guest_vcpu_ctx
	str	x0, [x1]
	ldp	x2, x3, [x0, #(2 * 8)]
	ldp	x4, x5, [x0, #(4 * 8)]
	ldp	x6, x7, [x0, #(6 * 8)]
	ldp	x8, x9, [x0, #(8 * 8)]
	ldp	x10, x11, [x0, #(10 * 8)]
	ldp	x12, x13, [x0, #(12 * 8)]
	ldp	x14, x15, [x0, #(14 * 8)]
	ldp	x16, x17, [x0, #(16 * 8)]
	ldp	x18, x19, [x0, #(18 * 8)]
	ldp	x20, x21, [x0, #(20 * 8)]
	ldp	x22, x23, [x0, #(22 * 8)]
	ldp	x24, x25, [x0, #(24 * 8)]
	ldp	x26, x27, [x0, #(26 * 8)]
	ldp	x28, x29, [x0, #(28 * 8)]
	ldr	x30, [x0, #(30 * 8)]
	ldp	x0, x1, [x0, #(0 * 8)]
	eret

/* From lower_sync: x0 = the vCPU's context, its own x0 pushed on the stack. */
guest_exit:
	stp	x2, x3, [x0, #(2 * 8)]
	stp	x4, x5, [x0, #(4 * 8)]
	stp	x6, x7, [x0, #(6 * 8)]
	stp	x8, x9, [x0, #(8 * 8)]
	stp	x10, x11, [x0, #(10 * 8)]
	stp	x12, x13, [x0, #(12 * 8)]
	stp	x14, x15, [x0, #(14 * 8)]
	stp	x16, x17, [x0, #(16 * 8)]
	stp	x18, x19, [x0, #(18 * 8)]
	stp	x20, x21, [x0, #(20 * 8)]
	stp	x22, x23, [x0, #(22 * 8)]
	stp	x24, x25, [x0, #(24 * 8)]
	stp	x26, x27, [x0, #(26 * 8)]
	stp	x28, x29, [x0, #(28 * 8)]
	str	x30, [x0, #(30 * 8)]
	ldr	x2, [sp], #16
	stp	x2, x1, [x0, #(0 * 8)]
	ldr	x1, =guest_vcpu_ctx
	str	xzr, [x1]
	ldr	x1, =hyp_saved
	ldp	x19, x20, [x1, #(0 * 8)]
	ldp	x21, x22, [x1, #(2 * 8)]
	ldp	x23, x24, [x1, #(4 * 8)]
	ldp	x25, x26, [x1, #(6 * 8)]
	ldp	x27, x28, [x1, #(8 * 8)]
	ldp	x29, x30, [x1, #(10 * 8)]
	ldr	x2, [x1, #(12 * 8)]
	mov	sp, x2
	ret

	.data
	.balign	8
	.global	hyp_probe_data
hyp_probe_data:
	ret
	.balign	8
hyp_probe_resume:
	.quad	0

	.bss
	.balign	16
	.global	guest_vcpu_ctx
guest_vcpu_ctx:
	.quad	0
hyp_saved:
	.space	13 * 8
