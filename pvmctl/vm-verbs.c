/* pvmctl's online verbs: start, stop, kill, remove, inspect, list, console, logs, monitor.
 * Each parses its options, makes its calls through libpvm/bus-client.h, prints a table for
 * people or a documented JSON schema (--json), and exits with a documented code. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <pwd.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "bus-client.h"
#include "config.h"
#include "escape.h"
#include "time-util.h"
#include "vm-props.h"
#include "vm-state.h"
#include "vm-verbs.h"

#define DETACH_KEY 0x1d /* Ctrl-] */

/* No system bus: say which socket was tried and what to start. */
static int connect_bus(const pvmctl_context *ctx, sd_bus **ret)
{
	const char *addr = getenv("DBUS_SYSTEM_BUS_ADDRESS");
	pvm_error err = { 0 };
	char msg[PVM_ERROR_MESSAGE_MAX + 256];
	int r = pvm_bus_open(ret, &err);

	if (r >= 0) {
		/* Someone at a terminal may be asked for a password by a polkit agent when pvmd
		 * checks with polkit; a script never waits for one. */
		bool interactive = !ctx->no_ask_password && isatty(STDIN_FILENO);

		r = sd_bus_set_allow_interactive_authorization(*ret, interactive);
		/* pvmd waits up to 120 s for polkit's answer after a prompt: wait as long */
		if (r >= 0 && interactive)
			r = sd_bus_set_method_call_timeout(*ret, 125 * 1000 * 1000ULL);
		if (r < 0) {
			*ret = sd_bus_flush_close_unref(*ret);
			return pvmctl_report(ctx, r, "cannot set up the bus connection",
					     PVMCTL_EXIT_FAILURE);
		}
		return 0;
	}
	snprintf(msg, sizeof(msg),
		 "cannot connect to the system bus at %s: %s. Is the system bus running? (start "
		 "it with 'systemctl start dbus', or point DBUS_SYSTEM_BUS_ADDRESS at the bus "
		 "pvmd uses)",
		 addr ?: "unix:path=/run/dbus/system_bus_socket", strerror(-r));
	return pvmctl_report(ctx, r, msg, PVMCTL_EXIT_NO_DAEMON);
}

static int fail(const pvmctl_context *ctx, int r, const pvm_error *err)
{
	if (-r == EHOSTUNREACH)
		return pvmctl_report(
		    ctx, r,
		    "pvmd is not running on the system bus (no owner of org.pvm1); "
		    "start it with 'systemctl start pvmd'",
		    PVMCTL_EXIT_NO_DAEMON);
	return pvmctl_fail(ctx, r, err);
}

static uint64_t now_usec(void)
{
	return pvm_now_usec(CLOCK_MONOTONIC);
}

static bool state_is_end(const char *s)
{
	return s && (strcmp(s, "stopped") == 0 || strcmp(s, "failed") == 0);
}

/* ---- waiting for a state ---- */

typedef struct waiter {
	const char *name;
	char state[32];
	char reason[64];
	char message[512];
	bool seen;
} waiter;

static int on_state_changed(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
	waiter *w = userdata;
	const char *name, *path, *state, *reason, *message;

	if (sd_bus_message_read(m, "sosss", &name, &path, &state, &reason, &message) < 0)
		return 0;
	if (strcmp(name, w->name) != 0)
		return 0;
	snprintf(w->state, sizeof(w->state), "%s", state);
	snprintf(w->reason, sizeof(w->reason), "%s", reason);
	snprintf(w->message, sizeof(w->message), "%s", message);
	w->seen = true;
	return 0;
}

/* pvmd sends its VM signals only to subscribers: match first, then subscribe. */
static int watch_states(sd_bus *bus, waiter *w, sd_bus_slot **ret_slot, pvm_error *err)
{
	int r = sd_bus_match_signal(bus, ret_slot, PVM_BUS_NAME, PVM_BUS_PATH,
				    PVM_BUS_MANAGER_IFACE, "VMStateChanged", on_state_changed, w);

	if (r < 0)
		return pvm_error_set(err, -r, "Cannot watch VM states: %s", strerror(-r));
	return pvm_bus_subscribe(bus, err);
}

/* Refresh w from the VM's properties: covers the changes before our match was in place. */
static int poll_state(sd_bus *bus, waiter *w, pvm_error *err)
{
	pvm_bus_vm_info info = { 0 };
	int r = pvm_bus_get_vm(bus, w->name, &info, err);

	if (r < 0)
		return r;
	snprintf(w->state, sizeof(w->state), "%s", info.state ?: "");
	snprintf(w->reason, sizeof(w->reason), "%s", info.death_reason ?: "");
	snprintf(w->message, sizeof(w->message), "%s", info.message ?: "");
	pvm_bus_vm_info_done(&info);
	return 0;
}

/* Wait until done(w) holds; -ETIMEDOUT at the deadline. */
static int wait_for(sd_bus *bus, waiter *w, bool (*done)(const waiter *), uint64_t deadline,
		    pvm_error *err)
{
	int r;

	r = poll_state(bus, w, err);
	if (r < 0)
		return r;
	while (!done(w)) {
		uint64_t n = now_usec();
		if (n >= deadline)
			return pvm_error_set(err, ETIMEDOUT,
					     "VM '%s' is still %s after the time allowed", w->name,
					     w->state);
		r = sd_bus_process(bus, NULL);
		if (r < 0)
			return pvm_error_set(err, -r, "lost the bus: %s", strerror(-r));
		if (r > 0)
			continue;
		r = sd_bus_wait(bus, deadline - n);
		if (r < 0)
			return pvm_error_set(err, -r, "lost the bus: %s", strerror(-r));
	}
	return 0;
}

static bool done_ready(const waiter *w)
{
	return strcmp(w->state, "ready") == 0 || state_is_end(w->state);
}

static bool done_running(const waiter *w)
{
	return strcmp(w->state, "running") == 0 || strcmp(w->state, "ready") == 0 ||
	       state_is_end(w->state);
}

static bool done_ended(const waiter *w)
{
	return state_is_end(w->state);
}

/* ---- JSON and tables ---- */

static json_object *tristate_json(const char *value, const char *how)
{
	json_object *o = json_object_new_object();
	json_object_object_add(o, "value", json_object_new_string(value ?: "unknown"));
	json_object_object_add(o, "how", json_object_new_string(how ?: ""));
	return o;
}

