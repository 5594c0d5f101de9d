/* Split virtqueues from the device side. The guest owns the rings and may rewrite them while we
 * read: each descriptor is copied once into a local before it is checked and used, ring
 * indices are read once with acquire ordering, and nothing the guest wrote is trusted before it
 * has been checked against the queue size and the shared window. */
#include <endian.h>
#include <string.h>

#include <linux/virtio_ring.h>

#include "virtio/virtqueue.h"

/* Ring sizes for a queue of num entries (virtio 1.x, 2.7: desc 16-aligned, avail 2, used 4). */
static uint64_t desc_bytes(uint16_t num)
{
	return 16ull * num;
}
static uint64_t avail_bytes(uint16_t num)
{
	return 6ull + 2ull * num; /* flags, idx, ring[num], used_event */
}
static uint64_t used_bytes(uint16_t num)
{
	return 6ull + 8ull * num; /* flags, idx, ring[num], avail_event */
}

int pvm_vq_check(const pvm_vq *vq, const pvm_window *w, pvm_error *err)
{
	static const struct {
		const char *what;
		size_t addr_off;
		unsigned align;
		uint64_t (*bytes)(uint16_t);
	} rings[] = {
		{ "descriptor table", offsetof(pvm_vq, desc_gpa), 16, desc_bytes },
		{ "driver (available) ring", offsetof(pvm_vq, avail_gpa), 2, avail_bytes },
		{ "device (used) ring", offsetof(pvm_vq, used_gpa), 4, used_bytes },
	};

	if (vq->num == 0 || vq->num > PVM_VQ_SIZE_MAX || (vq->num & (vq->num - 1)))
		return pvm_error_set(err, EPROTO,
				     "queue size %u is not a power of two between 1 and %d",
				     vq->num, PVM_VQ_SIZE_MAX);
	for (size_t i = 0; i < ELEMENTSOF(rings); i++) {
		uint64_t gpa;
		memcpy(&gpa, (const uint8_t *)vq + rings[i].addr_off, sizeof(gpa));
		if (gpa % rings[i].align)
			return pvm_error_set(err, EPROTO, "%s at 0x%llx is not %u-byte aligned",
					     rings[i].what, (unsigned long long)gpa,
					     rings[i].align);
		if (!pvm_window_at(w, gpa, rings[i].bytes(vq->num)))
			return pvm_error_set(
			    err, EPROTO,
			    "%s at 0x%llx (%llu bytes) is outside the shared window [0x%llx, "
			    "+0x%llx)",
			    rings[i].what, (unsigned long long)gpa,
			    (unsigned long long)rings[i].bytes(vq->num), (unsigned long long)w->gpa,
			    (unsigned long long)w->size);
	}
	return 0;
}

static struct vring_desc *desc_table(const pvm_vq *vq, const pvm_window *w)
{
	return pvm_window_at(w, vq->desc_gpa, desc_bytes(vq->num));
}

