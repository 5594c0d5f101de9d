/* virtio-net frames between the guest's queues and a tap. Queue 0 receives (tap to guest),
 * queue 1 transmits (guest to tap). Without offloads the header the guest sends must say so (no
 * checksum request, no segmentation) and every frame fits one Ethernet frame: anything else is a
 * driver that broke its side of the negotiation, and ends the VM. A frame the guest's receive
 * buffer cannot hold, or the tap cannot take right now, is dropped and counted. */
#include <endian.h>
#include <string.h>
#include <unistd.h>

#include <linux/virtio_config.h>
#include <linux/virtio_ids.h>
#include <linux/virtio_net.h>

#include "virtio/virtio-net.h"

#define Q_RX 0
#define Q_TX 1

_Static_assert(sizeof(struct virtio_net_hdr_v1) == PVM_NET_HDR_LEN, "virtio-net header size");

int pvm_virtio_net_init(pvm_virtio_net *n, int tap_fd, const uint8_t mac[PVM_NET_MAC_LEN],
			pvm_error *err)
{
	if (tap_fd < 0)
		return pvm_error_set(err, EBADF, "virtio-net: no tap file descriptor");
	if (mac[0] & 1)
		return pvm_error_set(err, EINVAL,
				     "virtio-net: %02x:%02x:%02x:%02x:%02x:%02x is a multicast "
				     "address, not a station's",
				     mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]);
	n->tap_fd = tap_fd;
	memcpy(n->mac, mac, PVM_NET_MAC_LEN);
	n->rx_starved = n->tap_gone = false;
	n->tx_frames = n->tx_bytes = n->tx_dropped = 0;
	n->rx_frames = n->rx_bytes = n->rx_dropped = 0;
	return 0;
}

/* ---- guest to tap ---- */

static int tx_handle(pvm_virtio_mmio *m, const pvm_vq_chain *c, uint32_t *ret_written,
		     pvm_error *err)
{
	pvm_virtio_net *n = m->dev;
	struct virtio_net_hdr_v1 h;
	uint32_t len;
	ssize_t k;

	*ret_written = 0; /* the device writes nothing into transmit buffers */
	if (c->n_writable)
		return pvm_error_set(err, EPROTO, "transmit request %u has device-writable buffers",
				     c->head);
	if (c->readable_bytes < PVM_NET_HDR_LEN)
		return pvm_error_set(err, EPROTO,
				     "transmit request %u is shorter than its %u-byte header",
				     c->head, PVM_NET_HDR_LEN);
	len = c->readable_bytes - PVM_NET_HDR_LEN;
	if (len < PVM_NET_FRAME_MIN || len > PVM_NET_FRAME_MAX)
		return pvm_error_set(err, EPROTO,
				     "transmit request %u carries a %u-byte frame; without "
				     "segmentation offload a frame is %u to %u bytes",
				     c->head, len, PVM_NET_FRAME_MIN, PVM_NET_FRAME_MAX);
	pvm_vq_chain_read(c, 0, &h, sizeof(h));
	if (h.gso_type != VIRTIO_NET_HDR_GSO_NONE || (h.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM))
		return pvm_error_set(err, EPROTO,
				     "transmit request %u asks for an offload that was not offered "
				     "(gso_type %u, flags 0x%x)",
				     c->head, h.gso_type, h.flags);

	/* one copy out of the window first: the guest may change its buffer while we write */
	pvm_vq_chain_read(c, PVM_NET_HDR_LEN, n->frame, len);
	do
		k = write(n->tap_fd, n->frame, len);
	while (k < 0 && errno == EINTR);
	if (k != (ssize_t)len) {
		n->tx_dropped++; /* a full tap queue, or a tap that is down: as a wire would */
		return 0;
	}
	n->tx_frames++;
	n->tx_bytes += len;
	return 0;
}

/* ---- tap to guest ---- */