/* The schema documented in pvmctl(1), JSON OUTPUT. Keys are stable; new keys may be added. */
static json_object *vm_json(const pvm_bus_vm_info *i)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "name", json_object_new_string(i->name ?: ""));
	json_object_object_add(o, "path", json_object_new_string(i->path ?: ""));
	json_object_object_add(o, "state", json_object_new_string(i->state ?: ""));
	json_object_object_add(o, "death_reason", json_object_new_string(i->death_reason ?: ""));
	json_object_object_add(o, "message", json_object_new_string(i->message ?: ""));
	json_object_object_add(o, "protected", json_object_new_boolean(i->protected_vm));
	json_object_object_add(o, "memory_mib", json_object_new_int64(i->memory_mib));
	json_object_object_add(o, "memory_backing",
			       json_object_new_string(i->memory_backing ?: ""));
	json_object_object_add(o, "unswappable", tristate_json(i->unswappable, i->unswappable_how));
	json_object_object_add(o, "unmigratable",
			       tristate_json(i->unmigratable, i->unmigratable_how));
	json_object_object_add(o, "host_mapped", tristate_json(i->host_mapped, i->host_mapped_how));
	json_object_object_add(o, "vcpus", json_object_new_int64(i->vcpus));
	json_object_object_add(o, "runner_pid", json_object_new_int64(i->runner_pid));
	json_object_object_add(o, "start_time_usec", json_object_new_uint64(i->start_time_usec));
	json_object_object_add(o, "owner_uid", json_object_new_int64(i->owner_uid));
	json_object_object_add(o, "tied", json_object_new_boolean(i->tied));
	json_object_object_add(o, "firmware", json_object_new_string(i->firmware ?: ""));
	json_object_object_add(o, "firmware_identity",
			       json_object_new_string(i->firmware_identity ?: ""));
	json_object_object_add(o, "firmware_result",
			       json_object_new_string(i->firmware_result ?: ""));
	json_object_object_add(o, "net_interface", json_object_new_string(i->net_interface ?: ""));
	return o;
}

static void print_json(json_object *o)
{
	pvmctl_print_json(o);
	json_object_put(o);
}

static void format_time(uint64_t usec, char *buf, size_t len)
{
	time_t t = (time_t)(usec / 1000000);
	struct tm tm;

	if (usec == 0 || !gmtime_r(&t, &tm) ||
	    strftime(buf, len, "%Y-%m-%d %H:%M:%S UTC", &tm) == 0)
		snprintf(buf, len, "-");
}

/* ---- start ---- */

static volatile sig_atomic_t got_signal;

static void on_signal(int sig)
{
	got_signal = sig;
}

static void catch_signals(void)
{
	struct sigaction sa = { .sa_handler = on_signal };
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
}

/* Dispatch bus messages until SIGINT/SIGTERM/SIGHUP, or until w's VM has ended. */
static int run_until_signal(sd_bus *bus, const waiter *w)
{
	int r;

	catch_signals();
	while (!got_signal && !(w && state_is_end(w->state))) {
		r = sd_bus_process(bus, NULL);
		if (r < 0)
			return r;
		if (r > 0)
			continue;
		r = sd_bus_wait(bus, UINT64_MAX);
		if (r < 0 && r != -EINTR)
			return r;
	}
	return 0;
}

/* The payload files, opened here with the user's own rights: pvmd copies them from these
 * descriptors and never opens a path it was given. */
typedef struct start_payload {
	int kernel, initrd, descriptor;
} start_payload;

static void start_payload_done(start_payload *p)
{
	closep(&p->kernel);
	closep(&p->initrd);
	closep(&p->descriptor);
}

/* A failure to read what start was given: exit status 5, as for a config pvmd refuses. */
_printf_(3, 4) static int start_input_error(const pvmctl_context *ctx, int negative_errno,
					    const char *fmt, ...)
{
	char msg[PATH_MAX + 256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return pvmctl_report(ctx, negative_errno, msg, PVMCTL_EXIT_INVALID);
}

static int open_payload(const pvmctl_context *ctx, const char *what, const char *path, int *ret)
{
	/* O_NONBLOCK: a FIFO in the config does not hang pvmctl (pvmd refuses it) */
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);

	if (fd < 0)
		return start_input_error(ctx, -errno, "cannot open the %s %s: %s", what, path,
					 strerror(errno));
	*ret = fd;
	return 0;
}

/* The config goes to pvmd as a memfd of the bytes read here (a file, or standard input), the
 * kernel and initrd it names as descriptors. A config that does not parse is still sent, so
 * pvmd's InvalidConfig says what is wrong with it. */
