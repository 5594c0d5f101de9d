/* virtio-net (virtio 1.x, 5.1) over a tap file descriptor: one receive and one transmit queue,
 * the MAC address in config space, no offloads (no checksum, segmentation or mergeable receive
 * buffers), so every frame is one plain Ethernet frame of at most PVM_NET_FRAME_MAX bytes. The
 * tap fd is non-blocking and the work per call is bounded: a full tap drops frames, as a wire
 * would, and never stalls a vCPU. */
#pragma once

#include <poll.h>
#include <stdbool.h>
#include <stdint.h>

#include "error.h"
#include "virtio/virtio-mmio.h"

#define PVM_NET_MAC_LEN 6
#define PVM_NET_HDR_LEN 12u	/* struct virtio_net_hdr_v1 */
#define PVM_NET_FRAME_MIN 14u	/* an Ethernet header */
#define PVM_NET_FRAME_MAX 1518u /* header, 1500 bytes of MTU and one VLAN tag */
#define PVM_NET_RX_BURST 64u	/* frames moved from the tap per call */
#define PVM_NET_READ_MAX 65536u /* what one read of the tap may return */

typedef struct pvm_virtio_net {
	int tap_fd; /* the caller's; the device sets nothing on it */
	uint8_t mac[PVM_NET_MAC_LEN];
	bool rx_starved; /* the guest posted no receive buffer when a frame may be waiting */
	bool tap_gone;	 /* reading the tap failed (deleted under us): it is polled no more */
	uint64_t tx_frames, tx_bytes, tx_dropped;
	uint64_t rx_frames, rx_bytes, rx_dropped;
	uint8_t frame[PVM_NET_READ_MAX]; /* one frame on its way, either direction */
} pvm_virtio_net;

extern const pvm_virtio_device_ops pvm_virtio_net_ops;

/* A network device on `tap_fd` (a tap opened IFF_TAP | IFF_NO_PI, made non-blocking by the
 * caller), with this MAC address (a unicast one). */
int pvm_virtio_net_init(pvm_virtio_net *n, int tap_fd, const uint8_t mac[PVM_NET_MAC_LEN],
			pvm_error *err);

/* Move up to PVM_NET_RX_BURST frames from the tap into the guest's receive buffers. Call it when
 * the tap is readable. Negative when the guest's rings are malformed (err says how; the VM
 * ends). */
int pvm_virtio_net_pump(pvm_virtio_mmio *m, pvm_error *err);

/* The tap to poll and for what; 0 when the device waits for the guest instead, or the tap is
 * gone (someone deleted the interface: the guest's link is then a wire cut, its frames lost). */
size_t pvm_virtio_net_pollfds(const pvm_virtio_mmio *m, struct pollfd *fds, size_t max);
