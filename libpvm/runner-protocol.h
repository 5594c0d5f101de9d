/* The messages between pvmd and a pvm-runner over their SOCK_SEQPACKET socketpair. pvmd is
 * privileged and the runner runs guest-facing code, so each side checks every message it
 * receives (magic, version, exact size per type, terminated strings, file descriptors only where
 * expected) with runner_msg_check() before using it. Version 1. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "arch.h"

#define RUNNER_MSG_MAGIC 0x524d5650u /* "PVMR" */
#define RUNNER_MSG_VERSION 1
#define RUNNER_MSG_MAX 8192 /* bytes in one message, header included */
#define RUNNER_CONSOLE_CHUNK 4096
#define RUNNER_TEXT_MAX 512

enum runner_msg_type {
	/* pvmd -> runner */
	RUNNER_MSG_CREATE = 1,	  /* runner_msg_create */
	RUNNER_MSG_BOOT,	  /* runner_msg_boot */
	RUNNER_MSG_STOP_REQUEST,  /* no body: the guest should power off */
	RUNNER_MSG_CONSOLE_INPUT, /* 1..RUNNER_CONSOLE_CHUNK bytes */
	RUNNER_MSG_SELF_CHECK,	  /* no body: attempt forbidden operations, report */
	/* devices, between CREATED and BOOT only */
	RUNNER_MSG_WINDOW,    /* runner_msg_window: the shared window (before any device) */
	RUNNER_MSG_DISK,      /* runner_msg_disk + the disk's fd */
	RUNNER_MSG_VSOCK,     /* runner_msg_vsock + the listening socket for host connects */
	RUNNER_MSG_VSOCK_DIR, /* no body; the directory fd where <vm>.vsock_<port> sockets live */
	/* before CREATE, in this order, sent as soon as the runner is spawned */
	RUNNER_MSG_FILTER,  /* the seccomp program (struct sock_filter[]), built once by pvmd */
	RUNNER_MSG_PREPARE, /* runner_msg_prepare + the network namespace to join */
	/* runner -> pvmd */
	RUNNER_MSG_CREATED = 16, /* runner_msg_created + the guest memory fd (SCM_RIGHTS) */
	RUNNER_MSG_RUNNING,	 /* runner_msg_running: locked down, vCPUs about to run */
	RUNNER_MSG_CONSOLE,	 /* 1..RUNNER_CONSOLE_CHUNK bytes of guest output */
	RUNNER_MSG_READY,	 /* no body: the guest signalled READY */
	RUNNER_MSG_NOTICE,	 /* runner_msg_event: something pvmd should record, VM goes on */
	RUNNER_MSG_EXIT,	 /* runner_msg_event: the VM ended; the runner exits next */
	RUNNER_MSG_ERROR,	 /* runner_msg_error: setup failed; the runner exits next */
	RUNNER_MSG_SELF_CHECK_RESULT, /* runner_msg_self_check */
	RUNNER_MSG_PREPARED, /* runner_msg_running: sandboxed but for seccomp, awaits CREATE */
};

/* The seccomp program does not depend on the VM: the runner moves its vCPU fds to
 * RUNNER_VCPU_FD_FIRST + index, and the filter lets the vCPU ioctls name only fds in
 * [RUNNER_VCPU_FD_FIRST, RUNNER_VCPU_FD_FIRST + RUNNER_VCPUS_MAX). At lock-down the runner
 * lowers its open-file limit to RUNNER_VCPU_FD_FIRST, so no other fd can ever get a number in
 * that range (new fds, F_DUPFD and received fds all stay below the limit). */
#define RUNNER_VCPUS_MAX 64
#define RUNNER_VCPU_FD_FIRST 256 /* a multiple of RUNNER_VCPUS_MAX: one masked compare */
#define RUNNER_FILTER_MAX (RUNNER_MSG_MAX - 16) /* body bytes: 1022 BPF instructions */

typedef struct runner_msg_header {
	uint32_t magic;
	uint16_t version;
	uint16_t type;
	uint32_t size; /* header plus body */
	uint32_t reserved;
} runner_msg_header;

#define RUNNER_CREATE_PROTECTED (1u << 0)
#define RUNNER_CREATE_ALLOW_FALLBACK (1u << 1) /* memfd + mlock if guest_memfd is missing */
/* pvmd already knows whether KVM needs a mapping of guest_memfd memory created with
 * known_guest_memfd_flags (an earlier runner probed it): the runner skips its probe VM */
#define RUNNER_CREATE_MAPPING_KNOWN (1u << 2)
#define RUNNER_CREATE_NEEDS_MAPPING (1u << 3) /* the known answer (with MAPPING_KNOWN only) */
#define RUNNER_CREATE_ALL                                                                          \
	(RUNNER_CREATE_PROTECTED | RUNNER_CREATE_ALLOW_FALLBACK | RUNNER_CREATE_MAPPING_KNOWN |    \
	 RUNNER_CREATE_NEEDS_MAPPING)

typedef struct runner_msg_create {
	uint64_t memory_bytes;
	uint32_t cpus;
	uint32_t flags;			  /* RUNNER_CREATE_* */
	uint64_t known_guest_memfd_flags; /* what RUNNER_CREATE_MAPPING_KNOWN's answer holds for */
} runner_msg_create;

