/* Shared helpers for the engine integration tests: they drive vm_instance directly on an
 * sd-event loop with the build tree's pvm-runner and test guests, on the real /dev/kvm. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <systemd/sd-event.h>

#include "config.h"
#include "vm-instance.h"

#define ENGINE_SKIP 77

typedef struct engine_vm {
	sd_event *event;
	vm_instance *vm;
	pvm_config cfg;
	char kernel[512];
	char log_dir[128];
	/* every state the VM went through, in order, and the console bytes in the ring when
	 * each was published */
	enum pvm_vm_state states[64];
	size_t console_at[64];
	unsigned n_states;
} engine_vm;

/* Exit 77 when /dev/kvm is absent; fail loudly when not root (the runner drops privileges). */
void engine_require_kvm(void);
/* The build tree's pvm-runner. */
const char *engine_runner_path(void);

/* A config for guests/x86_64/<guest>.elf with this much RAM. */
void engine_vm_init(engine_vm *t, const char *guest, uint32_t memory_mib);
/* Create the instance with default test options (log dir in a fresh temp dir). */
void engine_vm_create(engine_vm *t, const vm_instance_options *opts);
void engine_vm_start(engine_vm *t);
void engine_vm_done(engine_vm *t);

/* Run the loop until the VM is in `state` (or has ended, for STOPPED/FAILED) or the deadline. */
bool engine_wait_state(engine_vm *t, enum pvm_vm_state state, uint64_t timeout_msec);
bool engine_wait_ended(engine_vm *t, uint64_t timeout_msec);
/* Run the loop until the console ring contains `needle`. */
bool engine_wait_console(engine_vm *t, const char *needle, uint64_t timeout_msec);
bool engine_console_has(engine_vm *t, const char *needle);
bool engine_saw_state(const engine_vm *t, enum pvm_vm_state state);

/* A runner path that runs engine-fake-runner in `mode` (pvmd passes its runner no environment
 * of its own: a wrapper script sets the mode, and ENGINE_FAKE_DIR to `dir`, where a mode may
 * leave files for the test). Remove it with engine_fake_runner_remove. */
typedef struct engine_fake_runner {
	char dir[64];
	char path[96];
} engine_fake_runner;
void engine_fake_runner_make(engine_fake_runner *f, const char *mode);
/* Wait, without running any loop, for a file a fake runner makes (polled, with a deadline). */
bool engine_wait_file(const char *path, uint64_t timeout_msec);
/* A VM on a fake runner in mode "burst", started; the loop runs only once the runner has sent
 * CREATED, RUNNING, a console line and READY (so pvmd reads them in one go), until READY. */
void engine_burst_start(engine_vm *t, engine_fake_runner *f);
void engine_fake_runner_remove(engine_fake_runner *f);

/* A process seen from outside, through /proc/<pid>: a field of its status (a static buffer),
 * a field that must read `want`, its fds whose link target contains needle, whether it is
 * dumpable, its root (must be an empty directory), and whether two processes share a
 * namespace of this kind (pid 0: this process). */
const char *engine_proc_status(pid_t pid, const char *field);
void engine_expect_status(pid_t pid, const char *field, const char *want);
int engine_count_fds(pid_t pid, const char *needle);
bool engine_proc_dumpable(pid_t pid);
void engine_expect_empty_root(pid_t pid);
bool engine_same_namespace(pid_t a, pid_t b, const char *kind);
/* Its network namespace has no interface but lo, and lo no address. */
void engine_expect_only_loopback(pid_t pid);

/* Check an outcome and print what happened when it is not the expected one. */
void engine_expect_end(engine_vm *t, enum pvm_vm_state state, enum pvm_death_reason reason);

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);   \
			exit(EXIT_FAILURE);                                                        \
		}                                                                                  \
	} while (0)
