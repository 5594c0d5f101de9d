/* virtio-vsock (virtio 1.x, 5.10), stream sockets only: the device end of each guest connection
 * is a host stream socket the runner owns. Guest-initiated connections go to a host port
 * through a callback (which decides whether that port may be reached); host-initiated ones
 * are handed in as connected sockets. Flow control is the spec's credit scheme in both
 * directions: the guest never gets more than it said it can hold, and a guest that sends more
 * than the device's advertised buffer loses that connection. */
#pragma once

#include <poll.h>
#include <stdbool.h>
#include <stdint.h>

#include "error.h"
#include "virtio/virtio-mmio.h"

#define PVM_VSOCK_HOST_CID 2
#define PVM_VSOCK_CONNS_MAX 64
#define PVM_VSOCK_BUF_ALLOC (64 * 1024) /* per connection, advertised to the guest */

typedef struct pvm_vsock_host {
	/* The guest connects to host port `port`: return a connected stream socket (the device
	 * sets it non-blocking and owns it from then on), or -errno to refuse (the guest sees a
	 * reset). */
	int (*connect)(void *userdata, uint32_t port);
	void *userdata;
} pvm_vsock_host;

typedef struct pvm_vsock_conn pvm_vsock_conn;

typedef struct pvm_virtio_vsock {
	uint64_t guest_cid;
	pvm_vsock_host host;
	pvm_vsock_conn *conns; /* PVM_VSOCK_CONNS_MAX slots */
	uint32_t next_host_port;
	/* answer each host-initiated connection with "OK <host port>\n" once the guest accepts */
	bool announce_connects;
	bool rx_starved; /* the guest posted no receive buffer when data was waiting */
	uint64_t bytes_to_guest, bytes_from_guest, resets;
} pvm_virtio_vsock;

extern const pvm_virtio_device_ops pvm_virtio_vsock_ops;

int pvm_virtio_vsock_init(pvm_virtio_vsock *v, uint64_t guest_cid, const pvm_vsock_host *host,
			  pvm_error *err);
void pvm_virtio_vsock_done(pvm_virtio_vsock *v); /* closes every host socket */

/* A host program connects to guest port `guest_port` over `fd` (a connected stream socket;
 * the device owns it from then on). The guest sees a connection request; -EBUSY when every
 * connection slot is taken (the fd then stays the caller's). */
int pvm_virtio_vsock_connect_guest(pvm_virtio_vsock *v, int fd, uint32_t guest_port,
				   pvm_error *err);

/* Move what can move without blocking: guest data to host sockets, host data to the guest as
 * far as its credit and receive buffers allow, and the control packets owed to the guest.
 * Call it when a socket from pvm_virtio_vsock_pollfds() is ready. Negative when the guest's
 * rings are malformed (err says how; the VM ends). */
int pvm_virtio_vsock_pump(pvm_virtio_mmio *m, pvm_error *err);

/* The host sockets to poll, with the events the device waits for; returns how many. */
size_t pvm_virtio_vsock_pollfds(const pvm_virtio_vsock *v, struct pollfd *fds, size_t max);
