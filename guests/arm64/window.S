/* pvm's arm64 window test guests: protected guests that break the shared window's rule. Built
 * twice (guests/arm64/meson.build):
 * - guest-arm64-window: writes to the window's first page without sharing it (pKVM then gives
 *   the page to the guest alone), puts virtio slot 0's queue 0 on that page with one request
 *   pending, and notifies the queue: the host's device model faults on the ring it reads.
 * - guest-arm64-window-data (PVM_WINDOW_DATA): keeps the rings on the window's first page and
 *   shares that page with the host (MEM_SHARE), but points the disk read's data buffer at the
 *   window's second page, which it touched and did not share: the host's read into it fails
 *   in the kernel (EFAULT), not in the device model's own loads.
 * Either way pvm must end the VM as a protection violation that names the withheld page, with
 * its runner intact. A guest still running after a pause says so and powers off. Addresses:
 * libpvm/arch/arm64/arm64-layout.h. */
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
/* PVM_WINDOW_DATA: the disk request's header and status byte, after the rings on the same page,
 * and its data buffer of one sector on the window's second page */
#define HDR_OFF 0x400
#define STATUS_OFF 0x410
#define DATA_OFF 0x1000
#define SECTOR 512
/* virtq_desc (virtio 1.x, 2.7.5): addr (64 bits), len (32), flags (16), next (16) */
#define DESC_SIZE 16
#define VIRTQ_DESC_F_NEXT 1
#define VIRTQ_DESC_F_WRITE 2
/* pKVM's guest hypercall that shares a page with the host (SMCCC vendor hypervisor service,
 * KVM's function 3: MEM_SHARE, x1 = the page's IPA) */
#define KVM_HYP_MEM_SHARE 0xc6000003

/* desc N, OFF, LEN, FLAGS, NEXT: fill descriptor N of queue 0 with a buffer at window offset OFF
 * (the window's base is in x19; x8 is clobbered) */
	.macro	desc n, off, len, flags, next
	add	x8, x19, #\off
	str	x8, [x19, #(DESC_OFF + \n * DESC_SIZE)]
	mov	w8, #\len
	str	w8, [x19, #(DESC_OFF + \n * DESC_SIZE + 8)]
	mov	w8, #\flags
	strh	w8, [x19, #(DESC_OFF + \n * DESC_SIZE + 12)]
	mov	w8, #\next
	strh	w8, [x19, #(DESC_OFF + \n * DESC_SIZE + 14)]
	.endm

	guest_image_header

	.text
start:
	movz	x21, #(PVM_ARM64_UART_BASE >> 16), lsl #16
	movz	x20, #(PVM_ARM64_VIRTIO_BASE >> 16), lsl #16
	movz	x19, #(PVM_ARM64_WINDOW_BASE >> 16), lsl #16
	adr	x1, msg_hello
	bl	puts

#ifdef PVM_WINDOW_DATA
	/* a disk read of sector 0: header (readable), one sector of data (writable) on the second
	 * page, status byte (writable) */
	str	xzr, [x19, #HDR_OFF]            /* type VIRTIO_BLK_T_IN, reserved */
	str	xzr, [x19, #(HDR_OFF + 8)]      /* sector 0 */
	desc	0, HDR_OFF, 16, VIRTQ_DESC_F_NEXT, 1
	desc	1, DATA_OFF, SECTOR, (VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE), 2
	desc	2, STATUS_OFF, 1, VIRTQ_DESC_F_WRITE, 0
	strh	wzr, [x19, #(AVAIL_OFF + 4)]    /* ring[0]: the chain at descriptor 0 */
#endif
	/* the driver ring's index says one request waits: a guest store */
	mov	w8, #1
	strh	w8, [x19, #(AVAIL_OFF + 2)]
	dsb	sy
#ifdef PVM_WINDOW_DATA
	/* the rings' page goes to the host as it should; the data page is touched and kept */
	movz	x0, #(KVM_HYP_MEM_SHARE >> 16), lsl #16
	movk	x0, #(KVM_HYP_MEM_SHARE & 0xffff)
	mov	x1, x19
	mov	x2, xzr
	mov	x3, xzr
	hvc	#0
	adr	x1, msg_share_failed
	cbnz	x0, 2f
	adr	x1, msg_shared
2:	bl	puts
	add	x9, x19, #DATA_OFF
	mov	w8, #0xa5
	strb	w8, [x9]
	dsb	sy
	adr	x1, msg_touched_data
	bl	puts
#else
	adr	x1, msg_touched
	bl	puts
#endif

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
#ifdef PVM_WINDOW_DATA
msg_shared:	.asciz "pvm-window-guest: shared the window's first page, the rings' (MEM_SHARE)\n"
msg_share_failed:	.asciz "pvm-window-guest: MEM_SHARE of the window's first page failed\n"
msg_touched_data:	.asciz "pvm-window-guest: wrote to the window's second page, the disk read's buffer, without sharing it\n"
#endif
msg_notified:	.asciz "pvm-window-guest: queue 0 of slot 0 notified\n"
msg_alive:	.asciz "pvm-window-guest: still running after the notification\n"
	.balign 8

	.section .bss
	.balign 8
	.skip	8
