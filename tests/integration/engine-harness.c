/* Engine integration test helpers: config for a test guest, an event loop with deadlines
 * (never a fixed sleep), and outcome checks that print the VM's console and message. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <sys/types.h>
#include <unistd.h>

#include "caller-fd.h"
#include "engine-harness.h"

void engine_require_kvm(void)
{
	if (access("/dev/kvm", F_OK) < 0) {
		printf("SKIP: /dev/kvm is absent on this machine\n");
		exit(ENGINE_SKIP);
	}
	if (geteuid() != 0) {
		fprintf(stderr,
			"FAIL: the engine tests need root (the runner drops to its own uid)\n");
		exit(EXIT_FAILURE);
	}
}

static void on_changed(vm_instance *vm, void *userdata)
{
	engine_vm *t = userdata;
	enum pvm_vm_state s = vm_instance_state(vm);

	char *ring = NULL;
	size_t len = 0;

	if (t->n_states < 64 && (t->n_states == 0 || t->states[t->n_states - 1] != s)) {
		CHECK(vm_instance_console_snapshot(vm, &ring, &len) == 0);
		free(ring);
		t->console_at[t->n_states] = len;
		t->states[t->n_states++] = s;
	}
}

void engine_vm_init(engine_vm *t, const char *guest, uint32_t memory_mib)
{
	memset(t, 0, sizeof(*t));
	snprintf(t->kernel, sizeof(t->kernel), "%s/%s.elf", ENGINE_GUEST_DIR, guest);
	snprintf(t->cfg.name, sizeof(t->cfg.name), "test-%s", guest);
	t->cfg.kernel = t->kernel;
	t->cfg.memory_mib = memory_mib;
	t->cfg.cpus = 1;
	t->cfg.memory_backing = PVM_MEMORY_BACKING_GUEST_MEMFD;
	t->cfg.payload_format = PVM_PAYLOAD_AUTO;
	t->cfg.console_output = PVM_CONSOLE_RING_AND_LOG;
	CHECK(sd_event_new(&t->event) >= 0);
}

void engine_vm_create(engine_vm *t, const vm_instance_options *opts)
{
	vm_instance_callbacks cb = { .changed = on_changed };
	vm_instance_options o = { 0 };
	pvm_error err = { 0 };

	if (opts)
		o = *opts;
	if (!o.runner_path)
		o.runner_path = ENGINE_RUNNER;
	if (!o.log_dir) {
		snprintf(t->log_dir, sizeof(t->log_dir), "/tmp/pvm-engine-test-XXXXXX");
		CHECK(mkdtemp(t->log_dir));
		o.log_dir = t->log_dir;
	}
	if (vm_instance_new(t->event, &t->cfg, &o, &cb, t, &t->vm, &err) < 0) {
		fprintf(stderr, "vm_instance_new: %s\n", err.message);
		exit(EXIT_FAILURE);
	}
	/* the payload as pvmd hands it over: a sealed copy of the guest file */
	_cleanup_(caller_payload_done) caller_payload payload = CALLER_PAYLOAD_NULL;
	_cleanup_close_ int fd = open(t->kernel, O_RDONLY | O_CLOEXEC);
	if (fd < 0 ||
	    caller_payload_copy(fd, "kernel", (uint64_t)t->cfg.memory_mib << 20, UINT64_MAX,
				&payload, &err) < 0 ||
	    vm_instance_set_payload(t->vm, payload.memfd, -1, &err) < 0) {
		fprintf(stderr, "payload %s: %s\n", t->kernel,
			fd < 0 ? strerror(errno) : err.message);
		exit(EXIT_FAILURE);
	}
}

void engine_vm_start(engine_vm *t)
{
	pvm_error err = { 0 };

	if (vm_instance_start(t->vm, &err) < 0) {
		fprintf(stderr, "vm_instance_start: %s\n", err.message);
		exit(EXIT_FAILURE);
	}
}

void engine_vm_done(engine_vm *t)
{
	char path[256];

	t->vm = vm_instance_free(t->vm);
	t->event = sd_event_unref(t->event);
	if (t->log_dir[0]) {
		snprintf(path, sizeof(path), "%s/%s.log", t->log_dir, t->cfg.name);
		unlink(path);
		rmdir(t->log_dir);
	}
}

