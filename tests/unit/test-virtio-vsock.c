/* virtio-vsock from the guest driver's side, with socketpairs as the host programs: connections
 * both ways, data both ways, the guest's credit honoured (never more than it can hold), a guest
 * that overruns the device's buffer loses its connection, refused ports and half-closes
 * answered as the spec says, and malformed packets or receive buffers refused. */
#include <endian.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <linux/virtio_vsock.h>

#include "check.h"
#include "virtio-driver.h"
#include "virtio/virtio-vsock.h"

#define CID 3
#define RXQ 0
#define TXQ 1
#define BUF 4096u
#define HDR ((uint32_t)sizeof(struct virtio_vsock_hdr))

static vdrv *d;
static pvm_virtio_vsock vs;
static int host_end[65536]; /* the test's end of each host port's socketpair */
static unsigned tx_slot;

/* The host side: ports below 1000 refuse; others get a socketpair whose far end we keep. */
static int host_connect(void *userdata, uint32_t port)
{
	int sv[2];

	if (port < 1000 || port >= 65536)
		return -ECONNREFUSED;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return -errno;
	if (port == 7777) { /* a host program that reads slowly: small socket buffers */
		int small = 4096;
		setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
		setsockopt(sv[1], SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
	}
	host_end[port] = sv[1];
	return sv[0];
}

static void post_rx(unsigned i, uint32_t len)
{
	vd_desc(d, RXQ, i, VD_BUF_GPA(RXQ, i), len, VRING_DESC_F_WRITE, 0);
	vd_offer(d, RXQ, (uint16_t)i);
}

static int guest_send(uint16_t op, uint32_t sport, uint32_t dport, const void *data, uint32_t len,
		      uint32_t buf_alloc, uint32_t fwd_cnt, uint32_t flags)
{
	unsigned slot = tx_slot++ % VD_QSIZE;
	uint8_t *p = vd_gpa(d, VD_BUF_GPA(TXQ, slot));
	struct virtio_vsock_hdr h = {
		.src_cid = htole64(CID),
		.dst_cid = htole64(2),
		.src_port = htole32(sport),
		.dst_port = htole32(dport),
		.len = htole32(len),
		.type = htole16(VIRTIO_VSOCK_TYPE_STREAM),
		.op = htole16(op),
		.flags = htole32(flags),
		.buf_alloc = htole32(buf_alloc),
		.fwd_cnt = htole32(fwd_cnt),
	};
	memcpy(p, &h, HDR);
	if (len)
		memcpy(p + HDR, data, len);
	vd_desc(d, TXQ, slot, VD_BUF_GPA(TXQ, slot), HDR + len, 0, 0);
	vd_offer(d, TXQ, (uint16_t)slot);
	return vd_notify(d, TXQ);
}

/* The next packet the device delivered: its header and payload; the buffer is posted again. */
static bool guest_recv(struct virtio_vsock_hdr *h, uint8_t *payload)
{
	uint16_t head;
	uint32_t len;
	uint8_t *p;

	if (!vd_used(d, RXQ, &head, &len))
		return false;
	p = vd_gpa(d, VD_BUF_GPA(RXQ, head));
	memcpy(h, p, HDR);
	if (payload && len > HDR)
		memcpy(payload, p + HDR, len - HDR);
	CHECK(len == HDR + le32toh(h->len), "used length %u for a %u-byte payload", len,
	      le32toh(h->len));
	post_rx(head, BUF);
	return true;
}

static uint16_t op_of(const struct virtio_vsock_hdr *h)
{
	return le16toh(h->op);
}

static int pump(void)
{
	pvm_error_clear(&d->err);
	return pvm_virtio_vsock_pump(&d->dev, &d->err);
}

static ssize_t host_read(int port, void *buf, size_t len)
{
	return recv(host_end[port], buf, len, MSG_DONTWAIT);
}

static void setup(void)
{
	pvm_vsock_host host = { .connect = host_connect };
	pvm_window w;
	uint64_t cid = 0;

	pvm_virtio_vsock_done(&vs); /* a test that ended the device early left it set up */
	memset(d, 0, sizeof(*d));
	w = vd_window(d);
	CHECK(pvm_virtio_vsock_init(&vs, CID, &host, &d->err) == 0, "%s", d->err.message);
	pvm_virtio_mmio_init(&d->dev, &pvm_virtio_vsock_ops, &vs, &w, false);
	CHECK(vd_rd(d, VIRTIO_MMIO_DEVICE_ID) == 19, "vsock device id");
	CHECK(vd_init(d, 1ull << VIRTIO_F_VERSION_1, 3), "handshake: %s", d->err.message);
	pvm_virtio_mmio_read(&d->dev, VIRTIO_MMIO_CONFIG, &cid, 8, &d->err);
	CHECK(le64toh(cid) == CID, "guest_cid in config space");
	for (unsigned i = 0; i < 8; i++)
		post_rx(i, BUF);
	vd_notify(d, RXQ);
}

static void test_guest_connects(void)
{
	struct virtio_vsock_hdr h;
	uint8_t buf[BUF];
	char big[200];

	setup();
	CHECK(guest_send(VIRTIO_VSOCK_OP_REQUEST, 1000, 1234, NULL, 0, 65536, 0, 0) == 0,
	      "request: %s", d->err.message);
	CHECK(guest_recv(&h, NULL) && op_of(&h) == VIRTIO_VSOCK_OP_RESPONSE &&
		  le32toh(h.src_port) == 1234 && le32toh(h.dst_port) == 1000 &&
		  le64toh(h.src_cid) == 2 && le64toh(h.dst_cid) == CID,
	      "RESPONSE from host port 1234 to guest port 1000 (op %u)", op_of(&h));

	CHECK(guest_send(VIRTIO_VSOCK_OP_RW, 1000, 1234, "hello", 5, 65536, 0, 0) == 0, "rw");
	CHECK(host_read(1234, buf, sizeof(buf)) == 5 && memcmp(buf, "hello", 5) == 0,
	      "the host program reads what the guest sent");

	CHECK(write(host_end[1234], "world", 5) == 5, "host write");
	CHECK(pump() == 0, "%s", d->err.message);
	CHECK(guest_recv(&h, buf) && op_of(&h) == VIRTIO_VSOCK_OP_RW && le32toh(h.len) == 5 &&
		  memcmp(buf, "world", 5) == 0,
	      "the guest reads what the host program sent");

	/* the guest can hold 16 bytes: the device sends no more until it says it has room */
	CHECK(guest_send(VIRTIO_VSOCK_OP_CREDIT_UPDATE, 1000, 1234, NULL, 0, 16, 5, 0) == 0, "cu");
	memset(big, 'x', sizeof(big));
	CHECK(write(host_end[1234], big, 100) == 100, "host write");
	CHECK(pump() == 0 && guest_recv(&h, buf) && le32toh(h.len) == 16, "16 bytes of credit: %u",
	      le32toh(h.len));
	CHECK(pump() == 0 && !guest_recv(&h, buf), "nothing beyond the guest's credit");
	CHECK(guest_send(VIRTIO_VSOCK_OP_CREDIT_UPDATE, 1000, 1234, NULL, 0, 16, 21, 0) == 0, "cu");
	CHECK(pump() == 0 && guest_recv(&h, buf) && le32toh(h.len) == 16,
	      "16 more once the guest consumed them");

	/* the host program closes: the guest hears SHUTDOWN once it has room to read the rest */
	close(host_end[1234]);
	CHECK(guest_send(VIRTIO_VSOCK_OP_CREDIT_UPDATE, 1000, 1234, NULL, 0, 65536, 37, 0) == 0,
	      "cu");
	CHECK(pump() == 0, "%s", d->err.message);
	uint32_t got = 0;
	bool shutdown_seen = false;
	while (guest_recv(&h, buf)) {
		if (op_of(&h) == VIRTIO_VSOCK_OP_RW)
			got += le32toh(h.len);
		else if (op_of(&h) == VIRTIO_VSOCK_OP_SHUTDOWN)
			shutdown_seen = le32toh(h.flags) & VIRTIO_VSOCK_SHUTDOWN_SEND;
		CHECK(pump() == 0, "%s", d->err.message);
	}
	CHECK(got == 100 - 32, "the rest of the data before the end: %u", got);
	CHECK(shutdown_seen, "SHUTDOWN(SEND) after the host closed");
	CHECK(guest_send(VIRTIO_VSOCK_OP_RST, 1000, 1234, NULL, 0, 0, 0, 0) == 0, "rst");
	CHECK(pvm_virtio_vsock_pollfds(&vs, (struct pollfd[4]){ 0 }, 4) == 0,
	      "no socket left to poll");
	pvm_virtio_vsock_done(&vs);
}

/* Both ends shut down their sending side: the guest's data reaches the host first, then the
 * slot is freed and the guest hears RST, whichever end finished first. */
static void test_both_shut_down(void)
{
	struct virtio_vsock_hdr h;
	uint8_t buf[BUF];

	for (int guest_first = 0; guest_first < 2; guest_first++) {
		bool rst = false;

		setup();
		CHECK(guest_send(VIRTIO_VSOCK_OP_REQUEST, 1001, 1235, NULL, 0, 65536, 0, 0) == 0 &&
			  guest_recv(&h, NULL) && op_of(&h) == VIRTIO_VSOCK_OP_RESPONSE,
		      "connected");
		if (!guest_first)
			shutdown(host_end[1235], SHUT_WR);
		CHECK(pump() == 0, "%s", d->err.message);
		CHECK(guest_send(VIRTIO_VSOCK_OP_RW, 1001, 1235, "bye", 3, 65536, 0, 0) == 0 &&
			  guest_send(VIRTIO_VSOCK_OP_SHUTDOWN, 1001, 1235, NULL, 0, 65536, 0,
				     VIRTIO_VSOCK_SHUTDOWN_SEND) == 0,
		      "guest data, then SHUTDOWN(SEND)");
		if (guest_first)
			shutdown(host_end[1235], SHUT_WR);
		CHECK(pump() == 0, "%s", d->err.message);
		while (guest_recv(&h, NULL)) {
			rst |= op_of(&h) == VIRTIO_VSOCK_OP_RST;
			CHECK(pump() == 0, "%s", d->err.message);
		}
		CHECK(host_read(1235, buf, sizeof(buf)) == 3 && memcmp(buf, "bye", 3) == 0,
		      "the guest's last bytes reached the host (guest first: %d)", guest_first);
		CHECK(host_read(1235, buf, sizeof(buf)) == 0, "then end of stream");
		CHECK(rst, "the guest hears RST once both ends are done (guest first: %d)",
		      guest_first);
		close(host_end[1235]);
		pvm_virtio_vsock_done(&vs);
	}
}

static void test_refusals_and_overrun(void)
{
	struct virtio_vsock_hdr h;
	uint8_t chunk[3000];

	setup();
	CHECK(guest_send(VIRTIO_VSOCK_OP_REQUEST, 1001, 666, NULL, 0, 65536, 0, 0) == 0, "req");
	CHECK(guest_recv(&h, NULL) && op_of(&h) == VIRTIO_VSOCK_OP_RST, "a refused port: RST");
	CHECK(guest_send(VIRTIO_VSOCK_OP_RW, 1002, 4321, "x", 1, 65536, 0, 0) == 0, "rw");
	CHECK(guest_recv(&h, NULL) && op_of(&h) == VIRTIO_VSOCK_OP_RST &&
		  le32toh(h.dst_port) == 1002,
	      "data on no connection: RST");

	/* a host program that does not read, and a guest that ignores the device's credit */
	CHECK(guest_send(VIRTIO_VSOCK_OP_REQUEST, 1003, 7777, NULL, 0, 65536, 0, 0) == 0, "req");
	CHECK(guest_recv(&h, NULL) && op_of(&h) == VIRTIO_VSOCK_OP_RESPONSE, "connected");
	memset(chunk, 'y', sizeof(chunk));
	uint64_t resets = vs.resets;
	for (unsigned i = 0; i < 40 && vs.resets == resets; i++)
		guest_send(VIRTIO_VSOCK_OP_RW, 1003, 7777, chunk, sizeof(chunk), 65536, 0, 0);
	CHECK(vs.resets == resets + 1, "overrunning the advertised buffer resets the connection");
	bool rst = false;
	while (guest_recv(&h, NULL))
		rst |= op_of(&h) == VIRTIO_VSOCK_OP_RST;
	CHECK(rst, "the guest hears RST");
	CHECK(vs.bytes_from_guest <= 65536 + 3000 * 2 + 8192,
	      "the device never held more than it advertised (%llu bytes)",
	      (unsigned long long)vs.bytes_from_guest);

	/* a spoofed source CID is not this guest's: dropped, nothing delivered */
	uint8_t *p = vd_gpa(d, VD_BUF_GPA(TXQ, 0));
	struct virtio_vsock_hdr s = { .src_cid = htole64(99),
				      .dst_cid = htole64(2),
				      .src_port = htole32(5),
				      .dst_port = htole32(1234),
				      .type = htole16(1),
				      .op = htole16(VIRTIO_VSOCK_OP_REQUEST) };
	memcpy(p, &s, HDR);
	vd_desc(d, TXQ, 0, VD_BUF_GPA(TXQ, 0), HDR, 0, 0);
	vd_offer(d, TXQ, 0);
	CHECK(vd_notify(d, TXQ) == 0 && !guest_recv(&h, NULL), "a spoofed CID gets nothing");
	pvm_virtio_vsock_done(&vs);
}

static void test_host_connects(void)
{
	struct virtio_vsock_hdr h;
	uint8_t buf[BUF];
	int sv[2];

	setup();
	CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0, "socketpair");
	CHECK(pvm_virtio_vsock_connect_guest(&vs, sv[0], 5000, &d->err) == 0, "%s", d->err.message);
	CHECK(pump() == 0 && guest_recv(&h, NULL) && op_of(&h) == VIRTIO_VSOCK_OP_REQUEST &&
		  le32toh(h.dst_port) == 5000 && le32toh(h.src_port) >= 49152,
	      "the guest sees a request for its port 5000");
	uint32_t hport = le32toh(h.src_port);
	CHECK(write(sv[1], "early", 5) == 5, "host write before the guest accepted");
	CHECK(pump() == 0 && !guest_recv(&h, NULL), "no data before the guest accepts");
	CHECK(guest_send(VIRTIO_VSOCK_OP_RESPONSE, 5000, hport, NULL, 0, 65536, 0, 0) == 0, "resp");
	CHECK(pump() == 0 && guest_recv(&h, buf) && op_of(&h) == VIRTIO_VSOCK_OP_RW &&
		  memcmp(buf, "early", 5) == 0,
	      "data flows once accepted");
	CHECK(guest_send(VIRTIO_VSOCK_OP_RW, 5000, hport, "ping", 4, 65536, 5, 0) == 0, "rw");
	CHECK(recv(sv[1], buf, sizeof(buf), MSG_DONTWAIT) == 4 && memcmp(buf, "ping", 4) == 0,
	      "the host program reads the guest's reply");
	/* the guest shuts down both ways: the device answers RST and closes the host socket */
	CHECK(guest_send(VIRTIO_VSOCK_OP_SHUTDOWN, 5000, hport, NULL, 0, 65536, 5, 3) == 0, "sd");
	CHECK(guest_recv(&h, NULL) && op_of(&h) == VIRTIO_VSOCK_OP_RST, "RST after full shutdown");
	CHECK(recv(sv[1], buf, sizeof(buf), MSG_DONTWAIT) == 0, "the host socket is closed");
	close(sv[1]);
	pvm_virtio_vsock_done(&vs);
}

