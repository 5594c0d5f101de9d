/* The x86_64 backend: one RAM region from guest physical 0, a uniprocessor VM without an
 * in-kernel interrupt controller (so HLT always exits to the runner, which tells a power-off
 * from an idle halt by RFLAGS.IF), 32-bit protected-mode entry, and two devices: the 8250
 * console UART at port 0x3f8 and pvm's control port 0x505 (docs/guest-interface.md). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

#include "arch.h"
#include "kvm-compat.h"
#include "uart-8250.h"
#include "x86_64.h"

#define X86_I8042_DATA 0x60
#define X86_I8042_COMMAND 0x64
#define X86_I8042_CMD_RESET 0xfe
#define X86_POST_PORT 0x80
#define X86_RFLAGS_IF (1u << 9)
#define X86_CPUID_MAX_ENTRIES 256

struct pvm_arch_devices {
	pvm_device_host host;
	uart_8250 uart;
	uint8_t tx[4096]; /* bytes one exit transmitted (a rep outsb moves up to a page) */
};

static int x86_memory_map(uint64_t memory_bytes, pvm_memory_map *ret, pvm_error *err)
{
	if (memory_bytes < (2ULL << 20) || memory_bytes > X86_RAM_MAX)
		return pvm_error_set(
		    err, EINVAL, "x86_64: memory must be 2 MiB to %llu MiB, got %" PRIu64 " bytes",
		    X86_RAM_MAX >> 20, memory_bytes);
	*ret = (pvm_memory_map){ .ram_base = 0, .ram_size = memory_bytes };
	return 0;
}

static int x86_vm_type(int kvm_fd, const pvm_vm_shape *shape, const pvm_host_caps *sys,
		       unsigned long *ret, pvm_error *err)
{
	if (shape->cpus != 1)
		return pvm_error_set(
		    err, EOPNOTSUPP,
		    "x86_64: %u vCPUs requested; this backend runs uniprocessor guests "
		    "(no interrupt controller is emulated, so secondary CPUs cannot be started)",
		    shape->cpus);
	/* No x86 VM type keeps memory from the host here: a protected_vm config is refused
	 * rather than run unprotected. */
	if (shape->protected_vm)
		return pvm_error_set(
		    err, EOPNOTSUPP,
		    "x86_64: protected_vm requested but this host offers no protected VM type "
		    "(KVM_CAP_VM_TYPES 0x%" PRIx64 ")",
		    sys->vm_types);
	*ret = 0; /* KVM_X86_DEFAULT_VM */
	return 0;
}

static int x86_guest_memfd_flags(const pvm_vm_shape *shape, const pvm_host_caps *caps,
				 uint64_t *ret, pvm_error *err)
{
	/* A default VM cannot run from private guest_memfd (accesses exit as MMIO), and pvmd
	 * must map the memory to load the payload: both flags are needed. */
	return pvm_arch_shared_guest_memfd_flags("x86_64", caps, ret, err);
}

/* A throwaway VM with a 64 KiB guest_memfd memslot and no userspace mapping, running three
 * real-mode instructions (mov al,'P'; out 0x10,al; hlt). If the port write arrives, KVM faults
 * guest memory in from the guest_memfd itself; if the fetch fails (an internal error here), it
 * needs the mapping. */
