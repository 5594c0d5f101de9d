/* pvmctl's online verbs: start, stop, kill, remove, inspect, list, console, logs, monitor.
 * Each parses its options, makes its calls through libpvm/bus-client.h, prints a table for
 * people or a documented JSON schema (--json), and exits with a documented code. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "bus-client.h"
#include "vm-state.h"
#include "vm-verbs.h"

#define DETACH_KEY 0x1d /* Ctrl-] */

/* --json given before or after the verb: errors, too, go out as JSON on stdout */
static bool json_output;

/* The one place an online verb reports a failure; returns the exit code. */
static int report(const char *verb, int r, const char *message, int code)
{
	if (json_output) {
		/* the shape pvmctl.c gives the offline verbs' errors, plus the exit code */
		json_object *o = json_object_new_object();
		json_object_object_add(o, "error", json_object_new_string(message));
		json_object_object_add(o, "errno", json_object_new_int(-r));
		json_object_object_add(o, "errno_name",
				       json_object_new_string(strerrorname_np(-r) ?: ""));
		json_object_object_add(o, "exit_code", json_object_new_int(code));
		pvmctl_print_json(o);
		json_object_put(o);
	} else {
		fprintf(stderr, "pvmctl %s: %s\n", verb, message);
	}
	return code;
}

static int fail(const char *verb, int r, const pvm_error *err)
{
	if (-r == EHOSTUNREACH)
		return report(verb, r,
			      "pvmd is not running on the system bus (no owner of org.pvm1)",
			      PVMCTL_EXIT_NO_DAEMON);
	return report(verb, r, err && err->message[0] ? err->message : strerror(-r),
		      pvmctl_exit_code_from_errno(r));
}

static int usage(const char *verb, const char *synopsis)
{
	fprintf(stderr, "Usage: pvmctl %s %s\n", verb, synopsis);
	return PVMCTL_EXIT_USAGE;
}

static int connect_bus(const char *verb, sd_bus **ret)
{
	pvm_error err = { 0 };
	int r = pvm_bus_open(ret, &err);

	if (r < 0)
		return report(verb, r, err.message, PVMCTL_EXIT_NO_DAEMON);
	return 0;
}

static uint64_t now_usec(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000ULL + (uint64_t)ts.tv_nsec / 1000;
}

static int parse_seconds(const char *s, uint64_t *ret_usec)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end || v < 0 || v > 365 * 24 * 3600.0)
		return -EINVAL;
	*ret_usec = (uint64_t)(v * 1e6);
	return 0;
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

int verb_start(int argc, char **argv, pvmctl_context *ctx)
{
	static const struct option opts[] = {
		{ "name", required_argument, NULL, 'n' },
		{ "wait-ready", no_argument, NULL, 'w' },
		{ "tie", no_argument, NULL, 't' },
		{ "timeout", required_argument, NULL, 'T' },
		{ "json", no_argument, NULL, 'j' },
		{},
	};
	static const char synopsis[] =
	    "CONFIG|- [--name NAME] [--wait-ready] [--tie] [--timeout SEC] [--json]";
	_cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
	_cleanup_(sd_bus_slot_unrefp) sd_bus_slot *slot = NULL;
	_cleanup_free_ char *name = NULL, *path = NULL;
	_cleanup_close_ int fd = -1;
	pvm_bus_create_options co = { .start = true };
	uint64_t timeout = 60 * 1000000ULL;
	bool wait_ready = false, json = ctx->json;
	pvm_error err = { 0 };
	waiter w = { 0 };
	int c, r;

	optind = 1;
	while ((c = getopt_long(argc, argv, "n:", opts, NULL)) >= 0) {
		switch (c) {
		case 'n':
			co.name = optarg;
			break;
		case 'w':
			wait_ready = true;
			break;
		case 't':
			co.tie = true;
			break;
		case 'T':
			if (parse_seconds(optarg, &timeout) < 0)
				return usage(argv[0], synopsis);
			break;
		case 'j':
			json = true;
			break;
		default:
			return usage(argv[0], synopsis);
		}
	}
	if (optind + 1 != argc)
		return usage(argv[0], synopsis);
	json_output = json;
	/* pvmd reads the config through the fd: it sees exactly the bytes we opened, and a
	 * caller need not let pvmd open its files */
	fd = strcmp(argv[optind], "-") == 0 ? dup(STDIN_FILENO)
					    : open(argv[optind], O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		fprintf(stderr, "pvmctl start: cannot open %s: %m\n", argv[optind]);
		return PVMCTL_EXIT_INVALID;
	}
	r = connect_bus(argv[0], &bus);
	if (r)
		return r;
	/* watching is only for waiting: set up before the VM exists, so no change is missed */
	r = wait_ready || co.tie ? watch_states(bus, &w, &slot, &err) : 0;
	if (r < 0)
		return fail(argv[0], r, &err);
	r = pvm_bus_create_vm_from_fd(bus, fd, &co, &name, &path, &err);
	if (r < 0)
		return fail(argv[0], r, &err);
	w.name = name;
	if (wait_ready || co.tie) {
		r = wait_for(bus, &w, wait_ready ? done_ready : done_running, now_usec() + timeout,
			     &err);
		if (r < 0)
			return fail(argv[0], r, &err);
		if (state_is_end(w.state)) {
			fprintf(stderr, "pvmctl start: VM '%s' %s (%s)%s%s\n", name, w.state,
				w.reason, w.message[0] ? ": " : "", w.message);
			return PVMCTL_EXIT_VM_FAILED;
		}
	}
	if (json) {
		json_object *o = json_object_new_object();
		json_object_object_add(o, "name", json_object_new_string(name));
		json_object_object_add(o, "path", json_object_new_string(path));
		print_json(o);
	} else {
		printf("Started VM '%s' (%s)\n", name, path);
	}
	fflush(stdout);
	if (!co.tie)
		return PVMCTL_EXIT_OK;

	/* Tied: the VM lives as long as this connection. Stay until it ends or we are told to
	 * go; leaving closes the connection and pvmd stops the VM. */
	fprintf(stderr, "VM '%s' is tied to this pvmctl: it stops when pvmctl exits (Ctrl-C)\n",
		name);
	r = run_until_signal(bus, &w);
	if (r < 0)
		return fail(argv[0], r, NULL);
	if (state_is_end(w.state)) {
		fprintf(stderr, "VM '%s' %s (%s)\n", name, w.state, w.reason);
		return strcmp(w.state, "failed") == 0 ? PVMCTL_EXIT_VM_FAILED : PVMCTL_EXIT_OK;
	}
	return PVMCTL_EXIT_OK;
}

/* ---- stop / kill / remove ---- */

static int stop_or_kill(int argc, char **argv, pvmctl_context *ctx, bool kill_now)
{
	static const struct option opts[] = {
		{ "timeout", required_argument, NULL, 'T' },
		{ "force", no_argument, NULL, 'f' },
		{ "no-wait", no_argument, NULL, 'N' },
		{},
	};
	const char *synopsis =
	    kill_now ? "NAME [--no-wait]" : "NAME [--timeout SEC] [--force] [--no-wait]";
	_cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
	_cleanup_(sd_bus_slot_unrefp) sd_bus_slot *slot = NULL;
	uint64_t timeout = 10 * 1000000ULL;
	bool force = kill_now, no_wait = false;
	pvm_error err = { 0 };
	waiter w = { 0 };
	int c, r;

	optind = 1;
	while ((c = getopt_long(argc, argv, kill_now ? "" : "f", opts, NULL)) >= 0) {
		switch (c) {
		case 'T':
			if (kill_now || parse_seconds(optarg, &timeout) < 0)
				return usage(argv[0], synopsis);
			break;
		case 'f':
			if (kill_now)
				return usage(argv[0], synopsis);
			force = true;
			break;
		case 'N':
			no_wait = true;
			break;
		default:
			return usage(argv[0], synopsis);
		}
	}
	if (optind + 1 != argc)
		return usage(argv[0], synopsis);
	w.name = argv[optind];
	r = connect_bus(argv[0], &bus);
	if (r)
		return r;
	r = no_wait ? 0 : watch_states(bus, &w, &slot, &err);
	if (r < 0)
		return fail(argv[0], r, &err);
	r = force ? pvm_bus_kill_vm(bus, w.name, &err)
		  : pvm_bus_stop_vm(bus, w.name, timeout ? timeout : 1, &err);
	if (r < 0)
		return fail(argv[0], r, &err);
	if (no_wait)
		return PVMCTL_EXIT_OK;
	/* pvmd forces the stop at the timeout; give it a little longer to report */
	r = wait_for(bus, &w, done_ended, now_usec() + timeout + 5 * 1000000ULL, &err);
	if (r < 0)
		return fail(argv[0], r, &err);
	printf("VM '%s' %s (%s)\n", w.name, w.state, w.reason);
	return PVMCTL_EXIT_OK;
}

