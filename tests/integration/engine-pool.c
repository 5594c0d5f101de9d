/* Contract: pvmd's pool of ready runners. A pool fills up to its size off the start path; a
 * waiting runner is seen from outside already sandboxed as far as it can be without its VM: its
 * own non-root uid (distinct per runner), no supplementary groups, an empty bounding set and of
 * the capabilities at most CAP_IPC_LOCK and CAP_SYS_RESOURCE, no_new_privs, not dumpable, an
 * empty root, mount/IPC/UTS namespaces of its own, pvmd's runners' network namespace (not pvmd's,
 * no interface but lo, no address), /dev/kvm open, and no VM, vCPU or guest memory. A start
 * takes one (its pid runs the VM), which ends fully locked down (no capabilities, seccomp); the
 * pool refills with new processes; a runner serves one VM only (a restart gets another). A
 * waiting runner that dies is replaced; a flush (reload) replaces all; a drain (shutdown) ends
 * them and stops refilling. A pool whose runners fail says so once and does not respawn in a
 * loop; starts then spawn their own runner. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "engine-harness.h"
#include "runner-pool.h"

#define POOL_SIZE 2

static sd_event *loop;
static unsigned failures;
static char last_failure[256];

static void on_failed(const char *message, void *userdata)
{
	failures++;
	snprintf(last_failure, sizeof(last_failure), "%s", message);
}

static uint64_t now_msec(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Run the loop until the pool has n ready runners, none of them in `not` (n_not pids). */
static bool wait_ready(runner_pool *p, unsigned n, const pid_t * not, unsigned n_not,
		       pid_t ret[POOL_SIZE])
{
	uint64_t deadline = now_msec() + 20000;

	while (now_msec() < deadline) {
		unsigned k = runner_pool_ready(p, ret, POOL_SIZE);
		bool fresh = k == n;
		for (unsigned i = 0; i < k && fresh; i++)
			for (unsigned j = 0; j < n_not; j++)
				fresh = fresh && ret[i] != not [j];
		if (fresh)
			return true;
		CHECK(sd_event_run(loop, 50 * 1000) >= 0);
	}
	return false;
}

static bool gone(pid_t pid)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	return access(path, F_OK) < 0 ||
	       strcmp(engine_proc_status(pid, "State"), "Z (zombie)") == 0;
}

/* The loop runs (it reaps) until pid has gone. */
static bool wait_gone(pid_t pid)
{
	uint64_t deadline = now_msec() + 20000;

	while (now_msec() < deadline && !gone(pid))
		CHECK(sd_event_run(loop, 50 * 1000) >= 0);
	return gone(pid);
}

/* A waiting runner from outside. */
static void expect_waiting(pid_t pid, uid_t uid)
{
	char ids[64];
	unsigned long long eff;

	snprintf(ids, sizeof(ids), "%u\t%u\t%u\t%u", (unsigned)uid, (unsigned)uid, (unsigned)uid,
		 (unsigned)uid);
	engine_expect_status(pid, "Uid", ids);
	engine_expect_status(pid, "Gid", ids);
	engine_expect_status(pid, "Groups", "");
	engine_expect_status(pid, "CapBnd", "0000000000000000");
	engine_expect_status(pid, "CapInh", "0000000000000000");
	engine_expect_status(pid, "CapAmb", "0000000000000000");
	eff = strtoull(engine_proc_status(pid, "CapEff"), NULL, 16);
	/* CAP_IPC_LOCK (14) and CAP_SYS_RESOURCE (24) at most */
	CHECK((eff & ~((1ULL << 14) | (1ULL << 24))) == 0);
	engine_expect_status(pid, "NoNewPrivs", "1");
	engine_expect_status(pid, "Seccomp", "0");
	CHECK(!engine_proc_dumpable(pid));
	CHECK(engine_count_fds(pid, "/dev/kvm") == 1);
	CHECK(engine_count_fds(pid, "kvm-vm") == 0);
	CHECK(engine_count_fds(pid, "kvm-vcpu") == 0);
	CHECK(engine_count_fds(pid, "kvm-gmem") == 0);
	CHECK(engine_count_fds(pid, "memfd:") == 0);
	engine_expect_empty_root(pid);
	CHECK(!engine_same_namespace(0, pid, "mnt"));
	CHECK(!engine_same_namespace(0, pid, "ipc"));
	CHECK(!engine_same_namespace(0, pid, "uts"));
	CHECK(!engine_same_namespace(0, pid, "net"));
}

static uid_t uid_of(pid_t pid)
{
	return (uid_t)strtoul(engine_proc_status(pid, "Uid"), NULL, 10);
}

static void start_on(engine_vm *t, runner_pool *p)
{
	vm_instance_options o = { .pool = p };

	engine_vm_init(t, "wait-stop", 16);
	sd_event_unref(t->event);
	t->event = sd_event_ref(loop);
	engine_vm_create(t, &o);
	engine_vm_start(t);
	CHECK(engine_wait_state(t, PVM_VM_READY, 20000));
}

static void stop(engine_vm *t)
{
	pvm_error err = { 0 };

	CHECK(vm_instance_kill(t->vm, &err) == 0);
	CHECK(engine_wait_ended(t, 10000));
}

