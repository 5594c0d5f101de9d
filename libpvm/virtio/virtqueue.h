/* Split virtqueues (virtio 1.x, section 2.7) as a device sees them: every ring and buffer
 * address comes from the guest, so each is bounds-checked against the shared window, every
 * index against the queue size, and every chain against loops and oversize, before use. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "error.h"
#include "virtio/window.h"

#define PVM_VQ_SIZE_MAX 256
#define PVM_VQ_CHAIN_MAX 64		  /* buffers in one request */
#define PVM_VQ_CHAIN_BYTES_MAX (1u << 24) /* bytes in one request */

typedef struct pvm_vq {
	uint16_t num; /* queue size the driver chose: a power of two, <= the device's maximum */
	bool ready;
	uint64_t desc_gpa, avail_gpa, used_gpa;
	uint16_t last_avail; /* next available-ring entry the device takes */
	uint16_t used_idx;   /* next used-ring entry the device fills */
} pvm_vq;

typedef struct pvm_vq_buf {
	uint8_t *ptr; /* inside the window; the guest may change the bytes at any time */
	uint32_t len;
	bool writable; /* device-writable (VIRTQ_DESC_F_WRITE) */
} pvm_vq_buf;

typedef struct pvm_vq_chain {
	uint16_t head;
	unsigned n_readable, n_writable; /* readable buffers come first, then writable ones */
	uint32_t readable_bytes, writable_bytes;
	pvm_vq_buf bufs[PVM_VQ_CHAIN_MAX];
} pvm_vq_chain;

/* Check the rings the driver configured: sizes, alignment, all inside the window. Called
 * when the driver sets QueueReady; -EPROTO with err filled when they are not acceptable. */
int pvm_vq_check(const pvm_vq *vq, const pvm_window *w, pvm_error *err);

/* Take the next available request. 1: *ret holds it; 0: none pending; -EPROTO: the guest's
 * ring is malformed (err says how); the queue must not be used again before a reset. */
int pvm_vq_pop(pvm_vq *vq, const pvm_window *w, pvm_vq_chain *ret, pvm_error *err);

/* Put back the request pvm_vq_pop() just took, untouched: the device had nothing for it. */
static inline void pvm_vq_unpop(pvm_vq *vq)
{
	vq->last_avail--;
}

/* Return a request to the guest with the number of bytes the device wrote into it. */
int pvm_vq_push(pvm_vq *vq, const pvm_window *w, uint16_t head, uint32_t written, pvm_error *err);

/* Copy bytes out of (or into) a chain's readable (writable) buffers, from byte offset `off`
 * of that part of the chain. Returns the number of bytes copied. */
uint32_t pvm_vq_chain_read(const pvm_vq_chain *c, uint32_t off, void *dst, uint32_t len);
uint32_t pvm_vq_chain_write(const pvm_vq_chain *c, uint32_t off, const void *src, uint32_t len);
