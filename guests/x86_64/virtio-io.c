/* virtio-io: a tiny polled virtio-mmio driver (docs/guest-interface.md). It finds the shared
 * window in the PVH memory map (the reserved entry), reads sector 0 of the first disk and
 * prints its FNV-1a digest, writes sector 1 as sector 0 with every byte inverted and flushes,
 * then serves vsock and the network: on vsock it accepts connections on port 1234, connects to
 * host port 5000, and echoes every byte back on the connection it came from, honouring the
 * host's credit; on the network it sends an ARP request (who has 10.0.2.2, tell 10.0.2.15)
 * from its MAC and answers every frame of EtherType 0x88b5 (local experimental) that starts
 * with "pvm-ping" with the same frame sent back to its sender, "ping" turned into "pong". It
 * polls the used rings (x86 here has no interrupt controller) until pvmd asks it to stop.
 *
 * The command line picks a hostile variant instead: "ring-outside" places the disk's rings
 * below the window; "buffer-outside" gives the device a data buffer outside the window;
 * "net-oversize" transmits a 2000-byte frame, which no device without offloads may take. */
#include "guest.h"

#define VIRTIO_BASE 0xfeb00000u
#define VIRTIO_STRIDE 0x1000u
#define VIRTIO_SLOTS 8

/* virtio-mmio registers (virtio 1.x, 4.2.2) */
#define R_MAGIC 0x000
#define R_DEVICE_ID 0x008
#define R_DEVICE_FEATURES 0x010
#define R_DEVICE_FEATURES_SEL 0x014
#define R_DRIVER_FEATURES 0x020
#define R_DRIVER_FEATURES_SEL 0x024
#define R_QUEUE_SEL 0x030
#define R_QUEUE_NUM_MAX 0x034
#define R_QUEUE_NUM 0x038
#define R_QUEUE_READY 0x044
#define R_QUEUE_NOTIFY 0x050
#define R_STATUS 0x070
#define R_QUEUE_DESC 0x080
#define R_QUEUE_AVAIL 0x090
#define R_QUEUE_USED 0x0a0
#define R_CONFIG 0x100

#define S_ACK 1
#define S_DRIVER 2
#define S_DRIVER_OK 4
#define S_FEATURES_OK 8

#define DESC_F_NEXT 1
#define DESC_F_WRITE 2

#define QSIZE 32

struct desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags, next;
};
struct avail {
	uint16_t flags, idx, ring[QSIZE];
};
struct used_elem {
	uint32_t id, len;
};
struct used {
	uint16_t flags, idx;
	struct used_elem ring[QSIZE];
};

struct vq {
	unsigned index;
	struct desc *desc;
	volatile struct avail *avail;
	volatile struct used *used;
	uint16_t last_used;
};

static uint8_t *window_next, *window_end;

static void fail(const char *what)
{
	guest_puts("virtio-io: FAIL ");
	guest_puts(what);
	guest_putc('\n');
	guest_shutdown();
}

static void *window_alloc(uint32_t len)
{
	uint8_t *p = window_next;

	len = (len + 63) & ~63u;
	if (len > (uint32_t)(window_end - window_next))
		fail("window too small");
	window_next += len;
	memset(p, 0, len);
	return p;
}

static uint32_t rd(uint32_t base, uint32_t reg)
{
	return *(volatile uint32_t *)(base + reg);
}

static void wr(uint32_t base, uint32_t reg, uint32_t v)
{
	*(volatile uint32_t *)(base + reg) = v;
}

static void barrier(void)
{
	__asm__ volatile("" ::: "memory");
}

static void wr64(uint32_t base, uint32_t reg, const volatile void *p)
{
	wr(base, reg, (uint32_t)p);
	wr(base, reg + 4, 0);
}

/* Reset, acknowledge, take VERSION_1 only, and check FEATURES_OK stuck. */
static void dev_init(uint32_t base)
{
	wr(base, R_STATUS, 0);
	wr(base, R_STATUS, S_ACK | S_DRIVER);
	wr(base, R_DEVICE_FEATURES_SEL, 1);
	if (!(rd(base, R_DEVICE_FEATURES) & 1))
		fail("no VERSION_1");
	wr(base, R_DRIVER_FEATURES_SEL, 0);
	wr(base, R_DRIVER_FEATURES, 0);
	wr(base, R_DRIVER_FEATURES_SEL, 1);
	wr(base, R_DRIVER_FEATURES, 1);
	wr(base, R_STATUS, S_ACK | S_DRIVER | S_FEATURES_OK);
	if (!(rd(base, R_STATUS) & S_FEATURES_OK))
		fail("FEATURES_OK refused");
}