static int x86_guest_memfd_needs_mapping(int kvm_fd, const pvm_vm_shape *shape, uint64_t flags,
					 bool *ret, pvm_error *err)
{
	static const uint8_t code[] = { 0xb0, 'P', 0xe6, 0x10, 0xf4 };
	const size_t size = 64 * 1024;
	_cleanup_close_ int vm_fd = -1, gmem_fd = -1, vcpu_fd = -1;
	struct kvm_create_guest_memfd gm = { .size = size, .flags = flags };
	struct kvm_sregs sregs;
	struct kvm_regs regs = { .rip = 0, .rflags = 0x2 };
	struct kvm_run *run;
	int run_size, r;
	void *m;

	if (!(flags & GUEST_MEMFD_FLAG_MMAP))
		return pvm_error_set(err, EINVAL, "probe needs a mappable guest_memfd");
	vm_fd = ioctl(kvm_fd, KVM_CREATE_VM, 0UL);
	if (vm_fd < 0)
		return pvm_error_set(err, errno, "probe: KVM_CREATE_VM: %m");
	gmem_fd = ioctl(vm_fd, KVM_CREATE_GUEST_MEMFD, &gm);
	if (gmem_fd < 0)
		return pvm_error_set(err, errno, "probe: KVM_CREATE_GUEST_MEMFD: %m");
	m = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, gmem_fd, 0);
	if (m == MAP_FAILED)
		return pvm_error_set(err, errno, "probe: mmap of guest_memfd: %m");
	memcpy(m, code, sizeof(code));
	munmap(m, size);
	struct kvm_userspace_memory_region2 region = {
		.flags = KVM_MEM_GUEST_MEMFD,
		.memory_size = size,
		.guest_memfd = (uint32_t)gmem_fd,
	};
	if (ioctl(vm_fd, KVM_SET_USER_MEMORY_REGION2, &region) < 0)
		return pvm_error_set(err, errno, "probe: KVM_SET_USER_MEMORY_REGION2: %m");
	vcpu_fd = ioctl(vm_fd, KVM_CREATE_VCPU, 0UL);
	run_size = ioctl(kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (vcpu_fd < 0 || run_size <= 0)
		return pvm_error_set(err, errno, "probe: KVM_CREATE_VCPU: %m");
	run = mmap(NULL, (size_t)run_size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu_fd, 0);
	if (run == MAP_FAILED)
		return pvm_error_set(err, errno, "probe: mmap of the run area: %m");
	if (ioctl(vcpu_fd, KVM_GET_SREGS, &sregs) == 0) {
		sregs.cs.base = 0;
		sregs.cs.selector = 0;
		r = ioctl(vcpu_fd, KVM_SET_SREGS, &sregs);
	} else
		r = -1;
	if (r == 0)
		r = ioctl(vcpu_fd, KVM_SET_REGS, &regs);
	if (r == 0)
		r = ioctl(vcpu_fd, KVM_RUN, 0);
	if (r < 0)
		r = pvm_error_set(err, errno, "probe: running the probe guest: %m");
	else
		*ret = !(run->exit_reason == KVM_EXIT_IO && run->io.port == 0x10);
	munmap(run, (size_t)run_size);
	return r < 0 ? r : 0;
}

static int x86_vm_setup(int kvm_fd, int vm_fd, const pvm_vm_shape *shape, pvm_error *err)
{
	/* VMX needs a TSS region for real-mode emulation; other KVMs may not know the ioctl. The
	 * address lies in the hole above RAM. */
	if (ioctl(vm_fd, KVM_SET_TSS_ADDR, 0xfffbd000UL) < 0 && errno != ENOTTY && errno != EINVAL)
		return pvm_error_set(err, errno, "x86_64: KVM_SET_TSS_ADDR: %m");
	return 0;
}

static int x86_set_cpuid(int kvm_fd, int vcpu_fd, pvm_error *err)
{
	_cleanup_free_ struct kvm_cpuid2 *cpuid = NULL;

	cpuid = calloc(1, sizeof(*cpuid) + X86_CPUID_MAX_ENTRIES * sizeof(struct kvm_cpuid_entry2));
	if (!cpuid)
		return pvm_error_set(err, ENOMEM, "x86_64: out of memory for CPUID");
	cpuid->nent = X86_CPUID_MAX_ENTRIES;
	if (ioctl(kvm_fd, KVM_GET_SUPPORTED_CPUID, cpuid) < 0)
		return pvm_error_set(err, errno, "x86_64: KVM_GET_SUPPORTED_CPUID: %m");
	if (ioctl(vcpu_fd, KVM_SET_CPUID2, cpuid) < 0)
		return pvm_error_set(err, errno, "x86_64: KVM_SET_CPUID2 (%u entries): %m",
				     cpuid->nent);
	return 0;
}

static struct kvm_segment x86_flat_segment(unsigned gdt_index, uint8_t type)
{
	return (struct kvm_segment){
		.base = 0,
		.limit = 0xffffffff,
		.selector = gdt_index * 8,
		.type = type,
		.present = 1,
		.dpl = 0,
		.db = 1,
		.s = 1,
		.l = 0,
		.g = 1,
	};
}

