/* Runners before their VM: what every runner gets from pvmd (the seccomp program and the empty
 * network namespace, both made once per process), the uid each one runs as, the spawn itself,
 * and the pool of ready runners. A pooled runner has /dev/kvm open and is sandboxed but for its
 * seccomp filter (runner/sandbox.c); it serves exactly one VM and ends with it, so no VM ever
 * runs in a process that held another VM. pvmd is single-threaded: the state here is its loop's.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "arch.h"
#include "runner-filter.h"
#include "runner-pool.h"
#include "runner-protocol.h"
#include "runner-uids.h"

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

/* ---- what every runner shares ---- */

static struct {
	bool made;
	void *filter;
	size_t filter_len;
	int netns_fd;
} kit = { .netns_fd = -1 };

/* An empty network namespace for the runners: made by this thread entering a new one and
 * coming back (only the calling thread moves), kept by its fd. */
static int kit_make_netns(int *ret, pvm_error *err)
{
	_cleanup_close_ int self = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	_cleanup_close_ int made = -1;

	if (self < 0)
		return pvm_error_set(err, errno, "opening pvmd's network namespace: %m");
	if (unshare(CLONE_NEWNET) < 0)
		return pvm_error_set(err, errno,
				     "unshare of a network namespace for the runners: %m (pvmd "
				     "must run as root on a kernel with namespaces)");
	made = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	if (setns(self, CLONE_NEWNET) < 0)
		return pvm_error_set(err, errno, "returning to pvmd's network namespace: %m");
	if (made < 0)
		return pvm_error_set(err, errno, "opening the runners' network namespace: %m");
	*ret = TAKE_FD(made);
	return 0;
}

static int kit_get(pvm_error *err)
{
	const pvm_arch *arch = pvm_arch_native();
	int r;

	if (kit.made)
		return 0;
	if (!arch)
		return pvm_error_set(err, ENOTSUP, "no KVM backend for this architecture");
	if (!kit.filter) {
		r = runner_filter_build(arch, &kit.filter, &kit.filter_len, err);
		if (r < 0)
			return r;
	}
	r = kit_make_netns(&kit.netns_fd, err);
	if (r < 0)
		return r;
	kit.made = true;
	return 0;
}

/* ---- uids ---- */

/* one allocation per process; the range can change only while none of its uids is in use */
static runner_uids uids;

static int uid_take(const runner_ids *ids, runner_proc *p, pvm_error *err)
{
	uid_t first = ids->uid_base ?: RUNNER_UIDS_FIRST_DEFAULT;
	uint32_t count = ids->uid_count ?: RUNNER_UIDS_COUNT_DEFAULT;
	int r;

	if (ids->runner_uid != 0) {
		p->uid = ids->runner_uid;
		p->gid = ids->runner_gid;
		return 0;
	}
	if (uids.first != first || uids.count != count) {
		if (uids.in_use > 0)
			return pvm_error_set(err, EBUSY,
					     "runner uid range %u+%u asked while uids of %u+%u are "
					     "in use",
					     (unsigned)first, count, (unsigned)uids.first,
					     uids.count);
		r = runner_uids_init(&uids, first, count, err);
		if (r < 0)
			return r;
	}
	r = runner_uids_alloc(&uids, &p->uid);
	if (r < 0)
		return pvm_error_set(err, -r, "all %u runner uids from %u are in use", count,
				     (unsigned)first);
	p->gid = p->uid;
	p->uid_allocated = true;
	return 0;
}

bool runner_uid_claim(const runner_ids *ids, uid_t uid)
{
	uid_t first = ids->uid_base ?: RUNNER_UIDS_FIRST_DEFAULT;
	uint32_t count = ids->uid_count ?: RUNNER_UIDS_COUNT_DEFAULT;

	if (ids->runner_uid != 0)
		return false;
	if ((uids.first != first || uids.count != count) &&
	    (uids.in_use > 0 || runner_uids_init(&uids, first, count, NULL) < 0))
		return false;
	return runner_uids_claim(&uids, uid) >= 0;
}

void runner_uid_release(uid_t uid)
{
	runner_uids_release(&uids, uid);
}

static bool ids_equal(const runner_ids *a, const runner_ids *b)
{
	return a->runner_uid == b->runner_uid && a->runner_gid == b->runner_gid &&
	       (a->uid_base ?: RUNNER_UIDS_FIRST_DEFAULT) ==
		   (b->uid_base ?: RUNNER_UIDS_FIRST_DEFAULT) &&
	       (a->uid_count ?: RUNNER_UIDS_COUNT_DEFAULT) ==
		   (b->uid_count ?: RUNNER_UIDS_COUNT_DEFAULT);
}

