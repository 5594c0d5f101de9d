/* virtio-blk requests: a 16-byte header the device reads, data, and a status byte the device
 * writes last (5.2.6). A request whose shape is wrong is a broken driver and ends the VM; a
 * request that is well formed but cannot be served (out of range, read-only, I/O error) is
 * answered with its status, as a disk would. */
#include <endian.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <linux/fs.h>
#include <linux/virtio_blk.h>
#include <linux/virtio_ids.h>
#include <sys/ioctl.h>

#include "virtio/virtio-blk.h"

#define SECTOR 512u

int pvm_virtio_blk_init(pvm_virtio_blk *blk, int fd, bool read_only, const char *id, pvm_error *err)
{
	struct stat st;
	uint64_t bytes;

	if (fstat(fd, &st) < 0)
		return pvm_error_set(err, errno, "Cannot stat the disk: %m");
	if (S_ISREG(st.st_mode))
		bytes = (uint64_t)st.st_size;
	else if (S_ISBLK(st.st_mode)) {
		if (ioctl(fd, BLKGETSIZE64, &bytes) < 0)
			return pvm_error_set(err, errno, "Cannot read the disk's size: %m");
	} else
		return pvm_error_set(err, EINVAL,
				     "A disk must be a regular file or a block device");
	*blk = (pvm_virtio_blk){ .fd = fd,
				 .capacity_sectors = bytes / SECTOR,
				 .read_only = read_only };
	strncpy(blk->id, id ? id : "", sizeof(blk->id));
	return 0;
}

static uint64_t blk_features(void *dev)
{
	pvm_virtio_blk *blk = dev;
	return (1ull << VIRTIO_BLK_F_FLUSH) | (blk->read_only ? 1ull << VIRTIO_BLK_F_RO : 0);
}

static void blk_config_read(void *dev, uint32_t off, void *buf, uint32_t len)
{
	pvm_virtio_blk *blk = dev;
	struct virtio_blk_config cfg = { .capacity = htole64(blk->capacity_sectors) };
	memcpy(buf, (uint8_t *)&cfg + off, len);
}

/* Move `len` bytes between the disk at byte `pos` and the chain's data buffers, starting at
 * buffer byte `skip` of the readable (write to disk) or writable (read from disk) part. */
static int blk_transfer(pvm_virtio_blk *blk, const pvm_vq_chain *c, bool to_disk, uint32_t skip,
			uint64_t pos, uint32_t len, uint8_t **ret_fault)
{
	unsigned first = to_disk ? 0 : c->n_readable;
	unsigned count = to_disk ? c->n_readable : c->n_writable;

	for (unsigned i = first; i < first + count && len > 0; i++) {
		const pvm_vq_buf *b = &c->bufs[i];
		uint32_t k;
		ssize_t n;

		if (skip >= b->len) {
			skip -= b->len;
			continue;
		}
		k = MIN(b->len - skip, len);
		/* a transfer stops short at a page the kernel cannot reach; the next one from there
		 * then fails with EFAULT */
		for (uint32_t done = 0; done < k; done += (uint32_t)n) {
			uint8_t *p = b->ptr + skip + done;

			n = to_disk ? pwrite(blk->fd, p, k - done, (off_t)(pos + done))
				    : pread(blk->fd, p, k - done, (off_t)(pos + done));
			if (n < 0 && errno == EINTR) {
				n = 0;
				continue;
			}
			if (n < 0 && errno == EFAULT) {
				/* the page is in the window but not mapped for the host: one a
				 * protected guest did not share */
				*ret_fault = p;
				return -EFAULT;
			}
			if (n < 0)
				return -errno;
			if (n == 0 && to_disk)
				return -EIO;
			if (n == 0) { /* past the end of a file that shrank */
				memset(p, 0, k - done);
				break;
			}
		}
		pos += k;
		len -= k;
		skip = 0;
	}
	return 0;
}

static bool in_range(const pvm_virtio_blk *blk, uint64_t sector, uint32_t bytes)
{
	uint64_t n = bytes / SECTOR;
	return bytes % SECTOR == 0 && sector <= blk->capacity_sectors &&
	       n <= blk->capacity_sectors - sector;
}

/* A transfer the kernel refused with EFAULT ends the device: the guest handed it a window page
 * it withheld from the host. Anything else is the disk's failure, told to the guest. */