static int open_start_inputs(const pvmctl_context *ctx, const char *arg, int *ret_config,
			     start_payload *payload, pvm_bus_create_options *co)
{
	_cleanup_(pvm_config_freep) pvm_config *cfg = NULL;
	_cleanup_close_ int in = -1, memfd = -1;
	_cleanup_free_ char *text = malloc(PVM_CONFIG_FILE_MAX + 1);
	pvm_error err = { 0 };
	size_t len = 0;
	int r;

	in = strcmp(arg, "-") == 0 ? dup(STDIN_FILENO) : open(arg, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (in < 0 || !text)
		return start_input_error(ctx, -errno, "cannot open %s: %s", arg, strerror(errno));
	for (;;) {
		ssize_t n = read(in, text + len, PVM_CONFIG_FILE_MAX + 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return start_input_error(ctx, -errno, "cannot read %s: %s", arg,
						 strerror(errno));
		if (n == 0 || (len += (size_t)n) > PVM_CONFIG_FILE_MAX)
			break;
	}
	memfd = memfd_create("pvmctl-config", MFD_CLOEXEC);
	if (memfd < 0 || write(memfd, text, len) != (ssize_t)len)
		return pvmctl_report(ctx, -errno, "cannot hold the config in memory",
				     PVMCTL_EXIT_FAILURE);
	if (len <= PVM_CONFIG_FILE_MAX &&
	    pvm_config_parse(text, len, arg, false, &cfg, &err) >= 0) {
		if (cfg->kernel) {
			r = open_payload(ctx, "kernel", cfg->kernel, &payload->kernel);
			if (r)
				return r;
			co->pass_kernel_fd = true;
			co->kernel_fd = payload->kernel;
		}
		if (cfg->initrd) {
			r = open_payload(ctx, "initrd", cfg->initrd, &payload->initrd);
			if (r)
				return r;
			co->pass_initrd_fd = true;
			co->initrd_fd = payload->initrd;
		}
		if (cfg->descriptor) {
			r = open_payload(ctx, "descriptor", cfg->descriptor, &payload->descriptor);
			if (r)
				return r;
			co->pass_descriptor_fd = true;
			co->descriptor_fd = payload->descriptor;
		}
	}
	*ret_config = TAKE_FD(memfd);
	return 0;
}

/* `start` takes a config file or the name of a VM pvmd has: "-", a path with a slash, a name
 * ending in ".json" and any file that exists are configs; anything else names a VM. */
static bool start_arg_is_config(const char *arg)
{
	size_t n = strlen(arg);

	return strcmp(arg, "-") == 0 || strchr(arg, '/') ||
	       (n > 5 && strcmp(arg + n - 5, ".json") == 0) || access(arg, F_OK) == 0;
}

/* pvmd names a config it got over the bus "<bus>" in its errors ("Invalid VM config: <bus>:
 * $.kernal: unknown key"); the user wrote a file, so name that. */
static void name_config_origin(pvm_error *err, const char *arg)
{
	static const char bus_origin[] = "<bus>:";
	char named[PATH_MAX + PVM_ERROR_MESSAGE_MAX];
	char *at = strstr(err->message, bus_origin);

	if (!at)
		return;
	snprintf(named, sizeof(named), "%.*s%s:%s", (int)(at - err->message), err->message,
		 strcmp(arg, "-") == 0 ? "<stdin>" : arg, at + strlen(bus_origin));
	snprintf(err->message, sizeof(err->message), "%.*s", (int)sizeof(err->message) - 1, named);
}

/* After a start: wait as asked, say what came of it. */
static int start_finish(sd_bus *bus, waiter *w, const char *name, const char *path,
			pvmctl_context *ctx, bool tie)
{
	pvm_error err = { 0 };
	int r;

	if (ctx->wait_ready || tie) {
		r = wait_for(bus, w, ctx->wait_ready ? done_ready : done_running,
			     now_usec() + (ctx->timeout_set ? ctx->timeout_usec : 60 * 1000000ULL),
			     &err);
		if (r < 0)
			return fail(ctx, r, &err);
		if (state_is_end(w->state)) {
			char msg[1024];
			snprintf(msg, sizeof(msg), "VM '%s' %s (%s)%s%s", name, w->state, w->reason,
				 w->message[0] ? ": " : "", w->message);
			return pvmctl_report(ctx, -EIO, msg, PVMCTL_EXIT_VM_FAILED);
		}
	}
	if (ctx->json) {
		json_object *o = json_object_new_object();
		json_object_object_add(o, "name", json_object_new_string(name));
		json_object_object_add(o, "path", json_object_new_string(path));
		print_json(o);
	} else {
		printf("Started VM '%s' (%s)\n", name, path);
	}
	fflush(stdout);
	return PVMCTL_EXIT_OK;
}

/* `start NAME`: the VM exists (stopped, failed or created); start it again. */
static int start_by_name(const char *name, pvmctl_context *ctx)
{
	_cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
	_cleanup_(sd_bus_slot_unrefp) sd_bus_slot *slot = NULL;
	_cleanup_free_ char *path = NULL;
	pvm_error err = { 0 };
	waiter w = { .name = name };
	int r;

	if (ctx->name || ctx->tie)
		return pvmctl_report(ctx, -EINVAL,
				     ctx->name ? "--name applies only when starting from a config"
					       : "--tie applies only when starting from a config",
				     PVMCTL_EXIT_USAGE);
	r = connect_bus(ctx, &bus);
	if (r)
		return r;
	r = ctx->wait_ready ? watch_states(bus, &w, &slot, &err) : 0;
	if (r >= 0)
		r = pvm_bus_start_vm(bus, name, &err);
	if (r == -ENOENT && !strchr(name, '.')) {
		char msg[PVM_ERROR_MESSAGE_MAX + 128];
		snprintf(msg, sizeof(msg),
			 "%s (to create it from a config file, give the file's path)", err.message);
		return pvmctl_report(ctx, r, msg, PVMCTL_EXIT_NO_SUCH_VM);
	}
	if (r >= 0)
		r = pvm_bus_get_vm_path(bus, name, &path, &err);
	if (r < 0)
		return fail(ctx, r, &err);
	return start_finish(bus, &w, name, path, ctx, false);
}

/* The disks the config names (--disk, --disk-rw), opened here with the caller's own rights
 * and passed as fds: pvmd never opens a disk by path. */
typedef struct disk_fds {
	int fd[PVM_DISKS_MAX];
	size_t n;
} disk_fds;

static void close_disks(disk_fds *d)
{
	for (size_t i = 0; i < d->n; i++)
		close(d->fd[i]);
}

static int open_disks(const pvmctl_context *ctx, disk_fds *d)
{
	for (size_t i = 0; i < ctx->n_disks && i < PVM_DISKS_MAX; i++) {
		int fd = open(ctx->disks[i],
			      (ctx->disk_writable[i] ? O_RDWR : O_RDONLY) | O_CLOEXEC | O_NOCTTY);
		if (fd < 0)
			return start_input_error(
			    ctx, -errno, "cannot open the disk %s%s: %s", ctx->disks[i],
			    ctx->disk_writable[i] ? " for writing" : "", strerror(errno));
		d->fd[d->n++] = fd;
	}
	return 0;
}

int verb_start(int argc, char **argv, pvmctl_context *ctx)
{
	_cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
	_cleanup_(sd_bus_slot_unrefp) sd_bus_slot *slot = NULL;
	_cleanup_free_ char *name = NULL, *path = NULL;
	_cleanup_close_ int fd = -1;
	_cleanup_(start_payload_done)
	    start_payload payload = { .kernel = -1, .initrd = -1, .descriptor = -1 };
	_cleanup_(close_disks) disk_fds disks = { .n = 0 };
	pvm_bus_create_options co = { .start = true, .name = ctx->name, .tie = ctx->tie };
	pvm_error err = { 0 };
	waiter w = { 0 };
	int r;

	if (!start_arg_is_config(argv[0]))
		return start_by_name(argv[0], ctx);
	r = open_disks(ctx, &disks);
	if (r)
		return r;
	co.disk_fds = disks.fd;
	co.n_disk_fds = disks.n;
	r = open_start_inputs(ctx, argv[0], &fd, &payload, &co);
	if (r)
		return r;
	r = connect_bus(ctx, &bus);
	if (r)
		return r;
	/* watching is only for waiting: set up before the VM exists, so no change is missed */
	r = ctx->wait_ready || co.tie ? watch_states(bus, &w, &slot, &err) : 0;
	if (r < 0)
		return fail(ctx, r, &err);
	r = pvm_bus_create_vm_from_fd(bus, fd, &co, &name, &path, &err);
	if (r < 0) {
		name_config_origin(&err, argv[0]);
		return fail(ctx, r, &err);
	}
	w.name = name;
	r = start_finish(bus, &w, name, path, ctx, co.tie);
	if (r != PVMCTL_EXIT_OK || !co.tie)
		return r;

	/* Tied: the VM lives as long as this connection. Stay until it ends or we are told to
	 * go; leaving closes the connection and pvmd stops the VM. */
	fprintf(stderr, "VM '%s' is tied to this pvmctl: it stops when pvmctl exits (Ctrl-C)\n",
		name);
	r = run_until_signal(bus, &w);
	if (r < 0)
		return fail(ctx, r, NULL);
	if (state_is_end(w.state)) {
		fprintf(stderr, "VM '%s' %s (%s)\n", name, w.state, w.reason);
		return strcmp(w.state, "failed") == 0 ? PVMCTL_EXIT_VM_FAILED : PVMCTL_EXIT_OK;
	}
	return PVMCTL_EXIT_OK;
}

/* ---- stop / kill / restart / remove ---- */

/* Stop or kill `name` and, unless told not to, wait until it ended. A VM that is not running
 * is already where stop would take it: like `systemctl stop`, that is success. */
static int end_vm(sd_bus *bus, const char *name, bool kill_now, bool wait, bool quiet,
		  pvmctl_context *ctx)
{
	_cleanup_(sd_bus_slot_unrefp) sd_bus_slot *slot = NULL;
	uint64_t timeout = ctx->timeout_set ? ctx->timeout_usec : 10 * 1000000ULL;
	pvm_error err = { 0 };
	waiter w = { .name = name };
	int r;

	r = wait ? watch_states(bus, &w, &slot, &err) : 0;
	if (r < 0)
		return fail(ctx, r, &err);
	r = kill_now ? pvm_bus_kill_vm(bus, name, &err)
		     : pvm_bus_stop_vm(bus, name, timeout ? timeout : 1, &err);
	if (r == -ESRCH) { /* NotRunning */
		if (!quiet && !ctx->json)
			printf("VM '%s' is not running\n", name);
		return PVMCTL_EXIT_OK;
	}
	if (r < 0)
		return fail(ctx, r, &err);
	if (!wait)
		return PVMCTL_EXIT_OK;
	/* pvmd forces the stop at the timeout; give it a little longer to report */
	r = wait_for(bus, &w, done_ended, now_usec() + timeout + 5 * 1000000ULL, &err);
	if (r < 0)
		return fail(ctx, r, &err);
	if (!quiet && !ctx->json)
		printf("VM '%s' %s (%s)\n", name, w.state, w.reason);
	return PVMCTL_EXIT_OK;
}

static int stop_or_kill(char *name, pvmctl_context *ctx, bool kill_now)
{
	_cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
	int r = connect_bus(ctx, &bus);

	if (r)
		return r;
	return end_vm(bus, name, kill_now || ctx->force, !ctx->no_wait, false, ctx);
}

int verb_stop(int argc, char **argv, pvmctl_context *ctx)
{
	return stop_or_kill(argv[0], ctx, false);
}

int verb_kill(int argc, char **argv, pvmctl_context *ctx)
{
	return stop_or_kill(argv[0], ctx, true);
}

int verb_restart(int argc, char **argv, pvmctl_context *ctx)
{
	_cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
	int r = connect_bus(ctx, &bus);

	if (r)
		return r;
	r = end_vm(bus, argv[0], false, true, true, ctx);
	if (r != PVMCTL_EXIT_OK)
		return r;
	return start_by_name(argv[0], ctx);
}

int verb_remove(int argc, char **argv, pvmctl_context *ctx)
{
	_cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
	pvm_error err = { 0 };
	int r;

	r = connect_bus(ctx, &bus);
	if (r)
		return r;
	/* --force: a running VM is killed first, so one command takes it away */
	if (ctx->force) {
		r = end_vm(bus, argv[0], true, true, true, ctx);
		if (r != PVMCTL_EXIT_OK)
			return r;
	}
	r = pvm_bus_remove_vm(bus, argv[0], &err);
	if (r < 0)
		return fail(ctx, r, &err);
	return PVMCTL_EXIT_OK;
}

/* ---- inspect / list ---- */

/* Death reasons as a sentence ending "Result:", in the spirit of systemd's Result=. */
static const struct {
	const char *reason, *text;
} results[] = {
	{ "shutdown", "the guest powered off" },
	{ "reboot", "the guest asked for a reset (pvm does not restart it)" },
	{ "crash", "the runner crashed" },
	{ "killed", "killed" },
	{ "start-failed", "failed to start" },
	{ "boot-timeout", "the guest did not report ready in time" },
	{ "emulation-failure", "KVM could not emulate a guest instruction" },
	{ "protection-violation", "the guest broke its memory or sandbox rules" },
	{ "stopped", "stopped on request" },
	{ "payload-refused", "pvm-fw refused the payload inside the VM" },
};

static const char *result_text(const pvm_bus_vm_info *i)
{
	if (!state_is_end(i->state))
		return strcmp(i->state, "created") == 0 ? "not started yet" : "running";
	for (size_t k = 0; k < ELEMENTSOF(results); k++)
		if (strcmp(results[k].reason, i->death_reason) == 0)
			return results[k].text;
	return i->death_reason;
}

/* A clean end needs no message: what a guest said on its way out is evidence for failures */
static bool ended_cleanly(const pvm_bus_vm_info *i)
{
	return strcmp(i->state, "stopped") == 0 && (strcmp(i->death_reason, "stopped") == 0 ||
						    strcmp(i->death_reason, "shutdown") == 0);
}

static void print_tristate(const char *label, const char *value, const char *how, bool verbose)
{
	printf("  %-13s %s", label, value && value[0] ? value : "unknown");
	if (verbose && how && how[0])
		printf(" (%s)", how);
	printf("\n");
}

/* The owner's user name, or the number when no user has it; true for a name. */
static bool format_owner(uint32_t uid, char *buf, size_t len)
{
	struct passwd *pw = getpwuid(uid);

	if (pw)
		snprintf(buf, len, "%s", pw->pw_name);
	else
		snprintf(buf, len, "%" PRIu32, uid);
	return pw;
}

int verb_inspect(int argc, char **argv, pvmctl_context *ctx)
{
	_cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
	pvm_bus_vm_info i = { 0 };
	pvm_error err = { 0 };
	char started[64], owner[64];
	int r;

	r = connect_bus(ctx, &bus);
	if (r)
		return r;
	r = pvm_bus_get_vm(bus, argv[0], &i, &err);
	if (r < 0)
		return fail(ctx, r, &err);
	if (ctx->json) {
		print_json(vm_json(&i));
		pvm_bus_vm_info_done(&i);
		return PVMCTL_EXIT_OK;
	}
	format_time(i.start_time_usec, started, sizeof(started));
	printf("Name:           %s\n", i.name);
	printf("State:          %s\n", i.state);
	printf("Result:         %s\n", result_text(&i));
	if (i.message && i.message[0] && (ctx->verbose || !ended_cleanly(&i)))
		printf("Message:        %s\n", i.message);
	printf("Protected:      %s\n", i.protected_vm ? "yes" : "no");
	printf("Memory:         %" PRIu32 " MiB, %s\n", i.memory_mib, i.memory_backing);
	print_tristate("unswappable:", i.unswappable, i.unswappable_how, ctx->verbose);
	print_tristate("unmigratable:", i.unmigratable, i.unmigratable_how, ctx->verbose);
	print_tristate("host mapped:", i.host_mapped, i.host_mapped_how, ctx->verbose);
	if (i.firmware && i.firmware[0]) {
		printf("Firmware:       %s, %s\n", i.firmware,
		       i.firmware_result && i.firmware_result[0] ? i.firmware_result : "unknown");
		printf("  identity:     %s\n", i.firmware_identity && i.firmware_identity[0]
						   ? i.firmware_identity
						   : "unknown");
	}
	printf("vCPUs:          %" PRIu32 "\n", i.vcpus);
	if (i.runner_pid)
		printf("Runner PID:     %" PRIu32 "\n", i.runner_pid);
	else
		printf("Runner PID:     -\n");
	printf("Started:        %s\n", started);
	if (format_owner(i.owner_uid, owner, sizeof(owner)))
		printf("Owner:          %s (uid %" PRIu32 ")\n", owner, i.owner_uid);
	else
		printf("Owner:          uid %" PRIu32 "\n", i.owner_uid);
	printf("Tied to caller: %s\n", i.tied ? "yes" : "no");
	if (i.net_interface && i.net_interface[0])
		printf("Network:        tap %s\n", i.net_interface);
	printf("Object:         %s\n", i.path);
	pvm_bus_vm_info_done(&i);
	return PVMCTL_EXIT_OK;
}

/* Colour for the state column, on a terminal only (and never with NO_COLOR set). */
static const char *state_colour(const char *state)
{
	if (strcmp(state, "failed") == 0)
		return "\033[1;31m";
	if (strcmp(state, "ready") == 0 || strcmp(state, "running") == 0)
		return "\033[1;32m";
	return NULL;
}

typedef struct list_row {
	char mem[32], pid[16], owner[64];
	const char *reason;
} list_row;

int verb_list(int argc, char **argv, pvmctl_context *ctx)
{
	_cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
	_cleanup_free_ list_row *rows = NULL;
	pvm_bus_vm_info *vms = NULL;
	pvm_error err = { 0 };
	bool colour = isatty(STDOUT_FILENO) && !getenv("NO_COLOR");
	int w_name = 4, w_state = 5, w_reason = 6, w_owner = 5;
	size_t n = 0;
	int r;

	r = connect_bus(ctx, &bus);
	if (r)
		return r;
	r = pvm_bus_list_vms(bus, &vms, &n, &err);
	if (r < 0)
		return fail(ctx, r, &err);
	if (ctx->json) {
		json_object *o = json_object_new_object(), *a = json_object_new_array();
		for (size_t k = 0; k < n; k++)
			json_object_array_add(a, vm_json(&vms[k]));
		json_object_object_add(o, "vms", a);
		print_json(o);
		pvm_bus_vm_info_array_free(vms, n);
		return PVMCTL_EXIT_OK;
	}
	if (n == 0) {
		if (!ctx->no_legend)
			printf("No VMs.\n");
		pvm_bus_vm_info_array_free(vms, n);
		return PVMCTL_EXIT_OK;
	}
	rows = calloc(n, sizeof(*rows));
	if (!rows) {
		pvm_bus_vm_info_array_free(vms, n);
		return pvmctl_report(ctx, -ENOMEM, "out of memory", PVMCTL_EXIT_FAILURE);
	}
	/* columns as wide as their widest cell: a 64-character name stays one column */
	for (size_t k = 0; k < n; k++) {
		list_row *row = &rows[k];
		snprintf(row->mem, sizeof(row->mem), "%" PRIu32 "M", vms[k].memory_mib);
		if (vms[k].runner_pid)
			snprintf(row->pid, sizeof(row->pid), "%" PRIu32, vms[k].runner_pid);
		else
			snprintf(row->pid, sizeof(row->pid), "-");
		format_owner(vms[k].owner_uid, row->owner, sizeof(row->owner));
		row->reason = strcmp(vms[k].death_reason, "none") ? vms[k].death_reason : "-";
		w_name = MAX(w_name, (int)strlen(vms[k].name));
		w_state = MAX(w_state, (int)strlen(vms[k].state));
		w_reason = MAX(w_reason, (int)strlen(row->reason));
		w_owner = MAX(w_owner, (int)strlen(row->owner));
	}
	if (!ctx->no_legend)
		printf("%-*s %-*s %-*s %-9s %8s %5s %-*s %8s\n", w_name, "NAME", w_state, "STATE",
		       w_reason, "REASON", "PROTECTED", "MEMORY", "VCPUS", w_owner, "OWNER", "PID");
	for (size_t k = 0; k < n; k++) {
		const char *on = colour ? state_colour(vms[k].state) : NULL;
		printf("%-*s %s%-*s%s %-*s %-9s %8s %5" PRIu32 " %-*s %8s\n", w_name, vms[k].name,
		       on ?: "", w_state, vms[k].state, on ? "\033[0m" : "", w_reason,
		       rows[k].reason, vms[k].protected_vm ? "yes" : "no", rows[k].mem,
		       vms[k].vcpus, w_owner, rows[k].owner, rows[k].pid);
	}
	if (!ctx->no_legend)
		printf("\n%zu VM%s listed.\n", n, n == 1 ? "" : "s");
	pvm_bus_vm_info_array_free(vms, n);
	return PVMCTL_EXIT_OK;
}

/* ---- console / logs ---- */

static bool write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return false;
		p += w;
		n -= (size_t)w;
	}
	return true;
}