static int x86_vcpu_setup(int kvm_fd, int vm_fd, int vcpu_fd, uint32_t index,
			  const pvm_vcpu_entry *entry, pvm_error *err)
{
	struct kvm_sregs sregs;
	struct kvm_regs regs = { 0 };
	int r;

	if (index != 0)
		return pvm_error_set(err, EOPNOTSUPP, "x86_64: vCPU %u: uniprocessor guests only",
				     index);
	if (entry->pc > UINT32_MAX || entry->arg[0] > UINT32_MAX)
		return pvm_error_set(err, ERANGE,
				     "x86_64: entry 0x%" PRIx64 " / EBX 0x%" PRIx64 " above 4 GiB",
				     entry->pc, entry->arg[0]);

	r = x86_set_cpuid(kvm_fd, vcpu_fd, err);
	if (r < 0)
		return r;

	if (ioctl(vcpu_fd, KVM_GET_SREGS, &sregs) < 0)
		return pvm_error_set(err, errno, "x86_64: KVM_GET_SREGS: %m");
	/* PVH entry state: 32-bit protected mode, paging off, flat segments from the GDT that
	 * boot planning placed at X86_GDT_GPA. */
	sregs.cs = x86_flat_segment(X86_GDT_CODE32, 0xb);
	sregs.ds = sregs.es = sregs.fs = sregs.gs = sregs.ss =
	    x86_flat_segment(X86_GDT_DATA32, 0x3);
	sregs.tr = (struct kvm_segment){
		.base = 0,
		.limit = 0x67,
		.selector = X86_GDT_TSS * 8,
		.type = 0xb,
		.present = 1,
	};
	sregs.gdt.base = X86_GDT_GPA;
	sregs.gdt.limit = X86_GDT_ENTRIES * 8 - 1;
	sregs.cr0 = 0x11; /* PE | ET */
	sregs.cr4 = 0;
	sregs.efer = 0;
	if (ioctl(vcpu_fd, KVM_SET_SREGS, &sregs) < 0)
		return pvm_error_set(err, errno, "x86_64: KVM_SET_SREGS: %m");

	regs.rip = entry->pc;
	regs.rbx = entry->arg[0];
	regs.rflags = 0x2; /* reserved bit 1; interrupts off */
	if (ioctl(vcpu_fd, KVM_SET_REGS, &regs) < 0)
		return pvm_error_set(err, errno, "x86_64: KVM_SET_REGS: %m");
	return 0;
}

static int x86_devices_new(const pvm_device_host *host, pvm_arch_devices **ret)
{
	pvm_arch_devices *d = calloc(1, sizeof(*d));

	if (!d)
		return -ENOMEM;
	d->host = *host;
	uart_8250_init(&d->uart, host->console_read, host->userdata);
	*ret = d;
	return 0;
}

static void x86_devices_free(pvm_arch_devices *d)
{
	free(d);
}

static uint32_t x86_io_value(const uint8_t *p, unsigned size)
{
	uint32_t v = 0;
	memcpy(&v, p, MIN(size, sizeof(v)));
	return v;
}