static void vq_setup(uint32_t base, struct vq *q, unsigned index, void *rings)
{
	q->index = index;
	if (!rings) {
		q->desc = window_alloc(sizeof(struct desc) * QSIZE);
		q->avail = window_alloc(sizeof(struct avail));
		q->used = window_alloc(sizeof(struct used));
	} else { /* hostile: wherever the caller said */
		q->desc = rings;
		q->avail = (void *)((uint8_t *)rings + 1024);
		q->used = (void *)((uint8_t *)rings + 2048);
	}
	wr(base, R_QUEUE_SEL, index);
	if (rd(base, R_QUEUE_NUM_MAX) < QSIZE)
		fail("queue too small");
	wr(base, R_QUEUE_NUM, QSIZE);
	wr64(base, R_QUEUE_DESC, q->desc);
	wr64(base, R_QUEUE_AVAIL, q->avail);
	wr64(base, R_QUEUE_USED, q->used);
	wr(base, R_QUEUE_READY, 1);
}

static void vq_post(struct vq *q, uint16_t head)
{
	q->avail->ring[q->avail->idx % QSIZE] = head;
	barrier();
	q->avail->idx++;
	barrier();
}

/* The next used element, or -1 when the device has returned nothing new. */
static int vq_take(struct vq *q, uint32_t *ret_len)
{
	barrier();
	if (q->used->idx == q->last_used)
		return -1;
	const volatile struct used_elem *e = &q->used->ring[q->last_used % QSIZE];
	q->last_used++;
	if (ret_len)
		*ret_len = e->len;
	return (int)e->id;
}

/* ---- virtio-blk ---- */

struct blk_req {
	uint32_t type, reserved;
	uint64_t sector;
};

