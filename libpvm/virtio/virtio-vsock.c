/* virtio-vsock connections: a small table of (guest port, host port) pairs, each with its host
 * socket, the guest's credit (how much it can still receive), our own counters, guest data
 * waiting for the host socket (never more than the buffer we advertised), and the control
 * packets owed to the guest (delivered when it posts receive buffers). Queues: 0 receive
 * (device to guest), 1 transmit (guest to device), 2 events (unused: no transport reset). */
#include <endian.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <linux/virtio_ids.h>
#include <linux/virtio_vsock.h>

#include "virtio/virtio-vsock.h"

#define Q_RX 0
#define Q_TX 1
#define HDR_LEN ((uint32_t)sizeof(struct virtio_vsock_hdr))
#define HOST_PORT_FIRST 49152u

enum conn_state {
	CONN_FREE,
	CONN_CONNECTING, /* host-initiated: REQUEST owed or sent, waiting for RESPONSE */
	CONN_CONNECTED,
	CONN_RESETTING, /* RST owed to the guest; freed once delivered */
};

/* control packets owed to the guest, in the order they are sent */
enum {
	OWE_REQUEST = 1u << 0,
	OWE_RESPONSE = 1u << 1,
	OWE_CREDIT = 1u << 2,
	OWE_SHUTDOWN = 1u << 3,
	OWE_RST = 1u << 4,
};

struct pvm_vsock_conn {
	enum conn_state state;
	uint32_t guest_port, host_port;
	int fd;
	uint32_t peer_buf_alloc, peer_fwd_cnt; /* the guest's receive credit */
	uint32_t tx_cnt;		       /* bytes sent to the guest */
	uint32_t fwd_cnt;		       /* guest bytes written to the host socket */
	uint32_t fwd_cnt_told;		       /* fwd_cnt as the guest last heard it */
	uint8_t *pending;		       /* guest bytes the host socket has not taken yet */
	uint32_t pending_len;
	uint32_t owed;
	bool host_eof;	    /* the host end sent all it will */
	bool guest_no_send; /* the guest shut down its sending side */
	bool guest_no_recv; /* the guest shut down its receiving side */
	bool host_shut_wr;  /* shutdown(SHUT_WR) done on the host socket */
};

int pvm_virtio_vsock_init(pvm_virtio_vsock *v, uint64_t guest_cid, const pvm_vsock_host *host,
			  pvm_error *err)
{
	if (guest_cid <= PVM_VSOCK_HOST_CID || guest_cid >= UINT32_MAX)
		return pvm_error_set(err, EINVAL, "guest CID %llu is not in 3..%u",
				     (unsigned long long)guest_cid, UINT32_MAX - 1);
	*v = (pvm_virtio_vsock){ .guest_cid = guest_cid,
				 .host = *host,
				 .next_host_port = HOST_PORT_FIRST };
	v->conns = calloc(PVM_VSOCK_CONNS_MAX, sizeof(*v->conns));
	if (!v->conns)
		return pvm_error_set(err, ENOMEM, "Out of memory for vsock connections");
	for (unsigned i = 0; i < PVM_VSOCK_CONNS_MAX; i++)
		v->conns[i].fd = -1;
	return 0;
}

static void conn_close(pvm_vsock_conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	free(c->pending);
	*c = (pvm_vsock_conn){ .fd = -1 };
}

void pvm_virtio_vsock_done(pvm_virtio_vsock *v)
{
	if (!v->conns)
		return;
	for (unsigned i = 0; i < PVM_VSOCK_CONNS_MAX; i++)
		conn_close(&v->conns[i]);
	free(v->conns);
	v->conns = NULL;
}

static pvm_vsock_conn *conn_find(pvm_virtio_vsock *v, uint32_t guest_port, uint32_t host_port)
{
	for (unsigned i = 0; i < PVM_VSOCK_CONNS_MAX; i++) {
		pvm_vsock_conn *c = &v->conns[i];
		if (c->state != CONN_FREE && c->guest_port == guest_port &&
		    c->host_port == host_port)
			return c;
	}
	return NULL;
}

static pvm_vsock_conn *conn_new(pvm_virtio_vsock *v, uint32_t guest_port, uint32_t host_port)
{
	for (unsigned i = 0; i < PVM_VSOCK_CONNS_MAX; i++) {
		pvm_vsock_conn *c = &v->conns[i];
		if (c->state == CONN_FREE) {
			*c = (pvm_vsock_conn){ .guest_port = guest_port,
					       .host_port = host_port,
					       .fd = -1 };
			return c;
		}
	}
	return NULL;
}