/* Guest output to stdout: escaped on a terminal unless --raw (escape.h). `pending` carries a
 * UTF-8 character split between two reads. */
typedef struct guest_out {
	bool escape, keep_cr;
	char pending[4];
	size_t n_pending;
} guest_out;

static bool guest_write(guest_out *g, const char *p, size_t n, bool final)
{
	while (n > 0 || (final && g->n_pending > 0)) {
		char in[4096 + 4], out[4 * sizeof(in)];
		size_t take = MIN(n, sizeof(in) - g->n_pending), len = g->n_pending + take, used,
		       out_len;

		if (!g->escape)
			return write_all(STDOUT_FILENO, p, n);
		memcpy(in, g->pending, g->n_pending);
		memcpy(in + g->n_pending, p, take);
		p += take;
		n -= take;
		used = pvmctl_escape(in, len, g->keep_cr, final && n == 0, out, &out_len);
		g->n_pending = len - used;
		memcpy(g->pending, in + used, g->n_pending);
		if (!write_all(STDOUT_FILENO, out, out_len))
			return false;
		if (final && n == 0)
			break;
	}
	return true;
}

int verb_console(int argc, char **argv, pvmctl_context *ctx)
{
	_cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
	_cleanup_close_ int fd = -1;
	struct termios saved, raw;
	bool tty = isatty(STDIN_FILENO), stdin_open = true;
	guest_out out = { .escape = !ctx->raw && isatty(STDOUT_FILENO), .keep_cr = true };
	pvm_error err = { 0 };
	int r, code = PVMCTL_EXIT_OK;

	r = connect_bus(ctx, &bus);
	if (r)
		return r;
	r = pvm_bus_open_console(bus, argv[0], &fd, &err);
	if (r < 0)
		return fail(ctx, r, &err);
	if (tty) {
		if (tcgetattr(STDIN_FILENO, &saved) < 0)
			tty = false;
		else {
			raw = saved;
			cfmakeraw(&raw);
			tcsetattr(STDIN_FILENO, TCSANOW, &raw);
		}
		fprintf(stderr, "Connected to the console of VM '%s'. Press Ctrl-] to detach.\r\n",
			argv[0]);
	}
	catch_signals();
	while (!got_signal) {
		struct pollfd p[2] = {
			{ .fd = fd, .events = POLLIN },
			{ .fd = stdin_open ? STDIN_FILENO : -1, .events = POLLIN },
		};
		char buf[4096];
		ssize_t n;

		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			code = PVMCTL_EXIT_FAILURE;
			break;
		}
		if (p[0].revents) {
			n = read(fd, buf, sizeof(buf));
			if (n <= 0) {
				guest_write(&out, NULL, 0, true);
				fprintf(stderr, "%sConsole closed: VM '%s' is no longer running.%s",
					tty ? "\r\n" : "", argv[0], tty ? "\r\n" : "\n");
				break;
			}
			if (!guest_write(&out, buf, (size_t)n, false))
				break;
		}
		if (p[1].revents) {
			n = read(STDIN_FILENO, buf, sizeof(buf));
			if (n <= 0) {
				/* input ended (a pipe): keep showing output until the VM ends */
				stdin_open = false;
				shutdown(fd, SHUT_WR);
				continue;
			}
			char *detach = tty ? memchr(buf, DETACH_KEY, (size_t)n) : NULL;
			if (detach)
				n = detach - buf;
			if (n > 0 && !write_all(fd, buf, (size_t)n))
				break;
			if (detach) {
				fprintf(stderr, "\r\nDetached from VM '%s'.\r\n", argv[0]);
				break;
			}
		}
	}
	if (tty)
		tcsetattr(STDIN_FILENO, TCSANOW, &saved);
	return code;
}