static uint32_t fnv1a(const uint8_t *p, uint32_t n)
{
	uint32_t h = 2166136261u;
	for (uint32_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 16777619u;
	return h;
}

/* One request: header, optional data, status; waits for the device (it answers within the
 * notify on this platform, but a driver polls anyway). */
static uint8_t blk_do(uint32_t base, struct vq *q, struct blk_req *hdr, uint8_t *data, uint32_t len,
		      bool device_writes, uint8_t *status)
{
	unsigned n = 0;

	q->desc[n] = (struct desc){ (uint32_t)hdr, sizeof(*hdr), DESC_F_NEXT, 1 };
	n++;
	if (data) {
		q->desc[n] = (struct desc){ (uint32_t)data, len,
					    DESC_F_NEXT | (device_writes ? DESC_F_WRITE : 0),
					    (uint16_t)(n + 1) };
		n++;
	}
	*status = 0xff;
	q->desc[n] = (struct desc){ (uint32_t)status, 1, DESC_F_WRITE, 0 };
	vq_post(q, 0);
	wr(base, R_QUEUE_NOTIFY, 0);
	while (vq_take(q, NULL) < 0)
		;
	return *status;
}

static bool streq(const char *a, const char *b)
{
	while (*a && *a == *b)
		a++, b++;
	return *a == *b;
}

static void blk_test(uint32_t base, const char *mode)
{
	struct vq q;
	struct blk_req *hdr;
	uint8_t *sector, *status;
	bool ring_outside = streq(mode, "ring-outside");
	bool buffer_outside = streq(mode, "buffer-outside");

	dev_init(base);
	/* 0x10000 is guest RAM below the window: the device must refuse to touch it */
	vq_setup(base, &q, 0, ring_outside ? (void *)0x10000 : NULL);
	wr(base, R_STATUS, S_ACK | S_DRIVER | S_FEATURES_OK | S_DRIVER_OK);
	if (ring_outside)
		fail("the device accepted rings outside the window");

	hdr = window_alloc(sizeof(*hdr));
	status = window_alloc(1);
	sector = buffer_outside ? (uint8_t *)0x10000 : window_alloc(512);
	*hdr = (struct blk_req){ .type = 0 /* IN */, .sector = 0 };
	if (blk_do(base, &q, hdr, sector, 512, true, status) != 0)
		fail("reading sector 0");
	if (buffer_outside)
		fail("the device wrote outside the window");
	guest_puts("virtio-io: sector 0 fnv1a ");
	guest_put_hex(fnv1a(sector, 512));
	guest_putc('\n');

	for (unsigned i = 0; i < 512; i++)
		sector[i] = (uint8_t)~sector[i];
	*hdr = (struct blk_req){ .type = 1 /* OUT */, .sector = 1 };
	if (blk_do(base, &q, hdr, sector, 512, false, status) != 0)
		fail("writing sector 1");
	*hdr = (struct blk_req){ .type = 4 /* FLUSH */ };
	if (blk_do(base, &q, hdr, NULL, 0, false, status) != 0)
		fail("flush");
	guest_puts("virtio-io: sector 1 written\n");
}

/* ---- virtio-vsock ---- */

struct vsock_hdr {
	uint64_t src_cid, dst_cid;
	uint32_t src_port, dst_port, len;
	uint16_t type, op;
	uint32_t flags, buf_alloc, fwd_cnt;
} __attribute__((packed));

enum {
	OP_REQUEST = 1,
	OP_RESPONSE,
	OP_RST,
	OP_SHUTDOWN,
	OP_RW,
	OP_CREDIT_UPDATE,
	OP_CREDIT_REQUEST
};

#define LISTEN_PORT 1234
#define HOST_PORT 5000
#define CONNS 4
#define BUF_ALLOC 65536u
#define PKT 4096u

struct conn {
	bool used, connected;
	bool host_done; /* the host will send nothing more: finish echoing, then shut down */
	uint32_t local, remote;
	uint32_t peer_buf_alloc, peer_fwd_cnt, tx_cnt; /* the host's credit */
	uint32_t fwd_cnt;			       /* bytes we took off our buffer */
	uint8_t buf[BUF_ALLOC];			       /* received, not yet echoed */
	uint32_t head, len;
};

static struct conn conns[CONNS];
static uint64_t guest_cid;
static struct vq rxq, txq;
static uint32_t vsock_base;
static uint8_t *tx_pkt;

static void vsock_send_ports(uint32_t local, uint32_t remote, uint32_t fwd_cnt, uint16_t op,
			     uint32_t flags, const uint8_t *data, uint32_t len)
{
	struct vsock_hdr *h = (struct vsock_hdr *)tx_pkt;

	*h = (struct vsock_hdr){ .src_cid = guest_cid,
				 .dst_cid = 2,
				 .src_port = local,
				 .dst_port = remote,
				 .len = len,
				 .type = 1,
				 .op = op,
				 .flags = flags,
				 .buf_alloc = BUF_ALLOC,
				 .fwd_cnt = fwd_cnt };
	if (len)
		memcpy(tx_pkt + sizeof(*h), data, len);
	txq.desc[0] = (struct desc){ (uint32_t)tx_pkt, sizeof(*h) + len, 0, 0 };
	vq_post(&txq, 0);
	wr(vsock_base, R_QUEUE_NOTIFY, 1);
	while (vq_take(&txq, NULL) < 0)
		;
}

static void vsock_send(struct conn *c, uint16_t op, const uint8_t *data, uint32_t len)
{
	vsock_send_ports(c->local, c->remote, c->fwd_cnt, op, 0, data, len);
}

/* Send back what the host's credit allows, in packets of at most PKT bytes. */
static void conn_echo(struct conn *c)
{
	while (c->connected && c->len > 0) {
		uint32_t credit = c->peer_buf_alloc - (c->tx_cnt - c->peer_fwd_cnt);
		uint32_t n = c->len;
		if (n > PKT)
			n = PKT;
		if (n > credit)
			n = credit;
		if (n > BUF_ALLOC - c->head)
			n = BUF_ALLOC - c->head;
		if (n == 0)
			return;
		c->fwd_cnt += n; /* consumed once it leaves: the header carries the new count */
		vsock_send(c, OP_RW, c->buf + c->head, n);
		c->tx_cnt += n;
		c->head = (c->head + n) % BUF_ALLOC;
		c->len -= n;
	}
}

static struct conn *conn_find(uint32_t local, uint32_t remote)
{
	for (unsigned i = 0; i < CONNS; i++)
		if (conns[i].used && conns[i].local == local && conns[i].remote == remote)
			return &conns[i];
	return NULL;
}

static struct conn *conn_new(uint32_t local, uint32_t remote)
{
	for (unsigned i = 0; i < CONNS; i++)
		if (!conns[i].used) {
			struct conn *c = &conns[i];
			c->used = true;
			c->connected = c->host_done = false;
			c->local = local, c->remote = remote;
			c->peer_buf_alloc = c->peer_fwd_cnt = c->tx_cnt = c->fwd_cnt = 0;
			c->head = c->len = 0;
			return c;
		}
	return NULL;
}

static void vsock_packet(const struct vsock_hdr *h, const uint8_t *data, uint32_t pkt_len)
{
	struct conn *c = conn_find(h->dst_port, h->src_port);

	if (h->op == OP_REQUEST && !c && h->dst_port == LISTEN_PORT) {
		c = conn_new(h->dst_port, h->src_port);
		if (!c) {
			vsock_send_ports(h->dst_port, h->src_port, 0, OP_RST, 0, 0, 0);
			return;
		}
		c->connected = true;
		c->peer_buf_alloc = h->buf_alloc, c->peer_fwd_cnt = h->fwd_cnt;
		vsock_send(c, OP_RESPONSE, 0, 0);
		guest_puts("virtio-io: vsock accepted\n");
		return;
	}
	if (!c) {
		if (h->op != OP_RST)
			vsock_send_ports(h->dst_port, h->src_port, 0, OP_RST, 0, 0, 0);
		return;
	}
	c->peer_buf_alloc = h->buf_alloc, c->peer_fwd_cnt = h->fwd_cnt;
	switch (h->op) {
	case OP_RESPONSE:
		c->connected = true;
		guest_puts("virtio-io: vsock connected\n");
		break;
	case OP_RW: {
		uint32_t n = h->len;
		if (n > pkt_len - sizeof(*h) || n > BUF_ALLOC - c->len)
			fail("vsock: the host overran our credit");
		for (uint32_t i = 0; i < n; i++)
			c->buf[(c->head + c->len + i) % BUF_ALLOC] = data[i];
		c->len += n;
		break;
	}
	case OP_CREDIT_REQUEST:
		vsock_send(c, OP_CREDIT_UPDATE, 0, 0);
		break;
	case OP_SHUTDOWN:
		c->host_done = true;
		break;
	case OP_RST:
		c->used = false;
		return;
	default:
		break;
	}
	conn_echo(c);
	if (c->host_done && c->len == 0) {
		/* all echoed: we send nothing more either (the device delivers what it holds,
		 * then half-closes the host socket) */
		vsock_send_ports(c->local, c->remote, c->fwd_cnt, OP_SHUTDOWN, 2 /* SEND */, 0, 0);
		c->used = false;
	}
}

static void vsock_setup(uint32_t base)
{
	uint8_t *rx_bufs;

	vsock_base = base;
	guest_cid = rd(base, R_CONFIG) | (uint64_t)rd(base, R_CONFIG + 4) << 32;
	dev_init(base);
	vq_setup(base, &rxq, 0, NULL);
	vq_setup(base, &txq, 1, NULL);
	{
		struct vq evq;
		vq_setup(base, &evq, 2, NULL);
	}
	tx_pkt = window_alloc(sizeof(struct vsock_hdr) + PKT);
	rx_bufs = window_alloc(QSIZE * (sizeof(struct vsock_hdr) + PKT));
	for (uint16_t i = 0; i < QSIZE; i++) {
		rxq.desc[i] =
		    (struct desc){ (uint32_t)(rx_bufs + i * (sizeof(struct vsock_hdr) + PKT)),
				   sizeof(struct vsock_hdr) + PKT, DESC_F_WRITE, 0 };
		vq_post(&rxq, i);
	}
	wr(base, R_STATUS, S_ACK | S_DRIVER | S_FEATURES_OK | S_DRIVER_OK);
	wr(base, R_QUEUE_NOTIFY, 0);
	guest_puts("virtio-io: vsock cid ");
	guest_put_dec((uint32_t)guest_cid);
	guest_putc('\n');

	/* connect to the host's port; a host with no listener there answers with a reset */
	struct conn *c = conn_new(LISTEN_PORT + 1, HOST_PORT);
	vsock_send(c, OP_REQUEST, 0, 0);
}

/* One received packet served, if any: true when there was one. */
static bool vsock_poll(void)
{
	uint32_t len;
	int id = vq_take(&rxq, &len);

	if (id < 0)
		return false;
	const uint8_t *p = (const uint8_t *)(uint32_t)rxq.desc[id].addr;
	if (len >= sizeof(struct vsock_hdr))
		vsock_packet((const struct vsock_hdr *)p, p + sizeof(struct vsock_hdr), len);
	vq_post(&rxq, (uint16_t)id);
	wr(vsock_base, R_QUEUE_NOTIFY, 0);
	return true;
}

/* ---- virtio-net ---- */

#define NET_F_MAC 5
#define NET_HDR 12 /* struct virtio_net_hdr_v1: all zero here, no offloads */
#define NET_BUF (NET_HDR + 1518)
#define ETHERTYPE_ARP 0x0806
#define ETHERTYPE_PVM 0x88b5

static struct vq net_rxq, net_txq;
static uint32_t net_base;
static uint8_t net_mac[6];
static uint8_t *net_tx;

static void net_send(uint32_t len)
{
	net_txq.desc[0] = (struct desc){ (uint32_t)net_tx, NET_HDR + len, 0, 0 };
	vq_post(&net_txq, 0);
	wr(net_base, R_QUEUE_NOTIFY, 1);
	while (vq_take(&net_txq, NULL) < 0)
		;
}

static void put16be(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8), p[1] = (uint8_t)v;
}

