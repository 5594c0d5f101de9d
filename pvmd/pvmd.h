/* pvmd's shared types: the manager (bus, event loop, policy, the set of VMs) and one VM as the
 * D-Bus layer sees it. manager.c owns the set; vm-object.c publishes one VM; auth.c decides who
 * may do what; signals.c tells subscribers about the VMs they may see; state.c keeps the
 * runtime directory; log.c reports. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include "caller-fd.h"
#include "config.h"
#include "policy.h"
#include "vm-instance.h"
#include "vm-state.h"

#define PVMD_POLICY_DIRS_MAX 16
#define PVMD_CONSOLE_CLIENTS_MAX 8
#define PVMD_VSOCK_LISTENERS_MAX 16 /* <name>.vsock_<port> listeners pvmd makes per VM */
/* VM records pvmd keeps at most (--max-vms), running or not: each costs memory and a state file,
 * so creating VMs without starting them cannot grow pvmd without bound. */
#define PVMD_VMS_MAX_DEFAULT 1024
#define PVMD_VMS_MAX_LIMIT 65536

typedef struct pvmd_vm pvmd_vm;
typedef struct pvmd_console_client pvmd_console_client;
typedef struct config_reader config_reader;
typedef struct polkit_query polkit_query;
typedef struct pvmd_payload_wait pvmd_payload_wait;
typedef struct pvmd_subscriber pvmd_subscriber;

/* fdstore.c: systemd's file-descriptor store, which keeps a running VM's fds across a restart
 * of pvmd (by name "<vm>-<kind>"). */
enum pvmd_fdstore_kind {
	PVMD_FDSTORE_CONTROL, /* pvmd's end of the runner's control socket */
	PVMD_FDSTORE_PIDFD,   /* the runner's pidfd */
	PVMD_FDSTORE_MEMORY,  /* guest memory */
	_PVMD_FDSTORE_KIND_MAX,
};
typedef struct pvmd_fdstore_entry {
	char *vm;
	enum pvmd_fdstore_kind kind;
	int fd; /* -1 once taken */
} pvmd_fdstore_entry;
typedef struct pvmd_fdstore {
	bool enabled;		     /* a service manager listens (NOTIFY_SOCKET) */
	pvmd_fdstore_entry *entries; /* passed at start, until recovery claims them */
	size_t n;
} pvmd_fdstore;
/* Read what the service manager passed (LISTEN_FDS/LISTEN_FDNAMES); returns how many. */
int pvmd_fdstore_open(pvmd_fdstore *s);
/* The passed fd of this VM and kind (ownership to the caller), or -ENOENT. */
int pvmd_fdstore_take(pvmd_fdstore *s, const char *vm, enum pvmd_fdstore_kind kind);
int pvmd_fdstore_put(pvmd_fdstore *s, const char *vm, enum pvmd_fdstore_kind kind, int fd);
/* Drop every stored fd of this VM from the service manager's store. */
void pvmd_fdstore_forget(pvmd_fdstore *s, const char *vm);
/* After recovery: close what no VM claimed and drop it from the store. */
void pvmd_fdstore_release_unclaimed(pvmd_fdstore *s);

