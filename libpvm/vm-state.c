/* String forms of VM states, death reasons and tristates: the stable vocabulary of org.pvm1(5),
 * kept in tables so a name and its value cannot drift apart. */
#include <errno.h>
#include <string.h>

#include "macro.h"
#include "vm-state.h"

static const char *const vm_state_names[_PVM_VM_STATE_MAX] = {
	[PVM_VM_CREATED] = "created", [PVM_VM_STARTING] = "starting", [PVM_VM_RUNNING] = "running",
	[PVM_VM_READY] = "ready",     [PVM_VM_STOPPING] = "stopping", [PVM_VM_STOPPED] = "stopped",
	[PVM_VM_FAILED] = "failed",
};

static const char *const death_reason_names[_PVM_DEATH_REASON_MAX] = {
	[PVM_DEATH_NONE] = "none",
	[PVM_DEATH_SHUTDOWN] = "shutdown",
	[PVM_DEATH_REBOOT] = "reboot",
	[PVM_DEATH_CRASH] = "crash",
	[PVM_DEATH_KILLED] = "killed",
	[PVM_DEATH_START_FAILED] = "start-failed",
	[PVM_DEATH_BOOT_TIMEOUT] = "boot-timeout",
	[PVM_DEATH_EMULATION_FAILURE] = "emulation-failure",
	[PVM_DEATH_PROTECTION_VIOLATION] = "protection-violation",
	[PVM_DEATH_STOPPED] = "stopped",
	[PVM_DEATH_PAYLOAD_REFUSED] = "payload-refused",
};

/* pvm-fw's verdicts by number (its descriptor.h), the bus name, then the firmware's own words */
static const struct {
	const char *name, *text;
} firmware_results[_PVM_FIRMWARE_RESULT_MAX] = {
	[PVM_FIRMWARE_VERIFIED] = { "verified", "payload verified" },
	[PVM_FIRMWARE_MALFORMED_DESCRIPTOR] = { "malformed-descriptor", "malformed descriptor" },
	[PVM_FIRMWARE_BAD_SIGNATURE] = { "bad-signature",
					 "descriptor signature does not verify with the built-in "
					 "key" },
	[PVM_FIRMWARE_PAYLOAD_DOES_NOT_FIT] = { "payload-does-not-fit",
						"payload does not fit guest memory" },
	[PVM_FIRMWARE_KERNEL_MISMATCH] = { "kernel-mismatch",
					   "kernel does not match the signed digest" },
	[PVM_FIRMWARE_INITRD_MISMATCH] = { "initrd-mismatch",
					   "initrd does not match the signed digest" },
	[PVM_FIRMWARE_BAD_DEVICE_TREE] = { "bad-device-tree", "device tree rejected" },
	[PVM_FIRMWARE_CRYPTO_FAILURE] = { "crypto-failure", "crypto library failure" },
};

static int lookup(const char *const *names, size_t n, const char *s)
{
	if (!s)
		return -EINVAL;
	for (size_t i = 0; i < n; i++)
		if (names[i] && strcmp(names[i], s) == 0)
			return (int)i;
	return -EINVAL;
}

const char *pvm_vm_state_to_string(enum pvm_vm_state s)
{
	return (unsigned)s < ELEMENTSOF(vm_state_names) ? vm_state_names[s] : NULL;
}

int pvm_vm_state_from_string(const char *s)
{
	return lookup(vm_state_names, ELEMENTSOF(vm_state_names), s);
}

const char *pvm_death_reason_to_string(enum pvm_death_reason r)
{
	return (unsigned)r < ELEMENTSOF(death_reason_names) ? death_reason_names[r] : NULL;
}

int pvm_death_reason_from_string(const char *s)
{
	return lookup(death_reason_names, ELEMENTSOF(death_reason_names), s);
}

const char *pvm_firmware_result_to_string(int result)
{
	if (result == PVM_FIRMWARE_NONE)
		return "none";
	if (result == PVM_FIRMWARE_PENDING)
		return "pending";
	return result >= 0 && result < _PVM_FIRMWARE_RESULT_MAX ? firmware_results[result].name
								: NULL;
}

const char *pvm_firmware_result_describe(int result)
{
	return result >= 0 && result < _PVM_FIRMWARE_RESULT_MAX ? firmware_results[result].text
								: NULL;
}

const char *pvm_tristate_to_string(enum pvm_tristate t)
{
	switch (t) {
	case PVM_YES:
		return "yes";
	case PVM_NO:
		return "no";
	default:
		return "unknown";
	}
}