/* ---- spawning ---- */

/* The runner's whole environment: it needs none, and pvmd's own (NOTIFY_SOCKET, WATCHDOG_*,
 * LISTEN_*, the bus address, whatever the unit sets) is none of its business. Only the
 * sanitizer runtimes' settings pass, so sanitizer test builds run the runner as configured;
 * plain builds ignore them. */
static const char *const runner_env_passed[] = {
	"ASAN_OPTIONS",
	"UBSAN_OPTIONS",
	"LSAN_OPTIONS",
};

static void runner_env(char *ret[static ELEMENTSOF(runner_env_passed) + 1])
{
	size_t n = 0;

	for (size_t i = 0; i < ELEMENTSOF(runner_env_passed); i++) {
		const char *name = runner_env_passed[i];
		size_t len = strlen(name);
		for (char **e = environ; *e; e++)
			if (strncmp(*e, name, len) == 0 && (*e)[len] == '=') {
				ret[n++] = *e;
				break;
			}
	}
	ret[n] = NULL;
}

void runner_proc_release(runner_proc *p)
{
	if (p->sock >= 0)
		close(TAKE_FD(p->sock));
	if (p->pidfd >= 0)
		close(TAKE_FD(p->pidfd));
	if (p->uid_allocated) {
		runner_uids_release(&uids, p->uid);
		p->uid_allocated = false;
	}
	p->pid = 0;
}

void runner_proc_kill(runner_proc *p)
{
	if (p->pid > 0) {
		siginfo_t si;
		if (p->pidfd < 0 || syscall(SYS_pidfd_send_signal, p->pidfd, SIGKILL, NULL, 0) < 0)
			kill(p->pid, SIGKILL);
		while (waitid(P_PID, (id_t)p->pid, &si, WEXITED) < 0 && errno == EINTR)
			;
	}
	runner_proc_release(p);
}

int runner_spawn(const char *path, const runner_ids *ids, runner_proc *ret, pvm_error *err)
{
	char *envp[ELEMENTSOF(runner_env_passed) + 1];
	runner_proc p = RUNNER_PROC_NULL;
	runner_msg_prepare prep;
	int pair[2], r;

	r = kit_get(err);
	if (r < 0)
		return r;
	r = uid_take(ids, &p, err);
	if (r < 0)
		return r;
	runner_env(envp); /* before fork: the child only execs */
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) < 0) {
		r = pvm_error_set(err, errno, "socketpair: %m");
		runner_proc_release(&p);
		return r;
	}
	p.sock = pair[0];
	/* pvmd never blocks on its runner: a runner that stops reading only loses input. Set
	 * before the fork, so a failure needs no child to be reaped. */
	if (fcntl(p.sock, F_SETFL, O_NONBLOCK) < 0) {
		r = pvm_error_set(err, errno, "making the runner socket non-blocking: %m");
		close(pair[1]);
		runner_proc_release(&p);
		return r;
	}
	p.pid = fork();
	if (p.pid < 0) {
		r = pvm_error_set(err, errno, "fork: %m");
		close(pair[1]);
		p.pid = 0;
		runner_proc_release(&p);
		return r;
	}
	if (p.pid == 0) {
		/* child: only async-signal-safe calls until exec */
		char *argv[] = { (char *)"pvm-runner", NULL };
		sigset_t none;
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		if (dup2(pair[1], 3) < 0)
			_exit(127);
		syscall(SYS_close_range, 4, ~0U, 0);
		execve(path, argv, envp);
		_exit(127);
	}
	close(pair[1]);
	p.pidfd = (int)syscall(SYS_pidfd_open, p.pid, 0);
	if (p.pidfd < 0) {
		r = pvm_error_set(err, errno, "pidfd_open: %m");
		runner_proc_kill(&p);
		return r;
	}
	/* queued before the runner has even started: it finds them when it looks */
	prep = (runner_msg_prepare){ .uid = p.uid, .gid = p.gid };
	r = runner_msg_send(p.sock, RUNNER_MSG_FILTER, kit.filter, kit.filter_len, -1);
	if (r >= 0)
		r = runner_msg_send(p.sock, RUNNER_MSG_PREPARE, &prep, sizeof(prep), kit.netns_fd);
	if (r < 0) {
		r = pvm_error_set(err, -r, "sending the runner its sandbox: %s", strerror(-r));
		runner_proc_kill(&p);
		return r;
	}
	*ret = p;
	return 0;
}

