/* org.pvm1.Manager at /org/pvm1: creating VMs from config JSON (text or fd), the by-name
 * lifecycle methods, listing, and pvmd's own lifetime: recovery of a previous instance's
 * runners from the runtime directory, and the bounded graceful shutdown on SIGTERM. */
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#include "bus-client.h"
#include "caller-fd.h"
#include "firmware.h"
#include "pvmd.h"
#include "runner-pool.h"
#include "worker.h"

static void config_reader_free(config_reader *cr);
static void bus_drop(pvmd_manager *m);
static void shutdown_decided(pvmd_manager *m, bool restarting);

int manager_new(pvmd_manager **ret)
{
	pvmd_manager *m = calloc(1, sizeof(*m));
	int r;

	if (!m)
		return -ENOMEM;
	r = sd_event_default(&m->event);
	if (r < 0) {
		free(m);
		return r;
	}
	m->stop_timeout_usec = 10 * 1000 * 1000ULL;
	m->shutdown_timeout_usec = 20 * 1000 * 1000ULL;
	m->console_ring_size = 64 * 1024;
	m->vms_max = PVMD_VMS_MAX_DEFAULT;
	m->use_polkit = true;
	m->use_machined = true;
	m->bus_reconnect_usec = 60 * 1000 * 1000ULL;
	m->firmware_dir = PVM_FIRMWARE_DIR_DEFAULT;
	*ret = m;
	return 0;
}

pvmd_manager *manager_free(pvmd_manager *m)
{
	if (!m)
		return NULL;
	while (m->readers)
		config_reader_free(m->readers);
	while (m->creating) {
		pvmd_vm *vm = m->creating;
		m->creating = vm->next;
		pvmd_vm_free(vm); /* answers its call */
	}
	while (m->polkit_queries)
		polkit_query_free(m->polkit_queries);
	subscribers_free(m);
	auth_caller_cache_clear();
	while (m->vms) {
		pvmd_vm *vm = m->vms;
		m->vms = vm->next;
		pvmd_vm_free(vm); /* kills a runner still running */
	}
	runner_pool_free(m->pool); /* kills the runners that had no VM yet */
	sd_event_source_disable_unref(m->shutdown_timer);
	sd_bus_slot_unref(m->restart_query);
	pvmd_fdstore_release_unclaimed(&m->fdstore);
	sd_event_source_disable_unref(m->bus_retry_timer);
	bus_drop(m);
	pvm_policy_free(m->policy);
	sd_event_unref(m->event);
	free(m->state_dir);
	free(m);
	return NULL;
}

int manager_load_policy(pvmd_manager *m)
{
	pvm_policy *p = NULL;
	pvm_error err = { 0 };
	int r;

	r = pvm_policy_load(m->policy_dirs, m->n_policy_dirs, &p, &err);
	if (r < 0) {
		log_error("Cannot load the policy: %s", err.message);
		return r;
	}
	pvm_policy_free(m->policy);
	m->policy = p;
	return 0;
}

/* A reload, as systemd's notify protocol frames it: RELOADING=1 while the policy is read, READY=1
 * after. A broken edit keeps the policy in force rather than dropping all rules. */
int manager_reload(pvmd_manager *m)
{
	int r;

	sd_notify(false, "RELOADING=1\nSTATUS=Reloading the policy");
	r = manager_load_policy(m);
	/* waiting runners were exec'd from the runner binary as it was: new ones take over */
	runner_pool_flush(m->pool);
	sd_notify(false, "READY=1");
	manager_update_status(m);
	if (r < 0)
		log_error("Policy reload failed; the previous policy stays in force");
	else
		log_info("Policy reloaded");
	return r;
}

static void pool_failed(const char *message, void *userdata)
{
	log_warning("The runner pool stops refilling until the next start: %s", message);
}

int manager_start_pool(pvmd_manager *m)
{
	runner_pool_options o = {
		.runner_path = m->runner_path,
		.ids = { .runner_uid = m->runner_uid,
			 .runner_gid = m->runner_gid,
			 .uid_base = m->runner_uid_first,
			 .uid_count = m->runner_uid_count },
		.size = m->runner_pool_size,
		.failed = pool_failed,
		.userdata = m,
	};
	pvm_error err = { 0 };
	int r;

	if (m->runner_pool_size == 0)
		return 0;
	r = runner_pool_new(m->event, &o, &m->pool, &err);
	if (r < 0)
		log_error("Cannot set up the runner pool: %s", err.message);
	return r;
}

pvmd_vm *manager_find_vm(pvmd_manager *m, const char *name)
{
	for (pvmd_vm *vm = m->vms; vm; vm = vm->next)
		if (strcmp(vm->name, name) == 0)
			return vm;
	return NULL;
}

void manager_get_usage(pvmd_manager *m, uid_t uid, const pvm_config *self, pvm_usage *ret_caller,
		       pvm_usage *ret_global)
{
	*ret_caller = (pvm_usage){ 0 };
	*ret_global = (pvm_usage){ 0 };
	for (pvmd_vm *vm = m->vms; vm; vm = vm->next) {
		bool active = pvmd_vm_is_active(vm);

		/* a VM being started is already on the list: it is not counted against itself */
		if (vm->cfg == self)
			continue;
		/* every record counts as a VM, running or not: each costs pvmd memory and a state
		 * file; vCPUs and memory are only held while it runs */
		ret_global->vms++;
		if (vm->owner == uid)
			ret_caller->vms++;
		if (!active)
			continue;
		ret_global->vcpus += vm->cfg->cpus;
		ret_global->memory_mib += vm->cfg->memory_mib;
		if (vm->owner == uid) {
			ret_caller->vcpus += vm->cfg->cpus;
			ret_caller->memory_mib += vm->cfg->memory_mib;
		}
	}
}

size_t manager_count_vms(pvmd_manager *m)
{
	size_t n = 0;

	for (pvmd_vm *vm = m->vms; vm; vm = vm->next)
		n++;
	return n;
}

void manager_update_status(pvmd_manager *m)
{
	unsigned total = 0, active = 0;

	for (pvmd_vm *vm = m->vms; vm; vm = vm->next) {
		total++;
		active += pvmd_vm_is_active(vm);
	}
	sd_notifyf(false, "STATUS=%s%u VMs running, %u known", m->shutting_down ? "Stopping: " : "",
		   active, total);
	if (m->shutting_down && active == 0)
		sd_event_exit(m->event, 0);
}

static void manager_add_vm(pvmd_manager *m, pvmd_vm *vm)
{
	vm->next = m->vms;
	m->vms = vm;
	signal_vm_added(vm);
	pvmd_vm_changed(vm);
}

int manager_remove_vm(pvmd_manager *m, pvmd_vm *vm)
{
	int r;

	signal_vm_removed(vm);
	pvmd_vm_vsock_listeners_unlink(vm);
	for (pvmd_vm **p = &m->vms; *p; p = &(*p)->next)
		if (*p == vm) {
			*p = vm->next;
			break;
		}
	r = pvmd_state_remove(m->state_dir, vm->name);
	if (r < 0) /* the next pvmd would bring the VM back from its record */
		log_warning("VM '%s': cannot remove its record in %s: %s", vm->name, m->state_dir,
			    strerror(-r));
	pvmd_vm_free(vm);
	/* a VM's buffers (the console ring alone is 64 KiB) leave free pages all over the heap;
	 * give them back, so pvmd's RSS follows its VMs instead of its busiest hour */
	malloc_trim(0);
	manager_update_status(m);
	return 0;
}

/* Look a VM up by the name argument. A VM the caller may not inspect is absent for it: the
 * answer is the same NoSuchVM as for a name nobody uses, so by-name calls cannot probe names. */
