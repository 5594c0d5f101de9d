/* The runner's lock-down: everything that makes a compromised device model harmless. Built in
 * two steps: what does not depend on the VM (namespaces, the empty root, credentials) as soon
 * as the runner starts, before it knows its VM; the seccomp filter pvmd built once, after the VM
 * is built and before any guest instruction runs. */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "error.h"
#include "runner-protocol.h"

/* New mount, IPC and UTS namespaces, the network namespace pvmd made for its runners joined
 * (netns_fd), an empty read-only root (pivot_root into a tmpfs, the host's tree detached), then
 * uid/gid with no supplementary groups, the bounding set cleared and of the capabilities only
 * CAP_IPC_LOCK and CAP_SYS_RESOURCE (guest memory, known at CREATE, may need them), not
 * dumpable, no core dumps, no_new_privs. /dev/kvm must be open already: no file can be opened
 * afterwards. Any step that fails fails the whole preparation. *ret_namespaces says which
 * namespaces were entered (RUNNER_NS_*). */
int runner_sandbox_prepare(uid_t uid, gid_t gid, int netns_fd, uint32_t *ret_namespaces,
			   pvm_error *err);

typedef struct runner_sandbox {
	int vm_fd;	     /* kept open only so the self-check's attempts are real */
	const int *vcpu_fds; /* at RUNNER_VCPU_FD_FIRST + index: the only fds ioctl may name */
	size_t n_vcpus;
	int cwd_fd;	    /* -1, or the directory to work in (vsock's host sockets) */
	const void *filter; /* the seccomp program pvmd sent (struct sock_filter[]) */
	size_t filter_len;  /* bytes */
} runner_sandbox;

/* The last step, at boot: the working directory, the open-file limit below the vCPU fds, the
 * last capabilities dropped, and the seccomp filter. */
int runner_sandbox_lockdown(const runner_sandbox *sb, pvm_error *err);

/* Try what the lock-down forbids and record each result (0 = it worked: broken sandbox). */
void runner_sandbox_self_check(const runner_sandbox *sb, runner_msg_self_check *ret);