int verb_logs(int argc, char **argv, pvmctl_context *ctx)
{
	_cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
	_cleanup_free_ void *data = NULL;
	guest_out out = { .escape = !ctx->raw && isatty(STDOUT_FILENO) };
	pvm_error err = { 0 };
	size_t len = 0;
	int r;

	r = connect_bus(ctx, &bus);
	if (r)
		return r;
	r = pvm_bus_get_console_log(bus, argv[0], &data, &len, &err);
	if (r < 0)
		return fail(ctx, r, &err);
	if (len == 0) {
		pvm_bus_vm_info i = { 0 };
		/* an empty log of a VM that never started is no silent success */
		if (pvm_bus_get_vm(bus, argv[0], &i, &err) >= 0 && i.start_time_usec == 0 &&
		    !i.runner_pid)
			fprintf(stderr, "VM '%s' has not run yet: no console output\n", argv[0]);
		else
			fprintf(stderr, "VM '%s' has written nothing to its console\n", argv[0]);
		pvm_bus_vm_info_done(&i);
		return PVMCTL_EXIT_OK;
	}
	if (!guest_write(&out, data, len, true))
		return PVMCTL_EXIT_FAILURE;
	return PVMCTL_EXIT_OK;
}

/* ---- monitor ---- */

typedef struct monitor {
	bool json;
} monitor;