static int read_vm(pvmd_manager *m, sd_bus_message *msg, pvmd_vm **ret, sd_bus_error *error)
{
	_cleanup_(auth_caller_done) pvmd_caller c = { 0 };
	const char *name;
	pvmd_vm *vm = NULL;
	int r;

	r = sd_bus_message_read(msg, "s", &name);
	if (r < 0)
		return r;
	if (r == 0)
		return -EBADMSG;
	r = auth_get_caller(msg, &c, error);
	if (r < 0)
		return r;
	vm = manager_find_vm(m, name);
	if (!vm || !auth_caller_may_inspect(m, &c, vm))
		return sd_bus_error_setf(error, PVM_BUS_ERROR_NO_SUCH_VM,
					 "No VM named '%s' (see 'pvmctl list')", name);
	*ret = vm;
	return 0;
}

/* A taken name is AlreadyExists for every caller allowed to create it, also when the VM that
 * holds it is hidden from that caller: VM names are one namespace, and a create that succeeded
 * would say as much. The answer names nothing but the name: no owner, state or count. */
static int check_name_free(pvmd_manager *m, const pvmd_caller *c, const char *name,
			   sd_bus_error *error)
{
	pvmd_vm *vm = manager_find_vm(m, name);

	/* a VM whose payload is still being copied holds its name too */
	for (pvmd_vm *p = m->creating; p && !vm; p = p->next)
		if (strcmp(p->name, name) == 0)
			vm = p;

	if (!vm)
		return 0;
	if (!auth_caller_may_inspect(m, c, vm))
		return sd_bus_error_setf(error, PVM_BUS_ERROR_ALREADY_EXISTS,
					 "The name '%s' is taken by a VM you may not see; choose "
					 "another name",
					 name);
	return sd_bus_error_setf(
	    error, PVM_BUS_ERROR_ALREADY_EXISTS,
	    "A VM named '%s' already exists (start it again with 'pvmctl start %s', choose "
	    "another name with --name, or remove it with 'pvmctl remove %s' once it is stopped)",
	    name, name, name);
}

static int check_capacity(pvmd_manager *m, sd_bus_error *error)
{
	if (manager_count_vms(m) < m->vms_max)
		return 0;
	return sd_bus_error_setf(error, PVM_BUS_ERROR_LIMIT_EXCEEDED,
				 "pvmd keeps at most %zu VMs, running or not, and has that many; "
				 "remove VMs that are no longer needed ('pvmctl remove NAME')",
				 m->vms_max);
}

/* ---- CreateVM ---- */

typedef struct create_options {
	const char *name;
	int start;
	int tie;
	int disk_fds[PVM_DISKS_MAX]; /* the caller's, owned by the message */
	size_t n_disk_fds;
	pvmd_payload_fds payload; /* the caller's, owned by the message; -1: not given */
} create_options;

/* disk_fds: "ah", one descriptor per config disk, in order */
static int read_disk_fds(sd_bus_message *msg, create_options *o, sd_bus_error *error)
{
	int r, fd;

	r = sd_bus_message_enter_container(msg, 'v', "ah");
	if (r >= 0)
		r = sd_bus_message_enter_container(msg, 'a', "h");
	if (r < 0)
		return r;
	while ((r = sd_bus_message_read(msg, "h", &fd)) > 0) {
		if (o->n_disk_fds == PVM_DISKS_MAX)
			return sd_bus_error_setf(error, PVM_BUS_ERROR_INVALID_ARGUMENT,
						 "Option disk_fds: at most %d descriptors",
						 PVM_DISKS_MAX);
		o->disk_fds[o->n_disk_fds++] = fd;
	}
	if (r >= 0)
		r = sd_bus_message_exit_container(msg);
	if (r >= 0)
		r = sd_bus_message_exit_container(msg);
	return r;
}

static int read_create_options(sd_bus_message *msg, create_options *o, sd_bus_error *error)
{
	int r;

	r = sd_bus_message_enter_container(msg, 'a', "{sv}");
	if (r < 0)
		return r;
	while ((r = sd_bus_message_enter_container(msg, 'e', "sv")) > 0) {
		const char *key;

		r = sd_bus_message_read(msg, "s", &key);
		if (r < 0)
			return r;
		if (strcmp(key, "name") == 0)
			r = sd_bus_message_read(msg, "v", "s", &o->name);
		else if (strcmp(key, "start") == 0)
			r = sd_bus_message_read(msg, "v", "b", &o->start);
		else if (strcmp(key, "tie") == 0)
			r = sd_bus_message_read(msg, "v", "b", &o->tie);
		else if (strcmp(key, "kernel_fd") == 0)
			r = sd_bus_message_read(msg, "v", "h", &o->payload.kernel);
		else if (strcmp(key, "initrd_fd") == 0)
			r = sd_bus_message_read(msg, "v", "h", &o->payload.initrd);
		else if (strcmp(key, "descriptor_fd") == 0)
			r = sd_bus_message_read(msg, "v", "h", &o->payload.descriptor);
		else if (strcmp(key, "disk_fds") == 0)
			r = read_disk_fds(msg, o, error);
		else
			return sd_bus_error_setf(error, PVM_BUS_ERROR_INVALID_ARGUMENT,
						 "Unknown option '%s' (known: name, start, tie, "
						 "kernel_fd, initrd_fd, descriptor_fd, disk_fds)",
						 key);
		if (sd_bus_error_is_set(error))
			return r;
		if (r == -ENXIO || r == -EINVAL)
			return sd_bus_error_setf(
			    error, PVM_BUS_ERROR_INVALID_ARGUMENT,
			    "Option '%s' has the wrong type (name: s, start: b, "
			    "tie: b, kernel_fd: h, initrd_fd: h, descriptor_fd: h, disk_fds: ah)",
			    key);
		if (r < 0)
			return r;
		r = sd_bus_message_exit_container(msg);
		if (r < 0)
			return r;
	}
	if (r < 0)
		return r;
	return sd_bus_message_exit_container(msg);
}

/* A payload descriptor must be one pvmd can copy; checked before anything is read. */
static int check_payload_fd(const char *what, int fd, const char *config_path, sd_bus_error *error)
{
	enum caller_fd_kind kind;
	pvm_error err = { 0 };
	char option[32];

	if (fd < 0)
		return 0;
	snprintf(option, sizeof(option), "%s_fd", what);
	if (!config_path)
		return sd_bus_error_setf(error, PVM_BUS_ERROR_INVALID_ARGUMENT,
					 "Option %s is given but the config names no %s", option,
					 what);
	if (caller_fd_classify(fd, true, &kind, &err) < 0)
		return sd_bus_error_setf(error, PVM_BUS_ERROR_INVALID_ARGUMENT,
					 "Option %s: %s (pass a regular file opened for reading)",
					 option, err.message);
	return 0;
}

/* A CreateVMFromFd call waiting for its config (method_create_vm_from_fd below). */
struct config_reader {
	pvmd_manager *manager;
	config_reader *next;
	uid_t uid; /* the caller's */
	sd_bus_message *msg;
	worker_job *job;
};

/* Descriptors being read for one caller (root aside): a caller holding its ends open takes at
 * most this many of the WORKER_JOBS_MAX threads, and no more than that from anyone else. */
#define PVMD_CALLER_JOBS_MAX 4

