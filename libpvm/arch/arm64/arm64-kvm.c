/* The KVM side of the arm64 backend and its pvm_arch table: the protected VM type (pKVM), the
 * in-kernel GICv3 with the architected timer, vCPU init with PSCI 0.2 and entry registers, the
 * guest_memfd decision for protected VMs (and the experiment behind it). Built only for aarch64
 * hosts; the plain-C operations live in arm64-boot.c and arm64-devices.c. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stddef.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/utsname.h>
#include <fcntl.h>

#include "arm64.h"
#include "kvm-compat.h"

#define CORE_REG(name)                                                                             \
	(KVM_REG_ARM64 | KVM_REG_SIZE_U64 | KVM_REG_ARM_CORE |                                     \
	 (offsetof(struct kvm_regs, name) / sizeof(__u32)))

static int set_one_reg(int vcpu_fd, uint64_t id, uint64_t value)
{
	struct kvm_one_reg reg = { .id = id, .addr = (uint64_t)(uintptr_t)&value };

	return ioctl(vcpu_fd, KVM_SET_ONE_REG, &reg) < 0 ? -errno : 0;
}

int pvm_arm64_kvm_has_protected_vm(int kvm_fd)
{
	int fd = ioctl(kvm_fd, KVM_CREATE_VM, KVM_VM_TYPE_ARM_PROTECTED);

	if (fd >= 0) {
		close(fd);
		return 1;
	}
	return errno == EINVAL ? 0 : -errno;
}

static int arm64_vgic_create(int vm_fd, int *ret_fd, pvm_error *err)
{
	struct kvm_create_device cd = { .type = KVM_DEV_TYPE_ARM_VGIC_V3 };
	uint64_t dist = PVM_ARM64_GICD_BASE, redist = PVM_ARM64_GICR_BASE;
	struct kvm_device_attr attr = { .group = KVM_DEV_ARM_VGIC_GRP_ADDR };
	_cleanup_close_ int fd = -1;

	if (ioctl(vm_fd, KVM_CREATE_DEVICE, &cd) < 0)
		return pvm_error_set(err, errno, "KVM_CREATE_DEVICE (GICv3): %m");
	fd = (int)cd.fd;
	attr.attr = KVM_VGIC_V3_ADDR_TYPE_DIST;
	attr.addr = (uint64_t)(uintptr_t)&dist;
	if (ioctl(fd, KVM_SET_DEVICE_ATTR, &attr) < 0)
		return pvm_error_set(err, errno, "GICv3 distributor address: %m");
	attr.attr = KVM_VGIC_V3_ADDR_TYPE_REDIST;
	attr.addr = (uint64_t)(uintptr_t)&redist;
	if (ioctl(fd, KVM_SET_DEVICE_ATTR, &attr) < 0)
		return pvm_error_set(err, errno, "GICv3 redistributor address: %m");
	*ret_fd = TAKE_FD(fd);
	return 0;
}

static int arm64_vgic_finalize(int vgic_fd, pvm_error *err)
{
	struct kvm_device_attr attr = {
		.group = KVM_DEV_ARM_VGIC_GRP_CTRL,
		.attr = KVM_DEV_ARM_VGIC_CTRL_INIT,
	};

	if (ioctl(vgic_fd, KVM_SET_DEVICE_ATTR, &attr) < 0)
		return pvm_error_set(err, errno, "GICv3 init (KVM_DEV_ARM_VGIC_CTRL_INIT): %m");
	return 0;
}

static int arm64_vcpu_init(int vm_fd, int vcpu_fd, uint32_t index, uint64_t pc, const uint64_t x[4],
			   pvm_error *err)
{
	struct kvm_vcpu_init init = {};
	int r;

	if (ioctl(vm_fd, KVM_ARM_PREFERRED_TARGET, &init) < 0)
		return pvm_error_set(err, errno, "KVM_ARM_PREFERRED_TARGET: %m");
	init.features[0] |= 1u << KVM_ARM_VCPU_PSCI_0_2;
	/* Pointer authentication where KVM offers it: a protected VM's ID registers show it either
	 * way, and Linux's first key write (APIAKeyLo_EL1) is UNDEFINED unless the vCPU has it. */
	if (ioctl(vm_fd, KVM_CHECK_EXTENSION, KVM_CAP_ARM_PTRAUTH_ADDRESS) > 0 &&
	    ioctl(vm_fd, KVM_CHECK_EXTENSION, KVM_CAP_ARM_PTRAUTH_GENERIC) > 0)
		init.features[0] |=
		    1u << KVM_ARM_VCPU_PTRAUTH_ADDRESS | 1u << KVM_ARM_VCPU_PTRAUTH_GENERIC;
	if (index > 0)
		init.features[0] |= 1u << KVM_ARM_VCPU_POWER_OFF;
	if (ioctl(vcpu_fd, KVM_ARM_VCPU_INIT, &init) < 0)
		return pvm_error_set(err, errno, "KVM_ARM_VCPU_INIT (vCPU %u): %m", index);
	if (index > 0)
		return 0;
	if ((r = set_one_reg(vcpu_fd, CORE_REG(regs.pc), pc)) < 0)
		return pvm_error_set(err, -r, "KVM_SET_ONE_REG (pc): %s", strerror(-r));
	for (int i = 0; i < 4; i++)
		if ((r = set_one_reg(vcpu_fd, CORE_REG(regs.regs[i]), x[i])) < 0)
			return pvm_error_set(err, -r, "KVM_SET_ONE_REG (x%d): %s", i, strerror(-r));
	return 0;
}

