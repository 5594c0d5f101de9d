/* Thin KVM helpers the runner uses to create a VM: open /dev/kvm, probe capabilities into a
 * pvm_host_caps, create the VM and vCPUs (with their kvm_run mapping). */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "arch.h"
#include "error.h"

struct kvm_run;

int pvm_kvm_open(int *ret_fd, pvm_error *err);
void pvm_kvm_probe_system(int kvm_fd, pvm_host_caps *caps); /* fills system-wide fields */
void pvm_kvm_probe_vm(int vm_fd, pvm_host_caps *caps);	    /* fills per-VM fields */
int pvm_kvm_create_vm(int kvm_fd, unsigned long type, int *ret_fd, pvm_error *err);

typedef struct pvm_kvm_vcpu {
	int fd;
	struct kvm_run *run;
	size_t run_size;
} pvm_kvm_vcpu;

int pvm_kvm_create_vcpu(int kvm_fd, int vm_fd, uint32_t index, pvm_kvm_vcpu *ret, pvm_error *err);