static int check_caller_jobs(pvmd_manager *m, uid_t uid, bool config, sd_bus_error *error)
{
	unsigned n = 0;

	if (uid == 0)
		return 0;
	if (config) {
		for (config_reader *cr = m->readers; cr; cr = cr->next)
			n += cr->uid == uid;
	} else {
		for (pvmd_vm *vm = m->creating; vm; vm = vm->next)
			n += vm->owner == uid;
	}
	if (n >= PVMD_CALLER_JOBS_MAX)
		return sd_bus_error_setf(error, PVM_BUS_ERROR_BUSY,
					 "uid %u has %u %s being read already; try again once they "
					 "are done",
					 (unsigned)uid, n, config ? "configs" : "payloads");
	return 0;
}

static void creating_remove(pvmd_manager *m, pvmd_vm *vm)
{
	for (pvmd_vm **p = &m->creating; *p; p = &(*p)->next)
		if (*p == vm) {
			*p = vm->next;
			break;
		}
	vm->next = NULL;
}

/* The payload is copied: the full policy check on it, then the VM exists. */
static int create_vm_finish(pvmd_vm *vm, sd_bus_message *msg, int r, sd_bus_error *error)
{
	pvmd_manager *m = vm->manager;
	pvm_error err = { 0 };
	bool fallback = false;

	creating_remove(m, vm);
	if (r >= 0 && m->shutting_down)
		r = sd_bus_error_setf(error, PVM_BUS_ERROR_SHUTTING_DOWN,
				      "pvmd is shutting down; VM '%s' was not created", vm->name);
	/* others may have been created while the payload was copied */
	if (r >= 0)
		r = check_capacity(m, error);
	if (r >= 0)
		r = pvmd_vm_check_create(vm, msg, &fallback, error);
	if (r >= 0) {
		/* the config then pins the bytes pvmd holds */
		memcpy(vm->cfg->payload_sha256, vm->kernel.sha256, 32);
		vm->cfg->has_payload_sha256 = true;
		r = pvmd_vm_instantiate(vm, fallback, &err);
		if (r < 0)
			r = sd_bus_error_setf(error,
					      r == -EINVAL ? PVM_BUS_ERROR_INVALID_CONFIG
							   : PVM_BUS_ERROR_START_FAILED,
					      "VM '%s' cannot be set up: %s", vm->name,
					      err.message);
	}
	if (r < 0) {
		pvmd_vm_free(vm);
		return r;
	}

	manager_add_vm(m, vm);
	log_vm_info(vm->name, "VM '%s' created by uid %u", vm->name, (unsigned)vm->owner);
	if (vm->create_tie) {
		r = pvmd_vm_tie(vm, msg);
		if (r < 0) {
			manager_remove_vm(m, vm);
			return sd_bus_error_set_errnof(error, r, "Cannot track the caller: %m");
		}
	}
	if (vm->create_start) {
		r = pvmd_vm_start(vm, msg, error);
		if (r < 0) {
			/* nothing ran: forget the VM so the same command can be retried */
			manager_remove_vm(m, vm);
			return r;
		}
	}
	return sd_bus_reply_method_return(msg, "so", vm->name, vm->path);
}

static int create_vm(pvmd_manager *m, sd_bus_message *msg, const char *json, size_t len,
		     sd_bus_error *error)
{
	_cleanup_(pvm_config_freep) pvm_config *cfg = NULL;
	_cleanup_(auth_caller_done) pvmd_caller c = { 0 };
	create_options o = { .payload = { .kernel = -1, .initrd = -1, .descriptor = -1 } };
	pvm_error err = { 0 };
	pvmd_vm *vm = NULL;
	int r;

	r = read_create_options(msg, &o, error);
	if (r < 0)
		return r;
	r = pvm_config_parse(json, len, "<bus>", false, &cfg, &err);
	if (r < 0)
		return sd_bus_error_setf(error, PVM_BUS_ERROR_INVALID_CONFIG,
					 "Invalid VM config: %s", err.message);
	if (o.name) {
		if (!pvm_name_is_valid(o.name))
			return sd_bus_error_setf(
			    error, PVM_BUS_ERROR_INVALID_ARGUMENT,
			    "Invalid VM name '%s': use 1-%d characters of "
			    "A-Z a-z 0-9 . _ -, starting with a letter or digit",
			    o.name, PVM_NAME_MAX);
		snprintf(cfg->name, sizeof(cfg->name), "%s", o.name);
	}
	if (m->shutting_down)
		return sd_bus_error_setf(error, PVM_BUS_ERROR_SHUTTING_DOWN,
					 "pvmd is shutting down; VM '%s' was not created",
					 cfg->name);

	r = auth_get_caller(msg, &c, error);
	if (r < 0)
		return r;
	r = pvmd_vm_new(m, cfg, c.caller.uid, &vm);
	if (r < 0)
		return r;
	TAKE_PTR(cfg);
	/* from here the VM owns the config; it is freed with the VM on every error path. Creation
	 * is authorized first: a caller who may not create learns nothing of names in use. */
	vm->create_start = o.start;
	vm->create_tie = o.tie;
	r = auth_check_action(m, msg, PVM_ACTION_CREATE, vm, error);
	if (r >= 0)
		r = check_name_free(m, &c, vm->name, error);
	if (r >= 0)
		r = check_capacity(m, error);
	/* paths are checked as text only: pvmd does not look at a caller's files by name */
	if (r >= 0 && pvm_config_validate(vm->cfg, "<bus>", false, &err) < 0)
		r = sd_bus_error_setf(error, PVM_BUS_ERROR_INVALID_CONFIG, "Invalid VM config: %s",
				      err.message);
	if (r >= 0)
		r = check_payload_fd("kernel", o.payload.kernel, vm->cfg->kernel, error);
	if (r >= 0)
		r = check_payload_fd("initrd", o.payload.initrd, vm->cfg->initrd, error);
	if (r >= 0)
		r = check_payload_fd("descriptor", o.payload.descriptor, vm->cfg->descriptor,
				     error);
	if (r >= 0)
		r = pvmd_vm_take_disks(vm, o.disk_fds, o.n_disk_fds, error);
	/* the payload is copied only for callers the policy lets create this VM at all */
	if (r >= 0)
		r = auth_check_create(m, msg, vm->cfg, NULL, NULL, NULL, error);
	if (r >= 0)
		r = check_caller_jobs(m, vm->owner, false, error);
	if (r >= 0)
		r = pvmd_vm_load_payload(vm, msg, &o.payload, create_vm_finish, error);
	if (r < 0) {
		pvmd_vm_free(vm);
		return r;
	}
	/* until the copy is made the name is taken, the VM not yet published */
	vm->next = m->creating;
	m->creating = vm;
	return 1;
}

static int method_create_vm(sd_bus_message *msg, void *userdata, sd_bus_error *error)
{
	const char *json;
	int r;

	r = sd_bus_message_read(msg, "s", &json);
	if (r < 0)
		return r;
	return create_vm(userdata, msg, json, strlen(json), error);
}

/* CreateVMFromFd: the fd is the caller's, and so are its file flags and offset, which pvmd
 * leaves alone. A worker thread reads it (caller-fd.c): a regular file from its start, a pipe or
 * socket as its data comes until the writer closes it, for at most CONFIG_FD_TIMEOUT_USEC; the
 * event loop only waits for the thread's answer, so no descriptor can stall pvmd. */
#define CONFIG_FD_TIMEOUT_USEC (10 * 1000 * 1000ULL)

typedef struct config_read {
	int fd;
	char *buf;
	size_t len;
	pvm_error err;
} config_read;

static void config_reader_free(config_reader *cr)
{
	for (config_reader **p = &cr->manager->readers; *p; p = &(*p)->next)
		if (*p == cr) {
			*p = cr->next;
			break;
		}
	worker_cancel(cr->job);
	sd_bus_message_unref(cr->msg);
	free(cr);
}

static void config_read_free(void *data)
{
	config_read *d = data;

	if (d->fd >= 0)
		close(d->fd);
	free(d->buf);
	free(d);
}