int main(void)
{
	runner_pool_options o = { .runner_path = engine_runner_path(),
				  .size = POOL_SIZE,
				  .failed = on_failed };
	_cleanup_(runner_pool_freep) runner_pool *p = NULL;
	pid_t ready[POOL_SIZE], before[POOL_SIZE], pid_a, pid_b;
	pvm_error err = { 0 };
	engine_vm a, b;

	engine_require_kvm();
	CHECK(sd_event_new(&loop) >= 0);
	CHECK(runner_pool_new(loop, &o, &p, &err) == 0);
	CHECK(runner_pool_ready(p, ready, POOL_SIZE) == 0); /* filled from the loop, not here */
	CHECK(wait_ready(p, POOL_SIZE, NULL, 0, ready));
	for (unsigned i = 0; i < POOL_SIZE; i++) {
		uid_t uid = uid_of(ready[i]);
		CHECK(uid != 0);
		expect_waiting(ready[i], uid);
	}
	CHECK(uid_of(ready[0]) != uid_of(ready[1]));
	/* one network namespace for all runners, not pvmd's: only lo, without an address */
	CHECK(engine_same_namespace(ready[0], ready[1], "net"));
	CHECK(!engine_same_namespace(ready[0], ready[1], "mnt"));
	engine_expect_only_loopback(ready[0]);
	printf("pool: runners %d and %d wait, uids %u and %u, sandboxed but for seccomp\n",
	       (int)ready[0], (int)ready[1], (unsigned)uid_of(ready[0]),
	       (unsigned)uid_of(ready[1]));

	/* a start takes a waiting runner; the pool refills with new processes */
	memcpy(before, ready, sizeof(before));
	start_on(&a, p);
	pid_a = vm_instance_runner_pid(a.vm);
	CHECK(pid_a == before[0] || pid_a == before[1]);
	engine_expect_status(pid_a, "CapEff", "0000000000000000");
	engine_expect_status(pid_a, "CapPrm", "0000000000000000");
	engine_expect_status(pid_a, "Seccomp", "2");
	CHECK(engine_count_fds(pid_a, "/dev/kvm") == 0);
	CHECK(wait_ready(p, POOL_SIZE, &pid_a, 1, ready));
	start_on(&b, p);
	pid_b = vm_instance_runner_pid(b.vm);
	CHECK(pid_b != pid_a && uid_of(pid_b) != uid_of(pid_a));
	CHECK(engine_same_namespace(pid_a, pid_b, "net"));
	CHECK(!engine_same_namespace(0, pid_b, "net"));
	printf("pool: VMs on runners %d and %d\n", (int)pid_a, (int)pid_b);

	/* a runner serves one VM: the VM's next start gets another process */
	stop(&a);
	CHECK(wait_gone(pid_a));
	engine_vm_start(&a);
	CHECK(engine_wait_state(&a, PVM_VM_READY, 20000));
	CHECK(vm_instance_runner_pid(a.vm) != pid_a);
	stop(&a);
	stop(&b);
	engine_vm_done(&a);
	engine_vm_done(&b);

	/* a waiting runner that dies is replaced */
	CHECK(wait_ready(p, POOL_SIZE, NULL, 0, before));
	CHECK(kill(before[0], SIGKILL) == 0);
	CHECK(wait_ready(p, POOL_SIZE, before, 1, ready));
	CHECK(failures == 0);

	/* flush (pvmd's reload): every waiting runner is replaced */
	memcpy(before, ready, sizeof(before));
	runner_pool_flush(p);
	CHECK(wait_ready(p, POOL_SIZE, before, POOL_SIZE, ready));
	CHECK(failures == 0);

	/* drain (shutdown): the waiting runners end, none comes back */
	runner_pool_drain(p);
	CHECK(wait_gone(ready[0]) && wait_gone(ready[1]));
	for (int i = 0; i < 10; i++)
		CHECK(sd_event_run(loop, 10 * 1000) >= 0);
	CHECK(runner_pool_ready(p, ready, POOL_SIZE) == 0);
	p = runner_pool_free(p);

	/* runners that cannot start: said once, no respawn loop; a start spawns its own */
	o.runner_path = "/nonexistent/pvm-runner";
	CHECK(runner_pool_new(loop, &o, &p, &err) == 0);
	for (uint64_t end = now_msec() + 20000; failures == 0 && now_msec() < end;)
		CHECK(sd_event_run(loop, 50 * 1000) >= 0);
	printf("pool with a missing runner: %u failure: %s\n", failures, last_failure);
	CHECK(failures == 1);
	for (int i = 0; i < 20; i++)
		CHECK(sd_event_run(loop, 10 * 1000) >= 0);
	CHECK(failures == 1);
	CHECK(runner_pool_ready(p, ready, POOL_SIZE) == 0);
	start_on(&a, p); /* the pool's runner path is another: a runner of its own */
	stop(&a);
	engine_vm_done(&a);
	p = runner_pool_free(p);
	sd_event_unref(loop);
	printf("engine-pool: ok\n");
	return 0;
}
