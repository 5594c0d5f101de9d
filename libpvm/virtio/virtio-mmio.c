/* virtio-mmio registers (virtio 1.x, 4.2.2) and the device status handshake (3.1): feature
 * negotiation refuses what was not offered, FEATURES_OK without VERSION_1 (modern only) and,
 * for a protected VM, without ACCESS_PLATFORM (its buffers must stay in the shared window);
 * queues go live only once their rings are checked against the window. */
#include <string.h>
#include <unistd.h>

#include <linux/virtio_config.h>
#include <linux/virtio_mmio.h>

#include "virtio/virtio-mmio.h"

#define VIRTIO_MMIO_MAGIC 0x74726976 /* "virt" */
#define PVM_VIRTIO_VENDOR 0x00707663 /* "pvm" */

void pvm_virtio_mmio_init(pvm_virtio_mmio *m, const pvm_virtio_device_ops *ops, void *dev,
			  const pvm_window *window, bool access_platform)
{
	*m = (pvm_virtio_mmio){ .ops = ops,
				.dev = dev,
				.window = *window,
				.access_platform = access_platform,
				.irq_fd = -1 };
}

static uint64_t offered_features(const pvm_virtio_mmio *m)
{
	uint64_t f = m->ops->features(m->dev) | (1ull << VIRTIO_F_VERSION_1);
	if (m->access_platform)
		f |= 1ull << VIRTIO_F_ACCESS_PLATFORM;
	return f;
}

static void device_reset(pvm_virtio_mmio *m)
{
	memset(m->queues, 0, sizeof(m->queues));
	m->driver_features = 0;
	m->device_features_sel = m->driver_features_sel = 0;
	m->status = 0;
	m->queue_sel = 0;
	m->interrupt_status = 0;
	m->broken = false;
	if (m->ops->reset)
		m->ops->reset(m->dev);
}

static pvm_vq *selected_queue(pvm_virtio_mmio *m)
{
	return m->queue_sel < m->ops->n_queues ? &m->queues[m->queue_sel] : NULL;
}

static uint32_t register_read(pvm_virtio_mmio *m, uint64_t off)
{
	pvm_vq *q = selected_queue(m);

	switch (off) {
	case VIRTIO_MMIO_MAGIC_VALUE:
		return VIRTIO_MMIO_MAGIC;
	case VIRTIO_MMIO_VERSION:
		return 2;
	case VIRTIO_MMIO_DEVICE_ID:
		return m->ops->device_id;
	case VIRTIO_MMIO_VENDOR_ID:
		return PVM_VIRTIO_VENDOR;
	case VIRTIO_MMIO_DEVICE_FEATURES:
		return m->device_features_sel > 1
			   ? 0
			   : (uint32_t)(offered_features(m) >> (32 * m->device_features_sel));
	case VIRTIO_MMIO_QUEUE_NUM_MAX:
		return q ? m->ops->queue_max : 0;
	case VIRTIO_MMIO_QUEUE_READY:
		return q ? q->ready : 0;
	case VIRTIO_MMIO_INTERRUPT_STATUS:
		return m->interrupt_status;
	case VIRTIO_MMIO_STATUS:
		return m->status;
	case VIRTIO_MMIO_CONFIG_GENERATION:
		return m->config_generation;
	case VIRTIO_MMIO_QUEUE_DESC_LOW:
		return q ? (uint32_t)q->desc_gpa : 0;
	case VIRTIO_MMIO_QUEUE_DESC_HIGH:
		return q ? (uint32_t)(q->desc_gpa >> 32) : 0;
	case VIRTIO_MMIO_QUEUE_AVAIL_LOW:
		return q ? (uint32_t)q->avail_gpa : 0;
	case VIRTIO_MMIO_QUEUE_AVAIL_HIGH:
		return q ? (uint32_t)(q->avail_gpa >> 32) : 0;
	case VIRTIO_MMIO_QUEUE_USED_LOW:
		return q ? (uint32_t)q->used_gpa : 0;
	case VIRTIO_MMIO_QUEUE_USED_HIGH:
		return q ? (uint32_t)(q->used_gpa >> 32) : 0;
	default:
		return 0; /* write-only and reserved registers read as zero */
	}
}

int pvm_virtio_mmio_read(pvm_virtio_mmio *m, uint64_t off, void *data, unsigned len, pvm_error *err)
{
	uint32_t v;

	memset(data, 0, len);
	if (off >= VIRTIO_MMIO_CONFIG) {
		uint64_t c = off - VIRTIO_MMIO_CONFIG;
		if (c < m->ops->config_len && len <= m->ops->config_len - c)
			m->ops->config_read(m->dev, (uint32_t)c, data, len);
		return 0;
	}
	if (len != 4 || off % 4)
		return 0;
	v = register_read(m, off);
	memcpy(data, &v, 4);
	return 0;
}

static void set_queue_half(uint64_t *gpa, bool high, uint32_t v)
{
	*gpa = high ? (*gpa & 0xffffffffull) | ((uint64_t)v << 32) : (*gpa & ~0xffffffffull) | v;
}

/* The driver writes Status: each step only adds bits; FEATURES_OK is checked here (3.1.1). */
static void status_write(pvm_virtio_mmio *m, uint32_t v)
{
	uint64_t offered = offered_features(m);

	if (v == 0) {
		device_reset(m);
		return;
	}
	if ((v & VIRTIO_CONFIG_S_FEATURES_OK) && !(m->status & VIRTIO_CONFIG_S_FEATURES_OK)) {
		bool ok = !(m->driver_features & ~offered) &&
			  (m->driver_features & (1ull << VIRTIO_F_VERSION_1)) &&
			  (!m->access_platform ||
			   (m->driver_features & (1ull << VIRTIO_F_ACCESS_PLATFORM)));
		if (!ok)
			v &= ~(uint32_t)VIRTIO_CONFIG_S_FEATURES_OK; /* the driver reads it back */
	}
	m->status = v | (m->broken ? VIRTIO_CONFIG_S_NEEDS_RESET : 0);
}

