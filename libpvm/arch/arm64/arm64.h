/* Inside the arm64 backend: the Image boot protocol and guest memory layout (arm64-boot.c),
 * the console/control devices and exit decoding (arm64-devices.c) - portable C, unit-tested on
 * any host - and the KVM calls only an arm64 host can make (arm64-kvm.c: protected VM type,
 * vGICv3, vCPU init, the protected-VM guest_memfd probe, and the pvm_arch_arm64 table). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "arch.h"
#include "arm64-layout.h"
#include "error.h"

/* ---- Image and layout (arm64-boot.c) ---- */

#define PVM_ARM64_IMAGE_HEADER_SIZE 64
#define PVM_ARM64_IMAGE_MAGIC 0x644d5241u  /* "ARM\x64" at offset 56 */
#define PVM_ARM64_KERNEL_ALIGN 0x200000ULL /* Image base: 2 MiB aligned, plus text_offset */
#define PVM_ARM64_RAM_MIN (4ULL << 20)	   /* kernel + device tree, 2 MiB granules */

typedef struct pvm_arm64_image {
	uint64_t text_offset; /* from the load base */
	uint64_t image_size;  /* bytes from the load address the kernel may use (incl. bss) */
} pvm_arm64_image;

/* Read and check the 64-byte header (Documentation/arch/arm64/booting.rst). */
int pvm_arm64_image_parse(const void *data, size_t len, pvm_arm64_image *ret, pvm_error *err);
/* Is this an arm64 Image (magic present)? For format auto-detection. */
bool pvm_arm64_image_detect(const void *data, size_t len);

typedef struct pvm_arm64_layout {
	uint64_t kernel_gpa; /* where the Image goes and where the boot vCPU starts */
	uint64_t initrd_gpa; /* 0 when there is no initrd */
	uint64_t dtb_gpa;    /* x0 at entry */
} pvm_arm64_layout;

/* RAM must be 2 MiB aligned in base and size. The DTB takes the last PVM_FDT_SIZE_MAX bytes
 * of RAM, the initrd sits page-aligned below it, the kernel at the start of RAM. */
int pvm_arm64_layout_plan(uint64_t ram_base, uint64_t ram_size, const pvm_arm64_image *image,
			  size_t kernel_len, size_t initrd_len, pvm_arm64_layout *ret,
			  pvm_error *err);

/* The pvm_arch operations that are plain C (see arch.h for their contracts). */
int pvm_arm64_memory_map(uint64_t memory_bytes, pvm_memory_map *ret, pvm_error *err);
int pvm_arm64_vm_type(const pvm_vm_shape *shape, const pvm_host_caps *sys, unsigned long *ret,
		      pvm_error *err);
int pvm_arm64_guest_memfd_flags(const pvm_vm_shape *shape, const pvm_host_caps *vm_caps,
				uint64_t *ret, pvm_error *err);
int pvm_arm64_plan_boot(const pvm_boot_input *in, pvm_boot_plan *ret, pvm_error *err);

/* The locked memory (RLIMIT_MEMLOCK) a protected VM's runner needs: pKVM pins, and charges to
 * the VMM, every page a protected guest touches in a memslot that is not guest_memfd - the
 * shared window always, RAM too when it is the memfd fallback. 0 for other VMs. */
uint64_t pvm_arm64_pinned_bytes(const pvm_vm_shape *shape);

/* ---- Devices and exits (arm64-devices.c) ---- */

int pvm_arm64_devices_new(const pvm_device_host *host, pvm_arch_devices **ret);
void pvm_arm64_devices_free(pvm_arch_devices *devices);
/* Decode one exit: MMIO to the UART and the control page, PSCI system events. */
int pvm_arm64_handle_exit(pvm_arch_devices *devices, int vcpu_fd, struct kvm_run *run,
			  pvm_exit_event *ret);

/* ---- KVM on an arm64 host (arm64-kvm.c, built only for aarch64) ---- */

/* 1 if KVM_CREATE_VM accepts the protected type, 0 if not, -errno on other failures. */
int pvm_arm64_kvm_has_protected_vm(int kvm_fd);
/* Does a protected VM run from a guest_memfd memslot? 0: yes; -errno: the call that failed
 * (e.g. -EIO from KVM_RUN on 7.x pKVM), described in err. Runs a three-instruction guest.
 * For gathering evidence only: on 7.3.4 it once ended in a host SError panic. */
int pvm_arm64_kvm_probe_protected_guest_memfd(int kvm_fd, pvm_error *err);
