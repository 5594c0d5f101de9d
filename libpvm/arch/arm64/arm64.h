/* The arm64 backend's own interface: the Image boot protocol and guest memory layout, the
 * console/control devices and exit decoding (portable C, unit-tested on any host), and the
 * KVM calls that only an arm64 host can make (arm64-kvm.c: protected VM type, vGICv3, vCPU
 * init, the protected-VM guest_memfd probe). The engine's pvm_arch table wraps these. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "arm64-layout.h"
#include "error.h"

struct kvm_run;

/* ---- Image and layout (arm64-boot.c) ---- */

#define PVM_ARM64_IMAGE_HEADER_SIZE 64
#define PVM_ARM64_IMAGE_MAGIC 0x644d5241u /* "ARM\x64" at offset 56 */
#define PVM_ARM64_KERNEL_ALIGN 0x200000ULL /* Image base: 2 MiB aligned, plus text_offset */

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

/* KVM_CREATE_VM type: the protected bit when asked; 0 leaves the IPA size at KVM's default. */
int pvm_arm64_vm_type(bool protected_vm, bool host_has_protected, unsigned long *ret,
		      pvm_error *err);

/* ---- Devices and exits (arm64-devices.c) ---- */

enum pvm_arm64_event_kind {
	PVM_ARM64_EVENT_CONTINUE,   /* handled, run again */
	PVM_ARM64_EVENT_CONSOLE,    /* `byte` written to the UART */
	PVM_ARM64_EVENT_READY,      /* the guest wrote the READY magic */
	PVM_ARM64_EVENT_SHUTDOWN,   /* PSCI SYSTEM_OFF */
	PVM_ARM64_EVENT_REBOOT,     /* PSCI SYSTEM_RESET */
	PVM_ARM64_EVENT_UNKNOWN_IO, /* MMIO to no device; reads see all-ones */
	PVM_ARM64_EVENT_FATAL,      /* an exit we cannot handle */
};

typedef struct pvm_arm64_event {
	enum pvm_arm64_event_kind kind;
	uint8_t byte;
	char detail[160];
} pvm_arm64_event;

typedef struct pvm_arm64_devices {
	bool (*stop_requested)(void *userdata); /* NULL: never */
	bool (*console_read)(void *userdata, uint8_t *ret_byte); /* NULL: no input */
	void *userdata;
	uint8_t uart_regs[8]; /* 16550 registers the guest may write and read back (LCR, ...) */
} pvm_arm64_devices;

/* Decode one exit (after KVM_RUN returned 0), completing MMIO reads in `run`. */
int pvm_arm64_handle_exit(pvm_arm64_devices *dev, struct kvm_run *run, pvm_arm64_event *ret);

/* ---- KVM on an arm64 host (arm64-kvm.c, built only for aarch64) ---- */

/* 1 if KVM_CREATE_VM accepts the protected type, 0 if not, -errno on other failures. */
int pvm_arm64_kvm_has_protected_vm(int kvm_fd);
/* Does a protected VM run from a guest_memfd memslot? 0: yes; -errno: the call that failed
 * (e.g. -EIO from KVM_RUN on 7.x pKVM), described in err. Runs a one-instruction guest. */
int pvm_arm64_kvm_probe_protected_guest_memfd(int kvm_fd, pvm_error *err);
/* In-kernel GICv3: create it and place distributor and redistributors (before vCPUs). */
int pvm_arm64_vgic_create(int vm_fd, int *ret_fd, pvm_error *err);
/* After every vCPU exists: KVM_DEV_ARM_VGIC_CTRL_INIT. */
int pvm_arm64_vgic_finalize(int vgic_fd, pvm_error *err);
/* KVM_ARM_VCPU_INIT with the preferred target and PSCI 0.2; vCPU 0 gets pc and x0..x3,
 * the others start powered off (PSCI CPU_ON brings them up). */
int pvm_arm64_vcpu_init(int vm_fd, int vcpu_fd, uint32_t index, uint64_t pc, const uint64_t x[4],
			pvm_error *err);
