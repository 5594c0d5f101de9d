/* One VM as pvmd runs it: spawns its sandboxed runner, holds its guest_memfd, loads the
 * payload pvmd verified, follows its lifecycle on pvmd's sd-event loop, and keeps its console.
 * The D-Bus layer (manager.c, vm-object.c) drives VMs only through this interface. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/un.h>

#include <systemd/sd-event.h>

#include "config.h"
#include "error.h"
#include "vm-state.h"

typedef struct vm_instance vm_instance;
typedef struct runner_pool runner_pool;

/* Host properties pvmd learns once, from the first runner that probes them, and hands to every
 * later runner (one per pvmd, owned by the manager; it outlives every instance). */
typedef struct vm_host_facts {
	bool mapping_known; /* an earlier runner probed: */
	bool needs_mapping; /* KVM reaches guest_memfd memory only through a mapping */
	uint64_t mapping_guest_memfd_flags; /* for guest_memfd created with these flags */
} vm_host_facts;

typedef struct vm_instance_options {
	const char *runner_path; /* pvm-runner executable */
	const char *runtime_dir; /* pvmd's runtime directory (pvmd keeps its records in state/) */
	const char *log_dir;	 /* console logs: <log_dir>/<name>.log; NULL: no log file */
	uid_t runner_uid;	 /* uid/gid the runner drops to; 0: one of its own from the */
	gid_t runner_gid;	 /* range below (uid = gid = base + slot), never root */
	bool allow_memory_fallback; /* policy said memfd+mlock may replace guest_memfd */
	size_t console_ring_size;   /* bytes kept in memory; 0: 64 KiB */
	uid_t runner_uid_base;	    /* per-VM uid range when runner_uid is 0 (runner-uids.h); */
	unsigned runner_uid_count;  /* 0, 0: RUNNER_UIDS_FIRST_DEFAULT, _COUNT_DEFAULT */
	/* virtio devices (pvm-config(5) "disks", "vsock") */
	const int *disk_fds;   /* one per config disk, in order: the caller's; the instance dups */
	size_t n_disk_fds;     /* vm_instance_adopt: may be 0 (the adopted runner holds the disks;
				* such an instance cannot start again) */
	uint32_t vsock_cid;    /* the guest's CID (3 or more) when the config has vsock */
	const char *vsock_dir; /* where <name>.vsock is made and <name>.vsock_<port> found */
	uid_t vsock_uid;       /* owner of <name>.vsock (mode 0600) */
	gid_t vsock_gid;
	vm_host_facts *host_facts; /* shared across instances; NULL: every runner probes */
	runner_pool *pool;	   /* ready runners (runner-pool.h); NULL: spawn one per start */
} vm_instance_options;

typedef struct vm_instance_callbacks {
	/* state, death reason or memory report changed */
	void (*changed)(vm_instance *vm, void *userdata);
	/* new console bytes (already in the ring) */
	void (*console)(vm_instance *vm, const void *data, size_t len, void *userdata);
} vm_instance_callbacks;

/* Whether fd can back disk i of a config (regular file or block device, open for reading, and
 * for writing unless the disk is read-only); never reads it. */
int vm_instance_check_disk(const pvm_disk *d, size_t i, int fd, pvm_error *err);

/* The instance watches its runner with a pidfd child source, for which sd-event needs SIGCHLD
 * blocked: vm_instance_new blocks it in the calling thread. */
int vm_instance_new(sd_event *event, const pvm_config *cfg, const vm_instance_options *opts,
		    const vm_instance_callbacks *cb, void *userdata, vm_instance **ret,
		    pvm_error *err);
vm_instance *vm_instance_free(vm_instance *vm); /* kills a running runner first */
/* The payload every start loads: memfds sealed against any change (caller-fd.h makes them),
 * duplicated; initrd_memfd -1 for none. The config's kernel and initrd fields are labels only:
 * the engine opens no path. */
int vm_instance_set_payload(vm_instance *vm, int kernel_memfd, int initrd_memfd, pvm_error *err);
/* For a config that boots through pvm-fw: the firmware image and the signed descriptor, sealed
 * memfds as for the payload, duplicated. */
int vm_instance_set_firmware(vm_instance *vm, int firmware_memfd, int descriptor_memfd,
			     pvm_error *err);
DEFINE_TRIVIAL_CLEANUP_FUNC(vm_instance *, vm_instance_free)

/* CREATED/STOPPED/FAILED -> STARTING; returns once the runner is spawned; the rest of the start
 * path runs on the event loop and ends in RUNNING (or FAILED with a death reason). */
int vm_instance_start(vm_instance *vm, pvm_error *err);
/* Graceful: ask the guest to power off, force after timeout_usec. */
int vm_instance_stop(vm_instance *vm, uint64_t timeout_usec, pvm_error *err);
/* Force: SIGKILL the runner now. */
int vm_instance_kill(vm_instance *vm, pvm_error *err);