static void test_malformed(void)
{
	uint8_t *p;

	setup();
	p = vd_gpa(d, VD_BUF_GPA(TXQ, 0));
	memset(p, 0, HDR);
	vd_desc(d, TXQ, 0, VD_BUF_GPA(TXQ, 0), 10, 0, 0);
	vd_offer(d, TXQ, 0);
	CHECK(vd_notify(d, TXQ) == -EPROTO && strstr(d->err.message, "shorter than"),
	      "a packet shorter than its header: %s", d->err.message);

	setup();
	CHECK(guest_send(VIRTIO_VSOCK_OP_RW, 1, 2, "abc", 3, 0, 0, 0) == 0, "rw");
	p = vd_gpa(d, VD_BUF_GPA(TXQ, 1));
	struct virtio_vsock_hdr h = { .src_cid = htole64(CID),
				      .dst_cid = htole64(2),
				      .len = htole32(1000),
				      .type = htole16(1),
				      .op = htole16(VIRTIO_VSOCK_OP_RW) };
	memcpy(p, &h, HDR);
	vd_desc(d, TXQ, 1, VD_BUF_GPA(TXQ, 1), HDR + 10, 0, 0);
	vd_offer(d, TXQ, 1);
	CHECK(vd_notify(d, TXQ) == -EPROTO && strstr(d->err.message, "claims"),
	      "a length beyond the buffer: %s", d->err.message);

	/* a receive buffer too small for a header */
	setup();
	vd_desc(d, RXQ, 9, VD_BUF_GPA(RXQ, 9), 8, VRING_DESC_F_WRITE, 0);
	struct vring_avail *a = vd_gpa(d, VD_QUEUE_GPA(RXQ) + 0x1000);
	a->ring[0] = htole16(9); /* the device takes entry 0 first */
	CHECK(guest_send(VIRTIO_VSOCK_OP_REQUEST, 1000, 1234, NULL, 0, 65536, 0, 0) == -EPROTO &&
		  strstr(d->err.message, "receive buffer"),
	      "a receive buffer smaller than a header: %s", d->err.message);
	close(host_end[1234]);
	pvm_virtio_vsock_done(&vs);
}

int main(void)
{
	d = calloc(1, sizeof(*d));
	CHECK(d != NULL, "calloc");
	test_guest_connects();
	test_both_shut_down();
	test_refusals_and_overrun();
	test_host_connects();
	test_malformed();
	free(d);
	return check_exit("test-virtio-vsock");
}
