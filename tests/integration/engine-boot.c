/* Contract: a well-behaved guest boots from a PVH ELF into guest_memfd memory, prints on the
 * 8250 console, signals READY and powers off: the VM goes CREATED -> STARTING -> RUNNING ->
 * READY -> STOPPED with death reason shutdown, and its console is in the ring and the log. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine-harness.h"

int main(void)
{
	engine_vm t;
	char path[256], buf[256] = "";
	FILE *f;

	engine_require_kvm();
	engine_vm_init(&t, "hello", 16);
	engine_vm_create(&t, NULL);
	CHECK(vm_instance_state(t.vm) == PVM_VM_CREATED);
	engine_vm_start(&t);
	CHECK(vm_instance_runner_pid(t.vm) > 0);
	CHECK(engine_wait_ended(&t, 10000));
	engine_expect_end(&t, PVM_VM_STOPPED, PVM_DEATH_SHUTDOWN);
	CHECK(engine_saw_state(&t, PVM_VM_STARTING));
	CHECK(engine_saw_state(&t, PVM_VM_RUNNING));
	CHECK(engine_saw_state(&t, PVM_VM_READY));
	CHECK(engine_console_has(&t, "hello from a pvm guest\n"));
	CHECK(engine_console_has(&t, "start info ok\n"));
	CHECK(strstr(vm_instance_message(t.vm), "interrupts disabled"));
	CHECK(vm_instance_runner_pid(t.vm) == 0);
	CHECK(vm_instance_start_time_usec(t.vm) > 0);

	snprintf(path, sizeof(path), "%s/%s.log", t.log_dir, t.cfg.name);
	f = fopen(path, "re");
	CHECK(f);
	CHECK(fread(buf, 1, sizeof(buf) - 1, f) > 0);
	fclose(f);
	CHECK(strstr(buf, "hello from a pvm guest"));

	/* a VM that ended starts again */
	engine_vm_start(&t);
	CHECK(engine_wait_ended(&t, 10000));
	engine_expect_end(&t, PVM_VM_STOPPED, PVM_DEATH_SHUTDOWN);

	engine_vm_done(&t);
	printf("engine-boot: ok\n");
	return 0;
}
