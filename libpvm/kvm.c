/* KVM plumbing shared by everything that creates VMs: capability probing and object creation,
 * each failure reported with the ioctl and errno. */
#include <errno.h>
#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

#include "kvm-compat.h"
#include "kvm.h"

int pvm_kvm_open(int *ret_fd, pvm_error *err)
{
	int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC), version;

	if (fd < 0)
		return pvm_error_set(err, errno, "cannot open /dev/kvm: %m");
	version = ioctl(fd, KVM_GET_API_VERSION, 0);
	if (version != KVM_API_VERSION) {
		close(fd);
		return pvm_error_set(err, ENOTSUP, "/dev/kvm API version %d, expected %d", version,
				     KVM_API_VERSION);
	}
	*ret_fd = fd;
	return 0;
}

static int check_extension(int fd, long cap)
{
	int r = ioctl(fd, KVM_CHECK_EXTENSION, cap);
	return r < 0 ? 0 : r;
}

void pvm_kvm_probe_system(int kvm_fd, pvm_host_caps *caps)
{
	caps->vm_types = (uint64_t)check_extension(kvm_fd, KVM_CAP_VM_TYPES);
#ifdef KVM_CAP_ARM_VM_IPA_SIZE
	caps->ipa_size = check_extension(kvm_fd, KVM_CAP_ARM_VM_IPA_SIZE);
#endif
	caps->user_memory2 = check_extension(kvm_fd, KVM_CAP_USER_MEMORY2) > 0;
}

void pvm_kvm_probe_vm(int vm_fd, pvm_host_caps *caps)
{
	caps->guest_memfd = check_extension(vm_fd, KVM_CAP_GUEST_MEMFD) > 0;
	caps->guest_memfd_flags =
	    caps->guest_memfd ? (uint64_t)check_extension(vm_fd, KVM_CAP_GUEST_MEMFD_FLAGS) : 0;
	caps->user_memory2 = caps->user_memory2 || check_extension(vm_fd, KVM_CAP_USER_MEMORY2) > 0;
	caps->protected_guest_memfd = check_extension(vm_fd, KVM_CAP_ARM_PROTECTED_GUEST_MEMFD) > 0;
}

int pvm_kvm_create_vm(int kvm_fd, unsigned long type, int *ret_fd, pvm_error *err)
{
	int fd;

	do
		fd = ioctl(kvm_fd, KVM_CREATE_VM, type);
	while (fd < 0 && errno == EINTR);
	if (fd < 0)
		return pvm_error_set(err, errno, "KVM_CREATE_VM (type 0x%lx): %m", type);
	*ret_fd = fd;
	return 0;
}

int pvm_kvm_create_vcpu(int kvm_fd, int vm_fd, uint32_t index, pvm_kvm_vcpu *ret, pvm_error *err)
{
	int size = ioctl(kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0), fd;
	void *run;

	if (size < (int)sizeof(struct kvm_run))
		return pvm_error_set(err, size < 0 ? errno : EINVAL, "KVM_GET_VCPU_MMAP_SIZE: %d",
				     size);
	fd = ioctl(vm_fd, KVM_CREATE_VCPU, (unsigned long)index);
	if (fd < 0)
		return pvm_error_set(err, errno, "KVM_CREATE_VCPU %u: %m", index);
	run = mmap(NULL, (size_t)size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (run == MAP_FAILED) {
		int e = errno;
		close(fd);
		return pvm_error_set(err, e, "mmap of vCPU %u run area: %m", index);
	}
	*ret = (pvm_kvm_vcpu){ .fd = fd, .run = run, .run_size = (size_t)size };
	return 0;
}