/* Everything of the lock-down that does not depend on the VM: /dev/kvm opened, new mount, IPC
 * and UTS namespaces, the network namespace pvmd passes joined, the empty root, then uid/gid
 * without capabilities, not dumpable, no_new_privs. Only the seccomp filter waits for BOOT. */
typedef struct runner_msg_prepare {
	uint32_t uid, gid; /* what the runner drops to (never 0) */
} runner_msg_prepare;

enum runner_backing {
	RUNNER_BACKING_GUEST_MEMFD = 1,
	RUNNER_BACKING_MEMFD_MLOCK = 2,
};

#define RUNNER_CREATED_RUNNER_MAPS (1u << 0) /* the runner keeps a mapping: KVM needs it */
/* this runner ran the probe VM for guest_memfd_flags, and RUNNER_MAPS is its answer: pvmd
 * keeps it for later runners (it comes before any guest code ran, from pvmd's own binary) */
#define RUNNER_CREATED_PROBED (1u << 1)
#define RUNNER_CREATED_ALL (RUNNER_CREATED_RUNNER_MAPS | RUNNER_CREATED_PROBED)

typedef struct runner_msg_created {
	uint32_t backing;	/* enum runner_backing */
	uint32_t created_flags; /* RUNNER_CREATED_* */
	uint64_t guest_memfd_flags;
	uint64_t memory_bytes;
	uint64_t ram_base;
	uint64_t vm_type;
} runner_msg_created;

typedef struct runner_msg_boot {
	pvm_vcpu_entry entry;
} runner_msg_boot;

typedef struct runner_msg_window {
	uint64_t gpa, size; /* inside guest RAM, page-aligned */
} runner_msg_window;

#define RUNNER_DISK_READ_ONLY (1u << 0)
typedef struct runner_msg_disk {
	uint32_t flags; /* RUNNER_DISK_* (a digest in the config was checked by pvmd) */
	char id[24];	/* virtio-blk serial, NUL-terminated (at most 20 bytes reach the guest) */
} runner_msg_disk;

typedef struct runner_msg_vsock {
	uint64_t guest_cid;
	char prefix[80]; /* "<vm>.vsock_": guest connects to port P go to <prefix>P, NUL-terminated
			  */
} runner_msg_vsock;

#define RUNNER_NS_MOUNT (1u << 0)
#define RUNNER_NS_IPC (1u << 1)
#define RUNNER_NS_NET (1u << 2)
#define RUNNER_NS_UTS (1u << 3)
#define RUNNER_NS_ALL (RUNNER_NS_MOUNT | RUNNER_NS_IPC | RUNNER_NS_NET | RUNNER_NS_UTS)

typedef struct runner_msg_running {
	uint32_t namespaces; /* RUNNER_NS_* the runner entered */
	uint32_t uid, gid;
	uint32_t reserved;
} runner_msg_running;

typedef struct runner_msg_event {
	uint32_t kind;			  /* enum pvm_exit_event_kind */
	uint32_t code;			  /* pvm_exit_event.code */
	char detail[PVM_EXIT_DETAIL_MAX]; /* NUL-terminated */
} runner_msg_event;

typedef struct runner_msg_error {
	int32_t error; /* positive errno */
	uint32_t reserved;
	char message[RUNNER_TEXT_MAX]; /* NUL-terminated */
} runner_msg_error;

/* Each attempt's result: 0 if it SUCCEEDED (the sandbox is broken), else the positive errno. */
typedef struct runner_msg_self_check {
	int32_t create_guest_memfd;
	int32_t set_user_memory_region2;
	int32_t set_user_memory_region;
	int32_t mmap_exec;
	int32_t open_dev_kvm;
	int32_t seccomp_mode; /* PR_GET_SECCOMP result */
	int32_t no_new_privs; /* PR_GET_NO_NEW_PRIVS result */
	uint32_t uid, gid;
	int32_t vm_fd_valid;	   /* the VM fd the attempts used was open (F_GETFD succeeded) */
	int32_t dup_to_vcpu_range; /* the VM fd duplicated to a vCPU number the VM does not use */
} runner_msg_self_check;

/* Check a received message: header fields, size against its type, string termination, and
 * the number of file descriptors that came with it (n_fds). Returns 0 or -EBADMSG with a reason. */
int runner_msg_check(const void *buf, size_t len, unsigned n_fds, bool from_runner,
		     const char **ret_reason);

/* The body of a checked message and its length. */
static inline const void *runner_msg_body(const void *buf)
{
	return (const uint8_t *)buf + sizeof(runner_msg_header);
}
static inline size_t runner_msg_body_size(const void *buf)
{
	return ((const runner_msg_header *)buf)->size - sizeof(runner_msg_header);
}

/* Send one message (header built here), with an optional fd (-1: none). Retries EINTR. */
int runner_msg_send(int sock, uint16_t type, const void *body, size_t body_len, int fd);

/* Receive one message into buf (RUNNER_MSG_MAX bytes), checked. At most one fd is accepted, and
 * only where the type allows it; *ret_fd is -1 otherwise. Returns the size, 0 on EOF, or a
 * negative errno (-EBADMSG for a malformed message, -EAGAIN when nothing is queued). */
int runner_msg_recv(int sock, void *buf, bool from_runner, int *ret_fd, const char **ret_reason);