/* End a connection: the host socket closes now, the guest hears RST on its next receive. */
static void conn_reset(pvm_virtio_vsock *v, pvm_vsock_conn *c)
{
	uint32_t g = c->guest_port, h = c->host_port;

	conn_close(c);
	*c = (pvm_vsock_conn){
		.state = CONN_RESETTING, .guest_port = g, .host_port = h, .fd = -1, .owed = OWE_RST
	};
	v->resets++;
}

/* Write what the guest sent to the host socket, as far as it takes it without blocking. */
static void conn_flush(pvm_virtio_vsock *v, pvm_vsock_conn *c)
{
	while (c->pending_len > 0) {
		ssize_t n = send(c->fd, c->pending, c->pending_len, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (n <= 0) {
			conn_reset(v, c);
			return;
		}
		memmove(c->pending, c->pending + n, c->pending_len - (size_t)n);
		c->pending_len -= (uint32_t)n;
		c->fwd_cnt += (uint32_t)n;
	}
	/* tell the guest about freed buffer space before it runs out of credit */
	if (c->fwd_cnt - c->fwd_cnt_told >= PVM_VSOCK_BUF_ALLOC / 2)
		c->owed |= OWE_CREDIT;
	if (c->guest_no_send && c->pending_len == 0 && !c->host_shut_wr) {
		shutdown(c->fd, SHUT_WR);
		c->host_shut_wr = true;
	}
	/* both directions are over: free the slot (the guest hears RST, as after a full
	 * shutdown) rather than keep it until the guest resets the device */
	if (c->host_shut_wr && c->host_eof)
		conn_reset(v, c);
}

static uint32_t guest_credit(const pvm_vsock_conn *c)
{
	uint32_t in_flight = c->tx_cnt - c->peer_fwd_cnt;
	return in_flight >= c->peer_buf_alloc ? 0 : c->peer_buf_alloc - in_flight;
}

/* A packet to the guest, from the connection's host port to its guest port. */
static void hdr_fill(const pvm_virtio_vsock *v, pvm_vsock_conn *c, struct virtio_vsock_hdr *h,
		     uint16_t op, uint32_t len, uint32_t flags)
{
	*h = (struct virtio_vsock_hdr){
		.src_cid = htole64(PVM_VSOCK_HOST_CID),
		.dst_cid = htole64(v->guest_cid),
		.src_port = htole32(c->host_port),
		.dst_port = htole32(c->guest_port),
		.len = htole32(len),
		.type = htole16(VIRTIO_VSOCK_TYPE_STREAM),
		.op = htole16(op),
		.flags = htole32(flags),
		.buf_alloc = htole32(PVM_VSOCK_BUF_ALLOC),
		.fwd_cnt = htole32(c->fwd_cnt),
	};
	c->fwd_cnt_told = c->fwd_cnt;
}

/* ---- guest to device ---- */

static void guest_rw(pvm_virtio_vsock *v, pvm_vsock_conn *c, const pvm_vq_chain *chain,
		     uint32_t len)
{
	uint32_t room = PVM_VSOCK_BUF_ALLOC - c->pending_len;

	if (c->guest_no_send || len > room) {
		/* more than the credit we gave: the guest broke flow control on this connection */
		conn_reset(v, c);
		return;
	}
	if (!c->pending) {
		c->pending = malloc(PVM_VSOCK_BUF_ALLOC);
		if (!c->pending) {
			conn_reset(v, c);
			return;
		}
	}
	pvm_vq_chain_read(chain, HDR_LEN, c->pending + c->pending_len, len);
	c->pending_len += len;
	v->bytes_from_guest += len;
	conn_flush(v, c);
}

static void guest_request(pvm_virtio_vsock *v, uint32_t guest_port, uint32_t host_port,
			  const struct virtio_vsock_hdr *h)
{
	pvm_vsock_conn *c = conn_find(v, guest_port, host_port);
	int fd;

	if (c) { /* a second request on a live pair */
		conn_reset(v, c);
		return;
	}
	c = conn_new(v, guest_port, host_port);
	if (!c)
		return; /* no slot: nothing to answer with; the guest's connect times out */
	fd = v->host.connect ? v->host.connect(v->host.userdata, host_port) : -ECONNREFUSED;
	if (fd < 0 || fcntl(fd, F_SETFL, O_NONBLOCK) < 0) {
		if (fd >= 0)
			close(fd);
		conn_reset(v, c);
		return;
	}
	c->fd = fd;
	c->state = CONN_CONNECTED;
	c->peer_buf_alloc = le32toh(h->buf_alloc);
	c->peer_fwd_cnt = le32toh(h->fwd_cnt);
	c->owed |= OWE_RESPONSE;
}

/* Tell the host program that connected (Firecracker's "OK <port>\n") that the guest accepted.
 * The socket is fresh and its buffer empty, so the few bytes go out without blocking; a host
 * end that is gone already loses the connection. */
static void conn_announce(pvm_virtio_vsock *v, pvm_vsock_conn *c)
{
	char line[24];
	int n = snprintf(line, sizeof(line), "OK %u\n", c->host_port);

	if (send(c->fd, line, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT) != n)
		conn_reset(v, c);
}

/* One packet the guest sent. Malformed framing ends the VM; a packet that is well formed but
 * wrong for its connection (or for no connection) is answered with a reset. */
static int guest_packet(pvm_virtio_vsock *v, const pvm_vq_chain *chain, pvm_error *err)
{
	struct virtio_vsock_hdr h;
	pvm_vsock_conn *c;
	uint32_t len, sport, dport;
	uint16_t op;

	if (chain->readable_bytes < HDR_LEN)
		return pvm_error_set(err, EPROTO, "packet %u is shorter than its %u-byte header",
				     chain->head, HDR_LEN);
	pvm_vq_chain_read(chain, 0, &h, HDR_LEN);
	len = le32toh(h.len);
	op = le16toh(h.op);
	sport = le32toh(h.src_port);
	dport = le32toh(h.dst_port);
	if (len > chain->readable_bytes - HDR_LEN)
		return pvm_error_set(err, EPROTO, "packet %u claims %u bytes but carries %u",
				     chain->head, len, chain->readable_bytes - HDR_LEN);

	c = conn_find(v, sport, dport);
	if (le64toh(h.src_cid) != v->guest_cid || le64toh(h.dst_cid) != PVM_VSOCK_HOST_CID ||
	    le16toh(h.type) != VIRTIO_VSOCK_TYPE_STREAM) {
		/* not from this guest to the host, or not a stream: no such connection here */
		if (c && c->state != CONN_RESETTING)
			conn_reset(v, c);
		return 0;
	}
	if (op == VIRTIO_VSOCK_OP_REQUEST) {
		guest_request(v, sport, dport, &h);
		return 0;
	}
	if (!c || c->state == CONN_RESETTING) {
		if (op != VIRTIO_VSOCK_OP_RST && (c = conn_new(v, sport, dport)))
			conn_reset(v, c);
		return 0;
	}
	c->peer_buf_alloc = le32toh(h.buf_alloc);
	c->peer_fwd_cnt = le32toh(h.fwd_cnt);

	switch (op) {
	case VIRTIO_VSOCK_OP_RESPONSE:
		if (c->state != CONN_CONNECTING)
			conn_reset(v, c);
		else {
			c->state = CONN_CONNECTED;
			if (v->announce_connects)
				conn_announce(v, c);
		}
		break;
	case VIRTIO_VSOCK_OP_RW:
		if (c->state != CONN_CONNECTED)
			conn_reset(v, c);
		else
			guest_rw(v, c, chain, len);
		break;
	case VIRTIO_VSOCK_OP_CREDIT_UPDATE:
		break; /* the credit was taken from the header above */
	case VIRTIO_VSOCK_OP_CREDIT_REQUEST:
		c->owed |= OWE_CREDIT;
		break;
	case VIRTIO_VSOCK_OP_SHUTDOWN: {
		uint32_t f = le32toh(h.flags);
		c->guest_no_recv |= !!(f & VIRTIO_VSOCK_SHUTDOWN_RCV);
		c->guest_no_send |= !!(f & VIRTIO_VSOCK_SHUTDOWN_SEND);
		if (c->guest_no_recv && c->guest_no_send)
			conn_reset(v, c); /* a full shutdown is answered with RST (5.10.6.5) */
		else
			conn_flush(v, c);
		break;
	}
	case VIRTIO_VSOCK_OP_RST:
		conn_close(c);
		break;
	default:
		conn_reset(v, c);
		break;
	}
	return 0;
}

static int tx_handle(pvm_virtio_mmio *m, const pvm_vq_chain *c, uint32_t *ret_written,
		     pvm_error *err)
{
	*ret_written = 0; /* the device writes nothing into transmit buffers */
	return guest_packet(m->dev, c, err);
}

/* ---- device to guest ---- */

/* What this connection can put in the next receive buffer: a control packet, or data. */
static bool conn_has_packet(const pvm_vsock_conn *c)
{
	if (c->state == CONN_FREE)
		return false;
	if (c->owed)
		return true;
	return c->state == CONN_CONNECTED && !c->host_eof && !c->guest_no_recv &&
	       guest_credit(c) > 0;
}

/* Fill one receive buffer from connection c. 1: a packet was written (*ret_len bytes);
 * 0: nothing after all (the host socket had no data). */
static int conn_packet(pvm_virtio_vsock *v, pvm_vsock_conn *c, const pvm_vq_chain *chain,
		       uint32_t *ret_len)
{
	static const struct {
		uint32_t bit;
		uint16_t op;
	} control[] = {
		{ OWE_RST, VIRTIO_VSOCK_OP_RST },
		{ OWE_REQUEST, VIRTIO_VSOCK_OP_REQUEST },
		{ OWE_RESPONSE, VIRTIO_VSOCK_OP_RESPONSE },
		{ OWE_SHUTDOWN, VIRTIO_VSOCK_OP_SHUTDOWN },
		{ OWE_CREDIT, VIRTIO_VSOCK_OP_CREDIT_UPDATE },
	};
	struct virtio_vsock_hdr h;
	uint32_t room, want;
	uint8_t *buf;
	ssize_t n;

	for (size_t i = 0; i < ELEMENTSOF(control); i++) {
		if (!(c->owed & control[i].bit))
			continue;
		c->owed &= ~control[i].bit;
		hdr_fill(v, c, &h, control[i].op, 0,
			 control[i].op == VIRTIO_VSOCK_OP_SHUTDOWN ? VIRTIO_VSOCK_SHUTDOWN_SEND
								   : 0);
		pvm_vq_chain_write(chain, 0, &h, HDR_LEN);
		*ret_len = HDR_LEN;
		if (control[i].op == VIRTIO_VSOCK_OP_RST)
			conn_close(c);
		return 1;
	}

	/* data: as much as the guest's credit, the buffer and the socket allow */
	room = chain->writable_bytes - HDR_LEN;
	want = MIN(MIN(room, guest_credit(c)), (uint32_t)PVM_VSOCK_BUF_ALLOC);
	if (want == 0)
		return 0;
	buf = malloc(want);
	if (!buf)
		return 0;
	n = recv(c->fd, buf, want, MSG_DONTWAIT);
	if (n < 0) {
		int e = errno;
		free(buf);
		if (e != EAGAIN && e != EWOULDBLOCK && e != EINTR)
			conn_reset(v, c);
		return 0;
	}
	if (n == 0) { /* the host side will send nothing more */
		free(buf);
		c->host_eof = true;
		c->owed |= OWE_SHUTDOWN;
		if (c->host_shut_wr)
			conn_reset(v, c); /* and the guest had finished too */
		return conn_packet(v, c, chain, ret_len);
	}
	hdr_fill(v, c, &h, VIRTIO_VSOCK_OP_RW, (uint32_t)n, 0);
	pvm_vq_chain_write(chain, 0, &h, HDR_LEN);
	pvm_vq_chain_write(chain, HDR_LEN, buf, (uint32_t)n);
	free(buf);
	c->tx_cnt += (uint32_t)n;
	v->bytes_to_guest += (uint64_t)n;
	*ret_len = HDR_LEN + (uint32_t)n;
	return 1;
}

static int serve_rx(pvm_virtio_mmio *m, pvm_error *err)
{
	pvm_virtio_vsock *v = m->dev;
	pvm_vq *vq = &m->queues[Q_RX];
	bool used = false;
	int r = 0;

	for (unsigned i = 0; i < PVM_VSOCK_CONNS_MAX; i++) {
		pvm_vsock_conn *c = &v->conns[i];

		while (conn_has_packet(c)) {
			pvm_vq_chain chain;
			uint32_t len = 0;

			r = pvm_vq_pop(vq, &m->window, &chain, err);
			if (r == 0)
				v->rx_starved = true;
			if (r <= 0)
				goto out; /* no receive buffer left, or a broken ring */
			if (chain.n_readable || chain.writable_bytes < HDR_LEN) {
				r = pvm_error_set(err, EPROTO,
						  "receive buffer %u is not a device-writable "
						  "buffer of at least %u bytes",
						  chain.head, HDR_LEN);
				goto out;
			}
			if (conn_packet(v, c, &chain, &len) == 0) {
				pvm_vq_unpop(vq);
				break;
			}
			r = pvm_vq_push(vq, &m->window, chain.head, len, err);
			if (r < 0)
				goto out;
			used = true;
		}
	}
out:
	if (used)
		pvm_virtio_mmio_used(m);
	return r < 0 ? r : 0;
}

int pvm_virtio_vsock_pump(pvm_virtio_mmio *m, pvm_error *err)
{
	pvm_virtio_vsock *v = m->dev;

	for (unsigned i = 0; i < PVM_VSOCK_CONNS_MAX; i++)
		if (v->conns[i].state == CONN_CONNECTED && v->conns[i].pending_len)
			conn_flush(v, &v->conns[i]);
	if (!m->queues[Q_RX].ready || m->broken)
		return 0;
	return serve_rx(m, err);
}

int pvm_virtio_vsock_connect_guest(pvm_virtio_vsock *v, int fd, uint32_t guest_port, pvm_error *err)
{
	pvm_vsock_conn *c;
	uint32_t port;

	/* an ephemeral host port no live connection to that guest port uses (at most
	 * PVM_VSOCK_CONNS_MAX are, so this ends) */
	do {
		if (v->next_host_port < HOST_PORT_FIRST)
			v->next_host_port = HOST_PORT_FIRST; /* wrapped around */
		port = v->next_host_port++;
	} while (conn_find(v, guest_port, port));
	c = conn_new(v, guest_port, port);
	if (!c)
		return pvm_error_set(err, EBUSY, "All %d vsock connections are in use",
				     PVM_VSOCK_CONNS_MAX);
	if (fcntl(fd, F_SETFL, O_NONBLOCK) < 0)
		return pvm_error_set(err, errno, "vsock: cannot make the socket non-blocking: %m");
	c->fd = fd;
	c->state = CONN_CONNECTING;
	c->owed = OWE_REQUEST;
	return 0;
}

size_t pvm_virtio_vsock_pollfds(const pvm_virtio_vsock *v, struct pollfd *fds, size_t max)
{
	size_t n = 0;

	for (unsigned i = 0; i < PVM_VSOCK_CONNS_MAX && n < max; i++) {
		const pvm_vsock_conn *c = &v->conns[i];
		short ev = 0;

		if (c->state != CONN_CONNECTED || c->fd < 0)
			continue;
		/* with no receive buffer posted, readable host data could go nowhere: wait for
		 * the guest's next notify instead of spinning on it */
		if (!c->host_eof && !c->guest_no_recv && guest_credit(c) > 0 && !v->rx_starved)
			ev |= POLLIN;
		if (c->pending_len)
			ev |= POLLOUT;
		if (ev)
			fds[n++] = (struct pollfd){ .fd = c->fd, .events = ev };
	}
	return n;
}

static uint64_t vsock_features(void *dev)
{
	return 0; /* stream sockets only: VIRTIO_VSOCK_F_STREAM is implied when nothing is set */
}

static void vsock_config_read(void *dev, uint32_t off, void *buf, uint32_t len)
{
	pvm_virtio_vsock *v = dev;
	struct virtio_vsock_config cfg = { .guest_cid = htole64(v->guest_cid) };
	memcpy(buf, (uint8_t *)&cfg + off, len);
}

static int vsock_queue_notify(pvm_virtio_mmio *m, unsigned q, pvm_error *err)
{
	pvm_virtio_vsock *v = m->dev;
	int r = 0;

	v->rx_starved = false; /* new receive buffers, or at least a new chance to fill them */
	if (q == Q_TX)
		r = pvm_virtio_mmio_serve(m, Q_TX, tx_handle, err);
	/* new receive buffers, or replies the transmit queue produced: deliver what is owed */
	if (r >= 0 && m->queues[Q_RX].ready)
		r = serve_rx(m, err);
	return r;
}

static void vsock_reset(void *dev)
{
	pvm_virtio_vsock *v = dev;
	/* a driver reset loses every connection (the guest's sockets are gone with it) */
	for (unsigned i = 0; i < PVM_VSOCK_CONNS_MAX; i++)
		conn_close(&v->conns[i]);
}

const pvm_virtio_device_ops pvm_virtio_vsock_ops = {
	.name = "virtio-vsock",
	.device_id = VIRTIO_ID_VSOCK,
	.n_queues = 3,
	.queue_max = 128,
	.config_len = sizeof(struct virtio_vsock_config),
	.features = vsock_features,
	.config_read = vsock_config_read,
	.queue_notify = vsock_queue_notify,
	.reset = vsock_reset,
};
