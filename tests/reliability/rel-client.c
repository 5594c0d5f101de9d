/* rel-client: the reliability suite's D-Bus client. "members" writes the member table of both
 * org.pvm1 interfaces; "storm" sends random and malformed calls (rel-storm.c); "up" and "down"
 * run VM lifecycles for the load test; "reap" ends and removes every VM the caller sees.
 * Each mode exits 0 when pvmd kept its contract, 1 when not, 2 on a usage error. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bus-client.h"
#include "macro.h"
#include "rel-storm.h"

#define WAIT_USEC (120 * 1000 * 1000ULL)
#define POLL_USEC (100 * 1000)

static uint64_t now_usec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000ULL + (uint64_t)ts.tv_nsec / 1000;
}

static char *read_file(const char *path)
{
	_cleanup_free_ char *buf = NULL;
	FILE *f = fopen(path, "re");
	size_t len = 0, n;

	if (!f)
		return NULL;
	buf = malloc(1 << 20);
	if (buf) {
		while ((n = fread(buf + len, 1, (1 << 20) - 1 - len, f)) > 0)
			len += n;
		buf[len] = '\0';
	}
	fclose(f);
	return TAKE_PTR(buf);
}

static int cmd_storm(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "calls", required_argument, NULL, 'n' },
		{ "seed", required_argument, NULL, 's' },
		{ "members", required_argument, NULL, 'm' },
		{ "tmp", required_argument, NULL, 't' },
		{ "name", required_argument, NULL, 'N' },
		{ "config", required_argument, NULL, 'c' },
		{ "window", required_argument, NULL, 'w' },
		{ "no-sweep", no_argument, NULL, 'S' },
		{},
	};
	rel_storm_options o = {
		.calls = 1000, .seed = 1, .tmp_dir = "/tmp", .window = 16, .sweep = true
	};
	json_object *report = NULL;
	int c, r;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) >= 0) {
		switch (c) {
		case 'n':
			o.calls = (unsigned)strtoul(optarg, NULL, 0);
			break;
		case 's':
			o.seed = (unsigned)strtoul(optarg, NULL, 0);
			break;
		case 'm':
			o.members_file = optarg;
			break;
		case 't':
			o.tmp_dir = optarg;
			break;
		case 'w':
			o.window = MAX(1u, (unsigned)strtoul(optarg, NULL, 0));
			break;
		case 'S':
			o.sweep = false;
			break;
		case 'N':
			if (o.n_names < REL_POOL_MAX)
				o.names[o.n_names++] = optarg;
			break;
		case 'c':
			if (o.n_configs >= REL_POOL_MAX)
				break;
			o.configs[o.n_configs] = read_file(optarg);
			if (!o.configs[o.n_configs]) {
				fprintf(stderr, "Cannot read %s: %m\n", optarg);
				return 2;
			}
			o.n_configs++;
			break;
		default:
			return 2;
		}
	}
	if (!o.members_file) {
		fprintf(stderr, "storm needs --members FILE (from 'rel-client members')\n");
		return 2;
	}
	r = rel_storm_run(&o, &report);
	if (report) {
		printf("%s\n", json_object_to_json_string_ext(report, JSON_C_TO_STRING_PLAIN));
		json_object_put(report);
	}
	for (size_t i = 0; i < o.n_configs; i++)
		free(o.configs[i]);
	return r < 0 ? 1 : 0;
}

/* Poll each VM named PREFIX-i until done(State) says so, or the deadline passes. Only the
 * State property: GetAll computes the memory properties from /proc, too dear to poll. */
static int wait_vms(sd_bus *bus, const char *prefix, unsigned count, bool (*done)(const char *),
		    const char *what)
{
	uint64_t deadline = now_usec() + WAIT_USEC;

	for (unsigned i = 0; i < count; i++) {
		_cleanup_free_ char *path = NULL;
		char name[128];
		int r;

		snprintf(name, sizeof(name), "%s-%u", prefix, i);
		r = sd_bus_path_encode(PVM_BUS_VM_PREFIX, name, &path);
		if (r < 0)
			return r;
		for (;;) {
			_cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
			_cleanup_free_ char *state = NULL;

			r = sd_bus_get_property_string(bus, PVM_BUS_NAME, path, PVM_BUS_VM_IFACE,
						       "State", &e, &state);
			if (r < 0) {
				fprintf(stderr, "VM %s: %s\n", name, e.message ?: strerror(-r));
				return -EIO;
			}
			if (done(state))
				break;
			if (now_usec() > deadline) {
				fprintf(stderr, "VM %s is %s, not %s\n", name, state, what);
				return -ETIMEDOUT;
			}
			usleep(POLL_USEC);
		}
	}
	return 0;
}

static bool is_ready(const char *state)
{
	return strcmp(state, "ready") == 0;
}

static bool state_ended(const char *state)
{
	return strcmp(state, "stopped") == 0 || strcmp(state, "failed") == 0 ||
	       strcmp(state, "created") == 0;
}

static bool is_ended(const pvm_bus_vm_info *i)
{
	return state_ended(i->state);
}

