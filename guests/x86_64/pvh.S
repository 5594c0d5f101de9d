/* PVH entry for pvm's x86 test guests: the Xen PHYS32_ENTRY note points here; we arrive in
 * 32-bit protected mode with paging off and EBX = hvm_start_info. Set a stack and call
 * guest_main(start_info). */
	.section .note.pvh, "a"
	.balign 4
	.long 4			/* name size: "Xen\0" */
	.long 4			/* descriptor size */
	.long 18		/* XEN_ELFNOTE_PHYS32_ENTRY */
	.asciz "Xen"
	.long _start

	.section .text.start, "ax"
	.code32
	.globl _start
_start:
	cli
	movl $_stack_top, %esp
	pushl %ebx
	call guest_main
1:	cli
	hlt
	jmp 1b

	.section .note.GNU-stack, "", @progbits