static void monitor_emit(const monitor *mon, const char *event, const char *vm, json_object *fields,
			 const char *human)
{
	struct timespec ts;
	char stamp[64];
	struct tm tm;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(stamp, sizeof(stamp), "%H:%M:%S", &tm);
	if (mon->json) {
		json_object *o = json_object_new_object();
		json_object_object_add(o, "time_usec",
				       json_object_new_uint64((uint64_t)ts.tv_sec * 1000000ULL +
							      (uint64_t)ts.tv_nsec / 1000));
		json_object_object_add(o, "event", json_object_new_string(event));
		json_object_object_add(o, "vm", json_object_new_string(vm));
		if (fields) {
			json_object_object_foreach (fields, k, v)
				json_object_object_add(o, k, json_object_get(v));
		}
		puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
							   JSON_C_TO_STRING_NOSLASHESCAPE));
		json_object_put(o);
	} else {
		printf("%s.%03ld %-8s %-20s %s\n", stamp, ts.tv_nsec / 1000000, event, vm, human);
	}
	json_object_put(fields);
	fflush(stdout);
}

static int on_added_removed(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
	const char *name, *path;
	bool added = strcmp(sd_bus_message_get_member(m), "VMAdded") == 0;

	if (sd_bus_message_read(m, "so", &name, &path) < 0)
		return 0;
	json_object *f = json_object_new_object();
	json_object_object_add(f, "path", json_object_new_string(path));
	monitor_emit(userdata, added ? "added" : "removed", name, f, path);
	return 0;
}

static int on_monitor_state(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
	const char *name, *path, *state, *reason, *message;
	char human[768];

	if (sd_bus_message_read(m, "sosss", &name, &path, &state, &reason, &message) < 0)
		return 0;
	json_object *f = json_object_new_object();
	json_object_object_add(f, "state", json_object_new_string(state));
	json_object_object_add(f, "death_reason", json_object_new_string(reason));
	json_object_object_add(f, "message", json_object_new_string(message));
	snprintf(human, sizeof(human), "%s%s%s%s%s", state,
		 strcmp(reason, "none") ? " reason=" : "", strcmp(reason, "none") ? reason : "",
		 message[0] ? ": " : "", message);
	monitor_emit(userdata, "state", name, f, human);
	return 0;
}

