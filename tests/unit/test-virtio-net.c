/* virtio-net from the guest driver's side, with a datagram socketpair standing in for the tap
 * (one read or write per frame, as a tap does): the MAC in config space, frames both ways with
 * the header the spec asks for, a guest without receive buffers (the tap is not polled until it
 * posts some), frames too big for a buffer or for a full tap dropped and counted without
 * blocking, and every malformed request (device-writable transmit buffers, oversized or short
 * frames, offloads never offered, readable receive buffers, loops, buffers outside the window)
 * ending the device's service with EPROTO. */
#include <endian.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <linux/virtio_net.h>

#include "check.h"
#include "virtio-driver.h"
#include "virtio/virtio-net.h"

#define RXQ 0
#define TXQ 1
#define HDR PVM_NET_HDR_LEN

static const uint8_t mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };
static vdrv *d;
static pvm_virtio_net *net;
static int tap, host; /* the device's end and the test's (the host network's) end */

static void setup(void)
{
	int sv[2];
	pvm_error err = { 0 };
	pvm_window w;

	if (tap >= 0)
		close(tap), close(host);
	if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, sv) < 0)
		abort();
	tap = sv[0], host = sv[1];
	if (fcntl(tap, F_SETFL, O_NONBLOCK) < 0 || fcntl(host, F_SETFL, O_NONBLOCK) < 0)
		abort();
	memset(d, 0, sizeof(*d));
	w = vd_window(d);
	CHECK(pvm_virtio_net_init(net, tap, mac, &err) == 0, "%s", err.message);
	pvm_virtio_mmio_init(&d->dev, &pvm_virtio_net_ops, net, &w, false);
	CHECK(vd_init(d, 1ull << VIRTIO_F_VERSION_1 | 1ull << VIRTIO_NET_F_MAC, 2), "handshake: %s",
	      d->err.message);
}

static void frame_fill(uint8_t *f, uint32_t len, uint8_t seed)
{
	for (uint32_t i = 0; i < len; i++)
		f[i] = (uint8_t)(seed + i * 13);
}

/* The guest transmits one frame from slot `slot` of the transmit queue. */
static int guest_send(unsigned slot, const uint8_t *frame, uint32_t len,
		      const struct virtio_net_hdr_v1 *h)
{
	uint8_t *p = vd_gpa(d, VD_BUF_GPA(TXQ, slot));
	struct virtio_net_hdr_v1 none = { 0 };

	memcpy(p, h ? h : &none, HDR);
	memcpy(p + HDR, frame, len);
	vd_desc(d, TXQ, slot, VD_BUF_GPA(TXQ, slot), HDR + len, 0, 0);
	vd_offer(d, TXQ, (uint16_t)slot);
	return vd_notify(d, TXQ);
}

static void post_rx(unsigned slot, uint32_t len)
{
	vd_desc(d, RXQ, slot, VD_BUF_GPA(RXQ, slot), len, VRING_DESC_F_WRITE, 0);
	vd_offer(d, RXQ, (uint16_t)slot);
}

