/* The architecture interface: everything the generic engine (pvm-runner, pvmd's vm_instance)
 * needs to know about one CPU architecture. Each backend (arch/x86_64, arch/arm64) provides one
 * const pvm_arch; generic code never looks at guest registers or device addresses itself.
 *
 * Split of work: pvmd plans the boot (parses the payload, decides what bytes go where) and writes
 * guest memory; the runner creates the VM and vCPUs, sets entry registers and decodes exits into
 * generic events. Nothing here allocates guest memory or talks to the other process. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"

struct kvm_run;

/* What the host's KVM offers, probed by the runner: system-wide caps on /dev/kvm, per-VM caps
 * (guest_memfd) on the VM fd once it exists. */
typedef struct pvm_host_caps {
	uint64_t vm_types;	    /* KVM_CAP_VM_TYPES bitmask (x86); 0 when not reported */
	int ipa_size;		    /* KVM_CAP_ARM_VM_IPA_SIZE (arm64); 0 when not reported */
	bool protected_vm_type;	    /* arm64: KVM_VM_TYPE_ARM_PROTECTED accepted */
	bool guest_memfd;	    /* KVM_CAP_GUEST_MEMFD */
	uint64_t guest_memfd_flags; /* KVM_CAP_GUEST_MEMFD_FLAGS (GUEST_MEMFD_FLAG_*) */
	bool user_memory2;	    /* KVM_CAP_USER_MEMORY2 */
	bool protected_guest_memfd; /* arm64: KVM_CAP_ARM_PROTECTED_GUEST_MEMFD (kernel-patches/) */
} pvm_host_caps;

/* The parts of a VM config the arch needs to create a VM (the runner never sees the whole
 * config: it gets only this, checked, from pvmd). */
typedef struct pvm_vm_shape {
	bool protected_vm;
	uint64_t memory_bytes;
	uint32_t cpus;
	uint64_t window_bytes; /* the shared window (0: no devices) */
	bool guest_memfd;      /* RAM is guest_memfd (set once the memory exists) */
} pvm_vm_shape;

/* Guest physical memory layout: one RAM region. */
typedef struct pvm_memory_map {
	uint64_t ram_base; /* guest physical address where RAM starts */
	uint64_t ram_size;
} pvm_memory_map;

/* Entry state of a vCPU, arch-neutral enough to travel between pvmd and the runner:
 *   x86_64: pc = 32-bit protected-mode EIP, arg[0] = EBX (hvm_start_info address for PVH);
 *   arm64:  pc = PC, arg[0..3] = x0..x3 (x0 = device tree address for a Linux Image). */
#define PVM_ENTRY_ARGS 4
typedef struct pvm_vcpu_entry {
	uint64_t pc;
	uint64_t arg[PVM_ENTRY_ARGS];
} pvm_vcpu_entry;

/* One piece of the boot image: `len` bytes to copy to guest physical address `gpa`. */
typedef struct pvm_boot_segment {
	uint64_t gpa;
	uint8_t *data; /* owned by the plan */
	size_t len;
	char what[24]; /* "kernel", "initrd", "start-info", ... for error messages */
} pvm_boot_segment;

/* What pvmd gives the arch to plan a boot: the payload as bytes already read and verified. */
typedef struct pvm_boot_input {
	const uint8_t *kernel;
	size_t kernel_len;
	const uint8_t *initrd; /* NULL: none */
	size_t initrd_len;
	const char *params;    /* kernel command line, NULL: none */
	int format;	       /* enum pvm_payload_format (config.h) */
	uint64_t load_address; /* PVM_PAYLOAD_RAW */
	pvm_memory_map map;
	uint32_t cpus;
	uint64_t window_gpa;  /* the shared window (pvm_arch_window_place()) */
	uint64_t window_size; /* its bytes; 0: no devices */
	unsigned
	    virtio_slots; /* virtio-mmio slots in use, from slot 0 (pvm_config_virtio_devices) */
	/* Boot through pvm-fw (arm64 only; NULL: boot the kernel directly): the firmware image
	 * and the signed descriptor it checks, placed where docs/pvm-fw.md says. */
	const uint8_t *firmware;
	size_t firmware_len;
	const uint8_t *descriptor;
	size_t descriptor_len;
} pvm_boot_input;

#define PVM_BOOT_SEGMENTS_MAX 16
typedef struct pvm_boot_plan {
	pvm_boot_segment segments[PVM_BOOT_SEGMENTS_MAX];
	size_t n_segments;
	pvm_vcpu_entry entry; /* the boot vCPU; others start as the arch decides (vcpu_setup) */
	char format[16];      /* the payload format detected: "pvh-elf", "raw", "linux-image" */
} pvm_boot_plan;

void pvm_boot_plan_clear(pvm_boot_plan *plan); /* frees segment data, keeps the struct */
/* Add a segment (copies data) after checking it lies inside RAM and overlaps no other. */
int pvm_boot_plan_add(pvm_boot_plan *plan, const pvm_memory_map *map, const char *what,
		      uint64_t gpa, const void *data, size_t len, pvm_error *err);

