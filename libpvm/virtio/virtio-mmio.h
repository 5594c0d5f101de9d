/* The virtio-mmio transport (virtio 1.x, section 4.2; modern devices only): the register file a
 * guest driver programs, the feature and status handshake, and the queues. Device types plug
 * in through pvm_virtio_device_ops; every guest access arrives as one register read or write. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "error.h"
#include "virtio/virtqueue.h"
#include "virtio/window.h"

#define PVM_VIRTIO_MMIO_SIZE 0x200 /* registers and device config space */
#define PVM_VIRTIO_QUEUES_MAX 4

typedef struct pvm_virtio_mmio pvm_virtio_mmio;

typedef struct pvm_virtio_device_ops {
	const char *name;   /* "virtio-blk", for messages */
	uint32_t device_id; /* VIRTIO_ID_* */
	unsigned n_queues;
	uint16_t queue_max;
	uint32_t config_len;
	/* Device-type feature bits (the transport adds VERSION_1 and, for a protected VM,
	 * ACCESS_PLATFORM). */
	uint64_t (*features)(void *dev);
	/* Config space bytes [off, off + len), already bounds-checked against config_len. */
	void (*config_read)(void *dev, uint32_t off, void *buf, uint32_t len);
	/* The driver notified queue q: serve what is pending. A negative return ends the VM
	 * (err says how the guest's request was malformed). */
	int (*queue_notify)(pvm_virtio_mmio *m, unsigned q, pvm_error *err);
	/* The driver reset the device. */
	void (*reset)(void *dev);
} pvm_virtio_device_ops;

struct pvm_virtio_mmio {
	const pvm_virtio_device_ops *ops;
	void *dev;
	pvm_window window;
	bool access_platform; /* offer (and require) VIRTIO_F_ACCESS_PLATFORM */
	int irq_fd; /* an eventfd (KVM_IRQFD) signalled for each used-buffer notification; -1:
		     * none, the driver polls */

	uint32_t device_features_sel, driver_features_sel;
	uint64_t driver_features;
	uint32_t status;
	uint32_t queue_sel;
	uint32_t interrupt_status;
	uint32_t config_generation;
	pvm_vq queues[PVM_VIRTIO_QUEUES_MAX];
	bool broken; /* the guest broke the protocol: DEVICE_NEEDS_RESET until it resets */
};

void pvm_virtio_mmio_init(pvm_virtio_mmio *m, const pvm_virtio_device_ops *ops, void *dev,
			  const pvm_window *window, bool access_platform);

/* One guest access at byte offset `off` of the device's MMIO range, `len` bytes (1, 2, 4 or 8).
 * Registers take 32-bit accesses only; other widths read as zero and writes to them are
 * dropped. 0 on success; negative when the guest broke the protocol in a way that ends the VM
 * (err says how). */
int pvm_virtio_mmio_read(pvm_virtio_mmio *m, uint64_t off, void *data, unsigned len,
			 pvm_error *err);
int pvm_virtio_mmio_write(pvm_virtio_mmio *m, uint64_t off, const void *data, unsigned len,
			  pvm_error *err);

/* The driver notified queue q (a QueueNotify write, or its eventfd where KVM took the write):
 * serve it. A queue that is not live, or a device the guest broke, ignores it. Negative when
 * the guest's rings are malformed (the device then needs a reset; err says how). */
int pvm_virtio_mmio_notify(pvm_virtio_mmio *m, uint32_t q, pvm_error *err);

/* Serve every request pending on queue q: `handle` reads the request, writes its answer into
 * the chain's writable part and says how many bytes it wrote; the request then goes back to
 * the guest and the used-buffer interrupt is flagged. Stops at the first negative return. */
typedef int (*pvm_virtio_request_fn)(pvm_virtio_mmio *m, const pvm_vq_chain *c,
				     uint32_t *ret_written, pvm_error *err);
int pvm_virtio_mmio_serve(pvm_virtio_mmio *m, unsigned q, pvm_virtio_request_fn handle,
			  pvm_error *err);

/* Tell the driver that requests completed: the InterruptStatus used-buffer bit, and an edge on
 * irq_fd when the platform has an interrupt line. */
void pvm_virtio_mmio_used(pvm_virtio_mmio *m);