/* One KVM_EXIT_IO: `count` accesses of `size` bytes at `data` (a rep ins/outs moves several). */
static void x86_handle_io(pvm_arch_devices *d, struct kvm_run *run, pvm_exit_event *ev)
{
	uint16_t port = run->io.port;
	unsigned size = run->io.size, count = run->io.count;
	bool out = run->io.direction == KVM_EXIT_IO_OUT;
	uint8_t *data = (uint8_t *)run + run->io.data_offset;
	size_t ntx = 0;

	ev->kind = PVM_EXIT_EVENT_CONTINUE;
	for (unsigned i = 0; i < count; i++, data += size) {
		if (port >= PVM_X86_UART_PORT && port < PVM_X86_UART_PORT + UART_8250_REGS) {
			unsigned reg = port - PVM_X86_UART_PORT;
			uint8_t tx;
			if (!out)
				memset(data, uart_8250_read(&d->uart, reg), size);
			else if (uart_8250_write(&d->uart, reg, data[0], &tx) &&
				 ntx < sizeof(d->tx))
				d->tx[ntx++] = tx;
		} else if (port == PVM_X86_CONTROL_PORT) {
			if (!out) {
				uint32_t v = d->host.stop_requested(d->host.userdata)
						 ? PVM_CONTROL_STOP_REQUESTED
						 : 0;
				memcpy(data, &v, size);
			} else if (size == 4 && x86_io_value(data, size) == PVM_X86_READY_MAGIC) {
				ev->kind = PVM_EXIT_EVENT_READY;
			} else {
				ev->kind = PVM_EXIT_EVENT_UNKNOWN_IO;
				snprintf(ev->detail, sizeof(ev->detail),
					 "control port 0x%x: write of 0x%x (size %u) is no known "
					 "command",
					 port, x86_io_value(data, size), size);
			}
		} else if (port == X86_I8042_COMMAND || port == X86_I8042_DATA) {
			if (!out)
				memset(data, 0, size); /* status: no data, input buffer empty */
			else if (port == X86_I8042_COMMAND && data[0] == X86_I8042_CMD_RESET) {
				ev->kind = PVM_EXIT_EVENT_REBOOT;
				snprintf(ev->detail, sizeof(ev->detail),
					 "i8042 reset (0xfe to port 0x64)");
			}
		} else if (port == X86_POST_PORT && out) {
			/* POST codes and I/O delays: a sink by convention */
		} else {
			if (!out)
				memset(data, 0xff, size);
			ev->kind = PVM_EXIT_EVENT_UNKNOWN_IO;
			snprintf(ev->detail, sizeof(ev->detail), "I/O port 0x%x: %s of size %u%s",
				 port, out ? "write" : "read", size, count > 1 ? " (string)" : "");
		}
	}
	if (ntx > 0 && ev->kind == PVM_EXIT_EVENT_CONTINUE) {
		ev->kind = PVM_EXIT_EVENT_CONSOLE;
		ev->console = d->tx;
		ev->console_len = ntx;
	}
}

static void x86_describe_rip(int vcpu_fd, char *buf, size_t len)
{
	struct kvm_regs regs;

	if (ioctl(vcpu_fd, KVM_GET_REGS, &regs) == 0)
		snprintf(buf, len, "rip=0x%llx rflags=0x%llx", (unsigned long long)regs.rip,
			 (unsigned long long)regs.rflags);
	else
		snprintf(buf, len, "registers unavailable (%m)");
}

