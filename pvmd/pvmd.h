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

#include "config.h"
#include "policy.h"
#include "vm-instance.h"
#include "vm-state.h"

#define PVMD_POLICY_DIRS_MAX 16
#define PVMD_CONSOLE_CLIENTS_MAX 8
/* VM records pvmd keeps at most (--max-vms), running or not: each costs memory and a state file,
 * so creating VMs without starting them cannot grow pvmd without bound. */
#define PVMD_VMS_MAX_DEFAULT 1024
#define PVMD_VMS_MAX_LIMIT 65536

typedef struct pvmd_vm pvmd_vm;
typedef struct pvmd_console_client pvmd_console_client;
typedef struct config_reader config_reader;
typedef struct polkit_query polkit_query;
typedef struct pvmd_subscriber pvmd_subscriber;

typedef struct manager {
	sd_event *event;
	sd_bus *bus;
	pvm_policy *policy;
	const char *policy_dirs[PVMD_POLICY_DIRS_MAX];
	size_t n_policy_dirs;

	const char *runtime_dir; /* per-VM runner state: <runtime_dir>/vms/<name>/ (the engine's) */
	char *state_dir;	 /* our records: <runtime_dir>/state/<name>.json */
	const char *log_dir;	 /* console logs; NULL: none */
	const char *runner_path;
	uid_t runner_uid; /* --runner-user; 0: a uid of its own per VM from the range below */
	gid_t runner_gid;
	uid_t runner_uid_first; /* --runner-uids (runner-uids.h) */
	uint32_t runner_uid_count;
	size_t console_ring_size;
	uint64_t stop_timeout_usec;	/* StopVM with timeout 0, tied VMs */
	uint64_t shutdown_timeout_usec; /* SIGTERM: all VMs stopped by then, else killed */
	size_t vms_max; /* records kept at most; CreateVM beyond it is LimitExceeded */
	bool use_polkit;
	bool use_machined;

	pvmd_vm *vms;		      /* list, newest first */
	config_reader *readers;	      /* CreateVMFromFd calls waiting for their config's end */
	polkit_query *polkit_queries; /* calls waiting for polkit's answer */
	unsigned n_readers;
	bool shutting_down;
	pvmd_subscriber *subscribers; /* who hears about VMs (signals.c) */
	unsigned n_subscribers;
	sd_event_source *shutdown_timer;
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
} manager;

#define PVMD_VM_PROPS_MAX 24

struct pvmd_vm {
	manager *manager;
	pvmd_vm *next;
	char *name;
	char *path;
	uid_t owner;
	pvm_config *cfg;
	vm_instance *inst; /* NULL for a VM recovered from the runtime directory until started */

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
	sd_bus_slot *machine_slot; /* RegisterMachine in flight */
	pvmd_console_client *consoles;
	size_t n_consoles;
};

#define PVMD_NOTE_TIE_LOST_WITH_BUS                                                                \
	"stopped by pvmd: the client it was tied to lost its connection when the system bus "      \
	"went away"

/* manager.c */
int manager_new(manager **ret);
manager *manager_free(manager *m);
int manager_load_policy(manager *m);
int manager_reload(manager *m);
int manager_connect(manager *m);
int manager_request_name(manager *m);
int manager_recover(manager *m);
int manager_begin_shutdown(manager *m);
pvmd_vm *manager_find_vm(manager *m, const char *name);
/* What uid holds and what all hold: every VM record counts, vCPUs and memory only while the
 * VM runs. self: the config of the VM a start is for, which is not counted against itself. */
void manager_get_usage(manager *m, uid_t uid, const pvm_config *self, pvm_usage *ret_caller,
		       pvm_usage *ret_global);
size_t manager_count_vms(manager *m);
void manager_update_status(manager *m);
int manager_remove_vm(manager *m, pvmd_vm *vm);

/* vm-object.c */
extern const sd_bus_vtable vm_vtable[];
int vm_object_find(sd_bus *bus, const char *path, const char *interface, void *userdata,
		   void **found, sd_bus_error *error);
int vm_object_enumerate(sd_bus *bus, const char *path, void *userdata, char ***nodes,
			sd_bus_error *error);