const pvm_config *vm_instance_config(const vm_instance *vm);
enum pvm_vm_state vm_instance_state(const vm_instance *vm);
enum pvm_death_reason vm_instance_death_reason(const vm_instance *vm);
/* What pvm-fw reported in the current or last run: enum pvm_firmware_result (vm-state.h). */
int vm_instance_firmware_result(const vm_instance *vm);
const char *vm_instance_message(const vm_instance *vm); /* last error/exit detail, or "" */
pid_t vm_instance_runner_pid(const vm_instance *vm);	/* 0 when not running */
/* A listening unix socket at sa (SOCK_STREAM, close-on-exec, plus type_flags), its file mode
 * 0600 and owned by uid:gid; on failure the file is removed again. The fd, or < 0. Used for
 * <name>.vsock and the <name>.vsock_<port> listeners (vsock-listen.c). */
int pvmd_unix_listener(const struct sockaddr_un *sa, int type_flags, uid_t uid, gid_t gid,
		       pvm_error *err);
/* The uid and gid the current run's runner drops to: -ESRCH when there is no runner. */
int vm_instance_runner_ids(const vm_instance *vm, uid_t *ret_uid, gid_t *ret_gid);
uint64_t vm_instance_start_time_usec(const vm_instance *vm); /* CLOCK_REALTIME, 0 if never */
/* The current run's tap ("pvm3"), or "" when the VM has no network or does not run. */
const char *vm_instance_net_interface(const vm_instance *vm);
/* Cached: computed again only after a change of state, runner or guest memory. */
int vm_instance_memory_report(vm_instance *vm, pvm_memory_report *ret);

/* Copy of the console ring (oldest first); caller frees. */
int vm_instance_console_snapshot(const vm_instance *vm, char **ret, size_t *ret_len);
/* Send bytes to the guest's console input (if the config enables input). */
int vm_instance_console_write(vm_instance *vm, const void *data, size_t len);

/* ---- handing a running VM to the next pvmd ----
 * A runner outlives pvmd as long as someone (systemd's fd store) holds pvmd's end of its control
 * socket. What the next pvmd needs to take it over: */
typedef struct vm_instance_handover {
	enum pvm_vm_state state; /* RUNNING, READY or STOPPING */
	pid_t pid;
	int pidfd, sock, mem_fd; /* owned by the instance (get) or handed to it (adopt) */
	uid_t uid;		 /* the runner's uid (= its gid) */
	uint64_t mem_flags;	 /* guest_memfd flags the runner reported */
	bool runner_maps;	 /* the runner maps guest memory for KVM */
	unsigned namespaces;	 /* namespaces the runner entered (sandbox report) */
	uint64_t start_time_usec;
} vm_instance_handover;

/* The running VM's handover, fds still owned by the instance; -ENOTCONN unless the guest runs
 * (RUNNING, READY, STOPPING: earlier, the payload is not loaded and nothing can be resumed). */
int vm_instance_get_handover(const vm_instance *vm, vm_instance_handover *ret);
/* Take over a runner left by a previous pvmd. Checks that the pidfd is that runner, the socket
 * a SEQPACKET socket and the memory fd guest memory of this config's size; on success the
 * instance owns the three fds, on failure the caller keeps them. */
int vm_instance_adopt(sd_event *event, const pvm_config *cfg, const vm_instance_options *opts,
		      const vm_instance_callbacks *cb, void *userdata,
		      const vm_instance_handover *h, vm_instance **ret, pvm_error *err);
/* Free without ending the runner (pvmd exits for a restart; the fd store keeps it going). */
vm_instance *vm_instance_abandon(vm_instance *vm);

/* Sandbox self-check (tests and diagnostics): the running runner attempts what its lock-down
 * forbids and reports each result; `changed` is called when the report arrives. */
typedef struct vm_instance_sandbox_report {
	/* 0 means the attempt SUCCEEDED (a broken sandbox); otherwise the errno it failed with */
	int create_guest_memfd;	     /* KVM_CREATE_GUEST_MEMFD on the VM fd */
	int set_user_memory_region2; /* a new anonymous-memory memslot, v2 ioctl */
	int set_user_memory_region;  /* the same with the v1 ioctl */
	int mmap_exec;		     /* an executable mapping */
	int open_dev_kvm;	     /* opening /dev/kvm again */
	int seccomp_mode;	     /* PR_GET_SECCOMP: 2 = filter */
	int no_new_privs;	     /* PR_GET_NO_NEW_PRIVS */
	uid_t uid;
	gid_t gid;
	bool vm_fd_valid;      /* the VM fd the attempts used was open: the attempts were real */
	int dup_to_vcpu_range; /* the VM fd duplicated into the vCPU fds' range (seccomp names) */
	unsigned namespaces;   /* new namespaces entered: 1 mount, 2 ipc, 4 net, 8 uts */
} vm_instance_sandbox_report;

int vm_instance_request_sandbox_check(vm_instance *vm, pvm_error *err);
/* true and the report once it has arrived (since the last start) */
bool vm_instance_sandbox_report_get(const vm_instance *vm, vm_instance_sandbox_report *ret);
