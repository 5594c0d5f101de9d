/* org.pvm1.Manager at /org/pvm1: creating VMs from config JSON (text or fd), the by-name
 * lifecycle methods, listing, and pvmd's own lifetime: recovery of a previous instance's
 * runners from the runtime directory, and the bounded graceful shutdown on SIGTERM. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#include "bus-client.h"
#include "pvmd.h"

static void config_reader_free(config_reader *cr);
static void bus_drop(manager *m);

int manager_new(manager **ret)
{
	manager *m = calloc(1, sizeof(*m));
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
	*ret = m;
	return 0;
}

manager *manager_free(manager *m)
{
	if (!m)
		return NULL;
	while (m->readers)
		config_reader_free(m->readers);
	while (m->polkit_queries)
		polkit_query_free(m->polkit_queries);
	subscribers_free(m);
	while (m->vms) {
		pvmd_vm *vm = m->vms;
		m->vms = vm->next;
		pvmd_vm_free(vm); /* kills a runner still running */
	}
	sd_event_source_disable_unref(m->shutdown_timer);
	sd_event_source_disable_unref(m->bus_retry_timer);
	bus_drop(m);
	pvm_policy_free(m->policy);
	sd_event_unref(m->event);
	free(m->state_dir);
	free(m);
	return NULL;
}

int manager_load_policy(manager *m)
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
int manager_reload(manager *m)
{
	int r;

	sd_notify(false, "RELOADING=1\nSTATUS=Reloading the policy");
	r = manager_load_policy(m);
	sd_notify(false, "READY=1");
	manager_update_status(m);
	if (r < 0)
		log_error("Policy reload failed; the previous policy stays in force");
	else
		log_info("Policy reloaded");
	return r;
}

pvmd_vm *manager_find_vm(manager *m, const char *name)
{
	for (pvmd_vm *vm = m->vms; vm; vm = vm->next)
		if (strcmp(vm->name, name) == 0)
			return vm;
	return NULL;
}