static int config_read_work(void *data, uint64_t deadline_usec)
{
	config_read *d = data;
	return caller_fd_read_config(d->fd, PVM_CONFIG_FILE_MAX, deadline_usec, &d->buf, &d->len,
				     &d->err);
}

static int config_read_result(pvmd_manager *m, sd_bus_message *msg, int r, config_read *d,
			      sd_bus_error *error)
{
	if (!d || r == -ETIMEDOUT)
		return sd_bus_error_setf(
		    error, PVM_BUS_ERROR_INVALID_ARGUMENT,
		    "The config descriptor did not reach its end within %llu s: "
		    "close the writing end once the config is written",
		    CONFIG_FD_TIMEOUT_USEC / 1000000);
	if (r == -EFBIG)
		return sd_bus_error_setf(error, PVM_BUS_ERROR_INVALID_CONFIG,
					 "Config is larger than %d bytes", PVM_CONFIG_FILE_MAX);
	if (r < 0)
		return sd_bus_error_setf(error, PVM_BUS_ERROR_INVALID_ARGUMENT,
					 "Cannot read the config descriptor: %s", d->err.message);
	if (memchr(d->buf, '\0', d->len))
		return sd_bus_error_setf(error, PVM_BUS_ERROR_INVALID_CONFIG,
					 "Config contains a NUL byte: it is not JSON text");
	return create_vm(m, msg, d->buf, d->len, error);
}

static void config_read_done(int r, void *data, void *userdata)
{
	_cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
	config_reader *cr = userdata;

	cr->job = NULL;
	r = config_read_result(cr->manager, cr->msg, r, data, &e);
	if (r < 0) {
		if (sd_bus_error_is_set(&e))
			sd_bus_reply_method_error(cr->msg, &e);
		else
			sd_bus_reply_method_errno(cr->msg, r, NULL);
	}
	config_reader_free(cr);
}

static int method_create_vm_from_fd(sd_bus_message *msg, void *userdata, sd_bus_error *error)
{
	_cleanup_(auth_caller_done) pvmd_caller c = { 0 };
	pvmd_manager *m = userdata;
	enum caller_fd_kind kind;
	pvm_error err = { 0 };
	config_reader *cr;
	config_read *d;
	int fd, r;

	r = sd_bus_message_read(msg, "h", &fd);
	if (r < 0)
		return r;
	/* a kind that cannot be read is answered at once (the check never blocks) */
	r = caller_fd_classify(fd, false, &kind, &err);
	if (r < 0)
		return sd_bus_error_setf(error, PVM_BUS_ERROR_INVALID_ARGUMENT,
					 "Cannot read the config descriptor: %s (pass a regular "
					 "file, a pipe or a connected stream socket)",
					 err.message);
	r = auth_get_caller(msg, &c, error);
	if (r >= 0)
		r = check_caller_jobs(m, c.caller.uid, true, error);
	if (r < 0)
		return r;
	d = calloc(1, sizeof(*d));
	cr = calloc(1, sizeof(*cr));
	if (!d || !cr) {
		free(d);
		free(cr);
		return -ENOMEM;
	}
	d->fd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	if (d->fd < 0) {
		r = sd_bus_error_setf(error, PVM_BUS_ERROR_BUSY,
				      "pvmd cannot hold the config descriptor now (%m); try again");
		config_read_free(d);
		free(cr);
		return r;
	}
	*cr = (config_reader){ .manager = m,
			       .next = m->readers,
			       .uid = c.caller.uid,
			       .msg = sd_bus_message_ref(msg) };
	m->readers = cr;
	r = worker_start(m->event, CONFIG_FD_TIMEOUT_USEC, config_read_work, d, config_read_free,
			 config_read_done, cr, &cr->job);
	if (r < 0) {
		config_reader_free(cr);
		if (r == -EBUSY)
			return sd_bus_error_setf(error, PVM_BUS_ERROR_BUSY,
						 "%d descriptors are being read already; try again",
						 WORKER_JOBS_MAX);
		return r;
	}
	return 1; /* the reply comes when the config is in */
}

/* ---- by-name lifecycle ---- */

static int method_start_vm(sd_bus_message *msg, void *userdata, sd_bus_error *error)
{
	pvmd_vm *vm = NULL;
	int r;

	r = read_vm(userdata, msg, &vm, error);
	if (r < 0)
		return r;
	r = pvmd_vm_start(vm, msg, error);
	if (r != 0)
		return r; /* an error, or 1: the payload is being read */
	return sd_bus_reply_method_return(msg, NULL);
}

static int method_stop_vm(sd_bus_message *msg, void *userdata, sd_bus_error *error)
{
	uint64_t timeout;
	pvmd_vm *vm = NULL;
	int r;

	r = read_vm(userdata, msg, &vm, error);
	if (r < 0)
		return r;
	r = sd_bus_message_read(msg, "t", &timeout);
	if (r < 0)
		return r;
	r = pvmd_vm_stop(vm, msg, timeout, error);
	if (r != 0)
		return r; /* an error, or 1: waiting for polkit */
	return sd_bus_reply_method_return(msg, NULL);
}

static int method_kill_vm(sd_bus_message *msg, void *userdata, sd_bus_error *error)
{
	pvmd_vm *vm = NULL;
	int r;

	r = read_vm(userdata, msg, &vm, error);
	if (r < 0)
		return r;
	r = pvmd_vm_kill(vm, msg, error);
	if (r != 0)
		return r; /* an error, or 1: waiting for polkit */
	return sd_bus_reply_method_return(msg, NULL);
}

static int method_remove_vm(sd_bus_message *msg, void *userdata, sd_bus_error *error)
{
	pvmd_manager *m = userdata;
	pvmd_vm *vm = NULL;
	int r;

	r = read_vm(m, msg, &vm, error);
	if (r < 0)
		return r;
	/* authorization first: a caller who may not stop this VM learns nothing of its state */
	r = auth_check_action_as(m, msg, PVM_ACTION_STOP, "remove", vm, error);
	if (r < 0)
		return r;
	if (pvmd_vm_is_active(vm))
		return sd_bus_error_setf(
		    error, PVM_BUS_ERROR_BUSY, "VM '%s' is %s; stop it first ('pvmctl stop %s')",
		    vm->name, pvm_vm_state_to_string(pvmd_vm_state(vm)), vm->name);
	r = auth_check_polkit(m, msg, "org.pvm1.stop-vm", vm, error);
	if (r <= 0)
		return r < 0 ? r : 1; /* 0: asked polkit; this call comes back with the answer */
	log_vm_info(vm->name, "VM '%s' removed", vm->name);
	manager_remove_vm(m, vm);
	return sd_bus_reply_method_return(msg, NULL);
}

static int method_get_vm(sd_bus_message *msg, void *userdata, sd_bus_error *error)
{
	pvmd_vm *vm = NULL;
	int r;

	r = read_vm(userdata, msg, &vm, error);
	if (r < 0)
		return r;
	r = auth_check_action(userdata, msg, PVM_ACTION_INSPECT, vm, error);
	if (r < 0)
		return r;
	return sd_bus_reply_method_return(msg, "o", vm->path);
}

