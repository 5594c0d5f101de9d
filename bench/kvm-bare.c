/* The bare-KVM VM of the floor program and the guest_memfd curve (kvm-bare.h): create a VM and
 * its guest_memfd, map it as memslot 0. Errors are negative errno; the callers report them. */
#include <errno.h>
#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "kvm-bare.h"
#include "kvm-compat.h"

int bare_vm_create(size_t size, bare_vm *ret)
{
	bare_vm vm = { .kvm_fd = -1, .vm_fd = -1, .gmem_fd = -1, .size = size };
	struct kvm_create_guest_memfd gmem = {
		.size = size,
		.flags = GUEST_MEMFD_FLAG_MMAP | GUEST_MEMFD_FLAG_INIT_SHARED,
	};
	int r;

	vm.kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (vm.kvm_fd < 0)
		return -errno;
	vm.vm_fd = ioctl(vm.kvm_fd, KVM_CREATE_VM, 0);
	if (vm.vm_fd < 0)
		goto fail;
	vm.gmem_fd = ioctl(vm.vm_fd, KVM_CREATE_GUEST_MEMFD, &gmem);
	if (vm.gmem_fd < 0)
		goto fail;
	*ret = vm;
	return 0;
fail:
	r = -errno;
	bare_vm_destroy(&vm);
	return r;
}

int bare_vm_map(bare_vm *vm)
{
	struct kvm_userspace_memory_region2 region;
	void *p = mmap(NULL, vm->size, PROT_READ | PROT_WRITE, MAP_SHARED, vm->gmem_fd, 0);

	if (p == MAP_FAILED)
		return -errno;
	vm->mem = p;
	region = (struct kvm_userspace_memory_region2){
		.slot = 0,
		.flags = KVM_MEM_GUEST_MEMFD,
		.guest_phys_addr = 0,
		.memory_size = vm->size,
		.userspace_addr = (uintptr_t)p,
		.guest_memfd = (uint32_t)vm->gmem_fd,
	};
	if (ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION2, &region) < 0)
		return -errno;
	return 0;
}

void bare_vm_destroy(bare_vm *vm)
{
	if (vm->mem)
		munmap(vm->mem, vm->size);
	vm->mem = NULL;
	/* the guest_memfd and the VM before /dev/kvm: the order KVM took its references in */
	int *fds[] = { &vm->gmem_fd, &vm->vm_fd, &vm->kvm_fd };
	for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++) {
		if (*fds[i] >= 0)
			close(*fds[i]);
		*fds[i] = -1;
	}
}
