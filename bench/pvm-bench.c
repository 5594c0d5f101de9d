/* pvm-bench: the measuring client of the benchmark harness (bench/run). It times VM starts made
 * with raw org.pvm1 calls or by a spawned command (pvmctl, QEMU, virsh) up to the first console
 * byte and the guest's READY, stops, query round trips and start throughput; prints raw samples
 * as one JSON object on stdout (bench/run computes the statistics). */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>
#include <systemd/sd-bus.h>

#include "bus-client.h"
#include "json-strict.h"
#include "macro.h"

#define BUS_NAME "org.pvm1"
#define BUS_PATH "/org/pvm1"
#define MANAGER_IFACE "org.pvm1.Manager"
#define STEP_TIMEOUT_NS (60LL * 1000000000LL)

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static double ms_since(int64_t t0, int64_t t)
{
	return (double)(t - t0) / 1e6;
}

/* Options shared by the verbs; each verb reads the ones it needs. */
typedef struct options {
	const char *config_path; /* VM config (JSON) for D-Bus starts */
	char *config;		 /* its text */
	const char *prefix;	 /* VM names: PREFIX-<i> */
	const char *console;	 /* file whose first byte is the first console byte (%n: name) */
	const char *ready_file;	 /* file whose first byte is READY (%n: name); else the bus */
	const char *stop;	 /* kill, graceful, signal, none, or a command line (%n: name) */
	unsigned count;
	unsigned clients;
	unsigned vms; /* query: how many VMs exist beside the probed one (for the record) */
	char **argv;  /* the launch command (after --), %n replaced by the name */
} options;

/* What one start waits for, filled by the event loop. */
typedef struct probe {
	char name[64];
	char console[PATH_MAX];
	char ready_file[PATH_MAX];
	int64_t t0, t_call, t_first, t_ready, t_stopped;
	char error[256];
	int console_wd; /* dropped once the first byte is in: later bytes need not wake us */
	int ready_wd;
	pid_t child;
	int pidfd;
	int child_status;
} probe;

typedef struct loop {
	sd_bus *bus; /* may be NULL (QEMU, virsh) */
	int inotify_fd;
	probe *p;
} loop;

/* Replace each %n of tmpl by name. */
static int expand(const char *tmpl, const char *name, char *ret, size_t size)
{
	size_t o = 0;

	for (const char *s = tmpl; *s; s++) {
		const char *piece = s[0] == '%' && s[1] == 'n' ? name : NULL;
		size_t len = piece ? strlen(piece) : 1;

		if (o + len >= size)
			return -ENAMETOOLONG;
		memcpy(ret + o, piece ?: s, len);
		o += len;
		if (piece)
			s++;
	}
	ret[o] = 0;
	return 0;
}

static bool file_has_data(const char *path)
{
	struct stat st;

	return path[0] && stat(path, &st) == 0 && st.st_size > 0;
}

static int on_state_changed(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
	loop *l = userdata;
	probe *p = l->p;
	const char *name, *path, *state, *reason, *message;

	if (!p || sd_bus_message_read(m, "sosss", &name, &path, &state, &reason, &message) < 0)
		return 0;
	if (strcmp(name, p->name) != 0)
		return 0;
	if (strcmp(state, "ready") == 0 && !p->t_ready)
		p->t_ready = now_ns();
	else if ((strcmp(state, "stopped") == 0 || strcmp(state, "failed") == 0) && !p->t_stopped) {
		p->t_stopped = now_ns();
		if (!p->t_ready && !p->error[0])
			snprintf(p->error, sizeof(p->error),
				 "VM %s ended (%s, %s: %s) before READY", name, state, reason,
				 message);
	}
	return 0;
}

static int on_reply(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
	probe *p = userdata;
	const sd_bus_error *e = sd_bus_message_get_error(m);

	p->t_call = now_ns();
	if (e)
		snprintf(p->error, sizeof(p->error), "%s: %s", e->name, e->message ?: "");
	return 0;
}

typedef bool (*loop_done_fn)(const probe *p);