static int method_list_vms(sd_bus_message *msg, void *userdata, sd_bus_error *error)
{
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
	_cleanup_(auth_caller_done) pvmd_caller c = { 0 };
	pvmd_manager *m = userdata;
	int r;

	r = auth_get_caller(msg, &c, error);
	if (r < 0)
		return r;
	r = sd_bus_message_new_method_return(msg, &reply);
	if (r < 0)
		return r;
	r = sd_bus_message_open_container(reply, 'a', "(ssso)");
	if (r < 0)
		return r;
	/* only the VMs the caller may inspect: listing is not a way around the policy */
	for (pvmd_vm *vm = m->vms; vm; vm = vm->next) {
		if (!auth_caller_may_inspect(m, &c, vm))
			continue;
		r = sd_bus_message_append(
		    reply, "(ssso)", vm->name, pvm_vm_state_to_string(pvmd_vm_state(vm)),
		    pvm_death_reason_to_string(pvmd_vm_death_reason(vm)), vm->path);
		if (r < 0)
			return r;
	}
	r = sd_bus_message_close_container(reply);
	if (r < 0)
		return r;
	return sd_bus_send(NULL, reply, NULL);
}

static int method_open_console(sd_bus_message *msg, void *userdata, sd_bus_error *error)
{
	pvmd_vm *vm = NULL;
	int r;

	r = read_vm(userdata, msg, &vm, error);
	if (r < 0)
		return r;
	return pvmd_vm_open_console(vm, msg, error);
}

static int method_listen_vsock(sd_bus_message *msg, void *userdata, sd_bus_error *error)
{
	pvmd_vm *vm = NULL;
	uint32_t port;
	int r;

	r = read_vm(userdata, msg, &vm, error);
	if (r < 0)
		return r;
	r = sd_bus_message_read(msg, "u", &port);
	if (r < 0)
		return r;
	return pvmd_vm_listen_vsock(vm, msg, port, error);
}

static int method_get_console_log(sd_bus_message *msg, void *userdata, sd_bus_error *error)
{
	pvmd_vm *vm = NULL;
	int r;

	r = read_vm(userdata, msg, &vm, error);
	if (r < 0)
		return r;
	return pvmd_vm_get_console_log(vm, msg, error);
}

/* Reload: the policy is read again before the reply, so `systemctl reload pvmd` (ExecReload
 * calls this) returns only once the new policy is in force, or fails saying why it is not.
 * Only root: it is the service manager's verb, not a caller's. */
static int method_reload(sd_bus_message *msg, void *userdata, sd_bus_error *error)
{
	_cleanup_(sd_bus_creds_unrefp) sd_bus_creds *creds = NULL;
	uid_t euid;
	int r;

	r = sd_bus_query_sender_creds(msg, SD_BUS_CREDS_EUID, &creds);
	if (r >= 0)
		r = sd_bus_creds_get_euid(creds, &euid);
	if (r < 0)
		return sd_bus_error_set_errnof(error, r, "Cannot get the caller's credentials: %m");
	if (euid != 0)
		return sd_bus_error_setf(error, PVM_BUS_ERROR_POLICY_DENIED,
					 "Only root may reload pvmd's policy (uid %u asked)",
					 (unsigned)euid);
	r = manager_reload(userdata);
	if (r < 0)
		return sd_bus_error_setf(error, PVM_BUS_ERROR_INVALID_CONFIG,
					 "The policy did not load (see pvmd's log for the file and "
					 "rule); the previous policy stays in force");
	return sd_bus_reply_method_return(msg, NULL);
}

static int prop_version(sd_bus *bus, const char *path, const char *interface, const char *property,
			sd_bus_message *reply, void *userdata, sd_bus_error *error)
{
	return sd_bus_message_append(reply, "s", PVM_VERSION);
}

static int prop_shutting_down(sd_bus *bus, const char *path, const char *interface,
			      const char *property, sd_bus_message *reply, void *userdata,
			      sd_bus_error *error)
{
	pvmd_manager *m = userdata;
	return sd_bus_message_append(reply, "b", m->shutting_down);
}