/* who has 10.0.2.2? tell 10.0.2.15 (RFC 826), broadcast from our address */
static void net_send_arp(void)
{
	static const uint8_t sender_ip[4] = { 10, 0, 2, 15 }, target_ip[4] = { 10, 0, 2, 2 };
	uint8_t *f = net_tx + NET_HDR;

	memset(net_tx, 0, NET_HDR + 60);
	memset(f, 0xff, 6);
	memcpy(f + 6, net_mac, 6);
	put16be(f + 12, ETHERTYPE_ARP);
	put16be(f + 14, 1);	 /* Ethernet */
	put16be(f + 16, 0x0800); /* IPv4 */
	f[18] = 6, f[19] = 4;
	put16be(f + 20, 1); /* request */
	memcpy(f + 22, net_mac, 6);
	memcpy(f + 28, sender_ip, 4);
	memcpy(f + 38, target_ip, 4);
	net_send(60);
}

static bool has_prefix(const uint8_t *p, const char *prefix)
{
	for (; *prefix; p++, prefix++)
		if (*p != (uint8_t)*prefix)
			return false;
	return true;
}

static void net_frame(const uint8_t *f, uint32_t len)
{
	uint8_t *out = net_tx + NET_HDR;

	if (len < 22 || len > 1518 || f[12] != (ETHERTYPE_PVM >> 8) ||
	    f[13] != (ETHERTYPE_PVM & 0xff) || !has_prefix(f + 14, "pvm-ping"))
		return; /* the host's own traffic (neighbour discovery, ...) */
	guest_puts("virtio-io: net got ping\n");
	memset(net_tx, 0, NET_HDR);
	memcpy(out, f + 6, 6); /* back to its sender */
	memcpy(out + 6, net_mac, 6);
	memcpy(out + 12, f + 12, len - 12);
	memcpy(out + 18, "pong", 4);
	net_send(len);
}