void engine_fake_runner_make(engine_fake_runner *f, const char *mode)
{
	FILE *script;

	snprintf(f->dir, sizeof(f->dir), "/tmp/pvm-fake-runner.XXXXXX");
	CHECK(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/runner", f->dir);
	script = fopen(f->path, "we");
	CHECK(script);
	fprintf(script,
		"#!/bin/sh\nENGINE_FAKE_RUNNER=%s ENGINE_FAKE_DIR=%s ENGINE_FAKE_PARENT=$PPID exec "
		"%s\n",
		mode, f->dir, ENGINE_FAKE_RUNNER);
	CHECK(fclose(script) == 0);
	CHECK(chmod(f->path, 0755) == 0);
}

void engine_burst_start(engine_vm *t, engine_fake_runner *f)
{
	vm_instance_options o = { 0 };
	char sent[128];

	engine_fake_runner_make(f, "burst");
	o.runner_path = f->path;
	engine_vm_init(t, "hello", 16);
	engine_vm_create(t, &o);
	engine_vm_start(t);
	snprintf(sent, sizeof(sent), "%s/sent", f->dir);
	CHECK(engine_wait_file(sent, 20000));
	CHECK(unlink(sent) == 0);
	CHECK(engine_wait_state(t, PVM_VM_READY, 20000));
}

void engine_fake_runner_remove(engine_fake_runner *f)
{
	CHECK(unlink(f->path) == 0 && rmdir(f->dir) == 0);
}

static uint64_t now_msec(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

bool engine_wait_file(const char *path, uint64_t timeout_msec)
{
	const struct timespec tick = { .tv_nsec = 10 * 1000 * 1000 };
	uint64_t deadline = now_msec() + timeout_msec;
	struct stat st;

	while (stat(path, &st) < 0) {
		if (now_msec() >= deadline)
			return false;
		nanosleep(&tick, NULL);
	}
	return true;
}

static bool run_until(engine_vm *t, bool (*pred)(engine_vm *t, const void *arg), const void *arg,
		      uint64_t timeout_msec)
{
	uint64_t deadline = now_msec() + timeout_msec;

	while (!pred(t, arg)) {
		if (now_msec() >= deadline)
			return false;
		CHECK(sd_event_run(t->event, 50 * 1000) >= 0);
	}
	return true;
}

static bool has_ended(engine_vm *t, const void *arg)
{
	enum pvm_vm_state s = vm_instance_state(t->vm);
	return s == PVM_VM_STOPPED || s == PVM_VM_FAILED;
}

static bool in_state(engine_vm *t, const void *arg)
{
	enum pvm_vm_state want = *(const enum pvm_vm_state *)arg;
	return vm_instance_state(t->vm) == want || has_ended(t, NULL);
}

bool engine_wait_state(engine_vm *t, enum pvm_vm_state state, uint64_t timeout_msec)
{
	return run_until(t, in_state, &state, timeout_msec) && vm_instance_state(t->vm) == state;
}

bool engine_wait_ended(engine_vm *t, uint64_t timeout_msec)
{
	return run_until(t, has_ended, NULL, timeout_msec);
}

bool engine_console_has(engine_vm *t, const char *needle)
{
	char *buf = NULL;
	size_t len = 0;
	bool found;

	CHECK(vm_instance_console_snapshot(t->vm, &buf, &len) == 0);
	found = strstr(buf, needle) != NULL;
	free(buf);
	return found;
}

static bool console_pred(engine_vm *t, const void *arg)
{
	return engine_console_has(t, arg);
}

bool engine_wait_console(engine_vm *t, const char *needle, uint64_t timeout_msec)
{
	return run_until(t, console_pred, needle, timeout_msec);
}

bool engine_saw_state(const engine_vm *t, enum pvm_vm_state state)
{
	for (unsigned i = 0; i < t->n_states; i++)
		if (t->states[i] == state)
			return true;
	return false;
}

void engine_expect_end(engine_vm *t, enum pvm_vm_state state, enum pvm_death_reason reason)
{
	enum pvm_vm_state s = vm_instance_state(t->vm);
	enum pvm_death_reason r = vm_instance_death_reason(t->vm);
	char *console = NULL;
	size_t len = 0;

	if (s == state && r == reason)
		return;
	vm_instance_console_snapshot(t->vm, &console, &len);
	fprintf(stderr, "%s: expected %s/%s, got %s/%s\nmessage: %s\nconsole:\n%s\n", t->cfg.name,
		pvm_vm_state_to_string(state), pvm_death_reason_to_string(reason),
		pvm_vm_state_to_string(s), pvm_death_reason_to_string(r),
		vm_instance_message(t->vm), console ? console : "");
	free(console);
	exit(EXIT_FAILURE);
}

const char *engine_runner_path(void)
{
	return ENGINE_RUNNER;
}

/* ---- a process seen from outside (/proc) ---- */

const char *engine_proc_status(pid_t pid, const char *field)
{
	static char value[256];
	char path[64], line[512];
	size_t n = strlen(field);
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "re");
	CHECK(f);
	value[0] = '\0';
	while (fgets(line, sizeof(line), f))
		if (strncmp(line, field, n) == 0 && line[n] == ':') {
			char *v = line + n + 1;
			v += strspn(v, " \t");
			v[strcspn(v, "\n")] = '\0';
			snprintf(value, sizeof(value), "%s", v);
		}
	fclose(f);
	return value;
}

void engine_expect_status(pid_t pid, const char *field, const char *want)
{
	const char *got = engine_proc_status(pid, field);
	if (strcmp(got, want) != 0) {
		fprintf(stderr, "runner %s: \"%s\", expected \"%s\"\n", field, got, want);
		exit(EXIT_FAILURE);
	}
}

int engine_count_fds(pid_t pid, const char *needle)
{
	char dir[64], path[384], target[256];
	struct dirent *de;
	int count = 0;
	DIR *d;

	snprintf(dir, sizeof(dir), "/proc/%d/fd", (int)pid);
	d = opendir(dir);
	CHECK(d);
	while ((de = readdir(d))) {
		ssize_t n;
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		n = readlink(path, target, sizeof(target) - 1);
		if (n <= 0)
			continue;
		target[n] = '\0';
		if (strstr(target, needle))
			count++;
	}
	closedir(d);
	return count;
}

/* /proc/<pid> of a non-dumpable process belongs to root; a dumpable one to its uid. */
bool engine_proc_dumpable(pid_t pid)
{
	char path[64];
	struct stat st;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	CHECK(stat(path, &st) == 0);
	return st.st_uid != 0;
}

void engine_expect_empty_root(pid_t pid)
{
	char path[64];
	struct dirent *de;
	int entries = 0;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/root", (int)pid);
	d = opendir(path);
	CHECK(d);
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0) {
			fprintf(stderr, "runner's root holds '%s'\n", de->d_name);
			entries++;
		}
	closedir(d);
	CHECK(entries == 0);
}