/* movz x0, #0x0008; movk x0, #0x8400, lsl #16; hvc #0: PSCI SYSTEM_OFF. */
static const uint32_t probe_code[] = { 0xd2800100, 0xf2b08000, 0xd4000002 };
#define PROBE_MEM_SIZE 0x200000ULL

int pvm_arm64_kvm_probe_protected_guest_memfd(int kvm_fd, pvm_error *err)
{
	_cleanup_close_ int vm_fd = -1, gmem_fd = -1, vgic_fd = -1, vcpu_fd = -1;
	struct kvm_create_guest_memfd gmem = { .size = PROBE_MEM_SIZE,
					       .flags = GUEST_MEMFD_FLAG_MMAP |
							GUEST_MEMFD_FLAG_INIT_SHARED };
	struct kvm_userspace_memory_region2 slot = {};
	struct utsname u = {};
	struct kvm_run *run;
	void *mem;
	int mmap_size, r, saved;
	const uint64_t x[4] = {};

	uname(&u);
	vm_fd = ioctl(kvm_fd, KVM_CREATE_VM, KVM_VM_TYPE_ARM_PROTECTED);
	if (vm_fd < 0)
		return pvm_error_set(err, errno, "KVM_CREATE_VM (protected type): %m");
	if (ioctl(vm_fd, KVM_CHECK_EXTENSION, KVM_CAP_GUEST_MEMFD) <= 0)
		return pvm_error_set(err, EOPNOTSUPP,
				     "KVM_CAP_GUEST_MEMFD is 0 on a protected VM (Linux %s)",
				     u.release);
	gmem_fd = ioctl(vm_fd, KVM_CREATE_GUEST_MEMFD, &gmem);
	if (gmem_fd < 0)
		return pvm_error_set(
		    err, errno,
		    "KVM_CREATE_GUEST_MEMFD (MMAP|INIT_SHARED) on a protected VM: %m (Linux %s)",
		    u.release);
	mem = mmap(NULL, PROBE_MEM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, gmem_fd, 0);
	if (mem == MAP_FAILED)
		return pvm_error_set(
		    err, errno, "mmap of a protected VM's guest_memfd: %m (Linux %s)", u.release);
	memcpy(mem, probe_code, sizeof(probe_code));
	slot = (struct kvm_userspace_memory_region2){
		.slot = 0,
		.flags = KVM_MEM_GUEST_MEMFD,
		.guest_phys_addr = PVM_ARM64_RAM_BASE,
		.memory_size = PROBE_MEM_SIZE,
		.userspace_addr = (uint64_t)(uintptr_t)mem,
		.guest_memfd = (uint32_t)gmem_fd,
	};
	r = ioctl(vm_fd, KVM_SET_USER_MEMORY_REGION2, &slot) < 0 ? -errno : 0;
	if (r < 0) {
		munmap(mem, PROBE_MEM_SIZE);
		return pvm_error_set(
		    err, -r,
		    "KVM_SET_USER_MEMORY_REGION2 (guest_memfd) on a protected VM: %s (Linux %s)",
		    strerror(-r), u.release);
	}
	if ((r = arm64_vgic_create(vm_fd, &vgic_fd, err)) < 0)
		goto out;
	vcpu_fd = ioctl(vm_fd, KVM_CREATE_VCPU, 0);
	if (vcpu_fd < 0) {
		r = pvm_error_set(err, errno, "KVM_CREATE_VCPU: %m");
		goto out;
	}
	if ((r = arm64_vcpu_init(vm_fd, vcpu_fd, 0, PVM_ARM64_RAM_BASE, x, err)) < 0 ||
	    (r = arm64_vgic_finalize(vgic_fd, err)) < 0)
		goto out;
	mmap_size = ioctl(kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	run = mmap(NULL, (size_t)mmap_size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu_fd, 0);
	if (run == MAP_FAILED) {
		r = pvm_error_set(err, errno, "mmap of kvm_run: %m");
		goto out;
	}
	r = ioctl(vcpu_fd, KVM_RUN, 0) < 0 ? -errno : 0;
	saved = -r;
	if (r < 0)
		pvm_error_set(
		    err, saved,
		    "KVM_RUN of a protected VM whose memory is guest_memfd: %s (Linux %s)",
		    strerror(saved), u.release);
	else if (run->exit_reason != KVM_EXIT_SYSTEM_EVENT)
		r = pvm_error_set(err, EPROTO,
				  "protected VM on guest_memfd: exit reason %u instead of PSCI "
				  "SYSTEM_OFF (Linux %s)",
				  run->exit_reason, u.release);
	munmap(run, (size_t)mmap_size);
out:
	munmap(mem, PROBE_MEM_SIZE);
	return r;
}

/* ---- the pvm_arch operations that need KVM ---- */

/* The runner drives one VM per process, so the vGIC of "the" VM is process state: vm_setup
 * creates it, and the last vcpu_setup initialises it (GICv3 must be initialised explicitly,
 * after every vCPU exists, and arch.h has no hook after vCPU creation). */
static struct {
	int vgic_fd;
	uint32_t cpus;
} arm64_vm = { .vgic_fd = -1 };

/* The generic capability probe does not know the arm64 protected type: ask KVM once, on the
 * runner's /dev/kvm fd (its jail has no /dev to open it again). */
static int arm64_vm_type(int kvm_fd, const pvm_vm_shape *shape, const pvm_host_caps *sys,
			 unsigned long *ret, pvm_error *err)
{
	static int has_protected = -1;
	pvm_host_caps caps = *sys;

	if (shape->protected_vm && !caps.protected_vm_type) {
		if (has_protected < 0)
			has_protected = kvm_fd >= 0 && pvm_arm64_kvm_has_protected_vm(kvm_fd) == 1;
		caps.protected_vm_type = has_protected;
	}
	return pvm_arm64_vm_type(shape, &caps, ret, err);
}

/* KVM reaches a default VM's guest_memfd pages through the memslot's userspace address here:
 * running with the runner's mapping kept is the configuration the system test measures. A
 * protected VM gets guest_memfd only from a kernel with pvm's series, whose pKVM fault path
 * takes the page from guest_memfd itself: a mapping there would only be one the guest's pages
 * are zapped from, so the runner keeps none and the host maps nothing of the guest. */
static int arm64_guest_memfd_needs_mapping(int kvm_fd, const pvm_vm_shape *shape, uint64_t flags,
					   bool *ret, pvm_error *err)
{
	*ret = !shape->protected_vm;
	return 0;
}

/* pKVM charges the pages it pins to the VMM's locked memory (pvm_arm64_pinned_bytes()); the
 * runner gives up CAP_IPC_LOCK before the guest runs, so make room now, while it still may. */
static int arm64_reserve_pinned_memory(const pvm_vm_shape *shape, pvm_error *err)
{
	struct rlimit rl;
	rlim_t need = pvm_arm64_pinned_bytes(shape);

	if (getrlimit(RLIMIT_MEMLOCK, &rl) < 0)
		return pvm_error_set(err, errno, "getrlimit(RLIMIT_MEMLOCK): %m");
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < need) {
		rl.rlim_cur = need;
		if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < need)
			rl.rlim_max = need;
		if (setrlimit(RLIMIT_MEMLOCK, &rl) < 0)
			return pvm_error_set(err, errno,
					     "arm64: raising RLIMIT_MEMLOCK to %llu bytes for the "
					     "pages pKVM pins: %m",
					     (unsigned long long)need);
	}
	return 0;
}

