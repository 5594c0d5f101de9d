/* Contract: every guest ends in a defined state with the right death reason, however it
 * behaves: spinning or idle-halted guests are ended by the stop timeout (killed), a guest that
 * never signals ready by the boot timeout, unknown I/O is survived, a console flood stays in a
 * bounded ring and still stops gracefully, an instruction KVM cannot emulate ends as FAILED
 * (emulation-failure) with the exit details, and so does a triple fault, which this host
 * reports either as an internal error (int3 without an IDT: emulation-failure) or as
 * KVM_EXIT_SHUTDOWN (ud2 without an IDT: crash); an i8042 reset is a reboot; bad payloads and
 * configs fail the start with a message. */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "engine-harness.h"

enum action { RUN_TO_END, STOP_WHEN_READY };

static const struct guest_case {
	const char *guest;
	uint32_t boot_timeout_ms;
	enum action action;
	uint64_t stop_timeout_msec;
	const char *wait_message; /* before stopping: the message must contain this */
	enum pvm_vm_state state;
	enum pvm_death_reason reason;
	const char *console; /* must appear in the console */
	const char *message; /* must appear in the final message */
} cases[] = {
	{ "spin", 0, STOP_WHEN_READY, 300, NULL, PVM_VM_STOPPED, PVM_DEATH_KILLED,
	  "spinning forever", "did not power off" },
	{ "no-ready", 500, RUN_TO_END, 0, NULL, PVM_VM_FAILED, PVM_DEATH_BOOT_TIMEOUT,
	  "never ready", "did not signal ready within 500 ms" },
	{ "unknown-io", 0, RUN_TO_END, 0, NULL, PVM_VM_STOPPED, PVM_DEATH_SHUTDOWN, ": all-ones ok",
	  "interrupts disabled" },
	{ "halt-idle", 0, STOP_WHEN_READY, 300, "idle halt", PVM_VM_STOPPED, PVM_DEATH_KILLED,
	  "halting with interrupts enabled", "did not power off" },
	{ "bad-fetch", 0, RUN_TO_END, 0, NULL, PVM_VM_FAILED, PVM_DEATH_EMULATION_FAILURE,
	  "jumping to 0xd0000000", "KVM_EXIT_INTERNAL_ERROR" },
	{ "triple-fault", 0, RUN_TO_END, 0, NULL, PVM_VM_FAILED, PVM_DEATH_EMULATION_FAILURE,
	  "empty IDT", "KVM_EXIT_INTERNAL_ERROR" },
	{ "undefined-op", 0, RUN_TO_END, 0, NULL, PVM_VM_FAILED, PVM_DEATH_CRASH,
	  "ud2 without an IDT", "triple fault (KVM_EXIT_SHUTDOWN)" },
	{ "reboot", 0, RUN_TO_END, 0, NULL, PVM_VM_STOPPED, PVM_DEATH_REBOOT, "resetting",
	  "i8042 reset" },
};

static void run_case(const struct guest_case *c)
{
	engine_vm t;
	pvm_error err = { 0 };

	engine_vm_init(&t, c->guest, 16);
	t.cfg.boot_timeout_ms = c->boot_timeout_ms;
	engine_vm_create(&t, NULL);
	engine_vm_start(&t);
	if (c->action == STOP_WHEN_READY) {
		CHECK(engine_wait_state(&t, PVM_VM_READY, 10000));
		if (c->wait_message) {
			/* the runner's notice arrives on the loop */
			for (int i = 0;
			     i < 100 && !strstr(vm_instance_message(t.vm), c->wait_message); i++)
				sd_event_run(t.event, 50 * 1000);
			CHECK(strstr(vm_instance_message(t.vm), c->wait_message));
		}
		/* the guest's line may come after READY: stop it only once it has said it, so a
		 * slow host cannot kill it before it speaks */
		if (c->console)
			CHECK(engine_wait_console(&t, c->console, 10000));
		CHECK(vm_instance_stop(t.vm, c->stop_timeout_msec * 1000, &err) == 0);
	}
	CHECK(engine_wait_ended(&t, 20000));
	engine_expect_end(&t, c->state, c->reason);
	if (c->console)
		CHECK(engine_console_has(&t, c->console));
	if (c->message && !strstr(vm_instance_message(t.vm), c->message)) {
		fprintf(stderr, "%s: message \"%s\" lacks \"%s\"\n", c->guest,
			vm_instance_message(t.vm), c->message);
		exit(EXIT_FAILURE);
	}
	printf("%-12s -> %s/%s: %s\n", c->guest, pvm_vm_state_to_string(vm_instance_state(t.vm)),
	       pvm_death_reason_to_string(vm_instance_death_reason(t.vm)),
	       vm_instance_message(t.vm));
	engine_vm_done(&t);
}

