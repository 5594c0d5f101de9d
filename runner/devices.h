/* The runner's virtio devices: the shared window (the only guest memory the runner maps), the
 * virtio-mmio slots at the architecture's fixed addresses, disks over fds pvmd passed, vsock
 * with its host sockets and the network over the tap pvmd made. Setup happens before lock-down;
 * after it, the vCPU thread dispatches MMIO exits here and the main thread services vsock's host
 * sockets and the tap, both under the runner's devices_lock. */
#pragma once

#include <poll.h>
#include <stdbool.h>
#include <stdint.h>

#include "arch.h"
#include "error.h"
#include "virtio/virtio-blk.h"
#include "virtio/virtio-mmio.h"
#include "virtio/virtio-net.h"
#include "virtio/virtio-vsock.h"

#define RUNNER_VSOCK_HELLOS 8 /* host connects still sending their CONNECT line */
#define RUNNER_NOTIFY_FDS (PVM_VIRTIO_SLOTS * PVM_VIRTIO_QUEUES_MAX)
/* the most fds runner_devices_pollfds() fills in */
#define RUNNER_DEVICES_POLLFDS_MAX                                                                 \
	(RUNNER_NOTIFY_FDS + 1 + 1 + RUNNER_VSOCK_HELLOS + PVM_VSOCK_CONNS_MAX)
#define RUNNER_VSOCK_PREFIX_MAX 80

typedef struct runner_vsock_hello {
	int fd;
	char line[24];
	size_t len;
} runner_vsock_hello;

typedef struct runner_devices {
	pvm_window window;
	bool window_own_slot; /* outside RAM: drivers must accept VIRTIO_F_ACCESS_PLATFORM */
	uint64_t mmio_base, mmio_stride;
	int vm_fd;	   /* for KVM_IRQFD and KVM_IOEVENTFD; -1: neither */
	bool irqfd;	   /* false: no interrupts, drivers poll */
	uint32_t irq_base; /* slot n raises GSI irq_base + n */
	int irq_fds[PVM_VIRTIO_SLOTS];
	bool ioeventfd; /* QueueNotify writes signal notify_fds instead of exiting */
	int notify_fds[PVM_VIRTIO_SLOTS][PVM_VIRTIO_QUEUES_MAX]; /* -1: none */
	unsigned n_slots;
	pvm_virtio_mmio slots[PVM_VIRTIO_SLOTS];
	pvm_virtio_blk disks[PVM_VIRTIO_SLOTS];
	unsigned n_disks;

	pvm_virtio_vsock vsock;
	pvm_virtio_mmio *vsock_slot;		    /* NULL: no vsock */
	int vsock_listen_fd;			    /* <vm>.vsock: host programs connect here */
	char vsock_prefix[RUNNER_VSOCK_PREFIX_MAX]; /* relative to the runner's cwd */
	runner_vsock_hello hellos[RUNNER_VSOCK_HELLOS];

	pvm_virtio_net net;
	pvm_virtio_mmio *net_slot; /* NULL: no network */
} runner_devices;

void runner_devices_init(runner_devices *d, uint64_t mmio_base, uint64_t mmio_stride);
/* How the devices meet KVM on vm_fd: with `irqfd`, an interrupt line per device (KVM_IRQFD,
 * GSI irq_base + slot); with `ioeventfd`, an eventfd per queue that KVM signals for the
 * queue's QueueNotify write (KVM_IOEVENTFD) and runner_devices_service() serves. */
void runner_devices_set_kvm(runner_devices *d, int vm_fd, bool irqfd, uint32_t irq_base,
			    bool ioeventfd);
/* Register those with KVM, once the devices exist and the interrupt controller is initialised
 * (KVM refuses an irqfd before: EAGAIN); after lock-down the runner can register none. */
int runner_devices_connect_kvm(runner_devices *d, pvm_error *err);

/* Map [gpa, gpa + size) of the guest memory behind mem_fd (RAM starting at ram_base, ram_size
 * bytes) as the shared window. Devices can be added only once it exists. */
int runner_devices_set_window(runner_devices *d, int mem_fd, uint64_t ram_base, uint64_t ram_size,
			      uint64_t gpa, uint64_t size, pvm_error *err);
/* The window as a memslot of its own at gpa (pvm_arch.window_base), at most `max` bytes. */
int runner_devices_set_window_slot(runner_devices *d, int vm_fd, uint64_t gpa, uint64_t size,
				   uint64_t want_gpa, uint64_t max, pvm_error *err);
/* A disk over `fd` (taken: closed on failure too). A digest its config names was checked by
 * pvmd before BOOT. */
int runner_devices_add_disk(runner_devices *d, int fd, bool read_only, const char *id,
			    pvm_error *err);
/* vsock for guest CID `cid`: listen_fd is taken. Guest connects to host port P go to the unix
 * socket <prefix>P, relative to the runner's working directory. */
int runner_devices_add_vsock(runner_devices *d, int listen_fd, uint64_t cid, const char *prefix,
			     pvm_error *err);

/* A network device on the tap `tap_fd` (taken: closed on failure too), the guest's address
 * `mac`. */
int runner_devices_add_net(runner_devices *d, int tap_fd, const uint8_t mac[PVM_NET_MAC_LEN],
			   pvm_error *err);

/* The MMIO dispatch the arch calls (pvm_device_host.mmio). */
bool runner_devices_mmio(runner_devices *d, uint64_t gpa, void *data, unsigned len, bool is_write,
			 pvm_exit_event *ev);

/* Host fds to poll (the queues' notification eventfds; vsock's listening socket, CONNECT lines
 * in progress, connections; the tap): at most RUNNER_DEVICES_POLLFDS_MAX. */
size_t runner_devices_pollfds(runner_devices *d, struct pollfd *fds, size_t max);
/* After poll: serve notified queues, accept, read CONNECT lines, move data and frames. Negative
 * when the guest's rings are malformed (ev then says how the VM ends). */
int runner_devices_service(runner_devices *d, pvm_exit_event *ev);