int pvmd_vm_new(manager *m, pvm_config *cfg, uid_t owner, pvmd_vm **ret);
pvmd_vm *pvmd_vm_free(pvmd_vm *vm);
int pvmd_vm_instantiate(pvmd_vm *vm, bool allow_fallback, pvm_error *err);
int pvmd_vm_pin_payload(pvmd_vm *vm, sd_bus_error *error);
enum pvm_vm_state pvmd_vm_state(const pvmd_vm *vm);
enum pvm_death_reason pvmd_vm_death_reason(const pvmd_vm *vm);
const char *pvmd_vm_message(const pvmd_vm *vm);
bool pvmd_vm_is_active(const pvmd_vm *vm);
void pvmd_vm_changed(pvmd_vm *vm);
int pvmd_vm_start(pvmd_vm *vm, sd_bus_message *msg, sd_bus_error *error);
/* Stop and kill for a caller (msg) or for pvmd itself (msg NULL): 0 when done, 1 when polkit
 * is being asked (no reply yet; the call is dispatched again), < 0 with error set. */
int pvmd_vm_stop(pvmd_vm *vm, sd_bus_message *msg, uint64_t timeout_usec, sd_bus_error *error);
int pvmd_vm_kill(pvmd_vm *vm, sd_bus_message *msg, sd_bus_error *error);
int pvmd_vm_open_console(pvmd_vm *vm, sd_bus_message *msg, sd_bus_error *error);
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
/* The caller of msg as the bus vouches for it (never augmented from /proc): uid, pid, groups. */
int auth_get_caller(sd_bus_message *msg, pvmd_caller *ret, sd_bus_error *error);
/* The fields of creds the bus vouched for, as a pvm_caller pointing into creds; augmented
 * fields are unknown (gid -1, no groups, no unit, pid 0). -ENODATA without a vouched uid. */
int auth_caller_from_creds(sd_bus_creds *creds, pvm_caller *ret);
void auth_caller_done(pvmd_caller *c);
/* Policy-file check for one action on one VM; answers PolicyDenied into error. */
int auth_check_action(manager *m, sd_bus_message *msg, enum pvm_action action, const pvmd_vm *vm,
		      sd_bus_error *error);
/* Policy-file check for creating or starting a VM with this config (limits included).
 * digest NULL: before the payload is read, everything but the digest rules. */
int auth_check_create(manager *m, sd_bus_message *msg, const pvm_config *cfg,
		      const uint8_t digest[32], bool *ret_allow_fallback, sd_bus_error *error);
/* May this caller see this VM at all (quiet: no error, no log)? NULL caller: pvmd itself. One
 * caller serves a whole listing: the credentials are asked of the bus once. */
bool auth_caller_may_inspect(manager *m, const pvmd_caller *c, const pvmd_vm *vm);
/* polkit, when it runs on the bus, for destructive actions on VMs the caller does not own.
 * 1: allowed; 0: polkit is being asked, the handler returns at once without a reply and the
 * call is dispatched again with the answer; < 0: denied (error set). */
int auth_check_polkit(manager *m, sd_bus_message *msg, const char *action_id, const pvmd_vm *vm,
		      sd_bus_error *error);
void polkit_query_free(polkit_query *q);

/* signals.c: every signal about a VM goes only to subscribed callers allowed to inspect it */
int method_subscribe(sd_bus_message *msg, void *userdata, sd_bus_error *error);
int method_unsubscribe(sd_bus_message *msg, void *userdata, sd_bus_error *error);
void subscribers_free(manager *m);
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
	uint64_t start_time_usec;
	bool tied;
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
int proc_start_ticks(pid_t pid, uint64_t *ret);
int proc_parse_start_ticks(const char *stat_line, uint64_t *ret);
/* Find the runner a record names; if it is still that process, kill it and wait (bounded).
 * Returns 1 when a live runner was killed, 0 when it was gone already. */
int pvmd_state_reap_runner(const pvmd_state_record *r, const char *runner_path,
			   uint64_t timeout_usec, pvm_error *err);

/* log.c */
void log_setup(void);
void log_msg(int prio, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define log_error(...) log_msg(3, __VA_ARGS__)
#define log_warning(...) log_msg(4, __VA_ARGS__)
#define log_notice(...) log_msg(5, __VA_ARGS__)
#define log_info(...) log_msg(6, __VA_ARGS__)
#define log_debug(...) log_msg(7, __VA_ARGS__)