static const sd_bus_vtable manager_vtable[] = {
	SD_BUS_VTABLE_START(0),
	SD_BUS_PROPERTY("Version", "s", prop_version, 0, SD_BUS_VTABLE_PROPERTY_CONST),
	SD_BUS_PROPERTY("ShuttingDown", "b", prop_shutting_down, 0,
			SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
	SD_BUS_METHOD_WITH_ARGS("CreateVM", SD_BUS_ARGS("s", config, "a{sv}", options),
				SD_BUS_RESULT("s", name, "o", path), method_create_vm,
				SD_BUS_VTABLE_UNPRIVILEGED),
	SD_BUS_METHOD_WITH_ARGS("CreateVMFromFd", SD_BUS_ARGS("h", config_fd, "a{sv}", options),
				SD_BUS_RESULT("s", name, "o", path), method_create_vm_from_fd,
				SD_BUS_VTABLE_UNPRIVILEGED),
	SD_BUS_METHOD_WITH_ARGS("StartVM", SD_BUS_ARGS("s", name), SD_BUS_NO_RESULT,
				method_start_vm, SD_BUS_VTABLE_UNPRIVILEGED),
	SD_BUS_METHOD_WITH_ARGS("StopVM", SD_BUS_ARGS("s", name, "t", timeout_usec),
				SD_BUS_NO_RESULT, method_stop_vm, SD_BUS_VTABLE_UNPRIVILEGED),
	SD_BUS_METHOD_WITH_ARGS("KillVM", SD_BUS_ARGS("s", name), SD_BUS_NO_RESULT, method_kill_vm,
				SD_BUS_VTABLE_UNPRIVILEGED),
	SD_BUS_METHOD_WITH_ARGS("RemoveVM", SD_BUS_ARGS("s", name), SD_BUS_NO_RESULT,
				method_remove_vm, SD_BUS_VTABLE_UNPRIVILEGED),
	SD_BUS_METHOD_WITH_ARGS("GetVM", SD_BUS_ARGS("s", name), SD_BUS_RESULT("o", path),
				method_get_vm, SD_BUS_VTABLE_UNPRIVILEGED),
	SD_BUS_METHOD_WITH_ARGS("ListVMs", SD_BUS_NO_ARGS, SD_BUS_RESULT("a(ssso)", vms),
				method_list_vms, SD_BUS_VTABLE_UNPRIVILEGED),
	SD_BUS_METHOD_WITH_ARGS("OpenConsole", SD_BUS_ARGS("s", name), SD_BUS_RESULT("h", console),
				method_open_console, SD_BUS_VTABLE_UNPRIVILEGED),
	SD_BUS_METHOD_WITH_ARGS("ListenVsock", SD_BUS_ARGS("s", name, "u", port),
				SD_BUS_RESULT("h", listener), method_listen_vsock,
				SD_BUS_VTABLE_UNPRIVILEGED),
	SD_BUS_METHOD_WITH_ARGS("GetConsoleLog", SD_BUS_ARGS("s", name), SD_BUS_RESULT("ay", log),
				method_get_console_log, SD_BUS_VTABLE_UNPRIVILEGED),
	SD_BUS_METHOD_WITH_ARGS("Reload", SD_BUS_NO_ARGS, SD_BUS_NO_RESULT, method_reload,
				SD_BUS_VTABLE_UNPRIVILEGED),
	SD_BUS_METHOD_WITH_ARGS("Subscribe", SD_BUS_NO_ARGS, SD_BUS_NO_RESULT, method_subscribe,
				SD_BUS_VTABLE_UNPRIVILEGED),
	SD_BUS_METHOD_WITH_ARGS("Unsubscribe", SD_BUS_NO_ARGS, SD_BUS_NO_RESULT, method_unsubscribe,
				SD_BUS_VTABLE_UNPRIVILEGED),
	SD_BUS_SIGNAL_WITH_ARGS("VMAdded", SD_BUS_ARGS("s", name, "o", path), 0),
	SD_BUS_SIGNAL_WITH_ARGS("VMRemoved", SD_BUS_ARGS("s", name, "o", path), 0),
	SD_BUS_SIGNAL_WITH_ARGS(
	    "VMStateChanged",
	    SD_BUS_ARGS("s", name, "o", path, "s", state, "s", death_reason, "s", message), 0),
	SD_BUS_VTABLE_END,
};

/* ---- the bus: connecting, losing it, getting it back ---- */

#define BUS_RETRY_FIRST_USEC (100 * 1000ULL)
#define BUS_RETRY_MAX_USEC (5 * 1000 * 1000ULL)

static void bus_lost(pvmd_manager *m);

/* sd-bus turns a closed connection into a local Disconnected signal; pvmd keeps running. */
static int bus_filter(sd_bus_message *msg, void *userdata, sd_bus_error *error)
{
	if (!sd_bus_message_is_signal(msg, "org.freedesktop.DBus.Local", "Disconnected"))
		return 0;
	bus_lost(userdata);
	return 1;
}

/* Drop the connection and everything that lives on it. Calls in flight (polkit answers, config
 * fds) came from clients whose connections ended with it: there is nobody to answer. */
static void bus_drop(pvmd_manager *m)
{
	/* a SIGTERM still asking systemd whether it restarts pvmd gets no answer now: a stop */
	if (m->restart_query)
		shutdown_decided(m, false);
	while (m->readers)
		config_reader_free(m->readers);
	while (m->polkit_queries)
		polkit_query_free(m->polkit_queries);
	m->manager_slot = sd_bus_slot_unref(m->manager_slot);
	m->vm_slot = sd_bus_slot_unref(m->vm_slot);
	m->enum_slot = sd_bus_slot_unref(m->enum_slot);
	m->om_slot = sd_bus_slot_unref(m->om_slot);
	m->filter_slot = sd_bus_slot_unref(m->filter_slot);
	if (m->bus)
		sd_bus_detach_event(m->bus);
	auth_caller_cache_clear(); /* its call holds the old connection */
	m->bus = sd_bus_flush_close_unref(m->bus);
}

/* Open the system bus and publish pvmd's objects on it (the name is asked for separately). */
static int bus_open(pvmd_manager *m)
{
	_cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
	int r;

	r = sd_bus_open_system(&bus);
	if (r < 0)
		return r;
	bus_drop(m);
	m->bus = TAKE_PTR(bus);
	r = sd_bus_add_object_vtable(m->bus, &m->manager_slot, PVM_BUS_PATH, PVM_BUS_MANAGER_IFACE,
				     manager_vtable, m);
	if (r >= 0)
		r = sd_bus_add_fallback_vtable(m->bus, &m->vm_slot, PVM_BUS_VM_PREFIX,
					       PVM_BUS_VM_IFACE, vm_vtable, vm_object_find, m);
	if (r >= 0)
		r = sd_bus_add_node_enumerator(m->bus, &m->enum_slot, PVM_BUS_VM_PREFIX,
					       vm_object_enumerate, m);
	if (r >= 0)
		r = sd_bus_add_object_manager(m->bus, &m->om_slot, PVM_BUS_PATH);
	if (r >= 0)
		r = sd_bus_add_filter(m->bus, &m->filter_slot, bus_filter, m);
	if (r >= 0)
		r = sd_bus_attach_event(m->bus, m->event, SD_EVENT_PRIORITY_NORMAL);
	return r;
}

int manager_connect(pvmd_manager *m)
{
	int r;

	pvm_bus_error_map_register();
	r = bus_open(m);
	if (r < 0)
		log_error("Cannot connect to the system bus and publish pvmd's objects: %s",
			  strerror(-r));
	return r;
}

int manager_request_name(pvmd_manager *m)
{
	int r = sd_bus_request_name(m->bus, PVM_BUS_NAME, 0);
	if (r < 0)
		log_error("Cannot own the bus name %s: %s (another pvmd running, or the bus "
			  "policy does not let this user own it)",
			  PVM_BUS_NAME, strerror(-r));
	return r;
}

/* pvmd ends the run itself: the note becomes the VM's message (and record) once it ended. */
static void stop_vm_noting(pvmd_manager *m, pvmd_vm *vm, const char *note)
{
	_cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;

	free(vm->end_note);
	vm->end_note = strdup(note);
	if (pvmd_vm_stop(vm, NULL, m->stop_timeout_usec, &e) < 0)
		log_warning("Stopping VM '%s' failed: %s", vm->name, e.message);
}

/* No bus to serve on: stop every VM as on SIGTERM, noting why, and exit 1 once they ended. */
static void bus_give_up(pvmd_manager *m, const char *fmt, ...) _printf_(2, 3);
static void bus_give_up(pvmd_manager *m, const char *fmt, ...)
{
	_cleanup_free_ char *note = NULL;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(m->exit_reason, sizeof(m->exit_reason), fmt, ap);
	va_end(ap);
	m->exit_failure = true;
	log_error("pvmd %s; stopping every VM and exiting", m->exit_reason);
	m->bus_retry_timer = sd_event_source_disable_unref(m->bus_retry_timer);
	if (asprintf(&note, "stopped by pvmd, which %s", m->exit_reason) < 0)
		note = NULL;
	for (pvmd_vm *vm = m->vms; vm; vm = vm->next)
		if (pvmd_vm_is_active(vm) && pvmd_vm_state(vm) != PVM_VM_STOPPING) {
			free(vm->end_note);
			vm->end_note = note ? strdup(note) : NULL;
		}
	manager_begin_shutdown(m); /* ends the loop once every VM has ended */
}

static int bus_retry(sd_event_source *s, uint64_t usec, void *userdata);

/* The next attempt after a backoff, or giving up once the outage has lasted too long. */
static void bus_schedule_retry(pvmd_manager *m)
{
	uint64_t delay = MIN(BUS_RETRY_FIRST_USEC << MIN(m->bus_attempts, 16u), BUS_RETRY_MAX_USEC);
	int r;

	if (pvm_now_usec(CLOCK_MONOTONIC) - m->bus_lost_usec >= m->bus_reconnect_usec) {
		bus_give_up(m,
			    "lost the system bus and could not reconnect within %llu s (%u "
			    "attempts, last error: %s)",
			    (unsigned long long)(m->bus_reconnect_usec / 1000000), m->bus_attempts,
			    strerror(m->bus_last_error));
		return;
	}
	if (m->bus_retry_timer) {
		r = sd_event_source_set_time_relative(m->bus_retry_timer, delay);
		if (r >= 0)
			r = sd_event_source_set_enabled(m->bus_retry_timer, SD_EVENT_ONESHOT);
	} else
		r = sd_event_add_time_relative(m->event, &m->bus_retry_timer, CLOCK_MONOTONIC,
					       delay, 0, bus_retry, m);
	if (r < 0)
		bus_give_up(m, "lost the system bus and cannot schedule a reconnection: %s",
			    strerror(-r));
}

static int bus_name_acquired(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error)
{
	pvmd_manager *m = userdata;
	const sd_bus_error *e = sd_bus_message_get_error(reply);

	if (e) {
		/* the name is someone else's now (another pvmd?): retrying cannot fix that */
		bus_give_up(m, "reconnected to the system bus but could not own %s: %s",
			    PVM_BUS_NAME, e->message);
		return 0;
	}
	log_notice("Back on the system bus as %s after %.1f s (%u attempts); the VMs ran on",
		   PVM_BUS_NAME, (double)(pvm_now_usec(CLOCK_MONOTONIC) - m->bus_lost_usec) / 1e6,
		   m->bus_attempts);
	m->bus_lost_usec = 0;
	m->bus_attempts = 0;
	manager_update_status(m);
	return 0;
}

static int bus_retry(sd_event_source *s, uint64_t usec, void *userdata)
{
	pvmd_manager *m = userdata;
	int r;

	m->bus_attempts++;
	r = bus_open(m);
	if (r >= 0)
		r = sd_bus_request_name_async(m->bus, NULL, PVM_BUS_NAME, 0, bus_name_acquired, m);
	if (r >= 0)
		return 0; /* bus_name_acquired, or bus_filter if this connection drops too */
	m->bus_last_error = -r;
	log_debug("Reconnecting to the system bus failed (attempt %u): %s", m->bus_attempts,
		  strerror(-r));
	bus_schedule_retry(m);
	return 0;
}

/* The bus went away (dbus-daemon restarted or killed). Untied VMs do not depend on it and run
 * on; a tied VM was promised to end with its client's connection, which ended with the bus,
 * so it is stopped. pvmd reconnects and takes its name again; see pvmd(8), LIFETIME. */
static void bus_lost(pvmd_manager *m)
{
	if (m->exit_failure)
		return; /* given up already: the shutdown is under way */
	if (m->bus_lost_usec == 0) {
		m->bus_lost_usec = pvm_now_usec(CLOCK_MONOTONIC);
		m->bus_attempts = 0;
		log_error("Lost the system bus; the VMs run on; reconnecting for up to %llu s",
			  (unsigned long long)(m->bus_reconnect_usec / 1000000));
		sd_notify(false, "STATUS=Lost the system bus; reconnecting");
	}
	/* sd-bus ends the ties (track_gone) as it closes; any left end here */
	for (pvmd_vm *vm = m->vms; vm; vm = vm->next) {
		if (!vm->track)
			continue;
		vm->track = sd_bus_track_unref(vm->track);
		if (pvmd_vm_is_active(vm))
			stop_vm_noting(m, vm, PVMD_NOTE_TIE_LOST_WITH_BUS);
		else
			pvmd_vm_changed(vm);
	}
	if (m->shutting_down)
		return; /* SIGTERM came first: the shutdown finishes without a bus */
	/* also a connection that drops again before pvmd owns its name: a failed attempt */
	m->bus_last_error = ECONNRESET;
	bus_schedule_retry(m);
}

/* ---- recovery ---- */

/* A runner the previous pvmd left can be taken over when the service manager kept its three
 * fds, the record says the guest was running, and the stored pidfd is still the recorded
 * runner. A VM tied to its creator is not: the creator's connection is not known any more. */
static int recover_adopt(pvmd_manager *m, const pvmd_state_record *rec, pvmd_vm *vm, pvm_error *err)
{
	_cleanup_close_ int sock = pvmd_fdstore_take(&m->fdstore, rec->name, PVMD_FDSTORE_CONTROL);
	_cleanup_close_ int pidfd = pvmd_fdstore_take(&m->fdstore, rec->name, PVMD_FDSTORE_PIDFD);
	_cleanup_close_ int mem = pvmd_fdstore_take(&m->fdstore, rec->name, PVMD_FDSTORE_MEMORY);
	vm_instance_handover h;
	int r;

	if (sock < 0 || pidfd < 0 || mem < 0)
		return pvm_error_set(
		    err, ENOENT, "the service manager kept %s of its fds (control, pidfd, memory)",
		    sock < 0 && pidfd < 0 && mem < 0 ? "none" : "only some");
	if (rec->tied)
		return pvm_error_set(err, ENOTCONN,
				     "it was tied to its creator's bus connection, which cannot be "
				     "followed across a restart");
	r = pvmd_state_runner_matches(rec, m->runner_path, err);
	if (r < 0)
		return r;
	if (r == 0)
		return pvm_error_set(err, ESRCH, "runner %d has exited", (int)rec->runner_pid);
	h = (vm_instance_handover){
		.state = rec->state,
		.pid = rec->runner_pid,
		.pidfd = pidfd,
		.sock = sock,
		.mem_fd = mem,
		.uid = rec->runner_uid,
		.mem_flags = rec->memory_flags,
		.runner_maps = rec->runner_maps,
		.namespaces = rec->runner_namespaces,
		.start_time_usec = rec->start_time_usec,
	};
	vm->vsock_cid = rec->vsock_cid;
	r = pvmd_vm_adopt(vm, &h, err);
	if (r < 0)
		return r;
	/* the VM owns them now */
	sock = pidfd = mem = -1;
	return 0;
}

/* The documented fallback: end the runner the record names and list the VM as stopped. */
static int recover_reap(pvmd_manager *m, const pvmd_state_record *rec, pvmd_vm *vm, bool was_active)
{
	pvm_error err = { 0 };
	int r;

	/* the control socket's last holder gone, a runner also ends on its own */
	pvmd_fdstore_forget(&m->fdstore, rec->name);
	vm->recovered = true;
	r = pvmd_state_reap_runner(rec, m->runner_path, 5 * 1000 * 1000ULL, &err);
	if (r < 0) {
		/* still accounted for: the VM is listed as failed, saying which runner lives on */
		log_vm_error(rec->name,
			     "VM '%s': cannot end runner %d left by the previous pvmd: %s",
			     rec->name, (int)rec->runner_pid, err.message);
		vm->rec_state = PVM_VM_FAILED;
		vm->rec_reason = PVM_DEATH_KILLED;
		if (asprintf(&vm->rec_message,
			     "pvmd restarted; its runner %d could not be ended: %s",
			     (int)rec->runner_pid, err.message) < 0)
			vm->rec_message = NULL;
	} else {
		if (r > 0)
			log_vm_notice(rec->name,
				      "VM '%s': killed runner %d left by the previous pvmd",
				      rec->name, (int)rec->runner_pid);
		vm->rec_state = was_active ? PVM_VM_STOPPED : rec->state;
		vm->rec_reason = was_active ? PVM_DEATH_KILLED : rec->reason;
		vm->rec_message = strdup(was_active ? "pvmd restarted" : rec->message ?: "");
	}
	return vm->rec_message ? 0 : -ENOMEM;
}

static int recover_one(pvmd_state_record *rec, void *userdata)
{
	pvmd_manager *m = userdata;
	_cleanup_(pvm_config_freep) pvm_config *cfg = NULL;
	pvm_error err = { 0 };
	pvmd_vm *vm = NULL;
	bool was_active = rec->state != PVM_VM_CREATED && rec->state != PVM_VM_STOPPED &&
			  rec->state != PVM_VM_FAILED;
	enum pvm_vm_state stored_state = rec->state;
	int r;

	r = pvm_config_parse(rec->config_json, strlen(rec->config_json), rec->name, false, &cfg,
			     &err);
	if (r < 0) {
		log_vm_error(
		    rec->name,
		    "VM '%s': recorded config no longer parses (%s); its record is dropped",
		    rec->name, err.message);
		pvm_error_clear(&err);
		pvmd_fdstore_forget(&m->fdstore, rec->name);
		if (pvmd_state_reap_runner(rec, m->runner_path, 5 * 1000 * 1000ULL, &err) < 0)
			log_vm_error(rec->name,
				     "VM '%s': cannot end runner %d left by the previous pvmd: %s",
				     rec->name, (int)rec->runner_pid, err.message);
		r = pvmd_state_remove(m->state_dir, rec->name);
		if (r < 0)
			log_vm_warning(rec->name, "VM '%s': cannot remove its record: %s",
				       rec->name, strerror(-r));
		return 0;
	}
	r = pvmd_vm_new(m, cfg, rec->owner, &vm);
	if (r < 0)
		return r;
	TAKE_PTR(cfg);
	memcpy(vm->vsock_ports, rec->vsock_ports, sizeof(vm->vsock_ports));
	vm->n_vsock_ports = rec->n_vsock_ports;

	if (was_active) {
		r = recover_adopt(m, rec, vm, &err);
		if (r >= 0) {
			log_vm_notice(
			    vm->name,
			    "VM '%s': took over runner %d from the previous pvmd; the guest "
			    "kept running",
			    vm->name, (int)rec->runner_pid);
			manager_add_vm(m, vm);
			if (stored_state == PVM_VM_STOPPING) {
				_cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
				if (pvmd_vm_stop(vm, NULL, m->stop_timeout_usec, &e) < 0)
					log_vm_warning(
					    vm->name, "VM '%s': asking it again to stop failed: %s",
					    vm->name, e.message);
			}
			return 0;
		}
		log_vm_notice(rec->name, "VM '%s': runner %d not taken over: %s", rec->name,
			      (int)rec->runner_pid, err.message);
		pvm_error_clear(&err);
	}
	r = recover_reap(m, rec, vm, was_active);
	if (r < 0) {
		pvmd_vm_free(vm);
		return r;
	}
	log_vm_info(vm->name, "VM '%s' recovered from the runtime directory: %s%s", vm->name,
		    pvm_vm_state_to_string(vm->rec_state),
		    was_active ? " (was running; runner ended)" : "");
	manager_add_vm(m, vm);
	return 0;
}

int manager_recover(pvmd_manager *m)
{
	int r = pvmd_state_load_all(m->state_dir, recover_one, m);

	pvmd_fdstore_release_unclaimed(&m->fdstore);
	return r;
}

/* ---- shutdown ---- */

static int shutdown_timeout(sd_event_source *s, uint64_t usec, void *userdata)
{
	pvmd_manager *m = userdata;
	_cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
	bool any = false;
	int r;

	for (pvmd_vm *vm = m->vms; vm; vm = vm->next) {
		if (!pvmd_vm_is_active(vm))
			continue;
		log_vm_warning(vm->name, "VM '%s' did not stop in time; killing it", vm->name);
		pvmd_vm_kill(vm, NULL, &e);
		sd_bus_error_free(&e);
		any = true;
	}
	if (!any)
		return sd_event_exit(m->event, 0);
	/* a killed runner is reaped promptly; do not wait for it forever either (a timer without
	 * a callback ends the loop). Without that timer, end now rather than maybe never. */
	r = sd_event_add_time_relative(m->event, NULL, CLOCK_MONOTONIC, 2 * 1000 * 1000ULL, 0, NULL,
				       NULL);
	if (r < 0) {
		log_error("Cannot arm the exit timer: %s; exiting now", strerror(-r));
		return sd_event_exit(m->event, 0);
	}
	return 0;
}

static int shutdown_stop_vms(pvmd_manager *m)
{
	_cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
	uint64_t timeout;
	int r;

	/* each VM gets most of the budget for a graceful stop; the rest is for the kill */
	timeout = m->shutdown_timeout_usec > 2000000 ? m->shutdown_timeout_usec - 1000000
						     : m->shutdown_timeout_usec;
	for (pvmd_vm *vm = m->vms; vm; vm = vm->next) {
		if (!pvmd_vm_is_active(vm) || pvmd_vm_state(vm) == PVM_VM_STOPPING)
			continue;
		log_vm_info(vm->name, "Stopping VM '%s'", vm->name);
		if (pvmd_vm_stop(vm, NULL, MIN(timeout, m->stop_timeout_usec), &e) < 0)
			log_vm_warning(vm->name, "Stopping VM '%s' failed: %s", vm->name,
				       e.message);
		sd_bus_error_free(&e);
	}
	r = sd_event_add_time_relative(m->event, &m->shutdown_timer, CLOCK_MONOTONIC,
				       m->shutdown_timeout_usec, 0, shutdown_timeout, m);
	if (r < 0)
		return r;
	manager_update_status(m);
	return 0;
}

/* SIGTERM during `systemctl restart pvmd` leaves the running VMs to the next pvmd (their fds
 * are in the store, which systemd keeps while a job is pending); any other SIGTERM stops them.
 * Only systemd knows which it is: the job on pvmd's unit, asked in three steps. */
static void shutdown_decided(pvmd_manager *m, bool restarting)
{
	unsigned kept = 0;

	m->restart_query = sd_bus_slot_unref(m->restart_query);
	if (!restarting) {
		if (shutdown_stop_vms(m) < 0)
			sd_event_exit(m->event, 0);
		return;
	}
	for (pvmd_vm *vm = m->vms; vm; vm = vm->next)
		kept += vm->stored_pid != 0;
	log_info("pvmd.service is restarting: %u running VMs stay, their fds in the service "
		 "manager's store for the next pvmd",
		 kept);
	m->keep_vms = true;
	sd_event_exit(m->event, 0);
}

static int restart_query_job_type(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error)
{
	const char *type = NULL;

	if (sd_bus_message_is_method_error(reply, NULL) ||
	    sd_bus_message_read(reply, "v", "s", &type) < 0)
		type = NULL;
	log_debug("Job on pvmd's unit: %s", type ?: "(unknown)");
	shutdown_decided(userdata, type && strstr(type, "restart"));
	return 0;
}

static int restart_query_job(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error)
{
	pvmd_manager *m = userdata;
	const char *job = NULL;
	uint32_t id = 0;

	m->restart_query = sd_bus_slot_unref(m->restart_query);
	if (sd_bus_message_is_method_error(reply, NULL) ||
	    sd_bus_message_read(reply, "v", "(uo)", &id, &job) < 0 || id == 0 ||
	    sd_bus_call_method_async(m->bus, &m->restart_query, "org.freedesktop.systemd1", job,
				     "org.freedesktop.DBus.Properties", "Get",
				     restart_query_job_type, m, "ss",
				     "org.freedesktop.systemd1.Job", "JobType") < 0)
		shutdown_decided(m, false);
	return 0;
}

static int restart_query_unit(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error)
{
	pvmd_manager *m = userdata;
	const char *unit = NULL;

	m->restart_query = sd_bus_slot_unref(m->restart_query);
	if (sd_bus_message_is_method_error(reply, NULL) ||
	    sd_bus_message_read(reply, "o", &unit) < 0 ||
	    sd_bus_call_method_async(m->bus, &m->restart_query, "org.freedesktop.systemd1", unit,
				     "org.freedesktop.DBus.Properties", "Get", restart_query_job, m,
				     "ss", "org.freedesktop.systemd1.Unit", "Job") < 0) {
		if (sd_bus_message_is_method_error(reply, NULL))
			log_debug("No unit of pvmd's from systemd: %s",
				  sd_bus_message_get_error(reply)->message);
		shutdown_decided(m, false);
	}
	return 0;
}

int manager_begin_shutdown(pvmd_manager *m)
{
	bool stored = false;

	if (m->shutting_down)
		return 0;
	m->shutting_down = true;
	sd_notify(false, "STOPPING=1");
	runner_pool_drain(m->pool); /* no VM starts any more */
	sd_bus_emit_properties_changed(m->bus, PVM_BUS_PATH, PVM_BUS_MANAGER_IFACE, "ShuttingDown",
				       NULL);
	for (pvmd_vm *vm = m->vms; vm; vm = vm->next)
		stored = stored || vm->stored_pid != 0;
	if (!m->fdstore.enabled || !stored ||
	    sd_bus_call_method_async(m->bus, &m->restart_query, "org.freedesktop.systemd1",
				     "/org/freedesktop/systemd1",
				     "org.freedesktop.systemd1.Manager", "GetUnitByPID",
				     restart_query_unit, m, "u", (uint32_t)getpid()) < 0)
		return shutdown_stop_vms(m);
	return 0;
}
