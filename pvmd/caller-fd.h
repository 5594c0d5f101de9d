/* Descriptors callers pass to pvmd (a config for CreateVMFromFd, kernel and initrd for the
 * create calls): what kind each is, reading a config from one, and copying a payload once into
 * a pvmd-private sealed memfd, hashed as it is copied. Plain blocking code bounded by a
 * deadline: pvmd runs it on a worker thread (worker.c), never on its event loop. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "error.h"
#include "time-util.h" /* deadlines are pvm_now_usec(CLOCK_MONOTONIC) plus a span */

enum caller_fd_kind {
	CALLER_FD_REGULAR,
	CALLER_FD_PIPE,
	CALLER_FD_SOCKET,
};

/* What may be read from fd without touching the state it shares with the caller (its file
 * flags and offset): a regular file opened for reading; a pipe or FIFO read end; a connected
 * stream or seqpacket socket. Anything else (O_PATH, write-only, directories, devices, anonymous
 * inodes such as eventfd, epoll, timerfd or pidfd, listening, unconnected or datagram sockets)
 * is -EINVAL with the reason in err. Never blocks: the type comes from cached attributes. */
int caller_fd_classify(int fd, bool regular_only, enum caller_fd_kind *ret, pvm_error *err);

/* Read a config: a regular file from offset 0 (pread: the caller's offset is untouched), a pipe
 * or socket until its writer closes it. At most max bytes; -ETIMEDOUT at deadline_usec
 * (CLOCK_MONOTONIC). A socket with urgent (MSG_OOB) data is refused. *ret is NUL-terminated. */
int caller_fd_read_config(int fd, size_t max, uint64_t deadline_usec, char **ret, size_t *ret_len,
			  pvm_error *err);

/* A payload as pvmd holds it: bytes copied once from the caller's descriptor into a memfd
 * sealed against every change, their SHA-256, and where the file really is. */
typedef struct caller_payload {
	int memfd; /* -1: none */
	uint64_t size;
	uint8_t sha256[32];
	char *path; /* the descriptor's file as pvmd sees it, NULL when that path does not lead
		     * to the same file (another mount namespace, deleted, renamed meanwhile) */
} caller_payload;

#define CALLER_PAYLOAD_NULL ((caller_payload){ .memfd = -1 })

void caller_payload_done(caller_payload *p);
/* Copy a regular file (1 to max bytes, read from offset 0) into a sealed memfd, hashing the
 * bytes copied. `what` ("kernel", "initrd") prefixes error messages. */
int caller_payload_copy(int fd, const char *what, uint64_t max, uint64_t deadline_usec,
			caller_payload *ret, pvm_error *err);
/* SHA-256 of everything fd holds, read from offset 0 to its end (a disk a caller passed, checked
 * against its config's digest before the guest runs). */
int caller_fd_sha256(int fd, uint64_t deadline_usec, uint8_t ret[32], pvm_error *err);
/* The path /proc/self/fd gives for fd, if stat() of that path is the very file fd is. */
int caller_fd_real_path(int fd, char **ret);
/* A payload memfd's size, if it is sealed against every change (-EPERM otherwise): what the
 * engine checks before it loads one into guest memory. */
int caller_payload_check_sealed(int memfd, uint64_t *ret_size);