/* Property names as PropertiesChanged carries them, and their keys in the JSON schema. */
#define CHANGED_KEY(bus, sig, field, key, flags) { bus, key },
static const struct {
	const char *prop, *key;
} changed_keys[] = { PVM_VM_PROPERTIES(CHANGED_KEY) };
#undef CHANGED_KEY

/* "key=value key=value" for people; a tristate shows its value, not how it was found. */
static void changed_human(json_object *changed, char *buf, size_t len)
{
	size_t used = 0;

	buf[0] = '\0';
	json_object_object_foreach (changed, key, v) {
		json_object *inner;
		const char *text;

		if (json_object_is_type(v, json_type_object) &&
		    json_object_object_get_ex(v, "value", &inner))
			v = inner;
		text = json_object_get_string(v);
		if (used < len)
			used += (size_t)snprintf(buf + used, len - used, "%s%s=%s", used ? " " : "",
						 key, text && text[0] ? text : "\"\"");
	}
}

static int on_properties(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
	_cleanup_free_ char *name = NULL;
	pvm_bus_vm_info i = { 0 };
	json_object *f, *full, *changed;
	const char *iface;
	bool seen[ELEMENTSOF(changed_keys)] = { false };
	char human[1024];

	if (sd_bus_path_decode(sd_bus_message_get_path(m), PVM_BUS_VM_PREFIX, &name) <= 0)
		return 0;
	if (sd_bus_message_read(m, "s", &iface) < 0 || strcmp(iface, PVM_BUS_VM_IFACE) != 0)
		return 0;
	/* read the dictionary twice: once for which keys came, once for their values */
	if (sd_bus_message_enter_container(m, 'a', "{sv}") >= 0) {
		while (sd_bus_message_enter_container(m, 'e', "sv") > 0) {
			const char *key;
			if (sd_bus_message_read(m, "s", &key) < 0)
				break;
			for (size_t k = 0; k < ELEMENTSOF(changed_keys); k++)
				seen[k] |= strcmp(changed_keys[k].prop, key) == 0;
			sd_bus_message_skip(m, "v");
			sd_bus_message_exit_container(m);
		}
		sd_bus_message_exit_container(m);
	}
	sd_bus_message_rewind(m, true);
	sd_bus_message_skip(m, "s");
	if (pvm_bus_vm_info_read(m, &i) < 0) {
		pvm_bus_vm_info_done(&i);
		return 0;
	}
	full = vm_json(&i);
	changed = json_object_new_object();
	for (size_t k = 0; k < ELEMENTSOF(changed_keys); k++) {
		json_object *v;
		if (seen[k] && json_object_object_get_ex(full, changed_keys[k].key, &v))
			json_object_object_add(changed, changed_keys[k].key, json_object_get(v));
	}
	json_object_put(full);
	pvm_bus_vm_info_done(&i);
	changed_human(changed, human, sizeof(human));
	f = json_object_new_object();
	json_object_object_add(f, "changed", changed);
	monitor_emit(userdata, "changed", name, f, human);
	return 0;
}

/* pvmd leaving the bus ends every subscription: say so, and subscribe again when it is back */
static int on_owner_changed(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
	monitor *mon = userdata;
	const char *name, *old_owner, *new_owner;
	pvm_error err = { 0 };

	if (sd_bus_message_read(m, "sss", &name, &old_owner, &new_owner) < 0 ||
	    strcmp(name, PVM_BUS_NAME) != 0)
		return 0;
	if (new_owner[0] && pvm_bus_subscribe(sd_bus_message_get_bus(m), &err) < 0) {
		monitor_emit(mon, "pvmd", "-", NULL, err.message);
		return 0;
	}
	json_object *f = json_object_new_object();
	json_object_object_add(f, "running", json_object_new_boolean(new_owner[0] != '\0'));
	monitor_emit(mon, "pvmd", "-", f,
		     new_owner[0] ? "pvmd is back on the bus"
				  : "pvmd left the bus; waiting for it to come back");
	return 0;
}

int verb_monitor(int argc, char **argv, pvmctl_context *ctx)
{
	_cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
	pvm_error err = { 0 };
	monitor mon = { .json = ctx->json };
	int r;

	r = connect_bus(ctx, &bus);
	if (r)
		return r;
	if ((r = sd_bus_match_signal(bus, NULL, NULL, PVM_BUS_PATH, PVM_BUS_MANAGER_IFACE,
				     "VMAdded", on_added_removed, &mon)) < 0 ||
	    (r = sd_bus_match_signal(bus, NULL, NULL, PVM_BUS_PATH, PVM_BUS_MANAGER_IFACE,
				     "VMRemoved", on_added_removed, &mon)) < 0 ||
	    (r = sd_bus_match_signal(bus, NULL, NULL, PVM_BUS_PATH, PVM_BUS_MANAGER_IFACE,
				     "VMStateChanged", on_monitor_state, &mon)) < 0 ||
	    (r = sd_bus_add_match(bus, NULL,
				  "type='signal',interface='org.freedesktop.DBus.Properties',"
				  "member='PropertiesChanged',path_namespace='" PVM_BUS_VM_PREFIX
				  "',arg0='" PVM_BUS_VM_IFACE "'",
				  on_properties, &mon)) < 0 ||
	    (r = sd_bus_match_signal(bus, NULL, "org.freedesktop.DBus", "/org/freedesktop/DBus",
				     "org.freedesktop.DBus", "NameOwnerChanged", on_owner_changed,
				     &mon)) < 0)
		return fail(ctx, r, NULL);
	/* pvmd not there: say so now rather than wait for events that cannot come */
	r = pvm_bus_subscribe(bus, &err);
	if (r < 0)
		return fail(ctx, r, &err);
	/* said once the matches are in place: a script can wait for this line */
	fprintf(stderr, "Monitoring pvmd events; Ctrl-C to stop.\n");
	r = run_until_signal(bus, NULL);
	if (r < 0)
		return fail(ctx, r, NULL);
	return PVMCTL_EXIT_OK;
}

/* ---- connect ---- */

/* Join stdin/stdout to guest vsock port `port` through the VM's host socket: "CONNECT
 * <port>\n", then pvm's answer "OK <host port>\n" once the guest accepted, then the stream. */