/* Run the bus, the inotify watches and the child's pidfd until done(p) or the deadline. */
static int loop_run(loop *l, loop_done_fn done)
{
	probe *p = l->p;
	int64_t deadline = now_ns() + STEP_TIMEOUT_NS;

	for (;;) {
		struct pollfd fds[3];
		nfds_t n = 0;
		int r;

		if (l->bus) {
			while ((r = sd_bus_process(l->bus, NULL)) > 0)
				;
			if (r < 0) {
				snprintf(p->error, sizeof(p->error), "bus connection lost: %s",
					 strerror(-r));
				return r;
			}
		}
		if (!p->t_first && file_has_data(p->console)) {
			p->t_first = now_ns();
			if (p->console_wd != p->ready_wd)
				inotify_rm_watch(l->inotify_fd, p->console_wd);
		}
		if (!p->t_ready && p->ready_file[0] && file_has_data(p->ready_file))
			p->t_ready = now_ns();
		if (p->error[0])
			return -EIO;
		if (done(p))
			return 0;
		if (now_ns() > deadline) {
			snprintf(p->error, sizeof(p->error), "timed out waiting for %s", p->name);
			return -ETIMEDOUT;
		}
		fds[n++] = (struct pollfd){ .fd = l->inotify_fd, .events = POLLIN };
		if (p->pidfd >= 0)
			fds[n++] = (struct pollfd){ .fd = p->pidfd, .events = POLLIN };
		if (l->bus)
			fds[n++] = (struct pollfd){ .fd = sd_bus_get_fd(l->bus),
						    .events = (short)sd_bus_get_events(l->bus) };
		r = poll(fds, n, 100);
		if (r < 0 && errno != EINTR)
			return -errno;
		if (fds[0].revents & POLLIN) {
			char buf[4096];
			while (read(l->inotify_fd, buf, sizeof(buf)) > 0)
				;
		}
		if (p->pidfd >= 0 && (fds[1].revents & POLLIN)) {
			int status;
			if (waitpid(p->child, &status, WNOHANG) == p->child) {
				p->t_call = now_ns();
				p->child_status = status;
				close(p->pidfd);
				p->pidfd = -1;
				p->child = 0;
				if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
					snprintf(p->error, sizeof(p->error),
						 "launch command for %s failed (status 0x%x)",
						 p->name, status);
			}
		}
	}
}

static bool started(const probe *p)
{
	return p->t_call && p->t_first && p->t_ready;
}

/* Started a command that keeps running (QEMU): READY and the first byte are enough. */
static bool started_running(const probe *p)
{
	return p->t_first && p->t_ready;
}

static bool stopped(const probe *p)
{
	return p->t_stopped;
}

static bool child_gone(const probe *p)
{
	return p->pidfd < 0;
}

static int spawn(char **argv_tmpl, const char *name, probe *p)
{
	char *argv[64];
	char buf[64][PATH_MAX / 4];
	size_t n = 0;
	pid_t pid;

	for (; argv_tmpl[n]; n++) {
		if (n + 1 >= ELEMENTSOF(argv) ||
		    expand(argv_tmpl[n], name, buf[n], sizeof(buf[n])) < 0)
			return -E2BIG;
		argv[n] = buf[n];
	}
	argv[n] = NULL;
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		int null = open("/dev/null", O_RDWR);
		if (null >= 0) {
			dup2(null, STDIN_FILENO);
			dup2(null, STDOUT_FILENO);
		}
		execvp(argv[0], argv);
		fprintf(stderr, "pvm-bench: cannot run %s: %m\n", argv[0]);
		_exit(127);
	}
	p->child = pid;
	p->pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	return p->pidfd < 0 ? -errno : 0;
}

/* Watch the directory of path; returns the watch descriptor. */
static int watch_dir_of(int inotify_fd, const char *path)
{
	int wd;
	char dir[PATH_MAX];
	char *slash;

	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (!slash)
		return -EINVAL;
	*slash = 0;
	wd = inotify_add_watch(inotify_fd, dir, IN_CREATE | IN_MODIFY | IN_CLOSE_WRITE);
	return wd < 0 ? -errno : wd;
}