/* ---- the pool ---- */

typedef struct pooled {
	runner_pool *pool;
	struct pooled *next;
	runner_proc proc;
	sd_event_source *child, *io;
	bool ready;	/* it said PREPARED, and may be handed out */
	bool was_ready; /* it said PREPARED: an end after that is no failure of the set-up */
	bool retiring;	/* killed on purpose (flush, drain): its end is no failure either */
} pooled;

struct runner_pool {
	sd_event *event;
	char *runner_path;
	runner_ids ids;
	unsigned size, n;
	pooled *runners;
	sd_event_source *refill;
	bool failing; /* a runner failed before it was ready: refill again only at a take */
	bool draining;
	void (*failed)(const char *message, void *userdata);
	void *userdata;
};

static void pool_unlink(runner_pool *p, pooled *r)
{
	for (pooled **q = &p->runners; *q; q = &(*q)->next)
		if (*q == r) {
			*q = r->next;
			break;
		}
	p->n--;
	r->child = sd_event_source_disable_unref(r->child);
	r->io = sd_event_source_disable_unref(r->io);
	free(r);
}

static void pool_schedule(runner_pool *p)
{
	if (!p->draining && !p->failing && p->n < p->size)
		sd_event_source_set_enabled(p->refill, SD_EVENT_ONESHOT);
}

static void pool_fail(runner_pool *p, const char *message)
{
	p->failing = true;
	if (p->failed)
		p->failed(message, p->userdata);
}

static int pool_on_child(sd_event_source *s, const siginfo_t *si, void *userdata)
{
	pooled *r = userdata;
	runner_pool *p = r->pool;

	/* the uid goes back once the process is gone: it is reaped as this returns, and pvmd
	 * gives nothing out before then (single-threaded) */
	if (!r->was_ready && !r->retiring && !p->failing) {
		char msg[96];
		snprintf(msg, sizeof(msg), "a pooled runner ended before it was ready (%s %d)",
			 si->si_code == CLD_EXITED ? "exit status" : "signal", si->si_status);
		pool_fail(p, msg);
	}
	sd_event_source_set_enabled(s, SD_EVENT_OFF);
	runner_proc_release(&r->proc);
	pool_unlink(p, r);
	pool_schedule(p);
	return 0;
}

/* A waiting runner says PREPARED once, or ERROR and exits; anything else ends it. */
static int pool_on_io(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	static uint8_t buf[RUNNER_MSG_MAX] __attribute__((aligned(8)));
	pooled *r = userdata;
	const char *reason = "";
	int mfd = -1, n;

	n = runner_msg_recv(r->proc.sock, buf, true, &mfd, &reason);
	if (mfd >= 0)
		close(mfd);
	if (n == -EAGAIN || n == -EINTR)
		return 0;
	if (n > 0 && ((runner_msg_header *)buf)->type == RUNNER_MSG_PREPARED && !r->ready) {
		const runner_msg_running *m = runner_msg_body(buf);
		if (m->uid == r->proc.uid && m->gid == r->proc.gid &&
		    m->namespaces == RUNNER_NS_ALL) {
			r->ready = r->was_ready = true;
			return 0;
		}
	}
	if (n > 0 && ((runner_msg_header *)buf)->type == RUNNER_MSG_ERROR && !r->ready &&
	    !r->pool->failing) {
		const runner_msg_error *e = runner_msg_body(buf);
		pool_fail(r->pool, e->message);
	}
	/* EOF, a malformed or unexpected message: this runner is not one to hand out */
	r->io = sd_event_source_disable_unref(r->io);
	r->ready = false;
	(void)syscall(SYS_pidfd_send_signal, r->proc.pidfd, SIGKILL, NULL, 0);
	return 0;
}

