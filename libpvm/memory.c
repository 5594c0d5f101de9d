/* Guest memory creation, loading, and the mapping check and kernel accounting behind the
 * memory report. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "kvm-compat.h"
#include "memory.h"

static int set_memslot(int vm_fd, const struct kvm_userspace_memory_region2 *region, pvm_error *err)
{
	if (ioctl(vm_fd, KVM_SET_USER_MEMORY_REGION2, region) < 0)
		return pvm_error_set(
		    err, errno,
		    "KVM_SET_USER_MEMORY_REGION2 (slot %u, 0x%llx bytes at 0x%llx, flags 0x%x): %m",
		    region->slot, (unsigned long long)region->memory_size,
		    (unsigned long long)region->guest_phys_addr, region->flags);
	return 0;
}

int pvm_guest_memfd_create(int vm_fd, uint64_t gpa, uint64_t size, uint64_t flags, bool map,
			   pvm_guest_memory *ret, pvm_error *err)
{
	struct kvm_create_guest_memfd gm = { .size = size, .flags = flags };
	_cleanup_close_ int fd = -1;
	void *m = NULL;
	int r;

	fd = ioctl(vm_fd, KVM_CREATE_GUEST_MEMFD, &gm);
	if (fd < 0)
		return pvm_error_set(err, errno,
				     "KVM_CREATE_GUEST_MEMFD (0x%" PRIx64 " bytes, flags 0x%" PRIx64
				     "): %m",
				     size, flags);
	/* Without `map`, no userspace_addr: KVM faults guest memory in from the guest_memfd
	 * itself and the runner holds no mapping of guest RAM. Some KVMs reach even guest_memfd
	 * memory through the memslot's mapping; there the runner must keep one (not inherited). */
	if (map) {
		m = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		if (m == MAP_FAILED)
			return pvm_error_set(err, errno, "guest_memfd: mmap for the memslot: %m");
		(void)madvise(m, size, MADV_DONTFORK);
		(void)madvise(m, size, MADV_DONTDUMP);
	}
	struct kvm_userspace_memory_region2 region = {
		.slot = PVM_GUEST_MEMORY_SLOT,
		.flags = KVM_MEM_GUEST_MEMFD,
		.guest_phys_addr = gpa,
		.memory_size = size,
		.userspace_addr = (uintptr_t)m,
		.guest_memfd = (uint32_t)fd,
		.guest_memfd_offset = 0,
	};
	r = set_memslot(vm_fd, &region, err);
	if (r < 0) {
		if (m)
			munmap(m, size);
		return r;
	}
	*ret = (pvm_guest_memory){ .kind = PVM_MEMORY_GUEST_MEMFD,
				   .fd = TAKE_FD(fd),
				   .flags = flags,
				   .size = size,
				   .gpa = gpa,
				   .mapping = m };
	return 0;
}

/* A plain memslot over the mapping m (of `size` bytes), which goes away if that fails. */
static int set_mapped_memslot(int vm_fd, uint32_t slot, uint64_t gpa, uint64_t size, void *m,
			      pvm_error *err)
{
	struct kvm_userspace_memory_region2 region = {
		.slot = slot,
		.guest_phys_addr = gpa,
		.memory_size = size,
		.userspace_addr = (uintptr_t)m,
	};
	int r = set_memslot(vm_fd, &region, err);

	if (r < 0)
		munmap(m, size);
	return r;
}

/* A memfd of `size` bytes named `name`, mapped shared. */
static int memfd_mapped(const char *name, uint64_t size, int *ret_fd, void **ret_map,
			pvm_error *err)
{
	_cleanup_close_ int fd = memfd_create(name, MFD_CLOEXEC);
	void *m;

	if (fd < 0)
		return pvm_error_set(err, errno, "memfd_create (%s): %m", name);
	if (ftruncate(fd, (off_t)size) < 0)
		return pvm_error_set(err, errno, "memfd %s: ftruncate to 0x%" PRIx64 ": %m", name,
				     size);
	m = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (m == MAP_FAILED)
		return pvm_error_set(err, errno, "memfd %s: mmap: %m", name);
	*ret_fd = TAKE_FD(fd);
	*ret_map = m;
	return 0;
}

int pvm_memfd_mlock_create(int vm_fd, uint64_t gpa, uint64_t size, pvm_guest_memory *ret,
			   pvm_error *err)
{
	_cleanup_close_ int fd = -1;
	void *m;
	int r;

	r = memfd_mapped("pvm-guest-ram", size, &fd, &m, err);
	if (r < 0)
		return r;
	/* no THP (a huge page split under memory pressure is a swap-out path), not inherited by
	 * children, and locked: unswappable, though the kernel may still migrate it. mlock by
	 * system call: the sanitizer runtimes replace the libc call with a no-op. */
	if (madvise(m, size, MADV_NOHUGEPAGE) < 0 || madvise(m, size, MADV_DONTFORK) < 0 ||
	    madvise(m, size, MADV_DONTDUMP) < 0 || syscall(SYS_mlock, m, size) < 0) {
		r = pvm_error_set(err, errno, "memfd: madvise/mlock of 0x%" PRIx64 " bytes: %m",
				  size);
		munmap(m, size);
		return r;
	}
	r = set_mapped_memslot(vm_fd, PVM_GUEST_MEMORY_SLOT, gpa, size, m, err);
	if (r < 0)
		return r;
	*ret = (pvm_guest_memory){ .kind = PVM_MEMORY_MEMFD_MLOCK,
				   .fd = TAKE_FD(fd),
				   .size = size,
				   .gpa = gpa,
				   .mapping = m };
	return 0;
}