static int bus_open(sd_bus **ret)
{
	sd_bus *bus = NULL;
	int r;

	/* pvmd's error names as errnos: teardown waits out Busy (a killed VM still stopping) */
	pvm_bus_error_map_register();
	r = sd_bus_open_system(&bus);

	if (r < 0) {
		fprintf(stderr, "pvm-bench: cannot connect to the system bus: %s\n", strerror(-r));
		return r;
	}
	*ret = bus;
	return 0;
}

/* Receive VMStateChanged: pvmd sends VM signals only to connections that called Subscribe,
 * the match first. A pvmd without Subscribe (older ones broadcast) is fine too, so a baseline
 * run on an earlier commit works. */
static int subscribe_state(sd_bus *bus, sd_bus_message_handler_t handler, void *userdata)
{
	_cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
	int r = sd_bus_match_signal(bus, NULL, BUS_NAME, BUS_PATH, MANAGER_IFACE, "VMStateChanged",
				    handler, userdata);

	if (r < 0)
		return r;
	r = sd_bus_call_method(bus, BUS_NAME, BUS_PATH, MANAGER_IFACE, "Subscribe", &e, NULL, "");
	if (r < 0 && !sd_bus_error_has_name(&e, SD_BUS_ERROR_UNKNOWN_METHOD)) {
		fprintf(stderr, "pvm-bench: Subscribe: %s\n", e.message ?: strerror(-r));
		return r;
	}
	return 0;
}

/* A by-name call; its error is reported unless it is Busy and busy_quiet holds. */
static int call_simple_quiet(sd_bus *bus, const char *method, const char *name, bool busy_quiet)
{
	_cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
	int r =
	    sd_bus_call_method(bus, BUS_NAME, BUS_PATH, MANAGER_IFACE, method, &e, NULL, "s", name);

	if (r < 0 && !(r == -EBUSY && busy_quiet))
		fprintf(stderr, "pvm-bench: %s %s: %s\n", method, name, e.message ?: strerror(-r));
	return r;
}

static int call_simple(sd_bus *bus, const char *method, const char *name)
{
	return call_simple_quiet(bus, method, name, false);
}

/* Ask for the stop the options name and wait until it is complete. */
static int stop_vm(loop *l, const options *o)
{
	probe *p = l->p;
	_cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
	int r;

	p->t0 = now_ns();
	p->t_stopped = 0;
	if (strcmp(o->stop, "none") == 0) /* the launched program has ended by itself */
		return 0;
	if (strcmp(o->stop, "kill") == 0 || strcmp(o->stop, "graceful") == 0) {
		bool graceful = o->stop[0] == 'g';
		r = graceful
			? sd_bus_call_method(l->bus, BUS_NAME, BUS_PATH, MANAGER_IFACE, "StopVM",
					     &e, NULL, "st", p->name, (uint64_t)30000000)
			: sd_bus_call_method(l->bus, BUS_NAME, BUS_PATH, MANAGER_IFACE, "KillVM",
					     &e, NULL, "s", p->name);
		if (r < 0) {
			fprintf(stderr, "pvm-bench: stopping %s: %s\n", p->name,
				e.message ?: strerror(-r));
			return r;
		}
		return loop_run(l, stopped);
	}
	if (strcmp(o->stop, "signal") == 0) {
		if (p->child <= 0)
			return -ESRCH;
		kill(p->child, SIGTERM);
		r = loop_run(l, child_gone);
		p->t_stopped = now_ns();
		return r;
	}
	/* a command line, e.g. "virsh ... destroy %n" */
	{
		char *argv[] = { "/bin/sh", "-c", (char *)o->stop, NULL };
		if ((r = spawn(argv, p->name, p)) < 0)
			return r;
		r = loop_run(l, child_gone);
		p->t_stopped = now_ns();
		return r;
	}
}

static void add_sample(json_object *samples, const char *key, double v)
{
	json_object *a;

	if (!json_object_object_get_ex(samples, key, &a)) {
		a = json_object_new_array();
		json_object_object_add(samples, key, a);
	}
	json_object_array_add(a, json_object_new_double(v));
}

