/* The properties of org.pvm1.VM, once: pvmd's getters and vtable (pvmd/vm-object.c), the client's
 * reader (bus-client.c, into pvm_bus_vm_info), pvmctl's JSON keys for PropertiesChanged and the
 * test that holds org.pvm1(5) and the interface XML to this list all expand this table. */
#pragma once

/* Flags of a property */
#define PVM_VM_PROP_CONST 1u  /* never changes: no PropertiesChanged */
#define PVM_VM_PROP_MEMORY 2u /* read from the guest memory report */

/* X(bus name, D-Bus signature, pvm_bus_vm_info field, pvmctl JSON key, flags). The order is
 * the order of GetAll, the vtable and the documentation. A "...How" property shares the JSON
 * key of the property it explains ({"value", "how"}). */
#define PVM_VM_PROPERTIES(X)                                                                       \
	X("Name", "s", name, "name", PVM_VM_PROP_CONST)                                            \
	X("State", "s", state, "state", 0)                                                         \
	X("DeathReason", "s", death_reason, "death_reason", 0)                                     \
	X("Message", "s", message, "message", 0)                                                   \
	X("Protected", "b", protected_vm, "protected", PVM_VM_PROP_CONST)                          \
	X("MemoryMiB", "u", memory_mib, "memory_mib", PVM_VM_PROP_CONST)                           \
	X("MemoryBacking", "s", memory_backing, "memory_backing", PVM_VM_PROP_MEMORY)              \
	X("Unswappable", "s", unswappable, "unswappable", PVM_VM_PROP_MEMORY)                      \
	X("UnswappableHow", "s", unswappable_how, "unswappable", PVM_VM_PROP_MEMORY)               \
	X("Unmigratable", "s", unmigratable, "unmigratable", PVM_VM_PROP_MEMORY)                   \
	X("UnmigratableHow", "s", unmigratable_how, "unmigratable", PVM_VM_PROP_MEMORY)            \
	X("HostMapped", "s", host_mapped, "host_mapped", PVM_VM_PROP_MEMORY)                       \
	X("HostMappedHow", "s", host_mapped_how, "host_mapped", PVM_VM_PROP_MEMORY)                \
	X("VCPUs", "u", vcpus, "vcpus", PVM_VM_PROP_CONST)                                         \
	X("RunnerPID", "u", runner_pid, "runner_pid", 0)                                           \
	X("StartTime", "t", start_time_usec, "start_time_usec", 0)                                 \
	X("Owner", "u", owner_uid, "owner_uid", PVM_VM_PROP_CONST)                                 \
	X("Tied", "b", tied, "tied", 0)                                                            \
	X("VsockCID", "u", vsock_cid, "vsock_cid", PVM_VM_PROP_CONST)                              \
	X("VsockSocket", "s", vsock_socket, "vsock_socket", PVM_VM_PROP_CONST)                     \
	X("Firmware", "s", firmware, "firmware", PVM_VM_PROP_CONST)                                \
	X("FirmwareIdentity", "s", firmware_identity, "firmware_identity", 0)                      \
	X("FirmwareResult", "s", firmware_result, "firmware_result", 0)
