/* Contract: runner uids are not a scarce resource. With 256 VMs starting at once, one more
 * still gets a uid of its own, the next one of pvmd's range (outside systemd's DynamicUser
 * range). The runners are engine-fake-runner ("hold" stays in setup; "report-uid" names the
 * uid pvmd asked for): no guest runs, so the test is cheap. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "engine-harness.h"
#include "runner-uids.h"

#define HELD 256

int main(void)
{
	static engine_vm held[HELD];
	engine_fake_runner hold, report;
	vm_instance_options o = { 0 };
	struct rlimit nofile;
	char want[64];
	engine_vm t;

	engine_require_kvm();
	/* a socket and a pidfd per runner, plus the loops' own fds */
	CHECK(getrlimit(RLIMIT_NOFILE, &nofile) == 0);
	nofile.rlim_cur = nofile.rlim_max;
	CHECK(setrlimit(RLIMIT_NOFILE, &nofile) == 0);
	CHECK(nofile.rlim_cur >= 4 * HELD + 64);

	engine_fake_runner_make(&hold, "hold");
	engine_fake_runner_make(&report, "report-uid");
	o.runner_path = hold.path;
	for (unsigned i = 0; i < HELD; i++) {
		engine_vm_init(&held[i], "hello", 2);
		held[i].cfg.console_output = PVM_CONSOLE_NONE;
		engine_vm_create(&held[i], &o);
		engine_vm_start(&held[i]);
	}

	o.runner_path = report.path;
	engine_vm_init(&t, "hello", 2);
	t.cfg.console_output = PVM_CONSOLE_NONE;
	engine_vm_create(&t, &o);
	engine_vm_start(&t); /* exits the test if pvmd has no uid left */
	CHECK(engine_wait_ended(&t, 20000));
	printf("VM %u: %s\n", HELD + 1, vm_instance_message(t.vm));
	snprintf(want, sizeof(want), "asked for uid %u gid %u", RUNNER_UIDS_FIRST_DEFAULT + HELD,
		 RUNNER_UIDS_FIRST_DEFAULT + HELD);
	CHECK(strstr(vm_instance_message(t.vm), want));
	engine_vm_done(&t);

	/* every held VM is still in setup, each with a runner of its own */
	for (unsigned i = 0; i < HELD; i++) {
		CHECK(vm_instance_state(held[i].vm) == PVM_VM_STARTING);
		CHECK(vm_instance_runner_pid(held[i].vm) > 0);
		engine_vm_done(&held[i]);
	}
	engine_fake_runner_remove(&hold);
	engine_fake_runner_remove(&report);
	printf("engine-uids: ok\n");
	return 0;
}