static int print_result(json_object *o)
{
	puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	return fflush(stdout) == 0 ? 0 : -errno;
}

/* start: N starts, each timed to the launch's return, the first console byte and READY, then
 * stopped as --stop says (timed) and removed. Launch: raw CreateVM(start=true) when no command
 * is given, else the command (pvmctl start, qemu-system-x86_64, virsh create). */
static int verb_start(options *o)
{
	_cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
	_cleanup_(json_object_putp) json_object *res = json_object_new_object();
	json_object *samples = json_object_new_object();
	_cleanup_close_ int inotify_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	bool on_bus = !o->argv || !o->ready_file;
	probe p = { .pidfd = -1 };
	loop l = { .inotify_fd = inotify_fd, .p = &p };
	int r;

	json_object_object_add(res, "samples", samples);
	if (inotify_fd < 0 || !o->console || !o->prefix)
		return -EINVAL;
	if (on_bus || strcmp(o->stop, "kill") == 0 || strcmp(o->stop, "graceful") == 0) {
		if ((r = bus_open(&bus)) < 0)
			return r;
		l.bus = bus;
		if ((r = subscribe_state(bus, on_state_changed, &l)) < 0)
			return r;
	}
	for (unsigned i = 0; i < o->count; i++) {
		p = (probe){ .pidfd = -1 };
		snprintf(p.name, sizeof(p.name), "%s-%u", o->prefix, i);
		if (expand(o->console, p.name, p.console, sizeof(p.console)) < 0 ||
		    (o->ready_file &&
		     expand(o->ready_file, p.name, p.ready_file, sizeof(p.ready_file)) < 0))
			return -ENAMETOOLONG;
		unlink(p.console);
		if (p.ready_file[0])
			unlink(p.ready_file);
		p.ready_wd = -1;
		p.console_wd = r = watch_dir_of(inotify_fd, p.console);
		if (r >= 0 && p.ready_file[0])
			p.ready_wd = r = watch_dir_of(inotify_fd, p.ready_file);
		if (r < 0) {
			fprintf(stderr, "pvm-bench: cannot watch the directory of %s: %s\n",
				p.console, strerror(-r));
			return r;
		}

		p.t0 = now_ns();
		if (o->argv)
			r = spawn(o->argv, p.name, &p);
		else
			r = sd_bus_call_method_async(bus, NULL, BUS_NAME, BUS_PATH, MANAGER_IFACE,
						     "CreateVM", on_reply, &p, "sa{sv}", o->config,
						     2, "name", "s", p.name, "start", "b", 1);
		if (r < 0)
			return r;
		r = loop_run(&l, o->argv && !on_bus && strcmp(o->stop, "signal") == 0
				     ? started_running
				     : started);
		if (r < 0) {
			fprintf(stderr, "pvm-bench: start %u: %s\n", i, p.error);
			return r;
		}
		if (p.t_call)
			add_sample(samples, "call_ms", ms_since(p.t0, p.t_call));
		add_sample(samples, "first_byte_ms", ms_since(p.t0, p.t_first));
		add_sample(samples, "ready_ms", ms_since(p.t0, p.t_ready));

		if ((r = stop_vm(&l, o)) < 0) {
			fprintf(stderr, "pvm-bench: stop %u: %s\n", i, p.error);
			return r;
		}
		if (p.t_stopped)
			add_sample(samples, "stop_ms", ms_since(p.t0, p.t_stopped));
		if (on_bus)
			(void)call_simple(bus, "RemoveVM", p.name);
		unlink(p.console);
		if (p.ready_file[0])
			unlink(p.ready_file);
	}
	return print_result(res);
}