static int pool_on_refill(sd_event_source *s, void *userdata)
{
	runner_pool *p = userdata;
	pvm_error err = { 0 };
	pooled *r;
	int k;

	if (p->draining || p->failing || p->n >= p->size)
		return 0;
	r = calloc(1, sizeof(*r));
	if (!r)
		return 0;
	*r = (pooled){ .pool = p, .proc = RUNNER_PROC_NULL };
	k = runner_spawn(p->runner_path, &p->ids, &r->proc, &err);
	if (k >= 0)
		k = sd_event_add_child_pidfd(p->event, &r->child, r->proc.pidfd, WEXITED,
					     pool_on_child, r);
	if (k >= 0)
		k = sd_event_add_io(p->event, &r->io, r->proc.sock, EPOLLIN, pool_on_io, r);
	if (k < 0) {
		r->child = sd_event_source_disable_unref(r->child);
		r->io = sd_event_source_disable_unref(r->io);
		runner_proc_kill(&r->proc);
		free(r);
		pool_fail(p, err.message[0] ? err.message : strerror(-k));
		return 0;
	}
	r->next = p->runners;
	p->runners = r;
	p->n++;
	pool_schedule(p); /* the next one in a later iteration */
	return 0;
}

int runner_pool_new(sd_event *event, const runner_pool_options *o, runner_pool **ret,
		    pvm_error *err)
{
	_cleanup_(runner_pool_freep) runner_pool *p = NULL;
	sigset_t chld;
	int r;

	if (o->size > RUNNER_POOL_SIZE_MAX)
		return pvm_error_set(err, EINVAL, "runner pool of %u: at most %d", o->size,
				     RUNNER_POOL_SIZE_MAX);
	p = calloc(1, sizeof(*p));
	if (!p)
		return pvm_error_set(err, ENOMEM, "out of memory");
	p->event = sd_event_ref(event);
	p->runner_path = strdup(o->runner_path);
	if (!p->runner_path)
		return pvm_error_set(err, ENOMEM, "out of memory");
	p->ids = o->ids;
	p->size = o->size;
	p->failed = o->failed;
	p->userdata = o->userdata;
	/* its runners are watched with pidfd child sources, for which sd-event needs SIGCHLD
	 * blocked (as vm_instance_new does) */
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	pthread_sigmask(SIG_BLOCK, &chld, NULL);
	/* after everything else the loop has to do: a start is never behind a refill */
	r = sd_event_add_defer(event, &p->refill, pool_on_refill, p);
	if (r >= 0)
		r = sd_event_source_set_priority(p->refill, SD_EVENT_PRIORITY_IDLE);
	if (r < 0)
		return pvm_error_set(err, -r, "runner pool: %s", strerror(-r));
	sd_event_source_set_enabled(p->refill, SD_EVENT_OFF);
	pool_schedule(p);
	*ret = TAKE_PTR(p);
	return 0;
}

runner_pool *runner_pool_free(runner_pool *p)
{
	if (!p)
		return NULL;
	while (p->runners) {
		pooled *r = p->runners;
		r->child = sd_event_source_disable_unref(r->child);
		runner_proc_kill(&r->proc);
		pool_unlink(p, r);
	}
	sd_event_source_disable_unref(p->refill);
	sd_event_unref(p->event);
	free(p->runner_path);
	free(p);
	return NULL;
}

int runner_pool_take(runner_pool *p, const char *path, const runner_ids *ids, runner_proc *ret)
{
	pooled *r;

	if (!p || strcmp(path, p->runner_path) != 0 || !ids_equal(ids, &p->ids))
		return -EAGAIN;
	/* a start gives a pool that failed another chance */
	p->failing = false;
	for (r = p->runners; r && !r->ready; r = r->next)
		;
	if (r) {
		*ret = r->proc;
		r->proc = RUNNER_PROC_NULL;
		pool_unlink(p, r);
	}
	pool_schedule(p);
	return r ? 0 : -EAGAIN;
}

static void pool_retire_all(runner_pool *p)
{
	for (pooled *r = p->runners; r; r = r->next) {
		r->retiring = true;
		r->ready = false;
		(void)syscall(SYS_pidfd_send_signal, r->proc.pidfd, SIGKILL, NULL, 0);
	}
}

void runner_pool_flush(runner_pool *p)
{
	if (!p)
		return;
	pool_retire_all(p); /* each is replaced as its end is seen */
	p->failing = false;
}

void runner_pool_drain(runner_pool *p)
{
	if (!p)
		return;
	p->draining = true;
	sd_event_source_set_enabled(p->refill, SD_EVENT_OFF);
	pool_retire_all(p);
}

unsigned runner_pool_ready(const runner_pool *p, pid_t *ret, unsigned max)
{
	unsigned n = 0;

	for (const pooled *r = p ? p->runners : NULL; r; r = r->next)
		if (r->ready && n < max)
			ret[n++] = r->proc.pid;
	return n;
}
