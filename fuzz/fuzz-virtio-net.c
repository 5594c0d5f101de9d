/* libFuzzer target: a hostile guest driving virtio-net, with frames waiting on the tap. The input
 * is a header byte pair (queue sizes, ring placement, how many frames the host network sends and
 * how long), the whole shared window (rings at fixed places, descriptors, frames to transmit),
 * then register writes. The window is small, so that most input bytes are rings and buffers,
 * and a heap block of exactly its size, so ASan catches any access outside it; the tap is a
 * datagram socketpair whose far end nobody reads (so it also fills up). The device may refuse
 * (EPROTO) but must never touch memory outside the window, block or crash. */
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <linux/virtio_config.h>
#include <linux/virtio_mmio.h>

#include "virtio-fuzz.h"
#include "virtio/virtio-net.h"

#define WIN_GPA 0x40000000ull
#define WIN_SIZE 0x400u /* queue q's rings at q * 0x100, buffers anywhere */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static pvm_virtio_net net; /* 64 KiB frame buffer: not on the stack */

static void reg(pvm_virtio_mmio *m, uint64_t off, uint32_t v)
{
	pvm_error err = { 0 };
	pvm_virtio_mmio_write(m, off, &v, 4, &err);
}

/* The host network's side: `count` frames of `len` bytes, each a slice of the input. */
static void host_sends(int fd, const uint8_t *data, size_t size, unsigned count, unsigned len)
{
	for (unsigned i = 0; i < count && size > 0; i++) {
		size_t off = (i * 97u) % size, n = MIN((size_t)len, size - off);
		if (send(fd, data + off, n, MSG_DONTWAIT) < 0)
			break;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t mac[6] = { 0x02, 0, 0, 0, 0, 1 };
	pvm_virtio_mmio m;
	pvm_error err = { 0 };
	uint8_t *win;
	size_t n;
	int sv[2];

	if (size < 2)
		return 0;
	if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv) < 0)
		abort();
	win = calloc(1, WIN_SIZE);
	if (!win)
		abort();
	n = MIN(size - 2, (size_t)WIN_SIZE);
	memcpy(win, data + 2, n);

	pvm_window w = { .gpa = WIN_GPA, .size = WIN_SIZE, .host = win };
	if (pvm_virtio_net_init(&net, sv[0], mac, &err) < 0)
		abort();
	pvm_virtio_mmio_init(&m, &pvm_virtio_net_ops, &net, &w, data[0] & 1);
	/* frames from 0 to 2 KiB: below, at and above what a receive buffer holds */
	host_sends(sv[1], data, size, data[0] >> 4, 64u << (data[0] >> 1 & 7) >> 2);

	/* a well-behaved handshake, two queues with rings at input-chosen places in the window */
	reg(&m, VIRTIO_MMIO_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER);
	reg(&m, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
	reg(&m, VIRTIO_MMIO_DRIVER_FEATURES, 1u << 5); /* VIRTIO_NET_F_MAC */
	reg(&m, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
	reg(&m, VIRTIO_MMIO_DRIVER_FEATURES, 3); /* VERSION_1, ACCESS_PLATFORM */
	reg(&m, VIRTIO_MMIO_STATUS, 0xb);
	for (uint32_t q = 0; q < 2; q++) {
		uint32_t base = (uint32_t)WIN_GPA + q * 0x100;
		reg(&m, VIRTIO_MMIO_QUEUE_SEL, q);
		reg(&m, VIRTIO_MMIO_QUEUE_NUM, 1u << (data[1] >> (2 * q) & 3));
		reg(&m, VIRTIO_MMIO_QUEUE_DESC_LOW, base);
		reg(&m, VIRTIO_MMIO_QUEUE_AVAIL_LOW, base + 0x40);
		reg(&m, VIRTIO_MMIO_QUEUE_USED_LOW, base + 0x80 - (data[1] & 0x40 ? 4 : 0));
		reg(&m, VIRTIO_MMIO_QUEUE_READY, 1);
	}
	reg(&m, VIRTIO_MMIO_STATUS, 0xf);

	/* then (offset, value) register writes and reads, as the rest of the input says */
	fuzz_virtio_registers(&m, data + 2 + n, size - 2 - n);
	reg(&m, VIRTIO_MMIO_QUEUE_NOTIFY, 1);
	reg(&m, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	pvm_virtio_net_pump(&m, &err);
	close(sv[0]);
	close(sv[1]);
	free(win);
	return 0;
}