/* populate: create and start N VMs (PREFIX-0..N-1) and wait until every one is READY. */
static int verb_populate(options *o)
{
	_cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
	int r;

	if ((r = bus_open(&bus)) < 0)
		return r;
	for (unsigned i = 0; i < o->count; i++) {
		_cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
		char name[64];

		snprintf(name, sizeof(name), "%s-%u", o->prefix, i);
		r = sd_bus_call_method(bus, BUS_NAME, BUS_PATH, MANAGER_IFACE, "CreateVM", &e, NULL,
				       "sa{sv}", o->config, 2, "name", "s", name, "start", "b", 1);
		if (r < 0) {
			fprintf(stderr, "pvm-bench: creating %s: %s\n", name,
				e.message ?: strerror(-r));
			return r;
		}
	}
	/* READY is a property: poll it with a deadline rather than racing the signals. */
	for (unsigned i = 0; i < o->count; i++) {
		int64_t deadline = now_ns() + STEP_TIMEOUT_NS;
		char name[64];

		snprintf(name, sizeof(name), "%s-%u", o->prefix, i);
		for (;;) {
			_cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
			_cleanup_free_ char *path = NULL, *state = NULL;

			r = sd_bus_path_encode("/org/pvm1/vm", name, &path);
			if (r < 0)
				return r;
			r = sd_bus_get_property_string(bus, BUS_NAME, path, "org.pvm1.VM", "State",
						       &e, &state);
			if (r < 0)
				return r;
			if (strcmp(state, "ready") == 0)
				break;
			if (strcmp(state, "running") != 0 && strcmp(state, "starting") != 0) {
				fprintf(stderr, "pvm-bench: %s is %s\n", name, state);
				return -EIO;
			}
			if (now_ns() > deadline)
				return -ETIMEDOUT;
			usleep(10000);
		}
	}
	return 0;
}

/* teardown: kill every VM whose name starts with PREFIX ("" for all), then remove them. */
static int verb_teardown(options *o)
{
	_cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
	_cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
	size_t plen = strlen(o->prefix);
	const char *name, *state, *reason, *path;
	char **names = NULL;
	size_t n = 0;
	int r;

	if ((r = bus_open(&bus)) < 0)
		return r;
	r = sd_bus_call_method(bus, BUS_NAME, BUS_PATH, MANAGER_IFACE, "ListVMs", &e, &reply, "");
	if (r < 0)
		return r;
	if ((r = sd_bus_message_enter_container(reply, 'a', "(ssso)")) < 0)
		return r;
	while ((r = sd_bus_message_read(reply, "(ssso)", &name, &state, &reason, &path)) > 0) {
		if (strncmp(name, o->prefix, plen) != 0)
			continue;
		names = realloc(names, (n + 1) * sizeof(*names));
		if (!names || !(names[n++] = strdup(name)))
			return -ENOMEM;
		if (strcmp(state, "stopped") != 0 && strcmp(state, "failed") != 0 &&
		    strcmp(state, "created") != 0)
			(void)call_simple(bus, "KillVM", name);
	}
	for (size_t i = 0; i < n; i++) {
		int64_t deadline = now_ns() + STEP_TIMEOUT_NS;
		int k;
		/* RemoveVM answers Busy until the killed runner is gone; a VM left behind would
		 * count in every later memory figure, so it fails the teardown */
		while ((k = call_simple_quiet(bus, "RemoveVM", names[i], now_ns() < deadline)) ==
		       -EBUSY)
			usleep(10000);
		if (k < 0 && r >= 0)
			r = k;
		free(names[i]);
	}
	free(names);
	return r < 0 ? r : 0;
}

/* query: round trips of GetVM, GetAll (org.pvm1.VM properties) and ListVMs, N each, on PREFIX-0
 * while the other VMs exist. */
