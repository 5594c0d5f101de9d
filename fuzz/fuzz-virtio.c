/* libFuzzer target: a hostile guest driving a virtio-blk or virtio-vsock device over virtio-mmio.
 * The input is the shared window's contents (rings, descriptors, requests) followed by register
 * writes; the window is a heap block of exactly its size, so any access outside it is caught by
 * ASan. The device may refuse (EPROTO) but must never touch memory outside the window or crash. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <linux/virtio_config.h>
#include <linux/virtio_mmio.h>

#include "virtio-fuzz.h"
#include "virtio/virtio-blk.h"
#include "virtio/virtio-vsock.h"

#define WIN_GPA 0x40000000ull
#define WIN_SIZE 0x2000u

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int disk_fd = -1;

/* the host side of vsock: every port connects to a socketpair whose far end is dropped */
static int fuzz_connect(void *userdata, uint32_t port)
{
	int sv[2];
	if (port % 2 || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return -ECONNREFUSED;
	close(sv[1]);
	return sv[0];
}

static void w32(pvm_virtio_mmio *m, uint64_t off, uint32_t v)
{
	pvm_error err = { 0 };
	pvm_virtio_mmio_write(m, off, &v, 4, &err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	pvm_virtio_mmio m;
	pvm_virtio_blk blk;
	pvm_virtio_vsock vsock;
	pvm_vsock_host host = { .connect = fuzz_connect };
	bool use_vsock;
	pvm_error err = { 0 };
	uint8_t *win;
	size_t n;

	if (disk_fd < 0) {
		disk_fd = memfd_create("fuzz-disk", MFD_CLOEXEC);
		if (disk_fd < 0 || ftruncate(disk_fd, 64 * 512) < 0)
			abort();
	}
	if (size < 2)
		return 0;
	win = malloc(WIN_SIZE);
	if (!win)
		return 0;
	n = MIN(size - 2, (size_t)3072); /* the rest of the input is register accesses */
	memset(win, 0, WIN_SIZE);
	memcpy(win, data + 2, n);

	pvm_window w = { .gpa = WIN_GPA, .size = WIN_SIZE, .host = win };
	use_vsock = data[0] & 4;
	if (use_vsock) {
		if (pvm_virtio_vsock_init(&vsock, 3, &host, &err) < 0)
			abort();
		pvm_virtio_mmio_init(&m, &pvm_virtio_vsock_ops, &vsock, &w, data[0] & 2);
	} else {
		if (pvm_virtio_blk_init(&blk, disk_fd, data[0] & 1, "fuzz", &err) < 0)
			abort();
		pvm_virtio_mmio_init(&m, &pvm_virtio_blk_ops, &blk, &w, data[0] & 2);
	}

	/* a well-behaved handshake with rings at guest-chosen places in (or near) the window */
	w32(&m, VIRTIO_MMIO_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER);
	w32(&m, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
	w32(&m, VIRTIO_MMIO_DRIVER_FEATURES, 3); /* VERSION_1, ACCESS_PLATFORM */
	w32(&m, VIRTIO_MMIO_STATUS, 0xb);
	if (use_vsock) {
		/* three small queues (receive, transmit, event), each in its own 0x200 bytes */
		for (uint32_t q = 0; q < 3; q++) {
			uint32_t base = (uint32_t)WIN_GPA + q * 0x200;
			w32(&m, VIRTIO_MMIO_QUEUE_SEL, q);
			w32(&m, VIRTIO_MMIO_QUEUE_NUM, 1u << (data[1] & 3));
			w32(&m, VIRTIO_MMIO_QUEUE_DESC_LOW, base);
			w32(&m, VIRTIO_MMIO_QUEUE_AVAIL_LOW, base + 0x80);
			w32(&m, VIRTIO_MMIO_QUEUE_USED_LOW,
			    base + 0x100 - (data[1] & 0x40 ? 2 : 0));
			w32(&m, VIRTIO_MMIO_QUEUE_READY, 1);
		}
	} else {
		w32(&m, VIRTIO_MMIO_QUEUE_NUM, 1u << (data[1] & 7));
		w32(&m, VIRTIO_MMIO_QUEUE_DESC_LOW,
		    (uint32_t)WIN_GPA + (data[1] & 0x80 ? 0x10 : 0));
		w32(&m, VIRTIO_MMIO_QUEUE_AVAIL_LOW, (uint32_t)WIN_GPA + 0x800);
		w32(&m, VIRTIO_MMIO_QUEUE_USED_LOW,
		    (uint32_t)WIN_GPA + 0x1000 - (data[1] & 0x40 ? 8 : 0));
		w32(&m, VIRTIO_MMIO_QUEUE_READY, 1);
	}
	w32(&m, VIRTIO_MMIO_STATUS, 0xf);

	/* then whatever the rest of the input says: (offset, value) register writes and reads */
	fuzz_virtio_registers(&m, data + 2 + n, size - 2 - n);
	w32(&m, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	if (use_vsock) {
		w32(&m, VIRTIO_MMIO_QUEUE_NOTIFY, 1);
		pvm_virtio_vsock_pump(&m, &err);
		pvm_virtio_vsock_done(&vsock);
	}
	free(win);
	return 0;
}