static int blk_transfer_status(const pvm_virtio_mmio *m, int r, const uint8_t *fault,
			       pvm_error *err)
{
	if (r == -EFAULT)
		return pvm_error_set(
		    err, EFAULT,
		    "the guest withheld page 0x%llx of the shared window from the host while the "
		    "disk used it (a protected guest must share the window's pages)",
		    (unsigned long long)((m->window.gpa + (uint64_t)(fault - m->window.host)) &
					 ~0xfffull));
	return r < 0 ? VIRTIO_BLK_S_IOERR : VIRTIO_BLK_S_OK;
}

/* Serve one request; returns the status byte and sets *ret_written, or -EPROTO (a malformed
 * request) or -EFAULT (a buffer on a withheld page). */
static int blk_request(const pvm_virtio_mmio *m, const pvm_vq_chain *c, uint32_t *ret_written,
		       pvm_error *err)
{
	pvm_virtio_blk *blk = m->dev;
	struct virtio_blk_outhdr hdr;
	uint32_t type, data;
	uint64_t sector;
	uint8_t *fault = NULL;
	int r;

	if (c->readable_bytes < sizeof(hdr))
		return pvm_error_set(err, EPROTO, "request %u has no %zu-byte header", c->head,
				     sizeof(hdr));
	if (c->n_writable == 0 || c->bufs[c->n_readable + c->n_writable - 1].len == 0)
		return pvm_error_set(err, EPROTO, "request %u has no status byte", c->head);
	pvm_vq_chain_read(c, 0, &hdr, sizeof(hdr));
	type = le32toh(hdr.type);
	sector = le64toh(hdr.sector);
	data = c->writable_bytes - 1; /* the writable part before the status byte */
	*ret_written = 1;
	blk->requests++;

	switch (type) {
	case VIRTIO_BLK_T_IN:
		if (c->readable_bytes != sizeof(hdr))
			return pvm_error_set(
			    err, EPROTO, "read request %u carries data for the device", c->head);
		if (!in_range(blk, sector, data))
			return VIRTIO_BLK_S_IOERR;
		r = blk_transfer(blk, c, false, 0, sector * SECTOR, data, &fault);
		r = blk_transfer_status(m, r, fault, err);
		if (r != VIRTIO_BLK_S_OK)
			return r;
		blk->bytes_read += data;
		*ret_written = data + 1;
		return VIRTIO_BLK_S_OK;
	case VIRTIO_BLK_T_OUT:
		data = c->readable_bytes - (uint32_t)sizeof(hdr);
		if (c->writable_bytes != 1)
			return pvm_error_set(
			    err, EPROTO, "write request %u asks the device to write data", c->head);
		if (blk->read_only || !in_range(blk, sector, data))
			return VIRTIO_BLK_S_IOERR;
		r = blk_transfer(blk, c, true, sizeof(hdr), sector * SECTOR, data, &fault);
		r = blk_transfer_status(m, r, fault, err);
		if (r != VIRTIO_BLK_S_OK)
			return r;
		blk->bytes_written += data;
		return VIRTIO_BLK_S_OK;
	case VIRTIO_BLK_T_FLUSH:
		return fdatasync(blk->fd) < 0 && errno != EINVAL ? VIRTIO_BLK_S_IOERR
								 : VIRTIO_BLK_S_OK;
	case VIRTIO_BLK_T_GET_ID: {
		uint32_t n = MIN(data, (uint32_t)sizeof(blk->id));
		pvm_vq_chain_write(c, 0, blk->id, n);
		*ret_written = n + 1;
		return VIRTIO_BLK_S_OK;
	}
	default:
		return VIRTIO_BLK_S_UNSUPP;
	}
}

/* One request: its answer, then the status byte as the last byte the device writes. */
static int blk_handle(pvm_virtio_mmio *m, const pvm_vq_chain *c, uint32_t *ret_written,
		      pvm_error *err)
{
	int status = blk_request(m, c, ret_written, err);
	uint8_t s;

	if (status < 0)
		return status;
	s = (uint8_t)status;
	pvm_vq_chain_write(c, c->writable_bytes - 1, &s, 1);
	return 0;
}

static int blk_queue_notify(pvm_virtio_mmio *m, unsigned q, pvm_error *err)
{
	return pvm_virtio_mmio_serve(m, q, blk_handle, err);
}

const pvm_virtio_device_ops pvm_virtio_blk_ops = {
	.name = "virtio-blk",
	.device_id = VIRTIO_ID_BLOCK,
	.n_queues = 1,
	.queue_max = 128,
	.config_len = sizeof(struct virtio_blk_config),
	.features = blk_features,
	.config_read = blk_config_read,
	.queue_notify = blk_queue_notify,
};