/* Generic events decoded from a vCPU exit. The runner turns them into messages for pvmd. */
enum pvm_exit_event_kind {
	PVM_EXIT_EVENT_CONTINUE,   /* handled (console byte consumed, device access): run again */
	PVM_EXIT_EVENT_CONSOLE,	   /* the guest wrote console bytes (console, console_len) */
	PVM_EXIT_EVENT_READY,	   /* the guest signalled READY */
	PVM_EXIT_EVENT_SHUTDOWN,   /* the guest powered off */
	PVM_EXIT_EVENT_REBOOT,	   /* the guest asked for a reset */
	PVM_EXIT_EVENT_IDLE,	   /* vCPU halted with nothing that can wake it: park it */
	PVM_EXIT_EVENT_UNKNOWN_IO, /* access to no device: detail says what; reads saw all-ones */
	PVM_EXIT_EVENT_EMULATION_FAILURE, /* KVM could not emulate (or triple fault): fatal */
	PVM_EXIT_EVENT_CRASH, /* the guest CPU died (triple fault reported as shutdown) */
	PVM_EXIT_EVENT_PROTECTION_VIOLATION, /* the guest touched memory it may not (memory fault)
					      */
	PVM_EXIT_EVENT_FATAL, /* an exit the engine cannot handle: fatal, detail says */
	/* pvm-fw verified the payload and boots it (code 0): the VM goes on */
	PVM_EXIT_EVENT_FW_VERIFIED,
	/* pvm-fw refused the payload (code: its verdict, 1 or more): the VM ends */
	PVM_EXIT_EVENT_PAYLOAD_REFUSED,
};

#define PVM_EXIT_DETAIL_MAX 256
typedef struct pvm_exit_event {
	enum pvm_exit_event_kind kind;
	const uint8_t *console; /* PVM_EXIT_EVENT_CONSOLE: valid until the next handle_exit */
	size_t console_len;
	uint32_t code; /* PVM_EXIT_EVENT_FW_VERIFIED, _PAYLOAD_REFUSED: the firmware's verdict */
	char detail[PVM_EXIT_DETAIL_MAX]; /* for people: exit reason, registers, address */
} pvm_exit_event;

/* What the runner's device model offers the arch's devices. */
typedef struct pvm_device_host {
	/* Console input: returns true and a byte when one is queued. */
	bool (*console_read)(void *userdata, uint8_t *ret_byte);
	/* Has pvmd asked the guest to power off (graceful stop)? Guests poll for it. */
	bool (*stop_requested)(void *userdata);
	/* Optional: an MMIO access at guest physical `gpa` the arch's own devices do not claim.
	 * Returns true when a device of the runner's owns that address (then *ev says what
	 * happened: CONTINUE, or an event that ends the VM); false leaves it unknown I/O. Reads
	 * fill `data` (`len` bytes). */
	bool (*mmio)(void *userdata, uint64_t gpa, void *data, unsigned len, bool is_write,
		     pvm_exit_event *ev);
	void *userdata;
} pvm_device_host;

typedef struct pvm_arch_devices pvm_arch_devices; /* per-VM device state, arch-defined */