int verb_stop(int argc, char **argv, pvmctl_context *ctx)
{
	return stop_or_kill(argc, argv, ctx, false);
}

int verb_kill(int argc, char **argv, pvmctl_context *ctx)
{
	return stop_or_kill(argc, argv, ctx, true);
}

int verb_remove(int argc, char **argv, pvmctl_context *ctx)
{
	_cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
	pvm_error err = { 0 };
	int r;

	if (argc != 2 || argv[1][0] == '-')
		return usage(argv[0], "NAME");
	r = connect_bus(argv[0], &bus);
	if (r)
		return r;
	r = pvm_bus_remove_vm(bus, argv[1], &err);
	if (r < 0)
		return fail(argv[0], r, &err);
	return PVMCTL_EXIT_OK;
}

/* ---- inspect / list ---- */

static bool parse_json_flag(int argc, char **argv, pvmctl_context *ctx, int want_args,
			    const char *synopsis, bool *ret_json, int *ret_code)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{},
	};
	int c;

	*ret_json = ctx->json;
	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) >= 0) {
		if (c != 'j') {
			*ret_code = usage(argv[0], synopsis);
			return false;
		}
		*ret_json = true;
	}
	if (argc - optind != want_args) {
		*ret_code = usage(argv[0], synopsis);
		return false;
	}
	json_output = *ret_json;
	return true;
}

int verb_inspect(int argc, char **argv, pvmctl_context *ctx)
{
	_cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
	pvm_bus_vm_info i = { 0 };
	pvm_error err = { 0 };
	char started[64];
	bool json;
	int r;

	if (!parse_json_flag(argc, argv, ctx, 1, "NAME [--json]", &json, &r))
		return r;
	r = connect_bus(argv[0], &bus);
	if (r)
		return r;
	r = pvm_bus_get_vm(bus, argv[optind], &i, &err);
	if (r < 0)
		return fail(argv[0], r, &err);
	if (json) {
		print_json(vm_json(&i));
		pvm_bus_vm_info_done(&i);
		return PVMCTL_EXIT_OK;
	}
	format_time(i.start_time_usec, started, sizeof(started));
	printf("Name:           %s\n", i.name);
	printf("State:          %s\n", i.state);
	printf("Death reason:   %s\n", i.death_reason);
	if (i.message && i.message[0])
		printf("Message:        %s\n", i.message);
	printf("Protected:      %s\n", i.protected_vm ? "yes" : "no");
	printf("Memory:         %" PRIu32 " MiB, %s\n", i.memory_mib, i.memory_backing);
	printf("  unswappable:  %s (%s)\n", i.unswappable, i.unswappable_how);
	printf("  unmigratable: %s (%s)\n", i.unmigratable, i.unmigratable_how);
	printf("  host mapped:  %s (%s)\n", i.host_mapped, i.host_mapped_how);
	printf("vCPUs:          %" PRIu32 "\n", i.vcpus);
	if (i.runner_pid)
		printf("Runner PID:     %" PRIu32 "\n", i.runner_pid);
	else
		printf("Runner PID:     -\n");
	printf("Started:        %s\n", started);
	printf("Owner:          uid %" PRIu32 "\n", i.owner_uid);
	printf("Tied to caller: %s\n", i.tied ? "yes" : "no");
	printf("Object:         %s\n", i.path);
	pvm_bus_vm_info_done(&i);
	return PVMCTL_EXIT_OK;
}

