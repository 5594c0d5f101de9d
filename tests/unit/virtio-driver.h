/* A virtio 1.x driver for unit tests of pvm's device models: guest RAM as an array, the
 * feature/status handshake, split queues laid out inside the shared window, and helpers to
 * offer buffers and read completions, the way a guest kernel's driver would. */
#pragma once

#include <endian.h>
#include <stdbool.h>
#include <string.h>

#include <linux/virtio_config.h>
#include <linux/virtio_mmio.h>
#include <linux/virtio_ring.h>

#include "virtio/virtio-mmio.h"

#define VD_RAM_SIZE 0x100000u
#define VD_WIN_GPA 0x80000u /* the shared window is the upper half of RAM */
#define VD_WIN_SIZE 0x80000u
#define VD_QSIZE 16u
#define VD_QUEUE_GPA(q) (VD_WIN_GPA + 0x10000u * (q)) /* desc, +0x1000 avail, +0x2000 used */
#define VD_BUF_GPA(q, i) (VD_QUEUE_GPA(q) + 0x4000u + 0x1000u * (i))

typedef struct vdrv {
	uint8_t ram[VD_RAM_SIZE];
	pvm_virtio_mmio dev;
	pvm_error err;
	uint16_t avail_idx[PVM_VIRTIO_QUEUES_MAX];
	uint16_t used_seen[PVM_VIRTIO_QUEUES_MAX];
} vdrv;

static inline void *vd_gpa(vdrv *d, uint64_t a)
{
	return d->ram + a;
}

static inline pvm_window vd_window(vdrv *d)
{
	return (pvm_window){ .gpa = VD_WIN_GPA, .size = VD_WIN_SIZE, .host = d->ram + VD_WIN_GPA };
}

static inline uint32_t vd_rd(vdrv *d, uint64_t off)
{
	uint32_t v;
	pvm_virtio_mmio_read(&d->dev, off, &v, 4, &d->err);
	return v;
}

static inline int vd_wr(vdrv *d, uint64_t off, uint32_t v)
{
	pvm_error_clear(&d->err);
	return pvm_virtio_mmio_write(&d->dev, off, &v, 4, &d->err);
}

/* The driver's initialisation (virtio 1.x, 3.1.1) with these feature bits and n queues. */
static inline bool vd_init(vdrv *d, uint64_t features, unsigned n_queues)
{
	vd_wr(d, VIRTIO_MMIO_STATUS, 0);
	vd_wr(d, VIRTIO_MMIO_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER);
	for (uint32_t sel = 0; sel < 2; sel++) {
		vd_wr(d, VIRTIO_MMIO_DRIVER_FEATURES_SEL, sel);
		vd_wr(d, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)(features >> (32 * sel)));
	}
	vd_wr(d, VIRTIO_MMIO_STATUS,
	      VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER | VIRTIO_CONFIG_S_FEATURES_OK);
	if (!(vd_rd(d, VIRTIO_MMIO_STATUS) & VIRTIO_CONFIG_S_FEATURES_OK))
		return false;
	for (unsigned q = 0; q < n_queues; q++) {
		memset(vd_gpa(d, VD_QUEUE_GPA(q)), 0, 0x3000);
		d->avail_idx[q] = d->used_seen[q] = 0;
		vd_wr(d, VIRTIO_MMIO_QUEUE_SEL, q);
		vd_wr(d, VIRTIO_MMIO_QUEUE_NUM, VD_QSIZE);
		vd_wr(d, VIRTIO_MMIO_QUEUE_DESC_LOW, VD_QUEUE_GPA(q));
		vd_wr(d, VIRTIO_MMIO_QUEUE_DESC_HIGH, 0);
		vd_wr(d, VIRTIO_MMIO_QUEUE_AVAIL_LOW, VD_QUEUE_GPA(q) + 0x1000);
		vd_wr(d, VIRTIO_MMIO_QUEUE_AVAIL_HIGH, 0);
		vd_wr(d, VIRTIO_MMIO_QUEUE_USED_LOW, VD_QUEUE_GPA(q) + 0x2000);
		vd_wr(d, VIRTIO_MMIO_QUEUE_USED_HIGH, 0);
		if (vd_wr(d, VIRTIO_MMIO_QUEUE_READY, 1) < 0)
			return false;
	}
	vd_wr(d, VIRTIO_MMIO_STATUS,
	      VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER | VIRTIO_CONFIG_S_FEATURES_OK |
		  VIRTIO_CONFIG_S_DRIVER_OK);
	return true;
}

static inline void vd_desc(vdrv *d, unsigned q, unsigned i, uint64_t addr, uint32_t len,
			   uint16_t flags, uint16_t next)
{
	struct vring_desc *t = vd_gpa(d, VD_QUEUE_GPA(q));
	t[i] = (struct vring_desc){ .addr = htole64(addr),
				    .len = htole32(len),
				    .flags = htole16(flags),
				    .next = htole16(next) };
}

/* Offer the chain at `head` on queue q (without notifying). */
static inline void vd_offer(vdrv *d, unsigned q, uint16_t head)
{
	struct vring_avail *a = vd_gpa(d, VD_QUEUE_GPA(q) + 0x1000);
	a->ring[d->avail_idx[q] % VD_QSIZE] = htole16(head);
	d->avail_idx[q]++;
	__atomic_store_n(&a->idx, htole16(d->avail_idx[q]), __ATOMIC_RELEASE);
}

static inline int vd_notify(vdrv *d, unsigned q)
{
	return vd_wr(d, VIRTIO_MMIO_QUEUE_NOTIFY, q);
}

/* The next completion on queue q: true and its head and length, or false if none. */
static inline bool vd_used(vdrv *d, unsigned q, uint16_t *ret_head, uint32_t *ret_len)
{
	struct vring_used *u = vd_gpa(d, VD_QUEUE_GPA(q) + 0x2000);
	if (le16toh(u->idx) == d->used_seen[q])
		return false;
	*ret_head = (uint16_t)le32toh(u->ring[d->used_seen[q] % VD_QSIZE].id);
	*ret_len = le32toh(u->ring[d->used_seen[q] % VD_QSIZE].len);
	d->used_seen[q]++;
	return true;
}