static int serve_rx(pvm_virtio_mmio *m, pvm_error *err)
{
	pvm_virtio_net *n = m->dev;
	pvm_vq *vq = &m->queues[Q_RX];
	bool used = false;
	int r = 0;

	for (unsigned i = 0; i < PVM_NET_RX_BURST; i++) {
		const struct virtio_net_hdr_v1 h = { .num_buffers = htole16(1) };
		pvm_vq_chain chain;
		ssize_t k;

		r = pvm_vq_pop(vq, &m->window, &chain, err);
		if (r == 0)
			n->rx_starved = true;
		if (r <= 0)
			break;
		if (chain.n_readable || chain.writable_bytes < PVM_NET_HDR_LEN) {
			r = pvm_error_set(err, EPROTO,
					  "receive buffer %u is not a device-writable buffer of at "
					  "least %u bytes",
					  chain.head, PVM_NET_HDR_LEN);
			break;
		}
		do
			k = read(n->tap_fd, n->frame, sizeof(n->frame));
		while (k < 0 && errno == EINTR);
		if (k <= 0) { /* nothing waiting, or a tap gone: keep the buffer */
			n->tap_gone |= k == 0 || errno != EAGAIN;
			pvm_vq_unpop(vq);
			r = 0;
			break;
		}
		if ((uint32_t)k > chain.writable_bytes - PVM_NET_HDR_LEN) {
			/* larger than the buffer the guest gave: lost, the buffer serves the next
			 */
			n->rx_dropped++;
			pvm_vq_unpop(vq);
			continue;
		}
		pvm_vq_chain_write(&chain, 0, &h, sizeof(h));
		pvm_vq_chain_write(&chain, PVM_NET_HDR_LEN, n->frame, (uint32_t)k);
		r = pvm_vq_push(vq, &m->window, chain.head, PVM_NET_HDR_LEN + (uint32_t)k, err);
		if (r < 0)
			break;
		n->rx_frames++;
		n->rx_bytes += (uint64_t)k;
		used = true;
	}
	if (used)
		pvm_virtio_mmio_used(m);
	return r < 0 ? r : 0;
}

static bool rx_live(const pvm_virtio_mmio *m)
{
	return m->queues[Q_RX].ready && !m->broken && (m->status & VIRTIO_CONFIG_S_DRIVER_OK);
}

int pvm_virtio_net_pump(pvm_virtio_mmio *m, pvm_error *err)
{
	if (!rx_live(m))
		return 0;
	return serve_rx(m, err);
}

size_t pvm_virtio_net_pollfds(const pvm_virtio_mmio *m, struct pollfd *fds, size_t max)
{
	const pvm_virtio_net *n = m->dev;

	/* with no receive buffer posted a frame could go nowhere: it waits in the tap's queue
	 * (which drops beyond its length) until the guest notifies; a deleted tap polls as an
	 * error for ever, and would keep the runner's loop spinning */
	if (max == 0 || !rx_live(m) || n->rx_starved || n->tap_gone)
		return 0;
	fds[0] = (struct pollfd){ .fd = n->tap_fd, .events = POLLIN };
	return 1;
}

/* ---- transport hooks ---- */

static uint64_t net_features(void *dev)
{
	return 1ull << VIRTIO_NET_F_MAC;
}

static void net_config_read(void *dev, uint32_t off, void *buf, uint32_t len)
{
	pvm_virtio_net *n = dev;
	struct virtio_net_config cfg = { 0 };

	memcpy(cfg.mac, n->mac, sizeof(cfg.mac));
	memcpy(buf, (uint8_t *)&cfg + off, len);
}

static int net_queue_notify(pvm_virtio_mmio *m, unsigned q, pvm_error *err)
{
	pvm_virtio_net *n = m->dev;

	if (q == Q_TX)
		return pvm_virtio_mmio_serve(m, Q_TX, tx_handle, err);
	n->rx_starved = false; /* new receive buffers: fill what the tap holds */
	return serve_rx(m, err);
}

static void net_reset(void *dev)
{
	pvm_virtio_net *n = dev;
	n->rx_starved = false;
}

const pvm_virtio_device_ops pvm_virtio_net_ops = {
	.name = "virtio-net",
	.device_id = VIRTIO_ID_NET,
	.n_queues = 2,
	.queue_max = 256,
	.config_len = sizeof(struct virtio_net_config),
	.features = net_features,
	.config_read = net_config_read,
	.queue_notify = net_queue_notify,
	.reset = net_reset,
};
