/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * EL2 exception vectors. Synchronous exceptions from the host (HVC, trapped SMC, stage-2
 * aborts) save the host's registers in a frame (frame.h), run hyp_handle_host_sync(frame)
 * and return to the host with the frame's registers; anything else is a hypervisor bug.
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
	bad_entry 4	/* current EL, SP_ELx */
	bad_entry 5
	bad_entry 6
	bad_entry 7
	.balign	0x80	/* lower EL, AArch64: sync */
	b	host_sync
	bad_entry 9
	bad_entry 10
	bad_entry 11
	bad_entry 12	/* lower EL, AArch32 */
	bad_entry 13
	bad_entry 14
	bad_entry 15

host_sync:
	frame_save
	mov	x0, sp
	bl	hyp_handle_host_sync
	frame_restore_eret

hyp_bad_vector_entry:
	ldr	x1, =__hyp_stack_top
	mov	sp, x1
	bl	hyp_bad_vector
1:	wfi
	b	1b