static int x86_handle_exit(pvm_arch_devices *d, int vcpu_fd, struct kvm_run *run,
			   pvm_exit_event *ev)
{
	char where[96];

	memset(ev, 0, sizeof(*ev));
	switch (run->exit_reason) {
	case KVM_EXIT_IO:
		x86_handle_io(d, run, ev);
		return 0;
	case KVM_EXIT_MMIO:
		/* virtio-mmio devices belong to the runner; anything else: reads see all-ones,
		 * writes are dropped. */
		if (d->host.mmio && run->mmio.len <= sizeof(run->mmio.data) &&
		    d->host.mmio(d->host.userdata, run->mmio.phys_addr, run->mmio.data,
				 run->mmio.len, run->mmio.is_write, ev))
			return 0;
		if (!run->mmio.is_write)
			memset(run->mmio.data, 0xff, sizeof(run->mmio.data));
		ev->kind = PVM_EXIT_EVENT_UNKNOWN_IO;
		snprintf(ev->detail, sizeof(ev->detail), "MMIO 0x%llx: %s of size %u",
			 (unsigned long long)run->mmio.phys_addr,
			 run->mmio.is_write ? "write" : "read", run->mmio.len);
		return 0;
	case KVM_EXIT_HLT: {
		struct kvm_regs regs;
		if (ioctl(vcpu_fd, KVM_GET_REGS, &regs) < 0) {
			ev->kind = PVM_EXIT_EVENT_FATAL;
			snprintf(ev->detail, sizeof(ev->detail), "HLT: KVM_GET_REGS failed: %m");
			return 0;
		}
		/* Nothing can interrupt this vCPU (no interrupt controller): HLT with interrupts
		 * off is the conventional power-off; with them on it is an idle halt that never
		 * ends, which the runner parks. */
		ev->kind =
		    (regs.rflags & X86_RFLAGS_IF) ? PVM_EXIT_EVENT_IDLE : PVM_EXIT_EVENT_SHUTDOWN;
		snprintf(ev->detail, sizeof(ev->detail), "hlt at rip=0x%llx with interrupts %s",
			 (unsigned long long)regs.rip,
			 (regs.rflags & X86_RFLAGS_IF) ? "enabled" : "disabled");
		return 0;
	}
	case KVM_EXIT_SHUTDOWN:
		x86_describe_rip(vcpu_fd, where, sizeof(where));
		ev->kind = PVM_EXIT_EVENT_CRASH;
		snprintf(ev->detail, sizeof(ev->detail), "triple fault (KVM_EXIT_SHUTDOWN), %s",
			 where);
		return 0;
	case KVM_EXIT_INTERNAL_ERROR: {
		int n;
		x86_describe_rip(vcpu_fd, where, sizeof(where));
		ev->kind = PVM_EXIT_EVENT_EMULATION_FAILURE;
		n = snprintf(
		    ev->detail, sizeof(ev->detail),
		    "KVM_EXIT_INTERNAL_ERROR suberror %u%s, %s, data:", run->internal.suberror,
		    run->internal.suberror == KVM_INTERNAL_ERROR_EMULATION ? " (emulation failure)"
									   : "",
		    where);
		for (unsigned i = 0;
		     i < run->internal.ndata && i < 8 && n > 0 && (size_t)n < sizeof(ev->detail);
		     i++)
			n += snprintf(ev->detail + n, sizeof(ev->detail) - n, " 0x%llx",
				      (unsigned long long)run->internal.data[i]);
		return 0;
	}
	case KVM_EXIT_FAIL_ENTRY:
		ev->kind = PVM_EXIT_EVENT_FATAL;
		snprintf(ev->detail, sizeof(ev->detail), "KVM_EXIT_FAIL_ENTRY reason 0x%llx",
			 (unsigned long long)run->fail_entry.hardware_entry_failure_reason);
		return 0;
	case KVM_EXIT_SYSTEM_EVENT:
		switch (run->system_event.type) {
		case KVM_SYSTEM_EVENT_SHUTDOWN:
			ev->kind = PVM_EXIT_EVENT_SHUTDOWN;
			break;
		case KVM_SYSTEM_EVENT_RESET:
			ev->kind = PVM_EXIT_EVENT_REBOOT;
			break;
		default:
			ev->kind = PVM_EXIT_EVENT_CRASH;
		}
		snprintf(ev->detail, sizeof(ev->detail), "KVM_EXIT_SYSTEM_EVENT type %u",
			 run->system_event.type);
		return 0;
	case KVM_EXIT_MEMORY_FAULT:
		ev->kind = PVM_EXIT_EVENT_PROTECTION_VIOLATION;
		snprintf(ev->detail, sizeof(ev->detail), "KVM_EXIT_MEMORY_FAULT");
		return 0;
	default:
		x86_describe_rip(vcpu_fd, where, sizeof(where));
		ev->kind = PVM_EXIT_EVENT_FATAL;
		snprintf(ev->detail, sizeof(ev->detail), "unhandled KVM exit reason %u, %s",
			 run->exit_reason, where);
		return 0;
	}
}

static const unsigned long x86_run_ioctls[] = {
	KVM_GET_REGS, /* HLT: RFLAGS.IF; failure details: RIP */
};

const pvm_arch pvm_arch_x86_64 = {
	.name = "x86_64",
	.memory_map = x86_memory_map,
	.vm_type = x86_vm_type,
	.guest_memfd_flags = x86_guest_memfd_flags,
	.guest_memfd_needs_mapping = x86_guest_memfd_needs_mapping,
	.vm_setup = x86_vm_setup,
	.vcpu_setup = x86_vcpu_setup,
	.plan_boot = x86_64_plan_boot,
	.devices_new = x86_devices_new,
	.devices_free = x86_devices_free,
	.handle_exit = x86_handle_exit,
	.virtio_mmio_base = PVM_X86_VIRTIO_BASE,
	.virtio_mmio_stride = PVM_X86_VIRTIO_STRIDE,
	.run_ioctls = x86_run_ioctls,
	.n_run_ioctls = ELEMENTSOF(x86_run_ioctls),
};
