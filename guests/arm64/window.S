/* pvm's arm64 window test guest: a protected guest that breaks the shared window's rule. It
 * writes to the window's first page without sharing it (pKVM then gives the page to the guest
 * alone), puts virtio slot 0's queue 0 on that page with one request pending, and notifies the
 * queue: the host's device model faults on the page it reads. pvm must end the VM as a
 * protection violation that names the page, with its runner intact. A guest still running after
 * a pause says so and powers off. Addresses: libpvm/arch/arm64/arm64-layout.h. */
#include "guest-common.h"

/* virtio-mmio registers (virtio 1.x, 4.2.2) and status bits (2.1) */
#define REG_DRIVER_FEATURES 0x20
#define REG_DRIVER_FEATURES_SEL 0x24
#define REG_QUEUE_SEL 0x30
#define REG_QUEUE_NUM 0x38
#define REG_QUEUE_READY 0x44
#define REG_QUEUE_NOTIFY 0x50
#define REG_STATUS 0x70
#define REG_QUEUE_DESC_LOW 0x80
#define REG_QUEUE_AVAIL_LOW 0x90
#define REG_QUEUE_USED_LOW 0xa0
#define S_ACKNOWLEDGE 1
#define S_DRIVER 2
#define S_DRIVER_OK 4
#define S_FEATURES_OK 8
/* the high word of the features: VERSION_1 (32) and ACCESS_PLATFORM (33) */
#define FEATURES_HIGH 3
/* queue 0 of 16 entries, all on the window's first page */
#define QUEUE_SIZE 16
#define DESC_OFF 0x0
#define AVAIL_OFF 0x100
#define USED_OFF 0x200

	guest_image_header

	.text
start:
	movz	x21, #(PVM_ARM64_UART_BASE >> 16), lsl #16
	movz	x20, #(PVM_ARM64_VIRTIO_BASE >> 16), lsl #16
	movz	x19, #(PVM_ARM64_WINDOW_BASE >> 16), lsl #16
	adr	x1, msg_hello
	bl	puts

	/* the driver ring's index says one request waits: a guest store, and no MEM_SHARE */
	mov	w8, #1
	strh	w8, [x19, #(AVAIL_OFF + 2)]
	dsb	sy
	adr	x1, msg_touched
	bl	puts

	/* the device handshake, as a driver that accepts ACCESS_PLATFORM does it */
	mov	w8, #S_ACKNOWLEDGE
	str	w8, [x20, #REG_STATUS]
	mov	w8, #(S_ACKNOWLEDGE | S_DRIVER)
	str	w8, [x20, #REG_STATUS]
	mov	w8, #1
	str	w8, [x20, #REG_DRIVER_FEATURES_SEL]
	mov	w8, #FEATURES_HIGH
	str	w8, [x20, #REG_DRIVER_FEATURES]
	mov	w8, #(S_ACKNOWLEDGE | S_DRIVER | S_FEATURES_OK)
	str	w8, [x20, #REG_STATUS]
	str	wzr, [x20, #REG_QUEUE_SEL]
	mov	w8, #QUEUE_SIZE
	str	w8, [x20, #REG_QUEUE_NUM]
	add	x8, x19, #DESC_OFF
	str	w8, [x20, #REG_QUEUE_DESC_LOW]
	add	x8, x19, #AVAIL_OFF
	str	w8, [x20, #REG_QUEUE_AVAIL_LOW]
	add	x8, x19, #USED_OFF
	str	w8, [x20, #REG_QUEUE_USED_LOW]
	mov	w8, #1
	str	w8, [x20, #REG_QUEUE_READY]
	mov	w8, #(S_ACKNOWLEDGE | S_DRIVER | S_FEATURES_OK | S_DRIVER_OK)
	str	w8, [x20, #REG_STATUS]
	str	wzr, [x20, #REG_QUEUE_NOTIFY]
	adr	x1, msg_notified
	bl	puts

	/* the host serves the notification on its own thread: give it time, then report */
	movz	x9, #0x1000, lsl #16
1:	subs	x9, x9, #1
	b.ne	1b
	adr	x1, msg_alive
	bl	puts
	guest_routines

	.section .rodata
msg_hello:	.asciz "pvm-window-guest: started\n"
msg_touched:	.asciz "pvm-window-guest: wrote to the window's first page without sharing it\n"
msg_notified:	.asciz "pvm-window-guest: queue 0 of slot 0 notified, its rings on that page\n"
msg_alive:	.asciz "pvm-window-guest: still running after the notification\n"
	.balign 8

	.section .bss
	.balign 8
	.skip	8