static int vsock_dial(const char *socket_path, uint32_t port, int *ret_fd)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	_cleanup_close_ int fd = -1;
	char line[32];
	size_t n = 0;
	int len;

	if (strlen(socket_path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	memcpy(sa.sun_path, socket_path, strlen(socket_path));
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return -errno;
	len = snprintf(line, sizeof(line), "CONNECT %" PRIu32 "\n", port);
	if (!write_all(fd, line, (size_t)len))
		return -EPIPE;
	/* byte by byte: what follows the newline is the guest's */
	while (n < sizeof(line) - 1) {
		ssize_t k = read(fd, &line[n], 1);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return -ECONNREFUSED; /* the guest refused (a reset closes the socket) */
		if (line[n++] == '\n')
			break;
	}
	line[n] = '\0';
	if (strncmp(line, "OK ", 3) != 0)
		return -EPROTO;
	*ret_fd = TAKE_FD(fd);
	return 0;
}

/* Join stdin/stdout to a stream socket to the guest until the guest closes it. The socket never
 * blocks us: while the guest's answers wait to be read, input waits too (a blocking write could
 * wait on a guest that waits on us). */
static int relay(int fd)
{
	bool stdin_open = true;
	char out[16384];
	size_t out_off = 0, out_len = 0;

	if (fcntl(fd, F_SETFL, O_NONBLOCK) < 0)
		return PVMCTL_EXIT_FAILURE;
	catch_signals();
	while (!got_signal) {
		struct pollfd p[2] = {
			{ .fd = fd, .events = POLLIN | (out_len ? POLLOUT : 0) },
			{ .fd = stdin_open && !out_len ? STDIN_FILENO : -1, .events = POLLIN },
		};
		char buf[16384];
		ssize_t n;

		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			return PVMCTL_EXIT_FAILURE;
		}
		if (p[0].revents & (POLLIN | POLLHUP | POLLERR)) {
			n = read(fd, buf, sizeof(buf));
			if (n == 0)
				return PVMCTL_EXIT_OK;
			if (n < 0 && errno != EAGAIN && errno != EINTR)
				return PVMCTL_EXIT_FAILURE;
			if (n > 0 && !write_all(STDOUT_FILENO, buf, (size_t)n))
				return PVMCTL_EXIT_FAILURE;
		}
		if (out_len && (p[0].revents & POLLOUT)) {
			n = write(fd, out + out_off, out_len);
			if (n < 0 && errno != EAGAIN && errno != EINTR)
				return PVMCTL_EXIT_FAILURE;
			if (n > 0)
				out_off += (size_t)n, out_len -= (size_t)n;
		}
		if (p[1].revents) {
			n = read(STDIN_FILENO, out, sizeof(out));
			if (n <= 0) {
				/* input ended: half-close, keep reading what the guest sends */
				stdin_open = false;
				shutdown(fd, SHUT_WR);
				continue;
			}
			out_off = 0;
			out_len = (size_t)n;
		}
	}
	return PVMCTL_EXIT_OK;
}

/* A vsock port: 0 to 2^32-1, decimal; 0 and the port in ret, or the usage error reported. */
static int parse_port(pvmctl_context *ctx, const char *arg, unsigned long *ret)
{
	char msg[128], *end;
	unsigned long port;

	errno = 0;
	port = strtoul(arg, &end, 10);
	if (errno || *end || end == arg || arg[0] == '-' || port > UINT32_MAX) {
		snprintf(msg, sizeof(msg), "'%.40s' is not a port (0 to %u)", arg, UINT32_MAX);
		return pvmctl_report(ctx, -EINVAL, msg, PVMCTL_EXIT_USAGE);
	}
	*ret = port;
	return 0;
}

int verb_connect(int argc, char **argv, pvmctl_context *ctx)
{
	_cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
	_cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
	_cleanup_free_ char *path = NULL, *socket_path = NULL;
	_cleanup_close_ int fd = -1;
	char msg[PVM_ERROR_MESSAGE_MAX + 256];
	unsigned long port = 0;
	int r;

	r = parse_port(ctx, argv[1], &port);
	if (r)
		return r;
	r = connect_bus(ctx, &bus);
	if (r)
		return r;
	r = sd_bus_path_encode(PVM_BUS_VM_PREFIX, argv[0], &path);
	if (r >= 0)
		r = sd_bus_get_property_string(bus, PVM_BUS_NAME, path, PVM_BUS_VM_IFACE,
					       "VsockSocket", &e, &socket_path);
	if (r < 0) {
		pvm_error err = { 0 };
		r = pvm_bus_error_to_pvm(&e, r, "VsockSocket", &err);
		return fail(ctx, r, &err);
	}
	if (!socket_path[0]) {
		snprintf(msg, sizeof(msg),
			 "VM '%s' has no vsock device (\"vsock\": true in its config)", argv[0]);
		return pvmctl_report(ctx, -EINVAL, msg, PVMCTL_EXIT_INVALID);
	}
	r = vsock_dial(socket_path, (uint32_t)port, &fd);
	if (r < 0) {
		snprintf(msg, sizeof(msg), "port %lu of VM '%s' (%s): %s", port, argv[0],
			 socket_path, strerror(-r));
		return pvmctl_report(ctx, r, msg, PVMCTL_EXIT_FAILURE);
	}
	return relay(fd);
}

/* ---- listen ---- */

/* Wait for the guest to connect to host port PORT, then join stdin/stdout to that connection.
 * pvmd makes the listener (the runtime directory is its own) and hands over its descriptor. */
int verb_listen(int argc, char **argv, pvmctl_context *ctx)
{
	_cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
	_cleanup_close_ int lfd = -1, fd = -1;
	pvm_error err = { 0 };
	unsigned long port = 0;
	int r;

	r = parse_port(ctx, argv[1], &port);
	if (r)
		return r;
	r = connect_bus(ctx, &bus);
	if (r)
		return r;
	r = pvm_bus_listen_vsock(bus, argv[0], (uint32_t)port, &lfd, &err);
	if (r < 0)
		return fail(ctx, r, &err);
	/* the bus is not needed while waiting: a pvmd restart does not end the wait */
	bus = sd_bus_flush_close_unref(bus);
	fprintf(stderr, "Waiting for VM '%s' to connect to host port %lu; Ctrl-C to stop.\n",
		argv[0], port);
	catch_signals();
	while (!got_signal) {
		fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd >= 0 || errno != EINTR)
			break;
	}
	if (fd < 0)
		return got_signal ? PVMCTL_EXIT_OK : PVMCTL_EXIT_FAILURE;
	close(TAKE_FD(lfd)); /* one connection: later ones are refused */
	return relay(fd);
}