int pvm_vq_pop(pvm_vq *vq, const pvm_window *w, pvm_vq_chain *ret, pvm_error *err)
{
	struct vring_avail *avail;
	struct vring_desc *table;
	uint16_t avail_idx, pending, head, i;
	unsigned n = 0;
	uint64_t total = 0;
	int r;

	if (!vq->ready)
		return 0;
	/* the addresses were checked at QueueReady; check again: the window is the only truth */
	r = pvm_vq_check(vq, w, err);
	if (r < 0)
		return r;
	avail = pvm_window_at(w, vq->avail_gpa, avail_bytes(vq->num));
	table = desc_table(vq, w);

	avail_idx = le16toh(__atomic_load_n(&avail->idx, __ATOMIC_ACQUIRE));
	pending = (uint16_t)(avail_idx - vq->last_avail);
	if (pending == 0)
		return 0;
	if (pending > vq->num)
		return pvm_error_set(err, EPROTO,
				     "driver ring index moved by %u entries on a queue of %u",
				     pending, vq->num);
	head = le16toh(__atomic_load_n(&avail->ring[vq->last_avail % vq->num], __ATOMIC_RELAXED));
	if (head >= vq->num)
		return pvm_error_set(err, EPROTO, "request head %u is outside a queue of %u", head,
				     vq->num);

	*ret = (pvm_vq_chain){ .head = head };
	i = head;
	for (;;) {
		struct vring_desc d;
		uint16_t flags;
		uint32_t len;
		uint64_t addr;
		uint8_t *p;

		/* one copy of the descriptor: the guest may rewrite it as we go */
		memcpy(&d, &table[i], sizeof(d));
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		flags = le16toh(d.flags);
		len = le32toh(d.len);
		addr = le64toh(d.addr);

		if (n >= vq->num || n >= PVM_VQ_CHAIN_MAX)
			return pvm_error_set(err, EPROTO,
					     "request %u has more than %u buffers (a loop in its "
					     "descriptor chain?)",
					     head, MIN((unsigned)vq->num, PVM_VQ_CHAIN_MAX));
		if (flags & VRING_DESC_F_INDIRECT)
			return pvm_error_set(err, EPROTO,
					     "request %u uses an indirect descriptor, which was "
					     "not offered",
					     head);
		total += len;
		if (total > PVM_VQ_CHAIN_BYTES_MAX)
			return pvm_error_set(err, EPROTO, "request %u is larger than %u bytes",
					     head, PVM_VQ_CHAIN_BYTES_MAX);
		p = pvm_window_at(w, addr, len);
		if (!p)
			return pvm_error_set(err, EPROTO,
					     "request %u: buffer at 0x%llx (%u bytes) is outside "
					     "the shared window [0x%llx, +0x%llx)",
					     head, (unsigned long long)addr, len,
					     (unsigned long long)w->gpa,
					     (unsigned long long)w->size);
		if (flags & VRING_DESC_F_WRITE) {
			ret->n_writable++;
			ret->writable_bytes += len;
		} else {
			if (ret->n_writable)
				return pvm_error_set(
				    err, EPROTO,
				    "request %u: a device-readable buffer follows a "
				    "device-writable one",
				    head);
			ret->n_readable++;
			ret->readable_bytes += len;
		}
		ret->bufs[n++] = (pvm_vq_buf){ .ptr = p,
					       .len = len,
					       .writable = !!(flags & VRING_DESC_F_WRITE) };
		if (!(flags & VRING_DESC_F_NEXT))
			break;
		i = le16toh(d.next);
		if (i >= vq->num)
			return pvm_error_set(err, EPROTO,
					     "request %u: next descriptor %u is outside a queue "
					     "of %u",
					     head, i, vq->num);
	}
	vq->last_avail++;
	return 1;
}

int pvm_vq_push(pvm_vq *vq, const pvm_window *w, uint16_t head, uint32_t written, pvm_error *err)
{
	struct vring_used *used = pvm_window_at(w, vq->used_gpa, used_bytes(vq->num));
	struct vring_used_elem e = { .id = htole32(head), .len = htole32(written) };

	if (!used || vq->num == 0)
		return pvm_error_set(err, EPROTO, "device ring at 0x%llx is outside the window",
				     (unsigned long long)vq->used_gpa);
	memcpy(&used->ring[vq->used_idx % vq->num], &e, sizeof(e));
	vq->used_idx++;
	/* the element is visible before the index that publishes it */
	__atomic_store_n(&used->idx, htole16(vq->used_idx), __ATOMIC_RELEASE);
	return 0;
}

static uint32_t chain_copy(const pvm_vq_chain *c, bool writable, uint32_t off, uint8_t *to,
			   const uint8_t *from, uint32_t len)
{
	unsigned first = writable ? c->n_readable : 0;
	unsigned count = writable ? c->n_writable : c->n_readable;
	uint32_t done = 0;

	for (unsigned i = first; i < first + count && done < len; i++) {
		const pvm_vq_buf *b = &c->bufs[i];
		uint32_t k;

		if (off >= b->len) {
			off -= b->len;
			continue;
		}
		k = MIN(b->len - off, len - done);
		if (to)
			memcpy(to + done, b->ptr + off, k);
		else
			memcpy(b->ptr + off, from + done, k);
		done += k;
		off = 0;
	}
	return done;
}

uint32_t pvm_vq_chain_read(const pvm_vq_chain *c, uint32_t off, void *dst, uint32_t len)
{
	return chain_copy(c, false, off, dst, NULL, len);
}

uint32_t pvm_vq_chain_write(const pvm_vq_chain *c, uint32_t off, const void *src, uint32_t len)
{
	return chain_copy(c, true, off, NULL, src, len);
}
