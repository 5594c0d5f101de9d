/* The bare-KVM pieces the floor program and the guest_memfd curve share: a VM whose memory is
 * one guest_memfd (MMAP|INIT_SHARED) memslot at guest-physical 0, mapped into this process.
 * No libpvm: these programs measure what KVM alone costs. */
#pragma once

#include <stddef.h>
#include <stdint.h>

typedef struct bare_vm {
	int kvm_fd;
	int vm_fd;
	int gmem_fd;
	uint8_t *mem; /* the guest memory, shared with the guest */
	size_t size;
} bare_vm;

/* Open /dev/kvm and create a VM with its guest_memfd (not yet a memslot). */
int bare_vm_create(size_t size, bare_vm *ret);
/* Map the guest_memfd and make it memslot 0 at guest-physical 0. */
int bare_vm_map(bare_vm *vm);
/* Unmap and close everything; safe on a partly created VM. */
void bare_vm_destroy(bare_vm *vm);