int verb_list(int argc, char **argv, pvmctl_context *ctx)
{
	_cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
	pvm_bus_vm_info *vms = NULL;
	pvm_error err = { 0 };
	size_t n = 0;
	bool json;
	int r;

	if (!parse_json_flag(argc, argv, ctx, 0, "[--json]", &json, &r))
		return r;
	r = connect_bus(argv[0], &bus);
	if (r)
		return r;
	r = pvm_bus_list_vms(bus, &vms, &n, &err);
	if (r < 0)
		return fail(argv[0], r, &err);
	if (json) {
		json_object *o = json_object_new_object(), *a = json_object_new_array();
		for (size_t k = 0; k < n; k++)
			json_object_array_add(a, vm_json(&vms[k]));
		json_object_object_add(o, "vms", a);
		print_json(o);
	} else if (n == 0) {
		printf("No VMs.\n");
	} else {
		printf("%-20s %-9s %-20s %-9s %8s %5s %6s %8s\n", "NAME", "STATE", "REASON",
		       "PROTECTED", "MEMORY", "VCPUS", "OWNER", "PID");
		for (size_t k = 0; k < n; k++) {
			char mem[32], pid[16];
			snprintf(mem, sizeof(mem), "%" PRIu32 "M", vms[k].memory_mib);
			if (vms[k].runner_pid)
				snprintf(pid, sizeof(pid), "%" PRIu32, vms[k].runner_pid);
			else
				snprintf(pid, sizeof(pid), "-");
			printf("%-20s %-9s %-20s %-9s %8s %5" PRIu32 " %6" PRIu32 " %8s\n",
			       vms[k].name, vms[k].state,
			       strcmp(vms[k].death_reason, "none") ? vms[k].death_reason : "-",
			       vms[k].protected_vm ? "yes" : "no", mem, vms[k].vcpus,
			       vms[k].owner_uid, pid);
		}
	}
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

int verb_console(int argc, char **argv, pvmctl_context *ctx)
{
	_cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
	_cleanup_close_ int fd = -1;
	struct termios saved, raw;
	bool tty = isatty(STDIN_FILENO), stdin_open = true;
	pvm_error err = { 0 };
	int r, code = PVMCTL_EXIT_OK;

	if (argc != 2 || argv[1][0] == '-')
		return usage(argv[0], "NAME");
	r = connect_bus(argv[0], &bus);
	if (r)
		return r;
	r = pvm_bus_open_console(bus, argv[1], &fd, &err);
	if (r < 0)
		return fail(argv[0], r, &err);
	if (tty) {
		if (tcgetattr(STDIN_FILENO, &saved) < 0)
			tty = false;
		else {
			raw = saved;
			cfmakeraw(&raw);
			tcsetattr(STDIN_FILENO, TCSANOW, &raw);
		}
		fprintf(stderr, "Connected to the console of VM '%s'. Press Ctrl-] to detach.\r\n",
			argv[1]);
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
				fprintf(stderr, "%sConsole closed: VM '%s' is no longer running.%s",
					tty ? "\r\n" : "", argv[1], tty ? "\r\n" : "\n");
				break;
			}
			if (!write_all(STDOUT_FILENO, buf, (size_t)n))
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
				fprintf(stderr, "\r\nDetached from VM '%s'.\r\n", argv[1]);
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
	pvm_error err = { 0 };
	size_t len = 0;
	int r;

	if (argc != 2 || argv[1][0] == '-')
		return usage(argv[0], "NAME");
	r = connect_bus(argv[0], &bus);
	if (r)
		return r;
	r = pvm_bus_get_console_log(bus, argv[1], &data, &len, &err);
	if (r < 0)
		return fail(argv[0], r, &err);
	if (!write_all(STDOUT_FILENO, data, len))
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
static const struct {
	const char *prop, *key;
} changed_keys[] = {
	{ "State", "state" },
	{ "DeathReason", "death_reason" },
	{ "Message", "message" },
	{ "MemoryBacking", "memory_backing" },
	{ "Unswappable", "unswappable" },
	{ "UnswappableHow", "unswappable" },
	{ "Unmigratable", "unmigratable" },
	{ "UnmigratableHow", "unmigratable" },
	{ "HostMapped", "host_mapped" },
	{ "HostMappedHow", "host_mapped" },
	{ "RunnerPID", "runner_pid" },
	{ "StartTime", "start_time_usec" },
	{ "Tied", "tied" },
};

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

int verb_monitor(int argc, char **argv, pvmctl_context *ctx)
{
	_cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
	pvm_error err = { 0 };
	monitor mon = { 0 };
	int r;

	if (!parse_json_flag(argc, argv, ctx, 0, "[--json]", &mon.json, &r))
		return r;
	r = connect_bus(argv[0], &bus);
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
				  on_properties, &mon)) < 0)
		return fail(argv[0], r, NULL);
	r = pvm_bus_subscribe(bus, &err);
	if (r < 0)
		return fail(argv[0], r, &err);
	/* said once the matches are in place: a script can wait for this line */
	fprintf(stderr, "Monitoring pvmd events; Ctrl-C to stop.\n");
	r = run_until_signal(bus, NULL);
	if (r < 0)
		return fail(argv[0], r, NULL);
	return PVMCTL_EXIT_OK;
}