bool engine_same_namespace(pid_t a, pid_t b, const char *kind)
{
	char path[64], la[64] = "", lb[64] = "";

	snprintf(path, sizeof(path), "/proc/%d/ns/%s", (int)(a ?: getpid()), kind);
	CHECK(readlink(path, la, sizeof(la) - 1) > 0);
	snprintf(path, sizeof(path), "/proc/%d/ns/%s", (int)(b ?: getpid()), kind);
	CHECK(readlink(path, lb, sizeof(lb) - 1) > 0);
	return strcmp(la, lb) == 0;
}

/* Its network namespace (pvmd's runners' own) has no interface but lo, and lo no address (it
 * is down): nothing to reach from there. */
void engine_expect_only_loopback(pid_t pid)
{
	char path[64], line[256];
	unsigned devs = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/net/dev", (int)pid);
	CHECK((f = fopen(path, "re")));
	while (fgets(line, sizeof(line), f))
		if (strchr(line, ':')) {
			CHECK(strncmp(line + strspn(line, " "), "lo:", 3) == 0);
			devs++;
		}
	fclose(f);
	CHECK(devs == 1);
	snprintf(path, sizeof(path), "/proc/%d/net/if_inet6", (int)pid);
	CHECK((f = fopen(path, "re")));
	CHECK(!fgets(line, sizeof(line), f));
	fclose(f);
}
