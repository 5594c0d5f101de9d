/* virtio-mmio, split virtqueues and virtio-blk from the driver's side: the handshake a virtio
 * 1.x driver performs, reads, writes, flush and id on a memfd disk, and every hostile ring
 * (buffers outside the shared window, loops, oversize, bad indices, rings outside the window)
 * refused without a byte outside the window touched. */
#include <endian.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <linux/virtio_blk.h>
#include <linux/virtio_config.h>
#include <linux/virtio_mmio.h>
#include <linux/virtio_ring.h>

#include "check.h"
#include "virtio/virtio-blk.h"

/* Guest RAM [0, 1 MiB); the shared window is its upper half. */
#define RAM_SIZE 0x100000u
#define WIN_GPA 0x80000u
#define WIN_SIZE 0x80000u
#define QSIZE 16u
#define DESC_GPA (WIN_GPA + 0x0000)
#define AVAIL_GPA (WIN_GPA + 0x1000)
#define USED_GPA (WIN_GPA + 0x2000)
#define HDR_GPA (WIN_GPA + 0x3000)
#define DATA_GPA (WIN_GPA + 0x4000)
#define STATUS_GPA (WIN_GPA + 0x8000)
#define DISK_SECTORS 128u

static uint8_t ram[RAM_SIZE] __attribute__((aligned(4096))); /* mprotect()able pages */
static pvm_virtio_mmio dev;
static pvm_virtio_blk blk;
static pvm_error err;
static uint16_t avail_idx;

static void *gpa(uint64_t a)
{
	return ram + a;
}

static uint32_t rd(uint64_t off)
{
	uint32_t v;
	pvm_virtio_mmio_read(&dev, off, &v, 4, &err);
	return v;
}

static int wr(uint64_t off, uint32_t v)
{
	pvm_error_clear(&err);
	return pvm_virtio_mmio_write(&dev, off, &v, 4, &err);
}

/* The driver's initialisation (virtio 1.x, 3.1.1) with the given feature bits. */
static bool driver_init(uint64_t features)
{
	wr(VIRTIO_MMIO_STATUS, 0);
	wr(VIRTIO_MMIO_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER);
	wr(VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
	wr(VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)features);
	wr(VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
	wr(VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)(features >> 32));
	wr(VIRTIO_MMIO_STATUS,
	   VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER | VIRTIO_CONFIG_S_FEATURES_OK);
	if (!(rd(VIRTIO_MMIO_STATUS) & VIRTIO_CONFIG_S_FEATURES_OK))
		return false;
	wr(VIRTIO_MMIO_QUEUE_SEL, 0);
	wr(VIRTIO_MMIO_QUEUE_NUM, QSIZE);
	wr(VIRTIO_MMIO_QUEUE_DESC_LOW, DESC_GPA);
	wr(VIRTIO_MMIO_QUEUE_DESC_HIGH, 0);
	wr(VIRTIO_MMIO_QUEUE_AVAIL_LOW, AVAIL_GPA);
	wr(VIRTIO_MMIO_QUEUE_AVAIL_HIGH, 0);
	wr(VIRTIO_MMIO_QUEUE_USED_LOW, USED_GPA);
	wr(VIRTIO_MMIO_QUEUE_USED_HIGH, 0);
	if (wr(VIRTIO_MMIO_QUEUE_READY, 1) < 0)
		return false;
	wr(VIRTIO_MMIO_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER |
				   VIRTIO_CONFIG_S_FEATURES_OK | VIRTIO_CONFIG_S_DRIVER_OK);
	memset(gpa(AVAIL_GPA), 0, 0x2000);
	avail_idx = 0;
	return true;
}

static void desc(unsigned i, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next)
{
	struct vring_desc *d = gpa(DESC_GPA);
	d[i] = (struct vring_desc){ .addr = htole64(addr),
				    .len = htole32(len),
				    .flags = htole16(flags),
				    .next = htole16(next) };
}

/* Offer the chain starting at `head` and notify; returns what the device's write returned. */
static int submit(uint16_t head)
{
	struct vring_avail *a = gpa(AVAIL_GPA);
	a->ring[avail_idx % QSIZE] = htole16(head);
	avail_idx++;
	a->idx = htole16(avail_idx);
	return wr(VIRTIO_MMIO_QUEUE_NOTIFY, 0);
}

static uint16_t used_idx(void)
{
	return le16toh(((struct vring_used *)gpa(USED_GPA))->idx);
}

static uint32_t used_len(uint16_t i)
{
	return le32toh(((struct vring_used *)gpa(USED_GPA))->ring[i % QSIZE].len);
}

/* A three-descriptor block request: header, data, status. */
static int blk_rw(uint32_t type, uint64_t sector, uint32_t len, bool data_writable)
{
	struct virtio_blk_outhdr *h = gpa(HDR_GPA);
	*h = (struct virtio_blk_outhdr){ .type = htole32(type), .sector = htole64(sector) };
	*(uint8_t *)gpa(STATUS_GPA) = 0xee;
	desc(0, HDR_GPA, sizeof(*h), VRING_DESC_F_NEXT, 1);
	desc(1, DATA_GPA, len, VRING_DESC_F_NEXT | (data_writable ? VRING_DESC_F_WRITE : 0), 2);
	desc(2, STATUS_GPA, 1, VRING_DESC_F_WRITE, 0);
	return submit(0);
}

static uint8_t status_byte(void)
{
	return *(uint8_t *)gpa(STATUS_GPA);
}

static uint64_t outside_sum(void)
{
	uint64_t s = 0;
	for (size_t i = 0; i < WIN_GPA; i++)
		s = s * 31 + ram[i];
	return s;
}

static void setup_device(int fd, bool ro, bool access_platform)
{
	pvm_window w = { .gpa = WIN_GPA, .size = WIN_SIZE, .host = ram + WIN_GPA };
	CHECK(pvm_virtio_blk_init(&blk, fd, ro, "pvm-test-disk", &err) == 0, "%s", err.message);
	pvm_virtio_mmio_init(&dev, &pvm_virtio_blk_ops, &blk, &w, access_platform);
}

static const uint64_t F_V1 = 1ull << VIRTIO_F_VERSION_1;
static const uint64_t F_AP = 1ull << VIRTIO_F_ACCESS_PLATFORM;

