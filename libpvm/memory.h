/* Guest memory: created in the runner (guest_memfd bound to the VM, or the memfd + mlock
 * fallback), loaded by pvmd through a short-lived mapping, and checked for host mappings by
 * scanning /proc/PID/maps. Where guest RAM comes from is decided here and nowhere else. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "arch.h"
#include "error.h"

enum pvm_memory_kind {
	PVM_MEMORY_GUEST_MEMFD = 1, /* guest_memfd, KVM_MEM_GUEST_MEMFD memslot */
	PVM_MEMORY_MEMFD_MLOCK = 2, /* fallback: memfd mapped, mlocked, no THP, not inherited */
};

typedef struct pvm_guest_memory {
	enum pvm_memory_kind kind;
	int fd;
	uint64_t flags; /* GUEST_MEMFD_FLAG_* */
	uint64_t size;
	uint64_t gpa;
	void *mapping; /* the mapping the memslot points at (must stay), or NULL */
} pvm_guest_memory;

#define PVM_GUEST_MEMORY_SLOT 0
#define PVM_WINDOW_MEMORY_SLOT 1

/* Runner side. Each creates the memory and its memslot at `gpa` on `vm_fd`. */
/* map: give the memslot a userspace mapping (only for KVMs that need one, see
 * pvm_arch.guest_memfd_needs_mapping). */
int pvm_guest_memfd_create(int vm_fd, uint64_t gpa, uint64_t size, uint64_t flags, bool map,
			   pvm_guest_memory *ret, pvm_error *err);
int pvm_memfd_mlock_create(int vm_fd, uint64_t gpa, uint64_t size, pvm_guest_memory *ret,
			   pvm_error *err);

/* A shared window outside RAM (pvm_arch.window_base): `size` bytes of ordinary shared memory
 * (a memfd named "pvm-window", its fd closed again) as memslot PVM_WINDOW_MEMORY_SLOT at `gpa`.
 * *ret_host is the runner's mapping of it, the only one. */
int pvm_shared_window_create(int vm_fd, uint64_t gpa, uint64_t size, void **ret_host,
			     pvm_error *err);

/* pvmd side: copy each segment of the plan into the memory behind fd (guest physical ram_base
 * at file offset 0) through a mapping that is gone when this returns. */
int pvm_guest_memory_load(int fd, uint64_t ram_base, uint64_t size, const pvm_boot_plan *plan,
			  pvm_error *err);

/* The kernel's own accounting of a guest_memfd, from the fdinfo lines pvm's kernel series adds
 * (kernel-patches/): bytes the file holds, and bytes of it a protected guest owns (pages the
 * host can neither map nor punch out). */
typedef struct pvm_guest_memfd_usage {
	uint64_t allocated;
	uint64_t guest_owned;
} pvm_guest_memfd_usage;

/* Parse the text of /proc/PID/fdinfo/FD: -ENODATA when the kernel does not report both. */
int pvm_guest_memfd_usage_parse(const char *fdinfo, pvm_guest_memfd_usage *ret);
/* The same for an fd of this process (/proc/self/fdinfo/FD): -errno if it cannot be read. */
int pvm_guest_memfd_usage_read(int fd, pvm_guest_memfd_usage *ret);

/* Does /proc/<pid>/maps (pid 0: /proc/self/maps) map the file with this device and inode?
 * Returns 1 mapped, 0 not mapped, negative errno if the file could not be read. */
int pvm_memory_mapped_by(pid_t pid, dev_t dev, ino_t ino);