typedef struct pvmd_manager {
	sd_event *event;
	sd_bus *bus;
	pvm_policy *policy;
	const char *policy_dirs[PVMD_POLICY_DIRS_MAX];
	size_t n_policy_dirs;

	const char *runtime_dir; /* per-VM runner state: <runtime_dir>/vms/<name>/ (the engine's) */
	char *state_dir;	 /* our records: <runtime_dir>/state/<name>.json */
	const char *log_dir;	 /* console logs; NULL: none */
	const char *runner_path;
	const char *firmware_dir; /* --firmware-dir: installed pvm-fw images, <name>.img */
	uid_t runner_uid; /* --runner-user; 0: a uid of its own per VM from the range below */
	gid_t runner_gid;
	uid_t runner_uid_first; /* --runner-uids (runner-uids.h) */
	uint32_t runner_uid_count;
	size_t console_ring_size;
	unsigned runner_pool_size;	/* --runner-pool */
	runner_pool *pool;		/* ready runners; NULL when the size is 0 */
	vm_host_facts host_facts;	/* learnt from the first runner that probes the host */
	uint64_t stop_timeout_usec;	/* StopVM with timeout 0, tied VMs */
	uint64_t shutdown_timeout_usec; /* SIGTERM: all VMs stopped by then, else killed */
	size_t vms_max; /* records kept at most; CreateVM beyond it is LimitExceeded */
	bool use_polkit;
	bool use_machined;
	pvmd_fdstore fdstore;
	bool keep_vms; /* exiting for a restart: runners stay, their fds in the store */

	pvmd_vm *vms;		      /* list, newest first */
	pvmd_vm *creating;	      /* CreateVM calls whose payload is being read */
	config_reader *readers;	      /* CreateVMFromFd calls waiting for their config's end */
	polkit_query *polkit_queries; /* calls waiting for polkit's answer */
	bool shutting_down;
	pvmd_subscriber *subscribers; /* who hears about VMs (signals.c) */
	unsigned n_subscribers;
	sd_event_source *shutdown_timer;
	sd_bus_slot *restart_query; /* SIGTERM: is systemd restarting pvmd? */
	sd_bus_slot *manager_slot, *vm_slot, *enum_slot, *om_slot, *filter_slot;

	/* Losing the bus: VMs keep running while pvmd reconnects with backoff for up to
	 * bus_reconnect_usec; then it stops every VM and exits with exit_reason. */
	uint64_t bus_reconnect_usec;
	uint64_t bus_lost_usec; /* CLOCK_MONOTONIC when the bus went away; 0: connected */
	unsigned bus_attempts;
	int bus_last_error;
	sd_event_source *bus_retry_timer;
	bool exit_failure;
	char exit_reason[256];
} pvmd_manager;

#define PVMD_VM_PROPS_MAX 24

struct pvmd_vm {
	pvmd_manager *manager;
	pvmd_vm *next;
	char *name;
	char *path;
	uid_t owner;
	pvm_config *cfg;
	vm_instance *inst; /* NULL for a VM recovered from the runtime directory until started */
	/* pvmd's sealed copies of the payload; none (memfd -1) for a VM recovered after a
	 * restart until root starts it again */
	caller_payload kernel, initrd;
	/* pvm-fw (the config's "firmware", from pvmd's firmware directory) and its descriptor */
	caller_payload descriptor, firmware;
	pvmd_payload_wait *loading;    /* a copy being made, and the call that waits for it */
	bool create_start, create_tie; /* CreateVM's options, while its payload is read */

	/* The record found after a restart, shown until the VM runs again. */
	bool recovered;
	enum pvm_vm_state rec_state;
	enum pvm_death_reason rec_reason;
	char *rec_message;

	sd_bus_track *track; /* set when the VM is tied to its creator's bus name */
	/* Why pvmd itself ended this run (bus lost for good, tied client's connection gone with
	 * the bus): the VM's Message and record once it has ended, until it starts again. */
	char *end_note;
	/* What we last told the bus, so PropertiesChanged names exactly what changed: each
	 * changing property's value as text, by its row in vm-object.c's property table. */
	char *published[PVMD_VM_PROPS_MAX];
	enum pvm_vm_state published_state;
	enum pvm_death_reason published_reason;
	bool published_once;
	bool machine_registered;
	pid_t stored_pid; /* the runner whose fds are in the service manager's store; 0: none */
	sd_bus_slot *machine_slot; /* RegisterMachine in flight */
	pvmd_console_client *consoles;
	size_t n_consoles;

	/* virtio-vsock: the guest's CID (unique among pvmd's VMs; 0: no vsock) and the host
	 * socket programs connect to (<runtime_dir>/<name>.vsock) */
	uint32_t vsock_cid;
	char *vsock_socket;
	/* guest-initiated connections: the ports of the <name>.vsock_<port> listeners pvmd made
	 * for callers (ListenVsock, vsock-listen.c), and the runner they were last handed to */
	uint32_t vsock_ports[PVMD_VSOCK_LISTENERS_MAX];
	size_t n_vsock_ports;
	pid_t vsock_granted_pid;
	/* duplicates of the caller's descriptors for the config's disks (CreateVM's disk_fds);
	 * a VM recovered after a restart has none */
	int disk_fds[PVM_DISKS_MAX];
	size_t n_disk_fds;
};

#define PVMD_NOTE_TIE_LOST_WITH_BUS                                                                \
	"stopped by pvmd: the client it was tied to lost its connection when the system bus "      \
	"went away"

