/* The runner's lock-down: everything that makes a compromised device model harmless, applied
 * once, after the VM is built and before any guest instruction runs. */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "error.h"
#include "runner-protocol.h"

typedef struct runner_sandbox {
	uid_t uid;
	gid_t gid;
	int vm_fd;	     /* kept open only so the self-check's attempts are real */
	const int *vcpu_fds; /* the only fds ioctl may name */
	size_t n_vcpus;
	const unsigned long *run_ioctls; /* vCPU ioctls besides KVM_RUN (from the arch) */
	size_t n_run_ioctls;
	int cwd_fd; /* -1, or the directory to work in (vsock's host sockets) */
} runner_sandbox;

/* New mount, IPC, network and UTS namespaces, an empty read-only root (pivot_root into a
 * tmpfs, the host's tree detached), then uid/gid with no supplementary groups, no capabilities
 * (bounding set cleared), no_new_privs, and the seccomp allow-list. Any step that fails fails
 * the whole lock-down. *ret_namespaces says which namespaces were entered (RUNNER_NS_*). */
int runner_sandbox_apply(const runner_sandbox *sb, uint32_t *ret_namespaces, pvm_error *err);

/* Try what the lock-down forbids and record each result (0 = it worked: broken sandbox). */
void runner_sandbox_self_check(const runner_sandbox *sb, runner_msg_self_check *ret);