static int verb_query(options *o)
{
	_cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
	_cleanup_(json_object_putp) json_object *res = json_object_new_object();
	json_object *samples = json_object_new_object();
	_cleanup_free_ char *path = NULL;
	char name[64];
	int r;

	json_object_object_add(res, "samples", samples);
	if ((r = bus_open(&bus)) < 0)
		return r;
	snprintf(name, sizeof(name), "%s-0", o->prefix);
	if ((r = sd_bus_path_encode("/org/pvm1/vm", name, &path)) < 0)
		return r;
	for (unsigned i = 0; i < o->count; i++) {
		static const struct {
			const char *key, *path, *iface, *method, *sig;
		} calls[] = {
			{ "getvm_ms", BUS_PATH, MANAGER_IFACE, "GetVM", "s" },
			{ "getall_ms", NULL, "org.freedesktop.DBus.Properties", "GetAll", "s" },
			{ "listvms_ms", BUS_PATH, MANAGER_IFACE, "ListVMs", "" },
		};
		for (size_t c = 0; c < ELEMENTSOF(calls); c++) {
			_cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
			_cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
			const char *arg = c == 0 ? name : "org.pvm1.VM";
			int64_t t0 = now_ns();

			if (calls[c].sig[0])
				r = sd_bus_call_method(bus, BUS_NAME, calls[c].path ?: path,
						       calls[c].iface, calls[c].method, &e, &reply,
						       calls[c].sig, arg);
			else
				r = sd_bus_call_method(bus, BUS_NAME, calls[c].path, calls[c].iface,
						       calls[c].method, &e, &reply, "");
			if (r < 0) {
				fprintf(stderr, "pvm-bench: %s: %s\n", calls[c].method,
					e.message ?: strerror(-r));
				return r;
			}
			add_sample(samples, calls[c].key, ms_since(t0, now_ns()));
		}
	}
	return print_result(res);
}

typedef struct client {
	const options *o;
	unsigned id;
	unsigned n;
	int result;
} client;

/* One VM's READY, as VMStateChanged announces it on this connection. */
typedef struct ready_wait {
	char name[64];
	bool ready;
	bool ended;
} ready_wait;

static int on_ready_wait(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
	ready_wait *w = userdata;
	const char *name, *path, *state;

	if (sd_bus_message_read(m, "sos", &name, &path, &state) < 0 || strcmp(name, w->name) != 0)
		return 0;
	if (strcmp(state, "ready") == 0)
		w->ready = true;
	else if (strcmp(state, "stopped") == 0 || strcmp(state, "failed") == 0)
		w->ended = true;
	return 0;
}

static int wait_ready(sd_bus *bus, ready_wait *w)
{
	int64_t deadline = now_ns() + STEP_TIMEOUT_NS;

	while (!w->ready) {
		int r = sd_bus_process(bus, NULL);

		if (r < 0)
			return r;
		if (w->ended)
			return -EIO;
		if (r > 0)
			continue;
		if (now_ns() > deadline)
			return -ETIMEDOUT;
		r = sd_bus_wait(bus, 100000);
		if (r < 0 && r != -EINTR)
			return r;
	}
	return 0;
}

static void *client_run(void *userdata)
{
	client *c = userdata;
	_cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
	ready_wait w = {};
	int r;

	/* signals, not property polls: polling would load the pvmd being measured */
	if ((r = bus_open(&bus)) < 0 || (r = subscribe_state(bus, on_ready_wait, &w)) < 0) {
		c->result = r;
		return NULL;
	}
	for (unsigned i = 0; i < c->n; i++) {
		_cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;

		w = (ready_wait){};
		snprintf(w.name, sizeof(w.name), "%s-%u-%u", c->o->prefix, c->id, i);
		r = sd_bus_call_method(bus, BUS_NAME, BUS_PATH, MANAGER_IFACE, "CreateVM", &e, NULL,
				       "sa{sv}", c->o->config, 2, "name", "s", w.name, "start", "b",
				       1);
		if (r < 0) {
			fprintf(stderr, "pvm-bench: creating %s: %s\n", w.name,
				e.message ?: strerror(-r));
			c->result = r;
			return NULL;
		}
		/* a start counts once the guest is READY */
		if ((r = wait_ready(bus, &w)) < 0) {
			fprintf(stderr, "pvm-bench: %s did not become ready: %s\n", w.name,
				strerror(-r));
			c->result = r;
			return NULL;
		}
	}
	return NULL;
}