/* manager.c */
int manager_new(pvmd_manager **ret);
pvmd_manager *manager_free(pvmd_manager *m);
int manager_load_policy(pvmd_manager *m);
int manager_reload(pvmd_manager *m);
/* The pool of ready runners (--runner-pool), filled from the event loop once it runs. */
int manager_start_pool(pvmd_manager *m);
int manager_connect(pvmd_manager *m);
int manager_request_name(pvmd_manager *m);
int manager_recover(pvmd_manager *m);
int manager_begin_shutdown(pvmd_manager *m);
pvmd_vm *manager_find_vm(pvmd_manager *m, const char *name);
/* What uid holds and what all hold: every VM record counts, vCPUs and memory only while the
 * VM runs. self: the config of the VM a start is for, which is not counted against itself. */
void manager_get_usage(pvmd_manager *m, uid_t uid, const pvm_config *self, pvm_usage *ret_caller,
		       pvm_usage *ret_global);
size_t manager_count_vms(pvmd_manager *m);
void manager_update_status(pvmd_manager *m);
int manager_remove_vm(pvmd_manager *m, pvmd_vm *vm);

/* vm-object.c */
extern const sd_bus_vtable vm_vtable[];
int vm_object_find(sd_bus *bus, const char *path, const char *interface, void *userdata,
		   void **found, sd_bus_error *error);
int vm_object_enumerate(sd_bus *bus, const char *path, void *userdata, char ***nodes,
			sd_bus_error *error);
int pvmd_vm_new(pvmd_manager *m, pvm_config *cfg, uid_t owner, pvmd_vm **ret);
pvmd_vm *pvmd_vm_free(pvmd_vm *vm);
/* Keep duplicates of the caller's disk descriptors, one per config disk (InvalidArgument when
 * the count differs). */
int pvmd_vm_take_disks(pvmd_vm *vm, const int *fds, size_t n, sd_bus_error *error);
int pvmd_vm_instantiate(pvmd_vm *vm, bool allow_fallback, pvm_error *err);
/* Called on the event loop once the payload is copied (r < 0: it could not be, error set);
 * returns < 0 to have the call answered with the error. */
typedef int (*pvmd_payload_done_fn)(pvmd_vm *vm, sd_bus_message *msg, int r, sd_bus_error *error);
/* Copy the payload on a worker thread: from the caller's descriptors (NULL or -1: none), or for
 * a root caller from the config's paths; the firmware from pvmd's firmware directory. 1: the
 * copy is under way and done will be called; < 0: error set (a path without a descriptor from
 * anyone but root is InvalidArgument). */
typedef struct pvmd_payload_fds {
	int kernel, initrd, descriptor; /* the caller's descriptors, -1: not given */
} pvmd_payload_fds;
int pvmd_vm_load_payload(pvmd_vm *vm, sd_bus_message *msg, const pvmd_payload_fds *fds,
			 pvmd_payload_done_fn done, sd_bus_error *error);
bool pvmd_vm_has_payload(const pvmd_vm *vm);
/* The full create check on the payload pvmd holds: path prefixes on where its files really are,
 * digests of its copies, limits. */
int pvmd_vm_check_create(pvmd_vm *vm, sd_bus_message *msg, bool *ret_allow_fallback,
			 sd_bus_error *error);
/* Take over the running runner a previous pvmd left (fds owned by the VM on success). */
int pvmd_vm_adopt(pvmd_vm *vm, const vm_instance_handover *h, pvm_error *err);
enum pvm_vm_state pvmd_vm_state(const pvmd_vm *vm);
enum pvm_death_reason pvmd_vm_death_reason(const pvmd_vm *vm);
const char *pvmd_vm_message(const pvmd_vm *vm);
bool pvmd_vm_is_active(const pvmd_vm *vm);
void pvmd_vm_changed(pvmd_vm *vm);
void pvmd_vm_save(pvmd_vm *vm); /* its record in the runtime directory, now */
/* 0: started; 1: the payload is being read again (root, after a restart) and the call is
 * dispatched again once it is; < 0: error set. */
int pvmd_vm_start(pvmd_vm *vm, sd_bus_message *msg, sd_bus_error *error);
/* Stop and kill for a caller (msg) or for pvmd itself (msg NULL): 0 when done, 1 when polkit
 * is being asked (no reply yet; the call is dispatched again), < 0 with error set. */
int pvmd_vm_stop(pvmd_vm *vm, sd_bus_message *msg, uint64_t timeout_usec, sd_bus_error *error);
int pvmd_vm_kill(pvmd_vm *vm, sd_bus_message *msg, sd_bus_error *error);
int pvmd_vm_open_console(pvmd_vm *vm, sd_bus_message *msg, sd_bus_error *error);

