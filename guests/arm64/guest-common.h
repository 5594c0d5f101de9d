/* What pvm's arm64 test guests share (guest.S, window.S): the arm64 Image header, so pvm's loader
 * boots them as it boots Linux, and two routines: puts (x1 = NUL-terminated string, written to
 * the UART whose base is in x21) and power_off (PSCI SYSTEM_OFF, never returns). */
#include "arm64-layout.h"

#define PSCI_0_2_FN_SYSTEM_OFF 0x84000008

/* The 64-byte Image header; the code starts at the label `start`. */
.macro guest_image_header
	.section .head, "ax"
	.globl _head
_head:
	b	start                   /* code0: the Image entry point is offset 0 */
	.long	0                       /* code1 */
	.quad	0                       /* text_offset */
	.quad	_image_end - _head      /* image_size: load size including .bss */
	.quad	0xa                     /* flags: little-endian, 4K pages, anywhere in RAM */
	.quad	0, 0, 0
	.ascii	"ARM\x64"               /* magic */
	.long	0
.endm

.macro guest_routines
power_off:
	movz	x0, #(PSCI_0_2_FN_SYSTEM_OFF & 0xffff)
	movk	x0, #(PSCI_0_2_FN_SYSTEM_OFF >> 16), lsl #16
	hvc	#0
	b	power_off               /* SYSTEM_OFF does not return; if it does, try again */

puts:
	ldrb	w2, [x1], #1
	cbz	w2, 1f
	strb	w2, [x21]
	b	puts
1:	ret
.endm