static void net_setup(uint32_t base, const char *mode)
{
	uint8_t *rx_bufs;

	net_base = base;
	for (unsigned i = 0; i < 6; i++)
		net_mac[i] = (uint8_t)(rd(base, R_CONFIG + (i & ~3u)) >> (8 * (i & 3)));
	wr(base, R_STATUS, 0);
	wr(base, R_STATUS, S_ACK | S_DRIVER);
	wr(base, R_DEVICE_FEATURES_SEL, 0);
	if (!(rd(base, R_DEVICE_FEATURES) & (1u << NET_F_MAC)))
		fail("net: no MAC feature");
	wr(base, R_DRIVER_FEATURES_SEL, 0);
	wr(base, R_DRIVER_FEATURES, 1u << NET_F_MAC);
	wr(base, R_DRIVER_FEATURES_SEL, 1);
	wr(base, R_DRIVER_FEATURES, 1);
	wr(base, R_STATUS, S_ACK | S_DRIVER | S_FEATURES_OK);
	if (!(rd(base, R_STATUS) & S_FEATURES_OK))
		fail("net: FEATURES_OK refused");
	vq_setup(base, &net_rxq, 0, NULL);
	vq_setup(base, &net_txq, 1, NULL);
	net_tx = window_alloc(NET_HDR + 2000);
	rx_bufs = window_alloc(QSIZE * NET_BUF);
	for (uint16_t i = 0; i < QSIZE; i++) {
		net_rxq.desc[i] =
		    (struct desc){ (uint32_t)(rx_bufs + i * NET_BUF), NET_BUF, DESC_F_WRITE, 0 };
		vq_post(&net_rxq, i);
	}
	wr(base, R_STATUS, S_ACK | S_DRIVER | S_FEATURES_OK | S_DRIVER_OK);
	wr(base, R_QUEUE_NOTIFY, 0);
	guest_puts("virtio-io: net mac");
	for (unsigned i = 0; i < 6; i++) {
		static const char hex[] = "0123456789abcdef";
		guest_putc(i ? ':' : ' ');
		guest_putc(hex[net_mac[i] >> 4]);
		guest_putc(hex[net_mac[i] & 15]);
	}
	guest_putc('\n');
	if (streq(mode, "net-oversize")) {
		memset(net_tx, 0, NET_HDR + 2000);
		net_send(2000);
		fail("the device sent a frame larger than any without offloads");
	}
	net_send_arp();
	guest_puts("virtio-io: net sent arp\n");
}