static int open_bus(sd_bus **ret)
{
	pvm_error err = { 0 };
	int r = pvm_bus_open(ret, &err);

	if (r < 0)
		fprintf(stderr, "%s\n", err.message);
	return r;
}

/* up PREFIX COUNT CONFIG: create and start COUNT VMs, then wait until each is ready */
static int cmd_up(int argc, char **argv)
{
	_cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
	_cleanup_free_ char *config = NULL;
	unsigned count;

	if (argc != 4)
		return 2;
	count = (unsigned)strtoul(argv[2], NULL, 0);
	config = read_file(argv[3]);
	if (!config || open_bus(&bus) < 0)
		return 1;
	for (unsigned i = 0; i < count; i++) {
		char name[128];
		pvm_bus_create_options o = { .name = name, .start = true };
		pvm_error err = { 0 };

		snprintf(name, sizeof(name), "%s-%u", argv[1], i);
		if (pvm_bus_create_vm(bus, config, &o, NULL, NULL, &err) < 0) {
			fprintf(stderr, "Create and start %s: %s\n", name, err.message);
			return 1;
		}
	}
	return wait_vms(bus, argv[1], count, is_ready, "ready") < 0 ? 1 : 0;
}

/* down PREFIX COUNT STOP_TIMEOUT_SEC: stop COUNT VMs, wait until each ended, remove them */
static int cmd_down(int argc, char **argv)
{
	_cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
	unsigned count;
	uint64_t timeout;

	if (argc != 4)
		return 2;
	count = (unsigned)strtoul(argv[2], NULL, 0);
	timeout = strtoull(argv[3], NULL, 0) * 1000000ULL;
	if (open_bus(&bus) < 0)
		return 1;
	for (unsigned i = 0; i < count; i++) {
		char name[128];
		pvm_error err = { 0 };

		snprintf(name, sizeof(name), "%s-%u", argv[1], i);
		if (pvm_bus_stop_vm(bus, name, timeout, &err) < 0) {
			fprintf(stderr, "Stop %s: %s\n", name, err.message);
			return 1;
		}
	}
	if (wait_vms(bus, argv[1], count, state_ended, "stopped") < 0)
		return 1;
	for (unsigned i = 0; i < count; i++) {
		char name[128];
		pvm_error err = { 0 };

		snprintf(name, sizeof(name), "%s-%u", argv[1], i);
		if (pvm_bus_remove_vm(bus, name, &err) < 0) {
			fprintf(stderr, "Remove %s: %s\n", name, err.message);
			return 1;
		}
	}
	return 0;
}

/* reap: kill every VM the caller sees, wait until each ended, remove them all */
static int cmd_reap(int argc, char **argv)
{
	_cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
	uint64_t deadline = now_usec() + WAIT_USEC;

	if (open_bus(&bus) < 0)
		return 1;
	for (;;) {
		pvm_bus_vm_info *vms = NULL;
		pvm_error err = { 0 };
		size_t n = 0, active = 0;

		if (pvm_bus_list_vms(bus, &vms, &n, &err) < 0) {
			fprintf(stderr, "List: %s\n", err.message);
			return 1;
		}
		for (size_t i = 0; i < n; i++) {
			if (is_ended(&vms[i])) {
				(void)pvm_bus_remove_vm(bus, vms[i].name, &err);
				continue;
			}
			active++;
			(void)pvm_bus_kill_vm(bus, vms[i].name, &err);
		}
		pvm_bus_vm_info_array_free(vms, n);
		if (n == 0)
			return 0;
		if (now_usec() > deadline) {
			fprintf(stderr, "%zu VMs remain (%zu active)\n", n, active);
			return 1;
		}
		usleep(POLL_USEC);
	}
}

/* create CONFIG [--start] [--kernel-fd PATH | --kernel-opath PATH] [--initrd-fd PATH |
 * --initrd-opath PATH]: CreateVM with payload descriptors this caller opened itself (for reading,
 * or O_PATH). Prints "ok NAME" or "error ERROR-NAME: MESSAGE"; exits 0 when the VM was created. */