void manager_get_usage(manager *m, uid_t uid, const pvm_config *self, pvm_usage *ret_caller,
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

size_t manager_count_vms(manager *m)
{
	size_t n = 0;

	for (pvmd_vm *vm = m->vms; vm; vm = vm->next)
		n++;
	return n;
}

void manager_update_status(manager *m)
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

static void manager_add_vm(manager *m, pvmd_vm *vm)
{
	vm->next = m->vms;
	m->vms = vm;
	signal_vm_added(vm);
	pvmd_vm_changed(vm);
}

int manager_remove_vm(manager *m, pvmd_vm *vm)
{
	signal_vm_removed(vm);
	for (pvmd_vm **p = &m->vms; *p; p = &(*p)->next)
		if (*p == vm) {
			*p = vm->next;
			break;
		}
	pvmd_state_remove(m->state_dir, vm->name);
	pvmd_vm_free(vm);
	manager_update_status(m);
	return 0;
}

/* Look a VM up by the name argument. A VM the caller may not inspect is absent for it: the
 * answer is the same NoSuchVM as for a name nobody uses, so by-name calls cannot probe names. */
static int read_vm(manager *m, sd_bus_message *msg, pvmd_vm **ret, sd_bus_error *error)
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
static int check_name_free(manager *m, const pvmd_caller *c, const char *name, sd_bus_error *error)
{
	pvmd_vm *vm = manager_find_vm(m, name);

	if (!vm)
		return 0;
	if (!auth_caller_may_inspect(m, c, vm))
		return sd_bus_error_setf(error, PVM_BUS_ERROR_ALREADY_EXISTS,
					 "The name '%s' is taken by a VM you may not see; choose "
					 "another name",
					 name);
	return sd_bus_error_setf(
	    error, PVM_BUS_ERROR_ALREADY_EXISTS,
	    "A VM named '%s' already exists (choose another name, or remove it "
	    "with 'pvmctl remove %s' once it is stopped)",
	    name, name);
}

static int check_capacity(manager *m, sd_bus_error *error)
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
} create_options;

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
		else
			return sd_bus_error_setf(error, PVM_BUS_ERROR_INVALID_ARGUMENT,
						 "Unknown option '%s' (known: name, start, tie)",
						 key);
		if (r == -ENXIO || r == -EINVAL)
			return sd_bus_error_setf(
			    error, PVM_BUS_ERROR_INVALID_ARGUMENT,
			    "Option '%s' has the wrong type (name: s, start: b, "
			    "tie: b)",
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

static int create_vm(manager *m, sd_bus_message *msg, const char *json, size_t len,
		     sd_bus_error *error)
{
	_cleanup_(pvm_config_freep) pvm_config *cfg = NULL;
	_cleanup_(auth_caller_done) pvmd_caller c = { 0 };
	create_options o = { 0 };
	pvm_error err = { 0 };
	uint8_t digest[32];
	bool fallback = false;
	pvmd_vm *vm = NULL;
	int r;

	r = read_create_options(msg, &o, error);
	if (r < 0)
		return r;
	/* files are checked only once the caller is known to be allowed to create at all, so
	 * pvmd's answers say nothing about files to callers who may not */
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
	r = auth_check_action(m, msg, PVM_ACTION_CREATE, vm, error);
	if (r >= 0)
		r = check_name_free(m, &c, vm->name, error);
	if (r >= 0)
		r = check_capacity(m, error);
	if (r >= 0 && pvm_config_validate(vm->cfg, "<bus>", true, &err) < 0)
		r = sd_bus_error_setf(error, PVM_BUS_ERROR_INVALID_CONFIG, "Invalid VM config: %s",
				      err.message);
	/* the payload is opened and read only where the policy lets this caller use it */
	if (r >= 0)
		r = auth_check_create(m, msg, vm->cfg, NULL, NULL, error);
	if (r >= 0)
		r = pvmd_vm_pin_payload(vm, error);
	if (r >= 0) {
		memcpy(digest, vm->cfg->payload_sha256, sizeof(digest));
		r = auth_check_create(m, msg, vm->cfg, digest, &fallback, error);
	}
	if (r >= 0) {
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
	log_info("VM '%s' created by uid %u (pid %d)", vm->name, (unsigned)vm->owner,
		 (int)c.caller.pid);
	if (o.tie) {
		r = pvmd_vm_tie(vm, msg);
		if (r < 0) {
			manager_remove_vm(m, vm);
			return sd_bus_error_set_errnof(error, r, "Cannot track the caller: %m");
		}
	}
	if (o.start) {
		r = pvmd_vm_start(vm, msg, error);
		if (r < 0) {
			/* nothing ran: forget the VM so the same command can be retried */
			manager_remove_vm(m, vm);
			return r;
		}
	}
	return sd_bus_reply_method_return(msg, "so", vm->name, vm->path);
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

/* CreateVMFromFd: the fd is the caller's. A regular file is read at once, with our own
 * offset. A pipe or socket is read as its data comes, on the event loop, so a writer that
 * stalls holds up only its own call, and only for CONFIG_FD_TIMEOUT_USEC. */
#define CONFIG_FD_TIMEOUT_USEC (10 * 1000 * 1000ULL)
#define CONFIG_FD_READERS_MAX 16

struct config_reader {
	manager *manager;
	config_reader *next;
	sd_bus_message *msg;
	int fd;
	char *buf;
	size_t len;
	sd_event_source *io, *timer;
};

static void config_reader_free(config_reader *cr)
{
	for (config_reader **p = &cr->manager->readers; *p; p = &(*p)->next)
		if (*p == cr) {
			*p = cr->next;
			break;
		}
	cr->manager->n_readers--;
	sd_event_source_disable_unref(cr->io);
	sd_event_source_disable_unref(cr->timer);
	sd_bus_message_unref(cr->msg);
	if (cr->fd >= 0)
		close(cr->fd);
	free(cr->buf);
	free(cr);
}

/* The whole config is in: on to CreateVM proper, which replies (or we reply its error). */
static int config_complete(manager *m, sd_bus_message *msg, char *buf, size_t len,
			   sd_bus_error *error)
{
	buf[len] = '\0';
	if (memchr(buf, '\0', len))
		return sd_bus_error_setf(error, PVM_BUS_ERROR_INVALID_CONFIG,
					 "Config contains a NUL byte: it is not JSON text");
	return create_vm(m, msg, buf, len, error);
}

static void config_reader_finish(config_reader *cr, int r, sd_bus_error *error)
{
	if (r >= 0)
		r = config_complete(cr->manager, cr->msg, cr->buf, cr->len, error);
	if (r < 0) {
		if (sd_bus_error_is_set(error))
			sd_bus_reply_method_error(cr->msg, error);
		else
			sd_bus_reply_method_errno(cr->msg, r, NULL);
	}
	config_reader_free(cr);
}

static int config_reader_readable(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	config_reader *cr = userdata;
	_cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;

	for (;;) {
		/* read only what is there: a read of a readable pipe or socket does not block */
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t n;

		if (poll(&p, 1, 0) <= 0)
			return 0;
		n = read(fd, cr->buf + cr->len, PVM_CONFIG_FILE_MAX + 1 - cr->len);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n < 0) {
			sd_bus_error_set_errnof(&e, errno, "Cannot read the config fd: %m");
			config_reader_finish(cr, -errno, &e);
			return 0;
		}
		if (n == 0) {
			config_reader_finish(cr, 0, &e);
			return 0;
		}
		cr->len += (size_t)n;
		if (cr->len > PVM_CONFIG_FILE_MAX) {
			int r = sd_bus_error_setf(&e, PVM_BUS_ERROR_INVALID_CONFIG,
						  "Config is larger than %d bytes",
						  PVM_CONFIG_FILE_MAX);
			config_reader_finish(cr, r, &e);
			return 0;
		}
	}
}

static int config_reader_timeout(sd_event_source *s, uint64_t usec, void *userdata)
{
	_cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
	int r = sd_bus_error_setf(&e, PVM_BUS_ERROR_INVALID_ARGUMENT,
				  "The config fd did not reach its end within %llu s: close "
				  "the writing end once the config is written",
				  CONFIG_FD_TIMEOUT_USEC / 1000000);

	config_reader_finish(userdata, r, &e);
	return 0;
}

static int method_create_vm_from_fd(sd_bus_message *msg, void *userdata, sd_bus_error *error)
{
	manager *m = userdata;
	config_reader *cr;
	struct stat st;
	int fd, r;

	r = sd_bus_message_read(msg, "h", &fd);
	if (r < 0)
		return r;
	if (fstat(fd, &st) < 0)
		return sd_bus_error_set_errnof(error, errno, "Cannot stat the config fd: %m");
	if (!S_ISREG(st.st_mode) && !S_ISFIFO(st.st_mode) && !S_ISSOCK(st.st_mode))
		return sd_bus_error_setf(error, PVM_BUS_ERROR_INVALID_ARGUMENT,
					 "The config fd must be a regular file, pipe or socket");
	if (S_ISREG(st.st_mode) && st.st_size > PVM_CONFIG_FILE_MAX)
		return sd_bus_error_setf(error, PVM_BUS_ERROR_INVALID_CONFIG,
					 "Config is %lld bytes; at most %d are accepted",
					 (long long)st.st_size, PVM_CONFIG_FILE_MAX);
	if (S_ISREG(st.st_mode)) {
		_cleanup_free_ char *buf = malloc(PVM_CONFIG_FILE_MAX + 1);
		size_t len = 0;
		if (!buf)
			return -ENOMEM;
		for (;;) {
			ssize_t n = pread(fd, buf + len, PVM_CONFIG_FILE_MAX + 1 - len, (off_t)len);
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0)
				return sd_bus_error_set_errnof(error, errno,
							       "Cannot read the config fd: %m");
			if (n == 0)
				break;
			len += (size_t)n;
			if (len > PVM_CONFIG_FILE_MAX)
				return sd_bus_error_setf(error, PVM_BUS_ERROR_INVALID_CONFIG,
							 "Config is larger than %d bytes",
							 PVM_CONFIG_FILE_MAX);
		}
		return config_complete(m, msg, buf, len, error);
	}

	if (m->n_readers >= CONFIG_FD_READERS_MAX)
		return sd_bus_error_setf(error, PVM_BUS_ERROR_BUSY,
					 "%d configs are being read already; try again",
					 CONFIG_FD_READERS_MAX);
	cr = calloc(1, sizeof(*cr));
	if (!cr)
		return -ENOMEM;
	*cr = (config_reader){ .manager = m, .fd = -1, .next = m->readers };
	m->readers = cr;
	m->n_readers++;
	cr->msg = sd_bus_message_ref(msg);
	cr->buf = malloc(PVM_CONFIG_FILE_MAX + 1);
	cr->fd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	r = !cr->buf ? -ENOMEM : cr->fd < 0 ? -errno : 0;
	if (r >= 0)
		r = sd_event_add_io(m->event, &cr->io, cr->fd, EPOLLIN, config_reader_readable, cr);
	if (r >= 0)
		r = sd_event_add_time_relative(m->event, &cr->timer, CLOCK_MONOTONIC,
					       CONFIG_FD_TIMEOUT_USEC, 0, config_reader_timeout,
					       cr);
	if (r < 0) {
		config_reader_free(cr);
		return sd_bus_error_set_errnof(error, r, "Cannot read the config fd: %m");
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
	return r < 0 ? r : sd_bus_reply_method_return(msg, NULL);
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
	manager *m = userdata;
	pvmd_vm *vm = NULL;
	int r;

	r = read_vm(m, msg, &vm, error);
	if (r < 0)
		return r;
	/* authorization first: a caller who may not stop this VM learns nothing of its state */
	r = auth_check_action(m, msg, PVM_ACTION_STOP, vm, error);
	if (r < 0)
		return r;
	if (pvmd_vm_is_active(vm))
		return sd_bus_error_setf(
		    error, PVM_BUS_ERROR_BUSY, "VM '%s' is %s; stop it first ('pvmctl stop %s')",
		    vm->name, pvm_vm_state_to_string(pvmd_vm_state(vm)), vm->name);
	r = auth_check_polkit(m, msg, "org.pvm1.stop-vm", vm, error);
	if (r <= 0)
		return r < 0 ? r : 1; /* 0: asked polkit; this call comes back with the answer */
	log_info("VM '%s' removed", vm->name);
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
	manager *m = userdata;
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
	manager *m = userdata;
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

static uint64_t now_monotonic(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000ULL + (uint64_t)ts.tv_nsec / 1000;
}

static void bus_lost(manager *m);

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
static void bus_drop(manager *m)
{
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
	m->bus = sd_bus_flush_close_unref(m->bus);
}

/* Open the system bus and publish pvmd's objects on it (the name is asked for separately). */
static int bus_open(manager *m)
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

int manager_connect(manager *m)
{
	int r;

	pvm_bus_error_map_register();
	r = bus_open(m);
	if (r < 0)
		log_error("Cannot connect to the system bus and publish pvmd's objects: %s",
			  strerror(-r));
	return r;
}

int manager_request_name(manager *m)
{
	int r = sd_bus_request_name(m->bus, PVM_BUS_NAME, 0);
	if (r < 0)
		log_error("Cannot own the bus name %s: %s (another pvmd running, or the bus "
			  "policy does not let this user own it)",
			  PVM_BUS_NAME, strerror(-r));
	return r;
}

/* pvmd ends the run itself: the note becomes the VM's message (and record) once it ended. */
static void stop_vm_noting(manager *m, pvmd_vm *vm, const char *note)
{
	_cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;

	free(vm->end_note);
	vm->end_note = strdup(note);
	if (pvmd_vm_stop(vm, NULL, m->stop_timeout_usec, &e) < 0)
		log_warning("Stopping VM '%s' failed: %s", vm->name, e.message);
}

/* No bus to serve on: stop every VM as on SIGTERM, noting why, and exit 1 once they ended. */
static void bus_give_up(manager *m, const char *fmt, ...) _printf_(2, 3);
static void bus_give_up(manager *m, const char *fmt, ...)
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
static void bus_schedule_retry(manager *m)
{
	uint64_t delay = MIN(BUS_RETRY_FIRST_USEC << MIN(m->bus_attempts, 16u), BUS_RETRY_MAX_USEC);
	int r;

	if (now_monotonic() - m->bus_lost_usec >= m->bus_reconnect_usec) {
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
	manager *m = userdata;
	const sd_bus_error *e = sd_bus_message_get_error(reply);

	if (e) {
		/* the name is someone else's now (another pvmd?): retrying cannot fix that */
		bus_give_up(m, "reconnected to the system bus but could not own %s: %s",
			    PVM_BUS_NAME, e->message);
		return 0;
	}
	log_notice("Back on the system bus as %s after %.1f s (%u attempts); the VMs ran on",
		   PVM_BUS_NAME, (double)(now_monotonic() - m->bus_lost_usec) / 1e6,
		   m->bus_attempts);
	m->bus_lost_usec = 0;
	m->bus_attempts = 0;
	manager_update_status(m);
	return 0;
}

static int bus_retry(sd_event_source *s, uint64_t usec, void *userdata)
{
	manager *m = userdata;
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
static void bus_lost(manager *m)
{
	if (m->exit_failure)
		return; /* given up already: the shutdown is under way */
	if (m->bus_lost_usec == 0) {
		m->bus_lost_usec = now_monotonic();
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

static int recover_one(pvmd_state_record *rec, void *userdata)
{
	manager *m = userdata;
	_cleanup_(pvm_config_freep) pvm_config *cfg = NULL;
	pvm_error err = { 0 };
	pvmd_vm *vm = NULL;
	bool was_active = rec->state != PVM_VM_CREATED && rec->state != PVM_VM_STOPPED &&
			  rec->state != PVM_VM_FAILED;
	_cleanup_free_ char *reap_failure = NULL;
	int r;

	r = pvmd_state_reap_runner(rec, m->runner_path, 5 * 1000 * 1000ULL, &err);
	if (r < 0) {
		/* still accounted for: the VM is listed as failed, saying which runner lives on */
		log_error("VM '%s': cannot end runner %d left by the previous pvmd: %s", rec->name,
			  (int)rec->runner_pid, err.message);
		if (asprintf(&reap_failure, "pvmd restarted; its runner %d could not be ended: %s",
			     (int)rec->runner_pid, err.message) < 0)
			return -ENOMEM;
	} else if (r > 0)
		log_notice("VM '%s': killed runner %d left by the previous pvmd", rec->name,
			   (int)rec->runner_pid);
	pvm_error_clear(&err);

	r = pvm_config_parse(rec->config_json, strlen(rec->config_json), rec->name, false, &cfg,
			     &err);
	if (r < 0) {
		log_error("VM '%s': recorded config no longer parses (%s); its record is dropped",
			  rec->name, err.message);
		pvmd_state_remove(m->state_dir, rec->name);
		return 0;
	}
	r = pvmd_vm_new(m, cfg, rec->owner, &vm);
	if (r < 0)
		return r;
	TAKE_PTR(cfg);
	vm->recovered = true;
	if (reap_failure) {
		vm->rec_state = PVM_VM_FAILED;
		vm->rec_reason = PVM_DEATH_KILLED;
		vm->rec_message = TAKE_PTR(reap_failure);
	} else if (was_active) {
		vm->rec_state = PVM_VM_STOPPED;
		vm->rec_reason = PVM_DEATH_KILLED;
		vm->rec_message = strdup("pvmd restarted");
	} else {
		vm->rec_state = rec->state;
		vm->rec_reason = rec->reason;
		vm->rec_message = strdup(rec->message ?: "");
	}
	if (!vm->rec_message) {
		pvmd_vm_free(vm);
		return -ENOMEM;
	}
	log_info("VM '%s' recovered from the runtime directory: %s%s", vm->name,
		 pvm_vm_state_to_string(vm->rec_state),
		 was_active ? " (was running; runner ended)" : "");
	manager_add_vm(m, vm);
	return 0;
}

int manager_recover(manager *m)
{
	return pvmd_state_load_all(m->state_dir, recover_one, m);
}

/* ---- shutdown ---- */

static int shutdown_timeout(sd_event_source *s, uint64_t usec, void *userdata)
{
	manager *m = userdata;
	_cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
	bool any = false;

	for (pvmd_vm *vm = m->vms; vm; vm = vm->next) {
		if (!pvmd_vm_is_active(vm))
			continue;
		log_warning("VM '%s' did not stop in time; killing it", vm->name);
		pvmd_vm_kill(vm, NULL, &e);
		sd_bus_error_free(&e);
		any = true;
	}
	if (!any)
		sd_event_exit(m->event, 0);
	else
		/* a killed runner is reaped promptly; do not wait for it forever either */
		sd_event_add_time_relative(m->event, NULL, CLOCK_MONOTONIC, 2 * 1000 * 1000ULL, 0,
					   NULL, NULL);
	return 0;
}

int manager_begin_shutdown(manager *m)
{
	_cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
	uint64_t timeout;
	int r;

	if (m->shutting_down)
		return 0;
	m->shutting_down = true;
	sd_notify(false, "STOPPING=1");
	sd_bus_emit_properties_changed(m->bus, PVM_BUS_PATH, PVM_BUS_MANAGER_IFACE, "ShuttingDown",
				       NULL);
	/* each VM gets most of the budget for a graceful stop; the rest is for the kill */
	timeout = m->shutdown_timeout_usec > 2000000 ? m->shutdown_timeout_usec - 1000000
						     : m->shutdown_timeout_usec;
	for (pvmd_vm *vm = m->vms; vm; vm = vm->next) {
		if (!pvmd_vm_is_active(vm) || pvmd_vm_state(vm) == PVM_VM_STOPPING)
			continue;
		log_info("Stopping VM '%s'", vm->name);
		if (pvmd_vm_stop(vm, NULL, MIN(timeout, m->stop_timeout_usec), &e) < 0)
			log_warning("Stopping VM '%s' failed: %s", vm->name, e.message);
		sd_bus_error_free(&e);
	}
	r = sd_event_add_time_relative(m->event, &m->shutdown_timer, CLOCK_MONOTONIC,
				       m->shutdown_timeout_usec, 0, shutdown_timeout, m);
	if (r < 0)
		return r;
	manager_update_status(m);
	return 0;
}