static int arm64_vm_setup(int kvm_fd, int vm_fd, const pvm_vm_shape *shape, pvm_error *err)
{
	int r;

	if (shape->protected_vm && (r = arm64_reserve_pinned_memory(shape, err)) < 0)
		return r;
	closep(&arm64_vm.vgic_fd);
	arm64_vm.cpus = shape->cpus;
	return arm64_vgic_create(vm_fd, &arm64_vm.vgic_fd, err);
}

static int arm64_vcpu_setup(int kvm_fd, int vm_fd, int vcpu_fd, uint32_t index,
			    const pvm_vcpu_entry *entry, pvm_error *err)
{
	int r = arm64_vcpu_init(vm_fd, vcpu_fd, index, entry->pc, entry->arg, err);

	if (r < 0 || index + 1 != arm64_vm.cpus)
		return r;
	return arm64_vgic_finalize(arm64_vm.vgic_fd, err);
}

const pvm_arch pvm_arch_arm64 = {
	.name = "arm64",
	.memory_map = pvm_arm64_memory_map,
	.vm_type = arm64_vm_type,
	.guest_memfd_flags = pvm_arm64_guest_memfd_flags,
	.guest_memfd_needs_mapping = arm64_guest_memfd_needs_mapping,
	.vm_setup = arm64_vm_setup,
	.vcpu_setup = arm64_vcpu_setup,
	.plan_boot = pvm_arm64_plan_boot,
	.devices_new = pvm_arm64_devices_new,
	.devices_free = pvm_arm64_devices_free,
	.handle_exit = pvm_arm64_handle_exit,
	.virtio_mmio_base = PVM_ARM64_VIRTIO_BASE,
	.virtio_mmio_stride = PVM_ARM64_VIRTIO_STRIDE,
	.virtio_irqfd = true,
	.virtio_irq_base = PVM_ARM64_VIRTIO_SPI,
	.virtio_ioeventfd = true,
	.window_base = PVM_ARM64_WINDOW_BASE,
	.window_max = PVM_ARM64_WINDOW_MAX,
	.run_ioctls = NULL, /* exits are decoded from kvm_run alone */
	.n_run_ioctls = 0,
};