/* A flooding guest: the ring holds exactly its size of the newest output, and the guest still
 * stops gracefully. */
static void flood(void)
{
	vm_instance_options o = { .console_ring_size = 4096 };
	pvm_error err = { 0 };
	char *console = NULL;
	size_t len = 0;
	engine_vm t;

	engine_vm_init(&t, "flood", 16);
	engine_vm_create(&t, &o);
	engine_vm_start(&t);
	CHECK(engine_wait_console(&t, "line 300\n", 20000));
	CHECK(vm_instance_console_snapshot(t.vm, &console, &len) == 0);
	CHECK(len == 4096 && strlen(console) == 4096);
	CHECK(!strstr(console, "line 0\n")); /* the oldest output was dropped */
	free(console);
	CHECK(vm_instance_stop(t.vm, 10 * 1000000ULL, &err) == 0);
	CHECK(engine_wait_ended(&t, 15000));
	engine_expect_end(&t, PVM_VM_STOPPED, PVM_DEATH_STOPPED);
	CHECK(engine_console_has(&t, "stop requested, powering off"));
	printf("flood        -> stopped/stopped, ring bounded at 4096 bytes\n");
	engine_vm_done(&t);
}

/* Starts that must fail before any guest code runs, with a message naming the problem. */
static void bad_start(const char *what, void (*setup)(engine_vm *t), bool sync, const char *message)
{
	pvm_error err = { 0 };
	engine_vm t;
	int r;

	engine_vm_init(&t, "hello", 16);
	setup(&t);
	engine_vm_create(&t, NULL);
	r = vm_instance_start(t.vm, &err);
	if (sync)
		CHECK(r < 0);
	else
		CHECK(r == 0 && engine_wait_ended(&t, 10000));
	engine_expect_end(&t, PVM_VM_FAILED, PVM_DEATH_START_FAILED);
	if (!strstr(vm_instance_message(t.vm), message)) {
		fprintf(stderr, "%s: message \"%s\" lacks \"%s\"\n", what,
			vm_instance_message(t.vm), message);
		exit(EXIT_FAILURE);
	}
	CHECK(vm_instance_runner_pid(t.vm) == 0);
	printf("%-12s -> failed/start-failed: %s\n", what, vm_instance_message(t.vm));
	engine_vm_done(&t);
}

/* The engine loads only a payload copy that cannot change after pvmd hashed it. */
static void unsealed_payload(void)
{
	pvm_error err = { 0 };
	engine_vm t;
	int memfd = memfd_create("unsealed", MFD_CLOEXEC | MFD_ALLOW_SEALING);

	CHECK(memfd >= 0 && write(memfd, "payload", 7) == 7);
	engine_vm_init(&t, "hello", 16);
	engine_vm_create(&t, NULL);
	CHECK(vm_instance_set_payload(t.vm, memfd, -1, &err) == -EPERM);
	CHECK(fcntl(memfd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE) == 0);
	CHECK(vm_instance_set_payload(t.vm, memfd, -1, &err) == -EPERM); /* F_SEAL_SEAL missing */
	printf("unsealed     -> refused: %s\n", err.message);
	close(memfd);
	engine_vm_done(&t);
}

static void not_pvh(engine_vm *t)
{
	snprintf(t->kernel, sizeof(t->kernel), "%s",
		 engine_runner_path()); /* an ELF without the note */
}

static void protected_on_x86(engine_vm *t)
{
	t->cfg.protected_vm = true;
}

int main(void)
{
	engine_require_kvm();
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		run_case(&cases[i]);
	flood();
	unsealed_payload();
	bad_start("not PVH", not_pvh, true, "PVH ELF: ");
	bad_start("protected", protected_on_x86, false, "protected_vm requested");
	printf("engine-misbehave: ok\n");
	return 0;
}