static void test_config(void)
{
	uint8_t got[6];
	uint32_t lo, hi;

	setup();
	vd_wr(d, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
	lo = vd_rd(d, VIRTIO_MMIO_DEVICE_FEATURES);
	vd_wr(d, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1);
	hi = vd_rd(d, VIRTIO_MMIO_DEVICE_FEATURES);
	CHECK(lo == 1u << VIRTIO_NET_F_MAC, "device features low 0x%x: MAC only, no offload", lo);
	CHECK(hi == 1, "device features high 0x%x: VERSION_1", hi);
	CHECK(vd_rd(d, VIRTIO_MMIO_DEVICE_ID) == 1, "device id");
	for (unsigned i = 0; i < 6; i++)
		pvm_virtio_mmio_read(&d->dev, VIRTIO_MMIO_CONFIG + i, &got[i], 1, &d->err);
	CHECK(memcmp(got, mac, 6) == 0, "MAC in config space");

	/* a multicast address is no station's */
	{
		uint8_t bad[6] = { 0x01, 0, 0x5e, 0, 0, 1 };
		pvm_error err = { 0 };
		CHECK(pvm_virtio_net_init(net, tap, bad, &err) == -EINVAL, "multicast MAC refused");
	}
}

static void test_transmit(void)
{
	uint8_t frame[PVM_NET_FRAME_MAX], got[2048];
	uint16_t head;
	uint32_t len;
	ssize_t n;

	setup();
	for (unsigned i = 0; i < 3; i++) {
		uint32_t flen = i == 0 ? 60 : i == 1 ? PVM_NET_FRAME_MIN : PVM_NET_FRAME_MAX;
		frame_fill(frame, flen, (uint8_t)i);
		CHECK(guest_send(i, frame, flen, NULL) == 0, "send %u: %s", i, d->err.message);
		CHECK(vd_used(d, TXQ, &head, &len) && head == i && len == 0,
		      "transmit buffer %u returned, nothing written", i);
		n = recv(host, got, sizeof(got), 0);
		CHECK(n == (ssize_t)flen && memcmp(got, frame, flen) == 0,
		      "frame %u (%u bytes) reaches the tap without its header: %zd", i, flen, n);
	}
	CHECK(net->tx_frames == 3 && net->tx_dropped == 0, "counted %llu sent",
	      (unsigned long long)net->tx_frames);
	CHECK(d->dev.interrupt_status & VIRTIO_MMIO_INT_VRING, "used-buffer interrupt flagged");
}

static void test_receive(void)
{
	uint8_t frame[1514], *buf;
	struct virtio_net_hdr_v1 h;
	struct pollfd p[2];
	uint16_t head;
	uint32_t len;
	pvm_error err = { 0 };

	setup();
	/* no receive buffers yet: a waiting frame stays in the tap */
	frame_fill(frame, sizeof(frame), 7);
	CHECK(send(host, frame, sizeof(frame), 0) == sizeof(frame), "host sends");
	CHECK(pvm_virtio_net_pollfds(&d->dev, p, 2) == 1 && p[0].fd == tap,
	      "the tap is polled while the guest may have buffers");
	CHECK(pvm_virtio_net_pump(&d->dev, &err) == 0, "pump: %s", err.message);
	CHECK(!vd_used(d, RXQ, &head, &len), "nothing delivered without a buffer");
	CHECK(pvm_virtio_net_pollfds(&d->dev, p, 2) == 0,
	      "a starved device waits for the guest, not the tap");

	/* the guest posts buffers: the notify delivers the frame */
	post_rx(0, 4096);
	post_rx(1, 4096);
	CHECK(vd_notify(d, RXQ) == 0, "notify: %s", d->err.message);
	CHECK(vd_used(d, RXQ, &head, &len) && head == 0 && len == HDR + sizeof(frame),
	      "frame delivered into buffer 0 (%u bytes)", len);
	buf = vd_gpa(d, VD_BUF_GPA(RXQ, 0));
	memcpy(&h, buf, HDR);
	CHECK(h.flags == 0 && h.gso_type == 0 && le16toh(h.num_buffers) == 1,
	      "a plain header, one buffer");
	CHECK(memcmp(buf + HDR, frame, sizeof(frame)) == 0, "frame bytes");

	/* a later frame, through the main loop's pump */
	CHECK(pvm_virtio_net_pollfds(&d->dev, p, 2) == 1, "polled again once buffers exist");
	frame_fill(frame, 64, 9);
	CHECK(send(host, frame, 64, 0) == 64, "host sends");
	CHECK(pvm_virtio_net_pump(&d->dev, &err) == 0, "pump: %s", err.message);
	CHECK(vd_used(d, RXQ, &head, &len) && head == 1 && len == HDR + 64, "second frame");
	CHECK(net->rx_frames == 2 && net->rx_dropped == 0, "counted");
}

/* A tap deleted under the runner reads as an error (EBADFD) and polls as one for ever: the device
 * stops polling it rather than spin, and the guest's link is a cut wire. */
static void test_tap_gone(void)
{
	uint8_t frame[64] = { 0 };
	struct pollfd p[2];
	uint16_t head;
	uint32_t len;
	pvm_error err = { 0 };

	setup();
	post_rx(0, 4096);
	CHECK(vd_notify(d, RXQ) == 0, "notify");
	CHECK(pvm_virtio_net_pollfds(&d->dev, p, 2) == 1, "polled");
	{ /* the fd now reads as an error, as a deleted tap does (EBADFD) */
		int pipefd[2];
		CHECK(pipe(pipefd) == 0 && dup2(pipefd[1], tap) == tap, "pipe");
		close(pipefd[0]);
		close(pipefd[1]);
	}
	CHECK(pvm_virtio_net_pump(&d->dev, &err) == 0, "pump: %s", err.message);
	CHECK(!vd_used(d, RXQ, &head, &len), "nothing delivered");
	CHECK(pvm_virtio_net_pollfds(&d->dev, p, 2) == 0, "a gone tap is not polled");
	CHECK(vd_notify(d, RXQ) == 0 && pvm_virtio_net_pollfds(&d->dev, p, 2) == 0,
	      "not even after the guest's next notify");
	CHECK(guest_send(0, frame, sizeof(frame), NULL) == 0 && net->tx_dropped == 1,
	      "frames to it are dropped");
	CHECK(!d->dev.broken, "the device goes on");
}

static void test_receive_too_big(void)
{
	uint8_t frame[1514];
	uint16_t head;
	uint32_t len;
	pvm_error err = { 0 };

	setup();
	post_rx(0, HDR + 100); /* smaller than the spec's advice: frames above 100 bytes are lost */
	CHECK(vd_notify(d, RXQ) == 0, "notify");
	frame_fill(frame, sizeof(frame), 1);
	CHECK(send(host, frame, sizeof(frame), 0) == sizeof(frame), "big frame");
	CHECK(send(host, frame, 80, 0) == 80, "small frame");
	CHECK(pvm_virtio_net_pump(&d->dev, &err) == 0, "pump: %s", err.message);
	CHECK(vd_used(d, RXQ, &head, &len) && head == 0 && len == HDR + 80,
	      "the big frame is dropped, the buffer takes the next one (%u)", len);
	CHECK(net->rx_dropped == 1 && net->rx_frames == 1, "drop counted");
}

static void test_transmit_full_tap(void)
{
	uint8_t frame[1000];
	uint16_t head;
	uint32_t len;
	unsigned sent = 0;

	setup();
	frame_fill(frame, sizeof(frame), 3);
	/* nobody reads the host end: the socket fills, the device drops instead of waiting */
	for (unsigned i = 0; i < 2000 && net->tx_dropped == 0; i++) {
		CHECK(guest_send(i % VD_QSIZE, frame, sizeof(frame), NULL) == 0, "send %u", i);
		CHECK(vd_used(d, TXQ, &head, &len), "buffer %u returned", i);
		sent++;
	}
	CHECK(net->tx_dropped > 0, "a full tap drops (after %u frames)", sent);
	CHECK(!d->dev.broken, "and the device goes on");
}

/* Each hostile request ends the service with EPROTO and marks the device broken. */
static void test_hostile(void)
{
	uint8_t frame[PVM_NET_FRAME_MAX + 1] = { 0 };
	struct virtio_net_hdr_v1 gso = { .gso_type = VIRTIO_NET_HDR_GSO_TCPV4 };
	struct virtio_net_hdr_v1 csum = { .flags = VIRTIO_NET_HDR_F_NEEDS_CSUM };
	pvm_error err = { 0 };

	setup();
	CHECK(guest_send(0, frame, PVM_NET_FRAME_MAX + 1, NULL) == -EPROTO &&
		  strstr(d->err.message, "frame"),
	      "oversized frame: %s", d->err.message);
	CHECK(d->dev.broken && (vd_rd(d, VIRTIO_MMIO_STATUS) & VIRTIO_CONFIG_S_NEEDS_RESET),
	      "device needs reset");
	CHECK(recv(host, frame, sizeof(frame), 0) < 0, "nothing reached the tap");

	setup();
	CHECK(guest_send(0, frame, PVM_NET_FRAME_MIN - 1, NULL) == -EPROTO, "runt frame");
	setup();
	CHECK(guest_send(0, frame, 60, &gso) == -EPROTO && strstr(d->err.message, "offload"),
	      "segmentation never offered: %s", d->err.message);
	setup();
	CHECK(guest_send(0, frame, 60, &csum) == -EPROTO, "checksum offload never offered");

	setup(); /* a transmit chain with a device-writable part */
	vd_desc(d, TXQ, 0, VD_BUF_GPA(TXQ, 0), HDR + 60, VRING_DESC_F_NEXT, 1);
	vd_desc(d, TXQ, 1, VD_BUF_GPA(TXQ, 1), 16, VRING_DESC_F_WRITE, 0);
	vd_offer(d, TXQ, 0);
	CHECK(vd_notify(d, TXQ) == -EPROTO && strstr(d->err.message, "writable"),
	      "writable transmit buffer: %s", d->err.message);

	setup(); /* a loop in the transmit chain */
	vd_desc(d, TXQ, 0, VD_BUF_GPA(TXQ, 0), HDR + 60, VRING_DESC_F_NEXT, 1);
	vd_desc(d, TXQ, 1, VD_BUF_GPA(TXQ, 1), 60, VRING_DESC_F_NEXT, 0);
	vd_offer(d, TXQ, 0);
	CHECK(vd_notify(d, TXQ) == -EPROTO && strstr(d->err.message, "loop"), "descriptor loop: %s",
	      d->err.message);

	setup(); /* a transmit buffer below the window */
	vd_desc(d, TXQ, 0, 0x1000, HDR + 60, 0, 0);
	vd_offer(d, TXQ, 0);
	CHECK(vd_notify(d, TXQ) == -EPROTO && strstr(d->err.message, "outside"),
	      "buffer outside the window: %s", d->err.message);

	setup(); /* a receive buffer the device would have to read */
	vd_desc(d, RXQ, 0, VD_BUF_GPA(RXQ, 0), 4096, 0, 0);
	vd_offer(d, RXQ, 0);
	CHECK(send(host, frame, 60, 0) == 60, "host sends");
	CHECK(vd_notify(d, RXQ) == -EPROTO && strstr(d->err.message, "receive buffer"),
	      "readable receive buffer: %s", d->err.message);

	setup(); /* a receive buffer running past the end of the window */
	vd_desc(d, RXQ, 0, VD_WIN_GPA + VD_WIN_SIZE - 64, 4096, VRING_DESC_F_WRITE, 0);
	vd_offer(d, RXQ, 0);
	CHECK(vd_notify(d, RXQ) == -EPROTO && strstr(d->err.message, "outside"),
	      "receive buffer outside the window: %s", d->err.message);

	setup(); /* the pump meets the same checks as the notify */
	vd_desc(d, RXQ, 0, VD_BUF_GPA(RXQ, 0), 8, VRING_DESC_F_WRITE, 0);
	{
		struct vring_avail *a = vd_gpa(d, VD_QUEUE_GPA(RXQ) + 0x1000);
		a->ring[0] = 0;
		a->idx = htole16(1); /* posted without a notify */
	}
	CHECK(send(host, frame, 60, 0) == 60, "host sends");
	CHECK(pvm_virtio_net_pump(&d->dev, &err) == -EPROTO, "short receive buffer via pump");
}

int main(void)
{
	d = calloc(1, sizeof(*d));
	net = calloc(1, sizeof(*net));
	if (!d || !net)
		return EXIT_FAILURE;
	tap = host = -1;
	signal(SIGPIPE, SIG_IGN); /* as in the runner */
	test_config();
	test_transmit();
	test_receive();
	test_receive_too_big();
	test_tap_gone();
	test_transmit_full_tap();
	test_hostile();
	return check_exit("test-virtio-net");
}
