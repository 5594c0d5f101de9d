/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A tiny protected guest, copied by the test host into a page it donates at guest address
 * 0x100000 (MMU off, position independent). Its private page is at 0x101000, the page it
 * shares with the host at 0x102000. Each step ends in GUEST_YIELD with a result in x1.
 */
#define FN(n) movz x0, #(n); movk x0, #0xc600, lsl #16

	.section .rodata
	.balign	8
	.global	guest_code_start, guest_code_end
guest_code_start:
	movz	x10, #0x10, lsl #16
	add	x11, x10, #0x1000		/* private page */
	add	x12, x10, #0x2000		/* page to share */
	movz	x13, #0x5ec2
	str	x13, [x11]			/* private data */
	/* 1: share 0x102, write to it, yield the share's result */
	FN(16)
	mov	x1, #0x102
	mov	x2, #1
	hvc	#0
	movz	x13, #0x1234
	str	x13, [x12]
	FN(18)
	hvc	#0
	/* 2: unshare it, yield the result */
	FN(17)
	mov	x1, #0x102
	mov	x2, #1
	hvc	#0
	FN(18)
	hvc	#0
	/* 3: share a page it does not have: -ENOENT */
	FN(16)
	mov	x1, #0x300
	mov	x2, #1
	hvc	#0
	FN(18)
	hvc	#0
	/* 4: wait for an interrupt: the hypervisor hands the CPU to the host instead */
	wfi
	/* 5: touch an address with no page: a stage-2 fault ends the run */
	movz	x14, #0x20, lsl #16
	ldr	x15, [x14]
	b	.
guest_code_end:
