/* The runner's virtio devices: the shared window (the only guest memory the runner maps), the
 * virtio-mmio slots at the architecture's fixed addresses, disks over fds pvmd passed, and vsock
 * with its host sockets. Setup happens before lock-down; after it, the vCPU thread dispatches
 * MMIO exits here and the main thread services vsock's host sockets, both under the runner's
 * devices_lock. */
#pragma once

#include <poll.h>
#include <stdbool.h>
#include <stdint.h>

#include "arch.h"
#include "error.h"
#include "virtio/virtio-blk.h"
#include "virtio/virtio-mmio.h"
#include "virtio/virtio-vsock.h"

#define RUNNER_VSOCK_HELLOS 8 /* host connects still sending their CONNECT line */
#define RUNNER_VSOCK_PREFIX_MAX 80

typedef struct runner_vsock_hello {
	int fd;
	char line[24];
	size_t len;
} runner_vsock_hello;

typedef struct runner_devices {
	pvm_window window;
	uint64_t mmio_base, mmio_stride;
	unsigned n_slots;
	pvm_virtio_mmio slots[PVM_VIRTIO_SLOTS];
	pvm_virtio_blk disks[PVM_VIRTIO_SLOTS];
	unsigned n_disks;

	pvm_virtio_vsock vsock;
	pvm_virtio_mmio *vsock_slot;		    /* NULL: no vsock */
	int vsock_listen_fd;			    /* <vm>.vsock: host programs connect here */
	char vsock_prefix[RUNNER_VSOCK_PREFIX_MAX]; /* relative to the runner's cwd */
	runner_vsock_hello hellos[RUNNER_VSOCK_HELLOS];
} runner_devices;

void runner_devices_init(runner_devices *d, uint64_t mmio_base, uint64_t mmio_stride);

/* Map [gpa, gpa + size) of the guest memory behind mem_fd (RAM starting at ram_base, ram_size
 * bytes) as the shared window. Devices can be added only once it exists. */
int runner_devices_set_window(runner_devices *d, int mem_fd, uint64_t ram_base, uint64_t ram_size,
			      uint64_t gpa, uint64_t size, pvm_error *err);
/* A disk over `fd` (taken: closed on failure too). A digest its config names was checked by
 * pvmd before BOOT. */
int runner_devices_add_disk(runner_devices *d, int fd, bool read_only, const char *id,
			    pvm_error *err);
/* vsock for guest CID `cid`: listen_fd is taken. Guest connects to host port P go to the unix
 * socket <prefix>P, relative to the runner's working directory. */
int runner_devices_add_vsock(runner_devices *d, int listen_fd, uint64_t cid, const char *prefix,
			     pvm_error *err);

/* The MMIO dispatch the arch calls (pvm_device_host.mmio). */
bool runner_devices_mmio(runner_devices *d, uint64_t gpa, void *data, unsigned len, bool is_write,
			 pvm_exit_event *ev);

/* Host sockets to poll (the listening socket, CONNECT lines in progress, connections). */
size_t runner_devices_pollfds(runner_devices *d, struct pollfd *fds, size_t max);
/* After poll: accept, read CONNECT lines, move data. Negative when the guest's rings are
 * malformed (ev then says how the VM ends). */
int runner_devices_service(runner_devices *d, pvm_exit_event *ev);
