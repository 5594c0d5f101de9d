/* Contract: the memory report is computed when its facts change, not on every read. A fake
 * runner maps the guest memory after READY (a locked-down runner cannot): reads of the report
 * go on saying what was true when it was computed, and the next published change (STOPPING)
 * computes it again and sees the mapping. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine-harness.h"

static enum pvm_tristate host_mapped(engine_vm *t)
{
	pvm_memory_report rep;

	CHECK(vm_instance_memory_report(t->vm, &rep) == 0);
	CHECK(strcmp(rep.backing, "guest_memfd") == 0);
	return rep.host_mapped;
}

int main(void)
{
	engine_fake_runner f;
	pvm_error err = { 0 };
	engine_vm t;
	char mapped[128];

	engine_require_kvm();
	engine_burst_start(&t, &f);
	snprintf(mapped, sizeof(mapped), "%s/mapped", f.dir);
	CHECK(host_mapped(&t) == PVM_NO);

	/* the runner maps guest memory; no change is published: the report is not computed again */
	CHECK(kill(vm_instance_runner_pid(t.vm), SIGUSR1) == 0);
	CHECK(engine_wait_file(mapped, 20000));
	CHECK(host_mapped(&t) == PVM_NO);
	CHECK(host_mapped(&t) == PVM_NO);

	/* a change (the fake runner ignores the stop request: the VM stays STOPPING) */
	CHECK(vm_instance_stop(t.vm, 60ULL * 1000 * 1000, &err) == 0);
	CHECK(vm_instance_state(t.vm) == PVM_VM_STOPPING);
	CHECK(host_mapped(&t) == PVM_YES);

	engine_vm_done(&t);
	CHECK(unlink(mapped) == 0);
	engine_fake_runner_remove(&f);
	printf("engine-report-cached: ok\n");
	return 0;
}