/* vsock-listen.c: <name>.vsock_<port> listeners made for a VM's owner. Make one and answer msg
 * with its listening socket; hand every one to the current runner's ids (before the guest runs:
 * only that runner may connect); unlink them all when the VM goes. */
int pvmd_vm_listen_vsock(pvmd_vm *vm, sd_bus_message *msg, uint32_t port, sd_bus_error *error);
void pvmd_vm_vsock_listeners_grant(pvmd_vm *vm);
void pvmd_vm_vsock_listeners_unlink(pvmd_vm *vm);
int pvmd_vm_get_console_log(pvmd_vm *vm, sd_bus_message *msg, sd_bus_error *error);
int pvmd_vm_tie(pvmd_vm *vm, sd_bus_message *msg);
/* Append the a{sv} of the VM's org.pvm1.VM properties: all of them, or those named in only. */
int pvmd_vm_append_properties(sd_bus_message *m, const pvmd_vm *vm, char *const *only);
void pvmd_vm_close_consoles(pvmd_vm *vm);

/* auth.c */
typedef struct pvmd_caller {
	pvm_caller caller;
	sd_bus_creds *creds; /* owns the strings and gid array the caller points into */
	gid_t *own_groups;   /* or this owns the gid array, when the bus was asked for it */
	const char *sender;
} pvmd_caller;
/* The caller of msg as the bus vouches for it (never augmented from /proc): uid, pid, groups.
 * Asked of the bus once per call: the same msg again gets a copy of the first answer. */
int auth_get_caller(sd_bus_message *msg, pvmd_caller *ret, sd_bus_error *error);
/* Forget the remembered answer (and the reference on its call): at exit, and when the bus
 * connection is replaced. */
void auth_caller_cache_clear(void);
/* The fields of creds the bus vouched for, as a pvm_caller pointing into creds; augmented
 * fields are unknown (gid -1, no groups, no unit, pid 0). -ENODATA without a vouched uid. */
int auth_caller_from_creds(sd_bus_creds *creds, pvm_caller *ret);
void auth_caller_done(pvmd_caller *c);
/* The policy's answer for `caller` doing `action` on the VM `vm_name` owned by `vm_owner`:
 * 0, or PolicyDenied in error (naming the action `verb`, or the policy's word when NULL) and a
 * negative errno. Pure: no bus, no manager, no logging (test-pvmd-auth). */
int auth_decide_action(const pvm_policy *policy, const pvm_caller *caller, enum pvm_action action,
		       const char *verb, const char *vm_name, uid_t vm_owner, sd_bus_error *error);
/* Policy-file check for one action on one VM; answers PolicyDenied into error. */
int auth_check_action(pvmd_manager *m, sd_bus_message *msg, enum pvm_action action,
		      const pvmd_vm *vm, sd_bus_error *error);
/* The same, naming the action `verb` in the denial ("kill" for a KillVM the "stop" rules
 * decide). */
int auth_check_action_as(pvmd_manager *m, sd_bus_message *msg, enum pvm_action action,
			 const char *verb, const pvmd_vm *vm, sd_bus_error *error);
/* The policy's answer for `caller` creating or starting a VM with this config, given its usage
 * (mine: the caller's VMs, all: every VM; the VM a start is for not counted) and the payload
 * digests (NULL: before the payload is read; every rule but the digest ones): 0 (with whether the
 * memfd fallback is allowed), or LimitExceeded / PolicyDenied in error and a negative errno. Pure,
 * like auth_decide_action. */
int auth_decide_create(const pvm_policy *policy, const pvm_caller *caller, const pvm_config *cfg,
		       const uint8_t digest[32], const uint8_t initrd_digest[32],
		       const pvm_usage *mine, const pvm_usage *all, bool *ret_allow_fallback,
		       sd_bus_error *error);
/* Policy-file check for creating or starting a VM with this config (limits included).
 * digest NULL: before the payload is read, everything but the digest rules; initrd_digest NULL
 * when the config has no initrd. */
int auth_check_create(pvmd_manager *m, sd_bus_message *msg, const pvm_config *cfg,
		      const uint8_t digest[32], const uint8_t initrd_digest[32],
		      bool *ret_allow_fallback, sd_bus_error *error);
/* May this caller see this VM at all (quiet: no error, no log)? NULL caller: pvmd itself. One
 * caller serves a whole listing: the credentials are asked of the bus once. */