/* throughput: COUNT starts (each to READY) spread over CLIENTS concurrent connections. */
static int verb_throughput(options *o)
{
	_cleanup_(json_object_putp) json_object *res = json_object_new_object();
	client clients[64];
	pthread_t threads[64];
	unsigned nc = o->clients;
	int64_t t0;
	int r = 0;

	if (nc == 0 || nc > ELEMENTSOF(clients) || o->count < nc)
		return -EINVAL;
	t0 = now_ns();
	for (unsigned i = 0; i < nc; i++) {
		clients[i] = (client){ .o = o, .id = i, .n = o->count / nc };
		if (pthread_create(&threads[i], NULL, client_run, &clients[i]) != 0)
			return -EAGAIN;
	}
	for (unsigned i = 0; i < nc; i++) {
		pthread_join(threads[i], NULL);
		if (clients[i].result < 0)
			r = clients[i].result;
	}
	if (r < 0)
		return r;
	double secs = (double)(now_ns() - t0) / 1e9;
	unsigned done = (o->count / nc) * nc;
	json_object_object_add(res, "starts", json_object_new_int((int)done));
	json_object_object_add(res, "seconds", json_object_new_double(secs));
	json_object_object_add(res, "starts_per_second", json_object_new_double(done / secs));
	return print_result(res);
}

static int read_config(options *o)
{
	_cleanup_free_ char *text = NULL;
	FILE *f;
	size_t len = 0;

	if (!o->config_path)
		return 0;
	f = fopen(o->config_path, "re");
	if (!f)
		return -errno;
	text = malloc(1 << 20);
	if (text)
		len = fread(text, 1, (1 << 20) - 1, f);
	fclose(f);
	if (!text)
		return -ENOMEM;
	text[len] = 0;
	o->config = TAKE_PTR(text);
	return 0;
}

static const struct verb {
	const char *name;
	int (*run)(options *o);
	const char *help;
} verbs[] = {
	{ "start", verb_start,
	  "--prefix P --console FILE [--config F | --ready-file FILE -- CMD...] [--stop HOW] -n "
	  "N" },
	{ "populate", verb_populate, "--config F --prefix P -n N" },
	{ "teardown", verb_teardown, "--prefix P" },
	{ "query", verb_query, "--prefix P -n N" },
	{ "throughput", verb_throughput, "--config F --prefix P --clients C -n N" },
};

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "prefix", required_argument, NULL, 'p' },
		{ "console", required_argument, NULL, 'o' },
		{ "ready-file", required_argument, NULL, 'r' },
		{ "stop", required_argument, NULL, 's' },
		{ "clients", required_argument, NULL, 'C' },
		{ "count", required_argument, NULL, 'n' },
		{},
	};
	options o = { .count = 1, .clients = 1, .stop = "kill" };
	const struct verb *v = NULL;
	int c, r;

	if (argc >= 2)
		for (size_t i = 0; i < ELEMENTSOF(verbs); i++)
			if (strcmp(argv[1], verbs[i].name) == 0)
				v = &verbs[i];
	if (!v) {
		fprintf(stderr, "usage: pvm-bench VERB OPTIONS\n");
		for (size_t i = 0; i < ELEMENTSOF(verbs); i++)
			fprintf(stderr, "  %s %s\n", verbs[i].name, verbs[i].help);
		return 2;
	}
	argc--;
	argv++;
	while ((c = getopt_long(argc, argv, "+n:", longopts, NULL)) >= 0) {
		switch (c) {
		case 'c':
			o.config_path = optarg;
			break;
		case 'p':
			o.prefix = optarg;
			break;
		case 'o':
			o.console = optarg;
			break;
		case 'r':
			o.ready_file = optarg;
			break;
		case 's':
			o.stop = optarg;
			break;
		case 'C':
			o.clients = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 'n':
			o.count = (unsigned)strtoul(optarg, NULL, 10);
			break;
		default:
			return 2;
		}
	}
	if (optind < argc)
		o.argv = argv + optind;
	if (!o.prefix) {
		fprintf(stderr, "pvm-bench %s: --prefix is required\n", v->name);
		return 2;
	}
	if ((r = read_config(&o)) < 0) {
		fprintf(stderr, "pvm-bench: cannot read %s: %s\n", o.config_path, strerror(-r));
		return 1;
	}
	r = v->run(&o);
	free(o.config);
	if (r < 0) {
		fprintf(stderr, "pvm-bench %s failed: %s\n", v->name, strerror(-r));
		return 1;
	}
	return 0;
}
