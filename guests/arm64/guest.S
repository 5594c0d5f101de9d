/* pvm's arm64 test guest: a bare-metal payload in the arm64 Linux Image format (64-byte header),
 * so the loader that boots Linux boots it too. It prints over the UART, fills and checks RAM,
 * writes a secret into its (private) memory, signals READY, waits until the host asks it to
 * stop and powers off with PSCI SYSTEM_OFF. While it waits it keeps every console line it is
 * sent in guest memory and answers each with all it has kept ("pvm-guest: remember: <lines>"),
 * so a later answer that still holds the earlier lines shows the guest ran on with its memory
 * intact (across a restart of pvmd, say). Addresses: libpvm/arch/arm64/arm64-layout.h. */
#include "guest-common.h"

#define RAM_TEST_BYTES (1 << 20)
#define REMEMBER_MAX 1024
#define UART_LSR 5
#define UART_LSR_DR 0x01

	guest_image_header

	.text
start:
	adr	x19, _head              /* where we were loaded; everything is PC-relative */
	mov	x20, x0                 /* device tree address, as Linux gets it */
	movz	x21, #(PVM_ARM64_UART_BASE >> 16), lsl #16
	movz	x22, #(PVM_ARM64_CONTROL_BASE >> 16), lsl #16

	adr	x1, msg_hello
	bl	puts
	/* The boot protocol: x0 = device tree; check its magic (0xd00dfeed, stored big-endian,
	 * so a little-endian load sees 0xedfe0dd0). */
	cbz	x20, 1f
	ldr	w2, [x20]
	movz	w3, #0x0dd0
	movk	w3, #0xedfe, lsl #16
	cmp	w2, w3
	b.ne	1f
	adr	x1, msg_dtb
	bl	puts
1:
	/* Fill the megabyte after the image with an address-derived pattern, then check it. */
	adr	x4, _image_end
	add	x4, x4, #0xfff
	and	x4, x4, #~0xfff
	mov	x5, #RAM_TEST_BYTES
	add	x5, x4, x5
	movz	x7, #0x5a5a, lsl #48
	mov	x6, x4
2:	eor	x8, x6, x7
	str	x8, [x6], #8
	cmp	x6, x5
	b.lo	2b
	mov	x6, x4
3:	ldr	x8, [x6]
	eor	x8, x8, x7
	cmp	x8, x6
	b.ne	ram_bad
	add	x6, x6, #8
	cmp	x6, x5
	b.lo	3b
	adr	x1, msg_ram_ok
	bl	puts
	b	4f
ram_bad:
	adr	x1, msg_ram_bad
	bl	puts
	b	power_off
4:
	/* The secret, at a fixed offset from the load address so the host knows where to look. */
	add	x6, x19, #PVM_ARM64_GUEST_SECRET_OFFSET
	ldr	x8, =PVM_ARM64_GUEST_SECRET
	str	x8, [x6]
	str	x8, [x6, #8]
	dsb	sy
	adr	x1, msg_secret
	bl	puts

	movz	w8, #(PVM_ARM64_READY_MAGIC & 0xffff)
	movk	w8, #(PVM_ARM64_READY_MAGIC >> 16), lsl #16
	str	w8, [x22, #PVM_ARM64_CONTROL_READY]
	adr	x1, msg_ready
	bl	puts

	/* Wait for the host's stop request (each read is one exit; pause between reads), keeping
	 * the console's input: x23 = kept bytes, x24 = their count. */
	adr	x23, kept
	mov	x24, #0
5:	ldr	w8, [x22, #PVM_ARM64_CONTROL_STATUS]
	tbnz	w8, #0, 6f
	ldrb	w8, [x21, #UART_LSR]
	tbz	w8, #0, 8f              /* no input byte: pause */
	ldrb	w8, [x21]
	cmp	w8, #'\n'
	b.eq	9f
	cmp	w8, #0x20               /* printable ASCII only, while there is room */
	b.lo	5b
	cmp	w8, #0x7f
	b.hs	5b
	cmp	x24, #REMEMBER_MAX
	b.hs	5b
	strb	w8, [x23, x24]
	add	x24, x24, #1
	b	5b
9:	adr	x1, msg_remember        /* a whole line: answer with everything kept */
	bl	puts
	mov	x9, #0
10:	cmp	x9, x24
	b.hs	11f
	ldrb	w8, [x23, x9]
	strb	w8, [x21]
	add	x9, x9, #1
	b	10b
11:	mov	w8, #'\n'
	strb	w8, [x21]
	b	5b
8:	mov	x9, #0x10000
7:	subs	x9, x9, #1
	b.ne	7b
	b	5b
6:	adr	x1, msg_stop
	bl	puts
	guest_routines

	.section .rodata
msg_hello:	.asciz "pvm-guest: arm64 test guest started\n"
msg_dtb:	.asciz "pvm-guest: device tree found at x0\n"
msg_ram_ok:	.asciz "pvm-guest: ram test ok (1 MiB)\n"
msg_ram_bad:	.asciz "pvm-guest: ram test FAILED\n"
msg_secret:	.asciz "pvm-guest: secret written\n"
msg_ready:	.asciz "pvm-guest: ready\n"
msg_stop:	.asciz "pvm-guest: stop requested, powering off\n"
msg_remember:	.asciz "pvm-guest: remember: "
	.balign 8
	.ltorg

	.section .bss
	.balign 8
kept:	.skip	REMEMBER_MAX            /* the console lines kept (remember: above) */