typedef struct pvm_arch {
	const char *name; /* "x86_64", "arm64" */

	/* Memory map for a VM with this much RAM; -EINVAL (with a message) if it does not fit. */
	int (*memory_map)(uint64_t memory_bytes, pvm_memory_map *ret, pvm_error *err);

	/* KVM_CREATE_VM type for this VM on this host; fails when the config asks for protection
	 * the host cannot give. `sys` holds only the system-wide caps; kvm_fd is /dev/kvm, open
	 * (the runner opens no file once its jail is built). */
	int (*vm_type)(int kvm_fd, const pvm_vm_shape *shape, const pvm_host_caps *sys,
		       unsigned long *ret, pvm_error *err);

	/* guest_memfd flags to ask for on this VM: the strongest the host offers that still lets
	 * pvmd load the payload (x86 default VM: MMAP|INIT_SHARED). -EOPNOTSUPP if none works. */
	int (*guest_memfd_flags)(const pvm_vm_shape *shape, const pvm_host_caps *vm_caps,
				 uint64_t *ret, pvm_error *err);

	/* Optional (NULL: no). Does this host's KVM reach this VM's guest_memfd memory only
	 * through the memslot's userspace mapping (so the runner must keep one)? Answered by
	 * running a throwaway guest from a guest_memfd memslot without a mapping, or known. */
	int (*guest_memfd_needs_mapping)(int kvm_fd, const pvm_vm_shape *shape, uint64_t flags,
					 bool *ret, pvm_error *err);

	/* After memslots exist, before vCPUs: irqchip, TSS, ... */
	int (*vm_setup)(int kvm_fd, int vm_fd, const pvm_vm_shape *shape, pvm_error *err);

	/* Configure vCPU `index` (CPUID, registers). index 0 enters at `entry`. */
	int (*vcpu_setup)(int kvm_fd, int vm_fd, int vcpu_fd, uint32_t index,
			  const pvm_vcpu_entry *entry, pvm_error *err);

	/* Parse the payload and lay out memory: segments plus the boot vCPU's entry state. */
	int (*plan_boot)(const pvm_boot_input *in, pvm_boot_plan *ret, pvm_error *err);

	/* Device state for one VM (console UART, control port, ...). */
	int (*devices_new)(const pvm_device_host *host, pvm_arch_devices **ret);
	void (*devices_free)(pvm_arch_devices *devices);

	/* Decode the exit in `run` (after KVM_RUN returned 0) into one event, completing any
	 * device access in `run` so KVM_RUN can continue. May use the vCPU ioctls listed in
	 * run_ioctls (and only those: the runner is sandboxed by then). Callers serialise calls
	 * per VM. */
	int (*handle_exit)(pvm_arch_devices *devices, int vcpu_fd, struct kvm_run *run,
			   pvm_exit_event *ret);

	/* Where the runner's virtio-mmio devices sit (PVM_VIRTIO_SLOTS slots of `stride` bytes);
	 * base 0: this backend has no virtio devices yet. */
	uint64_t virtio_mmio_base, virtio_mmio_stride;
	/* Slot n's interrupt: KVM_IRQFD on GSI virtio_irq_base + n when virtio_irqfd (an
	 * in-kernel irqchip); otherwise there is none and drivers poll. */
	bool virtio_irqfd;
	uint32_t virtio_irq_base;
	/* QueueNotify writes go to one eventfd per queue (KVM_IOEVENTFD, the queue index as its
	 * datamatch) that the runner's main thread serves, so a notification costs the vCPU no
	 * exit to user space; otherwise each is an MMIO exit served on the vCPU's thread. */
	bool virtio_ioeventfd;
	/* The shared window. window_base 0: the top of RAM, a range of the guest memory file
	 * (x86_64). Otherwise a memslot of its own of ordinary shared memory at that guest
	 * physical address, at most window_max bytes, outside RAM (arm64: with pvm's kernel series
	 * a protected guest's guest_memfd pages are donated at first touch, so a window inside
	 * RAM could never be shared). A window outside RAM is reachable only through the DMA
	 * the platform describes, so drivers must accept VIRTIO_F_ACCESS_PLATFORM. */
	uint64_t window_base, window_max;

	/* vCPU ioctls handle_exit needs after lock-down (KVM_RUN is always allowed). */
	const unsigned long *run_ioctls;
	size_t n_run_ioctls;
} pvm_arch;

/* The backend for the architecture this binary runs on. */
const pvm_arch *pvm_arch_native(void);

/* Where a shared window of `size` bytes goes for a VM with this memory map: -EINVAL (naming
 * window_mib) when it does not fit. */
int pvm_arch_window_place(const pvm_arch *arch, const pvm_memory_map *map, uint64_t size,
			  uint64_t *ret_gpa, pvm_error *err);

/* The guest_memfd arrangement both backends use for memory pvmd loads: MMAP|INIT_SHARED.
 * Fails, naming `arch`, when KVM has no guest_memfd or lacks either flag. */
int pvm_arch_shared_guest_memfd_flags(const char *arch, const pvm_host_caps *caps, uint64_t *ret,
				      pvm_error *err);

/* Backends; each is compiled only on its own architecture, but plan_boot and the device model
 * are plain C and unit-tested anywhere they build. */
extern const pvm_arch pvm_arch_x86_64;
extern const pvm_arch pvm_arch_arm64;

/* Guest-visible constants a guest author needs, per arch (also in docs/guest-interface.md). */
/* x86_64: console 8250 UART at I/O port 0x3f8; control port 0x505:
 *   outl PVM_X86_READY_MAGIC -> READY; inl -> bit 0 set when pvmd asks the guest to power off.
 *   hlt with RFLAGS.IF=0 -> shutdown; outb 0xfe to port 0x64 -> reboot. */
#define PVM_X86_UART_PORT 0x3f8
#define PVM_X86_CONTROL_PORT 0x505
#define PVM_X86_READY_MAGIC 0x59444552u /* the bytes "REDY" as a little-endian u32 */
#define PVM_CONTROL_STOP_REQUESTED 0x1u
/* x86_64: virtio-mmio devices in slots of PVM_X86_VIRTIO_STRIDE bytes from
 * PVM_X86_VIRTIO_BASE: disks in config order, then vsock; an empty slot reads DeviceID 0. */
#define PVM_X86_VIRTIO_BASE 0xfeb00000u
#define PVM_X86_VIRTIO_STRIDE 0x1000u
#define PVM_VIRTIO_SLOTS 8
