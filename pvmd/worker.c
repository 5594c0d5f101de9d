/* Worker threads for pvmd's blocking work (worker.h). The thread and the event loop each hold
 * one reference to a job; the thread publishes its result, then wakes the loop by the eventfd.
 * pvmd's state is touched only by the loop: a thread sees nothing but its job's data. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "macro.h"
#include "time-util.h"
#include "worker.h"

/* the thread's own deadline comes first, so its error (with its reason) is what callers see */
#define WORKER_GRACE_USEC (1000 * 1000ULL)

struct worker_job {
	atomic_int refs;
	atomic_int result;
	int efd;
	uint64_t deadline_usec;
	worker_fn work;
	void *data;
	void (*free_data)(void *data);
	worker_done_fn done;
	void *userdata;
	sd_event_source *io, *timer;
};

static atomic_uint worker_threads;

static void job_unref(worker_job *j)
{
	if (atomic_fetch_sub(&j->refs, 1) != 1)
		return;
	if (j->free_data)
		j->free_data(j->data);
	if (j->efd >= 0)
		close(j->efd);
	free(j);
}

static void *job_thread(void *p)
{
	worker_job *j = p;

	atomic_store(&j->result, j->work(j->data, j->deadline_usec));
	(void)!eventfd_write(j->efd, 1);
	atomic_fetch_sub(&worker_threads, 1);
	job_unref(j);
	return NULL;
}

static void job_release_loop(worker_job *j)
{
	j->io = sd_event_source_disable_unref(j->io);
	j->timer = sd_event_source_disable_unref(j->timer);
	job_unref(j);
}

static void job_finish(worker_job *j, int r, bool returned)
{
	worker_done_fn done = j->done;
	void *userdata = j->userdata;

	/* the data stays the job's until the last reference goes: still valid during done */
	j->refs++;
	job_release_loop(j);
	done(r, returned ? j->data : NULL, userdata);
	job_unref(j);
}

static int job_returned(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	worker_job *j = userdata;
	job_finish(j, atomic_load(&j->result), true);
	return 0;
}

static int job_overdue(sd_event_source *s, uint64_t usec, void *userdata)
{
	job_finish(userdata, -ETIMEDOUT, false);
	return 0;
}

void worker_cancel(worker_job *job)
{
	if (job)
		job_release_loop(job);
}

int worker_start(sd_event *event, uint64_t timeout_usec, worker_fn work, void *data,
		 void (*free_data)(void *data), worker_done_fn done, void *userdata,
		 worker_job **ret)
{
	worker_job *j;
	pthread_attr_t attr;
	pthread_t thread;
	sigset_t all, old;
	int r;

	if (atomic_fetch_add(&worker_threads, 1) >= WORKER_JOBS_MAX) {
		atomic_fetch_sub(&worker_threads, 1);
		if (free_data)
			free_data(data);
		return -EBUSY;
	}
	j = calloc(1, sizeof(*j));
	if (!j) {
		atomic_fetch_sub(&worker_threads, 1);
		if (free_data)
			free_data(data);
		return -ENOMEM;
	}
	*j = (worker_job){ .efd = -1,
			   .work = work,
			   .data = data,
			   .free_data = free_data,
			   .done = done,
			   .userdata = userdata };
	atomic_init(&j->refs, 1);
	j->deadline_usec = pvm_now_usec(CLOCK_MONOTONIC) + timeout_usec;
	j->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	r = j->efd < 0 ? -errno : 0;
	if (r >= 0)
		r = sd_event_add_io(event, &j->io, j->efd, EPOLLIN, job_returned, j);
	if (r >= 0)
		r = sd_event_add_time(event, &j->timer, CLOCK_MONOTONIC,
				      j->deadline_usec + WORKER_GRACE_USEC, 0, job_overdue, j);
	if (r < 0)
		goto fail;

	/* the thread takes no signal: sd-event reads SIGCHLD and SIGTERM through signalfd */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	atomic_fetch_add(&j->refs, 1);
	r = -pthread_create(&thread, &attr, job_thread, j);
	pthread_attr_destroy(&attr);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r < 0) {
		atomic_fetch_sub(&j->refs, 1);
		goto fail;
	}
	*ret = j;
	return 0;
fail:
	atomic_fetch_sub(&worker_threads, 1);
	job_release_loop(j);
	return r;
}