static int cmd_create(int argc, char **argv)
{
	_cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
	_cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
	_cleanup_free_ char *config = NULL;
	_cleanup_close_ int kernel = -1, initrd = -1;
	const char *name;
	int start = 0, r;

	if (argc < 2)
		return 2;
	config = read_file(argv[1]);
	if (!config)
		return 2;
	for (int i = 2; i < argc; i++) {
		const char *o = argv[i];
		int flags =
		    strstr(o, "opath") ? O_PATH | O_CLOEXEC : O_RDONLY | O_CLOEXEC | O_NONBLOCK;
		int *fd = strncmp(o, "--kernel", 8) == 0 ? &kernel : &initrd;

		if (strcmp(o, "--start") == 0) {
			start = 1;
			continue;
		}
		if (!strstr(o, "-fd") && !strstr(o, "-opath"))
			return 2;
		if (i + 1 >= argc)
			return 2;
		closep(fd);
		*fd = open(argv[++i], flags);
		if (*fd < 0) {
			printf("caller cannot open %s: %s\n", argv[i], strerror(errno));
			return 1;
		}
	}
	if (open_bus(&bus) < 0)
		return 1;
	r = sd_bus_message_new_method_call(bus, &m, PVM_BUS_NAME, PVM_BUS_PATH,
					   PVM_BUS_MANAGER_IFACE, "CreateVM");
	if (r >= 0)
		r = sd_bus_message_append(m, "s", config);
	if (r >= 0)
		r = sd_bus_message_open_container(m, 'a', "{sv}");
	if (r >= 0 && start)
		r = sd_bus_message_append(m, "{sv}", "start", "b", 1);
	if (r >= 0 && kernel >= 0)
		r = sd_bus_message_append(m, "{sv}", "kernel_fd", "h", kernel);
	if (r >= 0 && initrd >= 0)
		r = sd_bus_message_append(m, "{sv}", "initrd_fd", "h", initrd);
	if (r >= 0)
		r = sd_bus_message_close_container(m);
	if (r >= 0)
		r = sd_bus_call(bus, m, 60 * 1000000ULL, &e, &reply);
	if (r < 0) {
		printf("error %s: %s\n", e.name ?: "-", e.message ?: strerror(-r));
		return 1;
	}
	r = sd_bus_message_read(reply, "so", &name, NULL);
	printf("ok %s\n", r >= 0 ? name : "?");
	return 0;
}

/* One line per signal: member, path, and the top-level strings and object paths it carries */
static int on_signal(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
	printf("%s %s", sd_bus_message_get_member(m) ?: "?", sd_bus_message_get_path(m) ?: "?");
	for (;;) {
		char type;
		const char *v;

		if (sd_bus_message_peek_type(m, &type, NULL) <= 0)
			break;
		if (type == 's' || type == 'o') {
			if (sd_bus_message_read_basic(m, type, &v) < 0)
				break;
			printf(" %s", v);
		} else if (sd_bus_message_skip(m, NULL) < 0)
			break;
	}
	printf("\n");
	fflush(stdout);
	return 0;
}

/* listen: subscribe to pvmd's signals as the caller, print them until killed */
static int cmd_listen(int argc, char **argv)
{
	_cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
	_cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
	int r;

	if (open_bus(&bus) < 0)
		return 1;
	/* the match rules first, as org.pvm1(5) asks */
	r = sd_bus_match_signal(bus, NULL, PVM_BUS_NAME, NULL, NULL, NULL, on_signal, NULL);
	if (r >= 0)
		r = sd_bus_call_method(bus, PVM_BUS_NAME, PVM_BUS_PATH, PVM_BUS_MANAGER_IFACE,
				       "Subscribe", &e, NULL, "");
	if (r < 0) {
		fprintf(stderr, "Subscribe: %s\n", e.message ?: strerror(-r));
		return 1;
	}
	printf("subscribed\n");
	fflush(stdout);
	for (;;) {
		r = sd_bus_process(bus, NULL);
		if (r == 0)
			r = sd_bus_wait(bus, UINT64_MAX);
		if (r < 0 && r != -EINTR)
			return 1;
	}
}

static int cmd_members(int argc, char **argv)
{
	int r;

	if (argc != 2)
		return 2;
	r = rel_members_dump(argv[1]);
	return r < 0 ? 1 : 0;
}

static const struct {
	const char *verb;
	int (*run)(int argc, char **argv);
	const char *help;
} verbs[] = {
	{ "members", cmd_members, "VM_PATH: the member table of org.pvm1.Manager and org.pvm1.VM" },
	{ "storm", cmd_storm, "--members FILE [--calls N --seed S --name N... --config F...]" },
	{ "up", cmd_up, "PREFIX COUNT CONFIG: create and start PREFIX-0.., wait until ready" },
	{ "down", cmd_down, "PREFIX COUNT TIMEOUT_SEC: stop, wait until ended, remove" },
	{ "reap", cmd_reap, ": kill and remove every VM the caller sees" },
	{ "create", cmd_create,
	  "CONFIG [--start] [--kernel-fd PATH] [--initrd-fd PATH] [--o-path]: CreateVM, payloads "
	  "by fd" },
	{ "listen", cmd_listen, ": subscribe to pvmd's signals, print one line each until killed" },
};

int main(int argc, char **argv)
{
	for (size_t i = 0; argc > 1 && i < ELEMENTSOF(verbs); i++)
		if (strcmp(argv[1], verbs[i].verb) == 0) {
			int r = verbs[i].run(argc - 1, argv + 1);
			if (r == 2)
				fprintf(stderr, "Usage: rel-client %s %s\n", verbs[i].verb,
					verbs[i].help);
			return r;
		}
	fprintf(stderr, "Usage: rel-client VERB ...\n");
	for (size_t i = 0; i < ELEMENTSOF(verbs); i++)
		fprintf(stderr, "  %s %s\n", verbs[i].verb, verbs[i].help);
	return 2;
}
