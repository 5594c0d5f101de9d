/* VM lifecycle states, death reasons and the memory report: the vocabulary pvmd publishes on
 * D-Bus and pvmctl prints. String forms are part of the stable interface (org.pvm1(5)). */
#pragma once

#include <stdbool.h>
#include <stdint.h>

enum pvm_vm_state {
	PVM_VM_CREATED,	 /* config accepted, nothing running */
	PVM_VM_STARTING, /* runner spawned, memory and payload being set up */
	PVM_VM_RUNNING,	 /* guest code runs */
	PVM_VM_READY,	 /* the guest signalled ready */
	PVM_VM_STOPPING, /* stop requested, waiting for the guest or the timeout */
	PVM_VM_STOPPED,	 /* ended; see the death reason */
	PVM_VM_FAILED,	 /* ended by an error; see the death reason and message */
	_PVM_VM_STATE_MAX,
};

enum pvm_death_reason {
	PVM_DEATH_NONE,
	PVM_DEATH_SHUTDOWN,	     /* the guest powered off */
	PVM_DEATH_REBOOT,	     /* the guest asked for a reset */
	PVM_DEATH_CRASH,	     /* the runner died unexpectedly */
	PVM_DEATH_KILLED,	     /* stopped by force (KillVM, stop timeout, pvmd exit) */
	PVM_DEATH_START_FAILED,	     /* never reached RUNNING */
	PVM_DEATH_BOOT_TIMEOUT,	     /* did not signal READY within boot_timeout_ms */
	PVM_DEATH_EMULATION_FAILURE, /* KVM could not emulate an instruction (or a triple fault) */
	PVM_DEATH_PROTECTION_VIOLATION, /* guest touched memory it may not / sandbox violation */
	PVM_DEATH_STOPPED,		/* stopped on request, guest cooperated */
	PVM_DEATH_PAYLOAD_REFUSED,	/* pvm-fw refused the payload inside the VM */
	_PVM_DEATH_REASON_MAX,
};

/* What pvm-fw reported for the current or last run: its verdict (docs/pvm-fw.md), plus "none"
 * for a VM that boots no firmware and "pending" until the firmware has reported. */
enum pvm_firmware_result {
	PVM_FIRMWARE_NONE = -2,
	PVM_FIRMWARE_PENDING = -1,
	PVM_FIRMWARE_VERIFIED = 0,
	PVM_FIRMWARE_MALFORMED_DESCRIPTOR = 1,
	PVM_FIRMWARE_BAD_SIGNATURE = 2,
	PVM_FIRMWARE_PAYLOAD_DOES_NOT_FIT = 3,
	PVM_FIRMWARE_KERNEL_MISMATCH = 4,
	PVM_FIRMWARE_INITRD_MISMATCH = 5,
	PVM_FIRMWARE_BAD_DEVICE_TREE = 6,
	PVM_FIRMWARE_CRYPTO_FAILURE = 7,
	_PVM_FIRMWARE_RESULT_MAX,
};

const char *pvm_vm_state_to_string(enum pvm_vm_state s);
int pvm_vm_state_from_string(const char *s); /* -EINVAL if unknown */
const char *pvm_death_reason_to_string(enum pvm_death_reason r);
int pvm_death_reason_from_string(const char *s);
/* "none", "pending", "verified", "kernel-mismatch", ...; NULL for a verdict pvm does not know. */
const char *pvm_firmware_result_to_string(int result);
/* The verdict as a sentence for people ("kernel does not match the signed digest"), or NULL. */
const char *pvm_firmware_result_describe(int result);

/* A claim about guest memory: true, false, or not known, with how it was established. */
enum pvm_tristate { PVM_UNKNOWN = -1, PVM_NO = 0, PVM_YES = 1 };

#define PVM_EVIDENCE_MAX 256
typedef struct pvm_memory_report {
	char backing[32]; /* "guest_memfd" or "memfd-mlock" */
	uint64_t flags;	  /* guest_memfd flags (GUEST_MEMFD_FLAG_*) */
	uint64_t size_bytes;
	enum pvm_tristate unswappable;
	enum pvm_tristate unmigratable;
	enum pvm_tristate host_mapped; /* does any host userspace mapping of guest memory exist? */
	char unswappable_how[PVM_EVIDENCE_MAX];
	char unmigratable_how[PVM_EVIDENCE_MAX];
	char host_mapped_how[PVM_EVIDENCE_MAX];
} pvm_memory_report;

const char *pvm_tristate_to_string(enum pvm_tristate t); /* "yes", "no", "unknown" */