static int queue_ready_write(pvm_virtio_mmio *m, pvm_vq *q, uint32_t v, pvm_error *err)
{
	int r;

	if (!v) {
		q->ready = false;
		return 0;
	}
	/* the driver must not exceed QueueNumMax (virtio 1.x, 4.2.2.2): rings of a larger size
	 * would be read past what the device model sized for */
	if (q->num > m->ops->queue_max)
		return pvm_error_set(err, EPROTO, "%s queue %u: size %u exceeds QueueNumMax %u",
				     m->ops->name, m->queue_sel, q->num, m->ops->queue_max);
	r = pvm_vq_check(q, &m->window, err);
	if (r < 0) {
		pvm_error_prefix(err, "%s queue %u: ", m->ops->name, m->queue_sel);
		return r;
	}
	q->ready = true;
	return 0;
}

int pvm_virtio_mmio_notify(pvm_virtio_mmio *m, uint32_t q, pvm_error *err)
{
	int r;

	if (q >= m->ops->n_queues || !m->queues[q].ready || m->broken ||
	    !(m->status & VIRTIO_CONFIG_S_DRIVER_OK))
		return 0;
	r = m->ops->queue_notify(m, q, err);
	if (r < 0) {
		m->broken = true;
		m->status |= VIRTIO_CONFIG_S_NEEDS_RESET;
		pvm_error_prefix(err, "%s queue %u: ", m->ops->name, q);
	}
	return r;
}

int pvm_virtio_mmio_write(pvm_virtio_mmio *m, uint64_t off, const void *data, unsigned len,
			  pvm_error *err)
{
	pvm_vq *q = selected_queue(m);
	uint32_t v;

	if (off >= VIRTIO_MMIO_CONFIG || len != 4 || off % 4)
		return 0; /* config space is read-only for the devices we model */
	memcpy(&v, data, 4);

	switch (off) {
	case VIRTIO_MMIO_DEVICE_FEATURES_SEL:
		m->device_features_sel = v;
		return 0;
	case VIRTIO_MMIO_DRIVER_FEATURES_SEL:
		m->driver_features_sel = v;
		return 0;
	case VIRTIO_MMIO_DRIVER_FEATURES:
		if (m->status & VIRTIO_CONFIG_S_FEATURES_OK || m->driver_features_sel > 1)
			return 0;
		set_queue_half(&m->driver_features, m->driver_features_sel == 1, v);
		return 0;
	case VIRTIO_MMIO_QUEUE_SEL:
		m->queue_sel = v;
		return 0;
	case VIRTIO_MMIO_QUEUE_NUM:
		if (q && !q->ready)
			q->num =
			    v > 0xffff ? 0 : (uint16_t)v; /* checked when the queue goes ready */
		return 0;
	case VIRTIO_MMIO_QUEUE_READY:
		return q ? queue_ready_write(m, q, v, err) : 0;
	case VIRTIO_MMIO_QUEUE_NOTIFY:
		return pvm_virtio_mmio_notify(m, v, err);
	case VIRTIO_MMIO_INTERRUPT_ACK:
		m->interrupt_status &= ~v;
		return 0;
	case VIRTIO_MMIO_STATUS:
		status_write(m, v);
		return 0;
	case VIRTIO_MMIO_QUEUE_DESC_LOW:
	case VIRTIO_MMIO_QUEUE_DESC_HIGH:
		if (q && !q->ready)
			set_queue_half(&q->desc_gpa, off == VIRTIO_MMIO_QUEUE_DESC_HIGH, v);
		return 0;
	case VIRTIO_MMIO_QUEUE_AVAIL_LOW:
	case VIRTIO_MMIO_QUEUE_AVAIL_HIGH:
		if (q && !q->ready)
			set_queue_half(&q->avail_gpa, off == VIRTIO_MMIO_QUEUE_AVAIL_HIGH, v);
		return 0;
	case VIRTIO_MMIO_QUEUE_USED_LOW:
	case VIRTIO_MMIO_QUEUE_USED_HIGH:
		if (q && !q->ready)
			set_queue_half(&q->used_gpa, off == VIRTIO_MMIO_QUEUE_USED_HIGH, v);
		return 0;
	default:
		return 0; /* read-only and reserved registers */
	}
}

int pvm_virtio_mmio_serve(pvm_virtio_mmio *m, unsigned q, pvm_virtio_request_fn handle,
			  pvm_error *err)
{
	pvm_vq *vq = &m->queues[q];
	pvm_vq_chain c;
	bool used = false;
	int r;

	while ((r = pvm_vq_pop(vq, &m->window, &c, err)) > 0) {
		uint32_t written = 0;

		r = handle(m, &c, &written, err);
		if (r >= 0)
			r = pvm_vq_push(vq, &m->window, c.head, written, err);
		if (r < 0)
			break;
		used = true;
	}
	if (used)
		pvm_virtio_mmio_used(m);
	return r;
}

void pvm_virtio_mmio_used(pvm_virtio_mmio *m)
{
	uint64_t one = 1;

	m->interrupt_status |= VIRTIO_MMIO_INT_VRING;
	/* EAGAIN: the counter is saturated, an interrupt is pending already */
	if (m->irq_fd >= 0 && write(m->irq_fd, &one, sizeof(one)) < 0) {
	}
}
