/* virtio-blk (virtio 1.x, 5.2) over a file descriptor the caller passed: reads, writes (unless
 * read-only), flush and the device id. The disk is an fd, never a path the device model opens. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "error.h"
#include "virtio/virtio-mmio.h"

typedef struct pvm_virtio_blk {
	int fd;
	uint64_t capacity_sectors; /* 512-byte sectors */
	bool read_only;
	char id[20]; /* VIRTIO_BLK_ID_BYTES; not NUL-terminated when full */
	uint64_t requests, bytes_read, bytes_written;
} pvm_virtio_blk;

extern const pvm_virtio_device_ops pvm_virtio_blk_ops;

/* Set up a disk on `fd` (a regular file or block device): its size, rounded down to whole
 * sectors, is the capacity. The fd stays the caller's. */
int pvm_virtio_blk_init(pvm_virtio_blk *blk, int fd, bool read_only, const char *id,
			pvm_error *err);
