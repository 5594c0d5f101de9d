/* Contract: a running VM's memory is guest_memfd of the configured size with the flags the host
 * offers (MMAP|INIT_SHARED here), pvmd keeps no mapping of it after loading, and the report says
 * how it knows; console input reaches the guest; a graceful stop is honoured by a cooperative
 * guest (death reason "stopped"); the memory is released when the VM ends. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine-harness.h"
#include "kvm-compat.h"
#include "memory.h"

int main(void)
{
	engine_vm t;
	pvm_memory_report rep;
	pvm_error err = { 0 };

	engine_require_kvm();
	engine_vm_init(&t, "wait-stop", 32);
	t.cfg.console_input = true;
	engine_vm_create(&t, NULL);

	/* not running: no memory, and stop/kill say so */
	CHECK(vm_instance_memory_report(t.vm, &rep) == 0 && strcmp(rep.backing, "none") == 0);
	CHECK(vm_instance_stop(t.vm, 1000000, &err) < 0 && err.message[0]);

	engine_vm_start(&t);
	CHECK(engine_wait_state(&t, PVM_VM_READY, 10000));
	CHECK(engine_console_has(&t, "waiting for a stop request"));

	CHECK(vm_instance_memory_report(t.vm, &rep) == 0);
	printf("memory: %s flags 0x%llx size %llu\n  unswappable %s: %s\n  unmigratable %s: %s\n  "
	       "host mapped %s: %s\n",
	       rep.backing, (unsigned long long)rep.flags, (unsigned long long)rep.size_bytes,
	       pvm_tristate_to_string(rep.unswappable), rep.unswappable_how,
	       pvm_tristate_to_string(rep.unmigratable), rep.unmigratable_how,
	       pvm_tristate_to_string(rep.host_mapped), rep.host_mapped_how);
	CHECK(strcmp(rep.backing, "guest_memfd") == 0);
	CHECK(rep.flags == (GUEST_MEMFD_FLAG_MMAP | GUEST_MEMFD_FLAG_INIT_SHARED));
	CHECK(rep.size_bytes == 32ULL << 20);
	CHECK(rep.unswappable == PVM_YES && rep.unmigratable == PVM_YES);
	/* pvmd itself never keeps a mapping after loading */
	CHECK(strstr(rep.host_mapped_how, "not mapped in /proc/") != NULL);
	CHECK(strstr(rep.host_mapped_how, "(pvmd)") != NULL);
	CHECK(rep.host_mapped != PVM_UNKNOWN);

	/* console input: the guest echoes it */
	CHECK(vm_instance_console_write(t.vm, "ping\n", 5) == 0);
	CHECK(engine_wait_console(&t, "ping\n", 5000));

	/* graceful stop: the guest polls the control port and powers off */
	CHECK(vm_instance_stop(t.vm, 10 * 1000000ULL, &err) == 0);
	CHECK(vm_instance_state(t.vm) == PVM_VM_STOPPING);
	CHECK(engine_wait_ended(&t, 15000));
	engine_expect_end(&t, PVM_VM_STOPPED, PVM_DEATH_STOPPED);
	CHECK(engine_console_has(&t, "stop requested, powering off"));
	CHECK(vm_instance_memory_report(t.vm, &rep) == 0 && strcmp(rep.backing, "none") == 0);

	/* console input refused where the config does not enable it */
	engine_vm_done(&t);
	engine_vm_init(&t, "wait-stop", 16);
	engine_vm_create(&t, NULL);
	engine_vm_start(&t);
	CHECK(engine_wait_state(&t, PVM_VM_READY, 10000));
	CHECK(vm_instance_console_write(t.vm, "x", 1) == -EPERM);
	CHECK(vm_instance_kill(t.vm, &err) == 0);
	CHECK(engine_wait_ended(&t, 10000));
	engine_expect_end(&t, PVM_VM_STOPPED, PVM_DEATH_KILLED);
	engine_vm_done(&t);
	printf("engine-lifecycle: ok\n");
	return 0;
}