static void test_handshake(int fd)
{
	uint64_t feat;

	setup_device(fd, false, true);
	CHECK(rd(VIRTIO_MMIO_MAGIC_VALUE) == 0x74726976, "magic");
	CHECK(rd(VIRTIO_MMIO_VERSION) == 2, "modern virtio-mmio only");
	CHECK(rd(VIRTIO_MMIO_DEVICE_ID) == 2, "block device id");
	wr(VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
	feat = rd(VIRTIO_MMIO_DEVICE_FEATURES);
	wr(VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1);
	feat |= (uint64_t)rd(VIRTIO_MMIO_DEVICE_FEATURES) << 32;
	CHECK(feat & F_V1, "VERSION_1 offered");
	CHECK(feat & F_AP, "ACCESS_PLATFORM offered for a protected VM");
	CHECK(feat & (1ull << VIRTIO_BLK_F_FLUSH), "FLUSH offered");
	CHECK(!(feat & (1ull << VIRTIO_RING_F_INDIRECT_DESC)), "no indirect descriptors");
	CHECK(!driver_init(F_AP), "FEATURES_OK refused without VERSION_1 (legacy driver)");
	CHECK(!driver_init(F_V1), "FEATURES_OK refused without ACCESS_PLATFORM (protected VM)");
	CHECK(!driver_init(F_V1 | F_AP | (1ull << 40)),
	      "FEATURES_OK refused for a bit not offered");
	CHECK(driver_init(F_V1 | F_AP), "handshake: %s", err.message);
	uint64_t cap = 0;
	pvm_virtio_mmio_read(&dev, VIRTIO_MMIO_CONFIG, &cap, 8, &err);
	CHECK(le64toh(cap) == DISK_SECTORS, "capacity %llu sectors", (unsigned long long)cap);
	uint8_t byte = 0xaa;
	pvm_virtio_mmio_read(&dev, VIRTIO_MMIO_CONFIG + 0x1000, &byte, 1, &err);
	CHECK(byte == 0, "config read past its end reads zero");
}

static void test_requests(int fd)
{
	uint8_t want[1024], got[1024];
	uint16_t u;

	setup_device(fd, false, false);
	CHECK(driver_init(F_V1 | (1ull << VIRTIO_BLK_F_FLUSH)), "handshake");

	CHECK(blk_rw(VIRTIO_BLK_T_IN, 3, 1024, true) == 0, "read: %s", err.message);
	CHECK(status_byte() == VIRTIO_BLK_S_OK, "read status %u", status_byte());
	CHECK(pread(fd, want, sizeof(want), 3 * 512) == sizeof(want), "pread");
	CHECK(memcmp(gpa(DATA_GPA), want, sizeof(want)) == 0, "read returned the disk's bytes");
	CHECK(used_idx() == 1 && used_len(0) == 1025, "used: idx %u len %u", used_idx(),
	      used_len(0));
	CHECK(rd(VIRTIO_MMIO_INTERRUPT_STATUS) & VIRTIO_MMIO_INT_VRING, "used-buffer interrupt");
	wr(VIRTIO_MMIO_INTERRUPT_ACK, VIRTIO_MMIO_INT_VRING);
	CHECK(!(rd(VIRTIO_MMIO_INTERRUPT_STATUS) & VIRTIO_MMIO_INT_VRING), "acknowledged");

	memset(gpa(DATA_GPA), 0x5a, 512);
	CHECK(blk_rw(VIRTIO_BLK_T_OUT, 7, 512, false) == 0, "write: %s", err.message);
	CHECK(status_byte() == VIRTIO_BLK_S_OK, "write status %u", status_byte());
	CHECK(pread(fd, got, 512, 7 * 512) == 512 && got[0] == 0x5a && got[511] == 0x5a,
	      "write reached the disk");

	u = used_idx();
	CHECK(blk_rw(VIRTIO_BLK_T_IN, DISK_SECTORS - 1, 1024, true) == 0, "%s", err.message);
	CHECK(status_byte() == VIRTIO_BLK_S_IOERR, "read past the end: IOERR, not %u",
	      status_byte());
	CHECK(blk_rw(VIRTIO_BLK_T_IN, UINT64_MAX, 512, true) == 0, "%s", err.message);
	CHECK(status_byte() == VIRTIO_BLK_S_IOERR, "sector 2^64-1: IOERR");
	CHECK(blk_rw(VIRTIO_BLK_T_IN, 0, 100, true) == 0 && status_byte() == VIRTIO_BLK_S_IOERR,
	      "a partial sector: IOERR");
	CHECK(blk_rw(VIRTIO_BLK_T_FLUSH, 0, 0, true) == 0 && status_byte() == VIRTIO_BLK_S_OK,
	      "flush");
	CHECK(blk_rw(VIRTIO_BLK_T_GET_ID, 0, 20, true) == 0 && status_byte() == VIRTIO_BLK_S_OK &&
		  memcmp(gpa(DATA_GPA), "pvm-test-disk", 13) == 0,
	      "get id");
	CHECK(blk_rw(99, 0, 512, true) == 0 && status_byte() == VIRTIO_BLK_S_UNSUPP,
	      "unknown type: UNSUPP");
	CHECK(used_idx() == (uint16_t)(u + 6), "every request completed: used %u", used_idx());
}

static void test_read_only(int fd)
{
	uint8_t before[512], after[512];

	setup_device(fd, true, false);
	wr(VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
	CHECK(rd(VIRTIO_MMIO_DEVICE_FEATURES) & (1u << VIRTIO_BLK_F_RO), "RO offered");
	CHECK(driver_init(F_V1 | (1ull << VIRTIO_BLK_F_RO)), "handshake");
	CHECK(pread(fd, before, 512, 0) == 512, "pread");
	memset(gpa(DATA_GPA), 0x77, 512);
	CHECK(blk_rw(VIRTIO_BLK_T_OUT, 0, 512, false) == 0, "%s", err.message);
	CHECK(status_byte() == VIRTIO_BLK_S_IOERR, "write to a read-only disk: IOERR");
	CHECK(pread(fd, after, 512, 0) == 512 && memcmp(before, after, 512) == 0,
	      "the read-only disk is unchanged");
}

/* Hostile chains, each offered at head 0. */
static void hostile_data_at(uint64_t addr, uint32_t len)
{
	desc(0, HDR_GPA, 16, VRING_DESC_F_NEXT, 1);
	desc(1, addr, len, VRING_DESC_F_NEXT | VRING_DESC_F_WRITE, 2);
	desc(2, STATUS_GPA, 1, VRING_DESC_F_WRITE, 0);
}
static void hostile_outside(void)
{
	hostile_data_at(0x1000, 512);
}
static void hostile_straddle(void)
{
	hostile_data_at(WIN_GPA + WIN_SIZE - 256, 512);
}
static void hostile_wrap(void)
{
	hostile_data_at(0xfffffffffffff000ull, 0x2000);
}
static void hostile_oversize(void)
{
	hostile_data_at(DATA_GPA, 0xffffffffu);
}
static void hostile_loop(void)
{
	desc(0, HDR_GPA, 16, VRING_DESC_F_NEXT, 1);
	desc(1, DATA_GPA, 16, VRING_DESC_F_NEXT, 0);
}
static void hostile_next(void)
{
	desc(0, HDR_GPA, 16, VRING_DESC_F_NEXT, 200);
}
static void hostile_indirect(void)
{
	desc(0, HDR_GPA, 16, VRING_DESC_F_INDIRECT, 0);
}
static void hostile_order(void)
{
	desc(0, STATUS_GPA, 1, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 1);
	desc(1, HDR_GPA, 16, 0, 0);
}
static void hostile_no_header(void)
{
	desc(0, STATUS_GPA, 1, VRING_DESC_F_WRITE, 0);
}

/* Each hostile chain ends the device (NEEDS_RESET, an error that says why) and touches no byte
 * outside the window; after a reset the device works again. */
static void test_hostile(int fd)
{
	static const struct {
		const char *what;
		void (*build)(void);
		const char *expect;
	} cases[] = {
		{ "data buffer outside the window", hostile_outside, "outside the shared window" },
		{ "buffer straddling the window's end", hostile_straddle,
		  "outside the shared window" },
		{ "address that wraps around 2^64", hostile_wrap, "outside the shared window" },
		{ "loop in the chain", hostile_loop, "a loop" },
		{ "oversized length", hostile_oversize, "larger than" },
		{ "next index beyond the queue", hostile_next, "outside a queue" },
		{ "indirect descriptor", hostile_indirect, "indirect" },
		{ "readable after writable", hostile_order, "follows a device-writable" },
		{ "no header", hostile_no_header, "no 16-byte header" },
	};
	uint64_t before;

	setup_device(fd, false, false);
	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		CHECK(driver_init(F_V1), "handshake before '%s'", cases[i].what);
		memset(gpa(DESC_GPA), 0, 16 * QSIZE);
		cases[i].build();
		before = outside_sum();
		CHECK(submit(0) == -EPROTO, "%s: refused with EPROTO", cases[i].what);
		CHECK(strstr(err.message, cases[i].expect), "%s: error '%s' does not say '%s'",
		      cases[i].what, err.message, cases[i].expect);
		CHECK(outside_sum() == before, "%s: memory outside the window changed",
		      cases[i].what);
		CHECK(rd(VIRTIO_MMIO_STATUS) & VIRTIO_CONFIG_S_NEEDS_RESET, "%s: NEEDS_RESET",
		      cases[i].what);
		CHECK(used_idx() == 0, "%s: nothing completed", cases[i].what);
		CHECK(submit(0) == 0, "%s: a broken device ignores further notifications",
		      cases[i].what);
	}

	/* ring indices */
	CHECK(driver_init(F_V1), "handshake");
	((struct vring_avail *)gpa(AVAIL_GPA))->idx = htole16(QSIZE + 1);
	CHECK(wr(VIRTIO_MMIO_QUEUE_NOTIFY, 0) == -EPROTO && strstr(err.message, "moved by"),
	      "available index jumping past the queue size: %s", err.message);
	CHECK(driver_init(F_V1), "handshake");
	((struct vring_avail *)gpa(AVAIL_GPA))->ring[0] = htole16(QSIZE);
	((struct vring_avail *)gpa(AVAIL_GPA))->idx = htole16(1);
	CHECK(wr(VIRTIO_MMIO_QUEUE_NOTIFY, 0) == -EPROTO && strstr(err.message, "head"),
	      "head index outside the queue: %s", err.message);

	/* rings placed outside the window, misaligned, or a bad queue size: QueueReady fails */
	static const struct {
		uint32_t reg, value;
		const char *what;
	} rings[] = {
		{ VIRTIO_MMIO_QUEUE_DESC_LOW, 0x1000, "descriptor table outside" },
		{ VIRTIO_MMIO_QUEUE_AVAIL_LOW, WIN_GPA + WIN_SIZE - 4, "driver ring at the end" },
		{ VIRTIO_MMIO_QUEUE_USED_LOW, USED_GPA + 2, "misaligned device ring" },
		{ VIRTIO_MMIO_QUEUE_NUM, 3, "queue size not a power of two" },
		{ VIRTIO_MMIO_QUEUE_NUM, 4096, "queue size too large" },
		{ VIRTIO_MMIO_QUEUE_NUM, 256, "queue size above QueueNumMax (128)" },
	};
	for (size_t i = 0; i < ELEMENTSOF(rings); i++) {
		wr(VIRTIO_MMIO_STATUS, 0);
		wr(VIRTIO_MMIO_QUEUE_SEL, 0);
		wr(VIRTIO_MMIO_QUEUE_NUM, QSIZE);
		wr(VIRTIO_MMIO_QUEUE_DESC_LOW, DESC_GPA);
		wr(VIRTIO_MMIO_QUEUE_AVAIL_LOW, AVAIL_GPA);
		wr(VIRTIO_MMIO_QUEUE_USED_LOW, USED_GPA);
		wr(rings[i].reg, rings[i].value);
		CHECK(wr(VIRTIO_MMIO_QUEUE_READY, 1) == -EPROTO, "%s: QueueReady refused",
		      rings[i].what);
		CHECK(rd(VIRTIO_MMIO_QUEUE_READY) == 0, "%s: queue not ready", rings[i].what);
	}

	/* a reset brings a working device back */
	CHECK(driver_init(F_V1), "handshake after hostile rings");
	CHECK(blk_rw(VIRTIO_BLK_T_IN, 0, 512, true) == 0 && status_byte() == VIRTIO_BLK_S_OK,
	      "a read after reset: %s", err.message);
}

/* A data buffer on a window page the host cannot reach (a protected guest's withheld page; here
 * a PROT_NONE page, which gives the kernel's copy the same EFAULT) ends the device with an error
 * that names the page, for a read from the disk and for a write to it; nothing is completed. */
static void test_withheld(int fd)
{
	static const struct {
		uint32_t type;
		bool writable;
	} req[] = { { VIRTIO_BLK_T_IN, true }, { VIRTIO_BLK_T_OUT, false } };
	char page[64];

	snprintf(page, sizeof(page), "page 0x%x of the shared window", DATA_GPA + 0x1000);
	setup_device(fd, false, true);
	for (size_t i = 0; i < ELEMENTSOF(req); i++) {
		CHECK(driver_init(F_V1 | F_AP), "handshake");
		CHECK(mprotect(gpa(DATA_GPA + 0x1000), 0x1000, PROT_NONE) == 0, "mprotect: %m");
		/* the buffer's first page is reachable, its second is not */
		CHECK(blk_rw(req[i].type, 0, 0x2000, req[i].writable) == -EFAULT,
		      "request %u on a withheld page: refused with EFAULT (%s)", req[i].type,
		      err.message);
		CHECK(mprotect(gpa(DATA_GPA + 0x1000), 0x1000, PROT_READ | PROT_WRITE) == 0,
		      "mprotect: %m");
		CHECK(strstr(err.message, "withheld") && strstr(err.message, page),
		      "the error names %s: '%s'", page, err.message);
		CHECK(rd(VIRTIO_MMIO_STATUS) & VIRTIO_CONFIG_S_NEEDS_RESET, "NEEDS_RESET");
		CHECK(used_idx() == 0, "nothing completed");
	}
	CHECK(driver_init(F_V1 | F_AP), "handshake after the withheld page");
	CHECK(blk_rw(VIRTIO_BLK_T_IN, 0, 0x2000, true) == 0 && status_byte() == VIRTIO_BLK_S_OK,
	      "the same read once the page is back: %s", err.message);
}

int main(void)
{
	int fd = memfd_create("pvm-test-disk", MFD_CLOEXEC);
	uint8_t sector[512];

	CHECK(fd >= 0, "memfd_create: %m");
	for (unsigned s = 0; s < DISK_SECTORS; s++) {
		for (unsigned i = 0; i < sizeof(sector); i++)
			sector[i] = (uint8_t)(s * 7 + i);
		CHECK(write(fd, sector, sizeof(sector)) == sizeof(sector), "disk write");
	}
	test_handshake(fd);
	test_requests(fd);
	test_read_only(fd);
	test_hostile(fd);
	test_withheld(fd);
	close(fd);
	return check_exit("test-virtio");
}