int pvm_shared_window_create(int vm_fd, uint64_t gpa, uint64_t size, void **ret_host,
			     pvm_error *err)
{
	_cleanup_close_ int fd = -1;
	void *m;
	int r;

	r = memfd_mapped("pvm-window", size, &fd, &m, err);
	if (r < 0)
		return r;
	(void)madvise(m, size, MADV_DONTFORK);
	(void)madvise(m, size, MADV_DONTDUMP);
	r = set_mapped_memslot(vm_fd, PVM_WINDOW_MEMORY_SLOT, gpa, size, m, err);
	if (r < 0)
		return pvm_error_prefix(err, "shared window: "), r;
	*ret_host = m;
	return 0;
}

int pvm_guest_memory_load(int fd, uint64_t ram_base, uint64_t size, const pvm_boot_plan *plan,
			  pvm_error *err)
{
	uint8_t *m;

	for (size_t i = 0; i < plan->n_segments; i++) {
		const pvm_boot_segment *s = &plan->segments[i];
		if (s->gpa < ram_base || s->gpa - ram_base > size ||
		    s->len > size - (s->gpa - ram_base))
			return pvm_error_set(err, ERANGE, "%s does not fit guest memory", s->what);
	}
	m = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (m == MAP_FAILED)
		return pvm_error_set(err, errno, "mmap of guest memory (0x%" PRIx64 " bytes): %m",
				     size);
	for (size_t i = 0; i < plan->n_segments; i++) {
		const pvm_boot_segment *s = &plan->segments[i];
		memcpy(m + (s->gpa - ram_base), s->data, s->len);
	}
	if (munmap(m, size) < 0)
		return pvm_error_set(err, errno, "munmap of guest memory: %m");
	return 0;
}

int pvm_guest_memfd_usage_parse(const char *fdinfo, pvm_guest_memfd_usage *ret)
{
	static const struct {
		const char *key;
		size_t offset;
	} fields[] = {
		{ "gmem-allocated:", offsetof(pvm_guest_memfd_usage, allocated) },
		{ "gmem-guest-owned:", offsetof(pvm_guest_memfd_usage, guest_owned) },
	};
	pvm_guest_memfd_usage usage = {};
	unsigned found = 0;

	for (const char *line = fdinfo; line && *line; line = strchr(line, '\n')) {
		line += *line == '\n';
		for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
			size_t len = strlen(fields[i].key);
			unsigned long long v;
			char *end;

			if (strncmp(line, fields[i].key, len) != 0)
				continue;
			errno = 0;
			v = strtoull(line + len, &end, 10);
			if (errno || end == line + len || (*end != '\n' && *end != '\0'))
				return -EBADMSG;
			*(uint64_t *)((char *)&usage + fields[i].offset) = v;
			found |= 1u << i;
		}
	}
	if (found != (1u << (sizeof(fields) / sizeof(fields[0]))) - 1)
		return -ENODATA;
	*ret = usage;
	return 0;
}

int pvm_guest_memfd_usage_read(int fd, pvm_guest_memfd_usage *ret)
{
	char path[64], text[1024];
	_cleanup_close_ int info = -1;
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	info = open(path, O_RDONLY | O_CLOEXEC);
	if (info < 0)
		return -errno;
	n = read(info, text, sizeof(text) - 1);
	if (n < 0)
		return -errno;
	text[n] = '\0';
	return pvm_guest_memfd_usage_parse(text, ret);
}

static void memory_fclosep(FILE **f)
{
	if (*f)
		fclose(*f);
}

int pvm_memory_mapped_by(pid_t pid, dev_t dev, ino_t ino)
{
	char path[64], line[512];
	_cleanup_(memory_fclosep) FILE *f = NULL;

	if (pid > 0)
		snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
	else
		snprintf(path, sizeof(path), "/proc/self/maps");
	f = fopen(path, "re");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		unsigned maj, min;
		unsigned long long inode;
		/* start-end perms offset major:minor inode [path] */
		if (sscanf(line, "%*s %*s %*s %x:%x %llu", &maj, &min, &inode) != 3)
			continue;
		if (inode == (unsigned long long)ino && makedev(maj, min) == dev)
			return 1;
	}
	return 0;
}
