/* Contract: pvmd does not trust its runner. A runner that sends a malformed message, passes
 * memory that is not a guest_memfd of the right size, or reports out of order is killed and
 * the VM ends FAILED with protection-violation; one that exits during setup ends it as
 * start-failed. Freeing a running VM kills and reaps its runner. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine-harness.h"

static void run_fake(const char *mode, enum pvm_death_reason reason, const char *message)
{
	engine_fake_runner fake;
	vm_instance_options o = { .runner_path = fake.path };
	engine_vm t;
	pid_t pid;

	engine_fake_runner_make(&fake, mode);
	engine_vm_init(&t, "hello", 16);
	engine_vm_create(&t, &o);
	engine_vm_start(&t);
	pid = vm_instance_runner_pid(t.vm);
	CHECK(pid > 0);
	CHECK(engine_wait_ended(&t, 10000));
	engine_expect_end(&t, PVM_VM_FAILED, reason);
	if (!strstr(vm_instance_message(t.vm), message)) {
		fprintf(stderr, "%s: message \"%s\" lacks \"%s\"\n", mode,
			vm_instance_message(t.vm), message);
		exit(EXIT_FAILURE);
	}
	CHECK(kill(pid, 0) < 0 && errno == ESRCH); /* reaped */
	printf("%-12s -> failed/%s: %s\n", mode, pvm_death_reason_to_string(reason),
	       vm_instance_message(t.vm));
	engine_vm_done(&t);
	engine_fake_runner_remove(&fake);
}

int main(void)
{
	engine_vm t;
	pid_t pid;

	engine_require_kvm();
	run_fake("garbage", PVM_DEATH_PROTECTION_VIOLATION, "malformed message: bad magic");
	run_fake("fake-memory", PVM_DEATH_PROTECTION_VIOLATION, "does not match the request");
	run_fake("early-ready", PVM_DEATH_PROTECTION_VIOLATION, "ready before running");
	run_fake("exit", PVM_DEATH_START_FAILED, "exit status 3");
	/* text from the runner reaches D-Bus (UTF-8 only) and terminals: printable ASCII only */
	run_fake("bad-text", PVM_DEATH_START_FAILED, "runner: bad ?? text ?[2J end");

	/* freeing a running VM leaves no runner behind */
	engine_vm_init(&t, "spin", 16);
	engine_vm_create(&t, NULL);
	engine_vm_start(&t);
	CHECK(engine_wait_state(&t, PVM_VM_READY, 10000));
	pid = vm_instance_runner_pid(t.vm);
	engine_vm_done(&t);
	CHECK(kill(pid, 0) < 0 && errno == ESRCH);
	printf("engine-untrusted-runner: ok\n");
	return 0;
}
