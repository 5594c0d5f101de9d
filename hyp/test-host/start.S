/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Entry of the EL1 test host (x0: test group), and its exception vectors: synchronous
 * exceptions at EL1 (the aborts the hypervisor injects) go to host_sync_exception(frame).
 */
#include "frame.h"

	.text
	.global	host_start
host_start:
	ldr	x1, =host_stack_top
	mov	sp, x1
	mov	x19, x0
	ldr	x1, =__host_bss_start
	ldr	x2, =__host_bss_end
1:	cmp	x1, x2
	b.hs	2f
	str	xzr, [x1], #8
	b	1b
2:	ldr	x1, =host_vectors
	msr	vbar_el1, x1
	isb
	mov	x0, x19
	bl	host_main
3:	b	3b

	.macro	bad_entry kind
	vector_report \kind, host_bad_vector
	.endm

	.balign	0x800
host_vectors:
	bad_entry 0
	bad_entry 1
	bad_entry 2
	bad_entry 3
	.balign	0x80	/* current EL, SP_EL1: sync */
	b	sync_entry
	bad_entry 5
	bad_entry 6
	bad_entry 7
	bad_entry 8
	bad_entry 9
	bad_entry 10
	bad_entry 11
	bad_entry 12
	bad_entry 13
	bad_entry 14
	bad_entry 15

sync_entry:
	frame_save
	mov	x0, sp
	bl	host_sync_exception
	frame_restore_eret

	.bss
	.balign	16
	.space	0x4000
host_stack_top:
