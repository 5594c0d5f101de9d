/* Runner processes before they have a VM: spawning one (fork, exec, its socket on fd 3, then the
 * seccomp program and the sandbox request sent at once), the uid each runs as, what every runner
 * shares (the program and an empty network namespace, made once per pvmd), and the pool of
 * ready runners pvmd keeps so that a start only hands one its VM. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <systemd/sd-event.h>

#include "error.h"
#include "macro.h"

/* Which ids runners drop to: runner_uid/runner_gid (both or neither), or when 0 one uid (= gid)
 * of their own each from uid_base + uid_count (0, 0: runner-uids.h's defaults). */
typedef struct runner_ids {
	uid_t runner_uid;
	gid_t runner_gid;
	uid_t uid_base;
	uint32_t uid_count;
} runner_ids;

/* A runner spawned for a VM or for the pool; fds and uid owned by whoever holds it. */
typedef struct runner_proc {
	pid_t pid;
	int pidfd, sock; /* sock: pvmd's end, non-blocking */
	uid_t uid;
	gid_t gid;
	bool uid_allocated; /* from the range: released once the process is gone */
} runner_proc;

#define RUNNER_PROC_NULL ((runner_proc){ .pidfd = -1, .sock = -1 })

/* Fork and exec the runner at path with no environment but the sanitizer settings, then send it
 * the seccomp program and its sandbox request (PREPARE, with the network namespace). The uid is
 * taken for it from ids. */
int runner_spawn(const char *path, const runner_ids *ids, runner_proc *ret, pvm_error *err);
/* Kill a runner that was not handed on and wait for it; closes its fds, releases its uid. */
void runner_proc_kill(runner_proc *p);
/* Close the fds and release the uid of a runner that has been reaped. */
void runner_proc_release(runner_proc *p);
/* Mark the uid of a runner taken over from a previous pvmd in use; true when it was taken from
 * the range (release it with runner_uid_release once the runner is gone). */
bool runner_uid_claim(const runner_ids *ids, uid_t uid);
void runner_uid_release(uid_t uid);

/* ---- the pool ---- */
typedef struct runner_pool runner_pool;

typedef struct runner_pool_options {
	const char *runner_path;
	runner_ids ids;
	unsigned size; /* ready runners kept; 0: none (every start spawns its runner) */
	/* a pooled runner failed before it was ready (its message); the pool then refills only
	 * at the next start, so that a broken set-up does not spawn runners in a loop */
	void (*failed)(const char *message, void *userdata);
	void *userdata;
} runner_pool_options;

#define RUNNER_POOL_SIZE_DEFAULT 2
#define RUNNER_POOL_SIZE_MAX 64

/* Runners are spawned on the event loop at idle priority, one per iteration, off the start
 * path. */
int runner_pool_new(sd_event *event, const runner_pool_options *o, runner_pool **ret,
		    pvm_error *err);
/* Kills the runners waiting in it. */
runner_pool *runner_pool_free(runner_pool *p);
DEFINE_TRIVIAL_CLEANUP_FUNC(runner_pool *, runner_pool_free)

/* A ready runner for a VM, for a runner at path with these ids (fds and uid to the caller; one
 * is spawned in its place later); -EAGAIN when none is ready. */
int runner_pool_take(runner_pool *p, const char *path, const runner_ids *ids, runner_proc *ret);
/* Replace every waiting runner (pvmd's reload: a runner binary upgraded meanwhile is used). */
void runner_pool_flush(runner_pool *p);
/* Stop refilling and kill the waiting runners (pvmd shuts down). */
void runner_pool_drain(runner_pool *p);
/* The pids of the ready runners, at most max (diagnostics and tests); returns how many. */
unsigned runner_pool_ready(const runner_pool *p, pid_t *ret, unsigned max);