bool auth_caller_may_inspect(pvmd_manager *m, const pvmd_caller *c, const pvmd_vm *vm);
/* polkit, when it runs on the bus, for destructive actions on VMs the caller does not own.
 * 1: allowed; 0: polkit is being asked, the handler returns at once without a reply and the
 * call is dispatched again with the answer; < 0: denied (error set). */
int auth_check_polkit(pvmd_manager *m, sd_bus_message *msg, const char *action_id,
		      const pvmd_vm *vm, sd_bus_error *error);
void polkit_query_free(polkit_query *q);

/* signals.c: every signal about a VM goes only to subscribed callers allowed to inspect it */
int method_subscribe(sd_bus_message *msg, void *userdata, sd_bus_error *error);
int method_unsubscribe(sd_bus_message *msg, void *userdata, sd_bus_error *error);
void subscribers_free(pvmd_manager *m);
void signal_vm_added(pvmd_vm *vm);   /* InterfacesAdded, VMAdded */
void signal_vm_removed(pvmd_vm *vm); /* InterfacesRemoved, VMRemoved */
void signal_properties_changed(pvmd_vm *vm, char *const *changed);
void signal_state_changed(pvmd_vm *vm); /* VMStateChanged */

/* state.c: the records under <runtime_dir>/state. The record itself is pure data. */
typedef struct pvmd_state_record {
	char *name;
	uid_t owner;
	enum pvm_vm_state state;
	enum pvm_death_reason reason;
	char *message;
	pid_t runner_pid;
	uint64_t runner_start_ticks; /* /proc/<pid>/stat field 22: tells a reused pid apart */
	char *runner_exe;
	uid_t runner_uid; /* with the fields below: how the runner was set up, for adoption */
	unsigned runner_namespaces;
	uint64_t memory_flags;
	bool runner_maps;
	uint64_t start_time_usec;
	bool tied;
	uint32_t vsock_cid; /* the guest's CID while it runs with vsock; 0: none */
	uint32_t vsock_ports[PVMD_VSOCK_LISTENERS_MAX]; /* listeners pvmd made (vsock-listen.c) */
	size_t n_vsock_ports;
	char *config_json;
} pvmd_state_record;

void pvmd_state_record_done(pvmd_state_record *r);
int pvmd_state_record_to_json(const pvmd_state_record *r, char **ret);
int pvmd_state_record_from_json(const char *text, pvmd_state_record *ret, pvm_error *err);
int pvmd_state_save(const char *state_dir, const pvmd_state_record *r, pvm_error *err);
int pvmd_state_remove(const char *state_dir, const char *name);
/* Load every record; calls cb for each, in name order. Broken files are reported and moved
 * aside, never silently dropped. */
int pvmd_state_load_all(const char *state_dir, int (*cb)(pvmd_state_record *r, void *userdata),
			void *userdata);
int pvmd_proc_start_ticks(pid_t pid, uint64_t *ret);
int pvmd_proc_parse_start_ticks(const char *stat_line, uint64_t *ret);
/* Is the process the record names still that runner (start time, executable)? 1 yes, 0 no. */
int pvmd_state_runner_matches(const pvmd_state_record *r, const char *runner_path, pvm_error *err);
/* Find the runner a record names; if it is still that process, kill it and wait (bounded).
 * Returns 1 when a live runner was killed, 0 when it was gone already. */
int pvmd_state_reap_runner(const pvmd_state_record *r, const char *runner_path,
			   uint64_t timeout_usec, pvm_error *err);

/* log.c */
void log_setup(void);
void pvmd_log_msg(int prio, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define log_error(...) pvmd_log_msg(3, __VA_ARGS__)
#define log_warning(...) pvmd_log_msg(4, __VA_ARGS__)
#define log_notice(...) pvmd_log_msg(5, __VA_ARGS__)
#define log_info(...) pvmd_log_msg(6, __VA_ARGS__)
#define log_debug(...) pvmd_log_msg(7, __VA_ARGS__)
/* A VM's lifecycle: in the journal with the field PVM_VM=<name> (journalctl PVM_VM=NAME). */
void pvmd_log_vm_msg(int prio, const char *vm, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
#define log_vm_error(vm, ...) pvmd_log_vm_msg(3, vm, __VA_ARGS__)
#define log_vm_warning(vm, ...) pvmd_log_vm_msg(4, vm, __VA_ARGS__)
#define log_vm_notice(vm, ...) pvmd_log_vm_msg(5, vm, __VA_ARGS__)
#define log_vm_info(vm, ...) pvmd_log_vm_msg(6, vm, __VA_ARGS__)
