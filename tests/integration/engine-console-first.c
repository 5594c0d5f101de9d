/* Contract: console bytes the runner sent right behind a state change are in the ring (and the
 * log) before pvmd publishes that change: a fake runner sends CREATED, RUNNING, a console line
 * and READY at once, before pvmd reads any of them; when RUNNING is published the line is
 * already in the ring, and no state is skipped. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine-harness.h"

int main(void)
{
	engine_fake_runner f;
	engine_vm t;
	unsigned running = 0;

	engine_require_kvm();
	engine_burst_start(&t, &f);
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
	engine_fake_runner_remove(&f);
	printf("engine-console-first: ok\n");
	return 0;
}