static bool net_poll(void)
{
	uint32_t len;
	int id = vq_take(&net_rxq, &len);

	if (id < 0)
		return false;
	if (len >= NET_HDR && len <= NET_BUF)
		net_frame((const uint8_t *)(uint32_t)net_rxq.desc[id].addr + NET_HDR,
			  len - NET_HDR);
	vq_post(&net_rxq, (uint16_t)id);
	wr(net_base, R_QUEUE_NOTIFY, 0);
	return true;
}

static uint32_t slot_of(uint32_t device_id)
{
	for (uint32_t i = 0; i < VIRTIO_SLOTS; i++) {
		uint32_t base = VIRTIO_BASE + i * VIRTIO_STRIDE;
		if (rd(base, R_MAGIC) == 0x74726976 && rd(base, R_DEVICE_ID) == device_id)
			return base;
	}
	return 0;
}

void guest_main(const struct hvm_start_info *si)
{
	const struct hvm_memmap_table_entry *mm = (const void *)(uint32_t)si->memmap_paddr;
	const char *mode = si->cmdline_paddr ? (const char *)(uint32_t)si->cmdline_paddr : "";
	uint32_t blk, vsock, net;

	for (uint32_t i = 0; i < si->memmap_entries; i++)
		if (mm[i].type == 2) {
			window_next = (uint8_t *)(uint32_t)mm[i].addr;
			window_end = window_next + (uint32_t)mm[i].size;
		}
	if (!window_next)
		fail("no shared window in the memory map");

	blk = slot_of(2);
	vsock = slot_of(19);
	net = slot_of(1);
	if (blk)
		blk_test(blk, mode);
	if (net)
		net_setup(net, mode);
	guest_ready();
	if (vsock)
		vsock_setup(vsock);
	for (unsigned spins = 0;; spins++) {
		/* both, every time: neither device waits behind the other */
		bool busy_vsock = vsock && vsock_poll();
		bool busy_net = net && net_poll();
		bool busy = busy_vsock || busy_net;
		if (!busy && spins % 4096 == 0 && guest_stop_requested())
			break;
	}
	guest_puts("virtio-io: stopping\n");
	guest_shutdown();
}
