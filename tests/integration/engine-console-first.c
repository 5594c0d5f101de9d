/* Contract: console bytes the runner sent right behind a state change are in the ring (and the
 * log) before pvmd publishes that change: a fake runner sends CREATED, RUNNING, a console line
 * and READY at once, before pvmd reads any of them; when RUNNING is published the line is
 * already in the ring, and no state is skipped. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "engine-harness.h"

static uint64_t now_msec(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

int main(void)
{
	const struct timespec tick = { .tv_nsec = 10 * 1000 * 1000 };
	engine_fake_runner f;
	vm_instance_options o = { 0 };
	engine_vm t;
	char sent[128];
	struct stat st;
	unsigned running = 0;
	uint64_t deadline;

	engine_require_kvm();
	engine_fake_runner_make(&f, "burst");
	snprintf(sent, sizeof(sent), "%s/sent", f.dir);
	o.runner_path = f.path;
	engine_vm_init(&t, "hello", 16);
	engine_vm_create(&t, &o);
	engine_vm_start(&t);
	/* the loop does not run until the runner has sent everything: pvmd reads it in one go */
	deadline = now_msec() + 20000;
	while (stat(sent, &st) < 0) {
		CHECK(now_msec() < deadline);
		nanosleep(&tick, NULL);
	}
	CHECK(engine_wait_state(&t, PVM_VM_READY, 20000));

	CHECK(engine_saw_state(&t, PVM_VM_STARTING));
	CHECK(engine_saw_state(&t, PVM_VM_RUNNING));
	while (t.states[running] != PVM_VM_RUNNING)
		running++;
	if (t.console_at[running] != strlen("burst\n")) {
		fprintf(stderr, "RUNNING published with %zu console bytes in the ring, want %zu\n",
			t.console_at[running], strlen("burst\n"));
		exit(EXIT_FAILURE);
	}
	CHECK(engine_console_has(&t, "burst\n"));

	engine_vm_done(&t);
	CHECK(unlink(sent) == 0);
	engine_fake_runner_remove(&f);
	printf("engine-console-first: ok\n");
	return 0;
}
