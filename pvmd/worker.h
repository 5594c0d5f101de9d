/* Blocking work off pvmd's event loop: one thread per job (reading a caller's descriptor,
 * copying a payload), its end reported to the loop through an eventfd. The loop answers by the
 * job's deadline whether or not the thread has returned; a thread stuck in the kernel is left
 * to finish, and the job's data is freed by whichever side lets go last. */
#pragma once

#include <stdint.h>

#include <systemd/sd-event.h>

typedef struct worker_job worker_job;

/* Runs on the job's thread, with every signal blocked; must give up by deadline_usec
 * (CLOCK_MONOTONIC). Touches only its data. */
typedef int (*worker_fn)(void *data, uint64_t deadline_usec);
/* Runs on the event loop: r is what work returned, with its data; or -ETIMEDOUT and data NULL
 * when the thread had not returned a second after its deadline. The job is gone afterwards. */
typedef void (*worker_done_fn)(int r, void *data, void *userdata);

#define WORKER_JOBS_MAX 16

/* -EBUSY when WORKER_JOBS_MAX threads are alive (stuck ones included). data is owned by the job
 * from here on, even on failure, and freed with free_data. */
int worker_start(sd_event *event, uint64_t timeout_usec, worker_fn work, void *data,
		 void (*free_data)(void *data), worker_done_fn done, void *userdata,
		 worker_job **ret);
/* The loop lets go of a job whose caller went away: done is not called. */
void worker_cancel(worker_job *job);
