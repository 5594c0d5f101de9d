/* pvmd: the privileged daemon that owns VM lifecycle on the system bus as org.pvm1. This file
 * reads the command line, prepares the runtime directory, recovers what a previous pvmd left,
 * takes the bus name and runs the event loop until SIGTERM has stopped every VM. */
#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <malloc.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#include "pvmd.h"
#include "firmware.h"
#include "runner-pool.h"
#include "runner-uids.h"
#include "time-util.h"

/* every VM pvmd may keep can run at once: one runner uid each */
_Static_assert(PVMD_VMS_MAX_LIMIT <= RUNNER_UIDS_COUNT_DEFAULT,
	       "the default runner uid range must cover --max-vms");

static void help(void)
{
	printf("Usage: pvmd [OPTIONS]\n\n"
	       "The pvm daemon: runs protected VMs for callers on the system bus (org.pvm1).\n\n"
	       "  --policy-dir DIR       read policy from DIR (repeatable, later wins; replaces\n"
	       "                         the defaults %s and %s)\n"
	       "  --runtime-dir DIR      per-VM state (default /run/pvm)\n"
	       "  --log-dir DIR          console logs (default RUNTIME-DIR/logs; 'none' for none)\n"
	       "  --runner PATH          the per-VM runner (default %s/pvm-runner)\n"
	       "  --firmware-dir DIR     installed pvm-fw images, NAME.img for a config's\n"
	       "                         \"firmware\": NAME (default %s)\n"
	       "  --runner-user USER     user every runner drops to (default: a uid and gid\n"
	       "                         of its own per VM from --runner-uids; never root)\n"
	       "  --runner-uids FIRST-LAST\n"
	       "                         per-VM runner uid range, outside systemd's ranges\n"
	       "                         (default %u-%u, sysusers.d/pvm.conf)\n"
	       "  --runner-pool N        ready runners kept for the next starts (default %d,\n"
	       "                         at most %d; 0: each start spawns its runner)\n"
	       "  --stop-timeout SEC     graceful stop before a kill (default 10)\n"
	       "  --shutdown-timeout SEC on SIGTERM, all VMs end within this (default 20)\n"
	       "  --max-vms N            VMs kept at most, running or not (default %d)\n"
	       "  --bus-reconnect-timeout SEC\n"
	       "                         after losing the system bus, VMs run on while pvmd\n"
	       "                         reconnects; after SEC it stops them and exits 1\n"
	       "                         (default 60)\n"
	       "  --no-polkit            never ask polkit, even when it runs\n"
	       "  --no-machined          do not register VMs with systemd-machined\n"
	       "  -h --help              this help\n"
	       "  --version              print the version\n",
	       PVM_POLICY_DIR_VENDOR, PVM_POLICY_DIR_ETC, PVM_LIBEXECDIR, PVM_FIRMWARE_DIR_DEFAULT,
	       RUNNER_UIDS_FIRST_DEFAULT, RUNNER_UIDS_FIRST_DEFAULT + RUNNER_UIDS_COUNT_DEFAULT - 1,
	       RUNNER_POOL_SIZE_DEFAULT, RUNNER_POOL_SIZE_MAX, PVMD_VMS_MAX_DEFAULT);
}

/* pvmd's timeouts are at most a day: longer only hides a hung VM or bus */
static int parse_timeout(const char *option, const char *s, uint64_t *ret)
{
	pvm_error err = { 0 };
	int r = pvm_parse_seconds(option, s, 24 * 3600, ret, &err);

	if (r < 0)
		fprintf(stderr, "pvmd: %s\n", err.message);
	return r;
}

enum {
	OPT_POLICY_DIR = 0x100,
	OPT_RUNTIME_DIR,
	OPT_LOG_DIR,
	OPT_RUNNER,
	OPT_FIRMWARE_DIR,
	OPT_RUNNER_USER,
	OPT_RUNNER_UIDS,
	OPT_RUNNER_POOL,
	OPT_STOP_TIMEOUT,
	OPT_SHUTDOWN_TIMEOUT,
	OPT_MAX_VMS,
	OPT_BUS_RECONNECT_TIMEOUT,
	OPT_NO_POLKIT,
	OPT_NO_MACHINED,
	OPT_VERSION,
};

static const struct option options[] = {
	{ "policy-dir", required_argument, NULL, OPT_POLICY_DIR },
	{ "runtime-dir", required_argument, NULL, OPT_RUNTIME_DIR },
	{ "log-dir", required_argument, NULL, OPT_LOG_DIR },
	{ "runner", required_argument, NULL, OPT_RUNNER },
	{ "firmware-dir", required_argument, NULL, OPT_FIRMWARE_DIR },
	{ "runner-user", required_argument, NULL, OPT_RUNNER_USER },
	{ "runner-uids", required_argument, NULL, OPT_RUNNER_UIDS },
	{ "runner-pool", required_argument, NULL, OPT_RUNNER_POOL },
	{ "stop-timeout", required_argument, NULL, OPT_STOP_TIMEOUT },
	{ "shutdown-timeout", required_argument, NULL, OPT_SHUTDOWN_TIMEOUT },
	{ "max-vms", required_argument, NULL, OPT_MAX_VMS },
	{ "bus-reconnect-timeout", required_argument, NULL, OPT_BUS_RECONNECT_TIMEOUT },
	{ "no-polkit", no_argument, NULL, OPT_NO_POLKIT },
	{ "no-machined", no_argument, NULL, OPT_NO_MACHINED },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, OPT_VERSION },
	{},
};

static int parse_argv(pvmd_manager *m, int argc, char **argv)
{
	static char log_dir_default[4096];
	const char *log_dir = NULL;
	int c;

	m->runtime_dir = "/run/pvm";
	m->runner_uid_first = RUNNER_UIDS_FIRST_DEFAULT;
	m->runner_uid_count = RUNNER_UIDS_COUNT_DEFAULT;
	m->runner_path = PVM_LIBEXECDIR "/pvm-runner";
	m->runner_pool_size = RUNNER_POOL_SIZE_DEFAULT;
	while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0) {
		switch (c) {
		case OPT_POLICY_DIR:
			if (m->n_policy_dirs >= PVMD_POLICY_DIRS_MAX) {
				fprintf(stderr, "pvmd: at most %d --policy-dir\n",
					PVMD_POLICY_DIRS_MAX);
				return -EINVAL;
			}
			m->policy_dirs[m->n_policy_dirs++] = optarg;
			break;
		case OPT_RUNTIME_DIR:
			m->runtime_dir = optarg;
			break;
		case OPT_LOG_DIR:
			log_dir = optarg;
			break;
		case OPT_RUNNER:
			m->runner_path = optarg;
			break;
		case OPT_FIRMWARE_DIR:
			m->firmware_dir = optarg;
			break;
		case OPT_RUNNER_USER: {
			struct passwd *pw = getpwnam(optarg);
			if (!pw) {
				fprintf(stderr, "pvmd: --runner-user: no user '%s'\n", optarg);
				return -EINVAL;
			}
			m->runner_uid = pw->pw_uid;
			m->runner_gid = pw->pw_gid;
			break;
		}
		case OPT_RUNNER_UIDS: {
			pvm_error err = { 0 };
			if (runner_uids_parse(optarg, &m->runner_uid_first, &m->runner_uid_count,
					      &err) < 0) {
				fprintf(stderr, "pvmd: --runner-uids: %s\n", err.message);
				return -EINVAL;
			}
			break;
		}
		case OPT_RUNNER_POOL: {
			char *end;
			unsigned long v;

			errno = 0;
			v = strtoul(optarg, &end, 10);
			if (errno || end == optarg || *end || optarg[0] == '-' ||
			    v > RUNNER_POOL_SIZE_MAX) {
				fprintf(stderr,
					"pvmd: --runner-pool: '%s' is not a number from 0 to %d\n",
					optarg, RUNNER_POOL_SIZE_MAX);
				return -EINVAL;
			}
			m->runner_pool_size = (unsigned)v;
			break;
		}
		case OPT_STOP_TIMEOUT:
			if (parse_timeout("--stop-timeout", optarg, &m->stop_timeout_usec) < 0)
				return -EINVAL;
			break;
		case OPT_SHUTDOWN_TIMEOUT:
			if (parse_timeout("--shutdown-timeout", optarg, &m->shutdown_timeout_usec) <
			    0)
				return -EINVAL;
			break;
		case OPT_MAX_VMS: {
			char *end;
			unsigned long v;

			errno = 0;
			v = strtoul(optarg, &end, 10);
			if (errno || end == optarg || *end || optarg[0] == '-' || v < 1 ||
			    v > PVMD_VMS_MAX_LIMIT) {
				fprintf(stderr,
					"pvmd: --max-vms: '%s' is not a number from 1 to %d\n",
					optarg, PVMD_VMS_MAX_LIMIT);
				return -EINVAL;
			}
			m->vms_max = v;
			break;
		}
		case OPT_BUS_RECONNECT_TIMEOUT:
			if (parse_timeout("--bus-reconnect-timeout", optarg,
					  &m->bus_reconnect_usec) < 0)
				return -EINVAL;
			break;
		case OPT_NO_POLKIT:
			m->use_polkit = false;
			break;
		case OPT_NO_MACHINED:
			m->use_machined = false;
			break;
		case 'h':
			help();
			return 0;
		case OPT_VERSION:
			printf("pvmd %s\n", PVM_VERSION);
			return 0;
		default:
			return -EINVAL;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "pvmd: unexpected argument '%s' (see --help)\n", argv[optind]);
		return -EINVAL;
	}
	if (m->n_policy_dirs == 0) {
		m->policy_dirs[m->n_policy_dirs++] = PVM_POLICY_DIR_VENDOR;
		m->policy_dirs[m->n_policy_dirs++] = PVM_POLICY_DIR_ETC;
	}
	if (!log_dir) {
		snprintf(log_dir_default, sizeof(log_dir_default), "%s/logs", m->runtime_dir);
		log_dir = log_dir_default;
	}
	m->log_dir = strcmp(log_dir, "none") == 0 ? NULL : log_dir;
	return 1;
}

/* Create a directory pvmd keeps state in, or accept an existing one only if it is really ours:
 * records and logs in a directory someone else can write to (or a symlink to one) could be
 * replaced under pvmd, and recovery after a restart trusts them. */
static int make_dir(const char *path, mode_t mode)
{
	struct stat st;

	if (mkdir(path, mode) < 0 && errno != EEXIST) {
		log_error("Cannot create %s: %m", path);
		return -errno;
	}
	if (lstat(path, &st) < 0) {
		log_error("Cannot stat %s: %m", path);
		return -errno;
	}
	if (!S_ISDIR(st.st_mode)) {
		log_error("%s is not a directory (a symlink or file is refused): remove it or pick "
			  "another --runtime-dir",
			  path);
		return -ENOTDIR;
	}
	if (st.st_uid != geteuid() || (st.st_mode & (S_IWGRP | S_IWOTH))) {
		log_error("%s is owned by uid %u with mode %04o: pvmd needs it owned by uid %u and "
			  "writable by nobody else; fix it or pick another --runtime-dir",
			  path, (unsigned)st.st_uid, (unsigned)(st.st_mode & 07777),
			  (unsigned)geteuid());
		return -EPERM;
	}
	return 0;
}

static int setup_runtime_dir(pvmd_manager *m)
{
	int r;

	r = make_dir(m->runtime_dir, 0755);
	if (r >= 0 && asprintf(&m->state_dir, "%s/state", m->runtime_dir) < 0)
		r = -ENOMEM;
	if (r >= 0)
		r = make_dir(m->state_dir, 0700);
	if (r >= 0 && m->log_dir)
		r = make_dir(m->log_dir, 0750);
	return r;
}

/* Each VM holds a few fds (runner socket, pidfd, guest memory, console log, console clients):
 * the soft limit of 1024 services start with would cap pvmd near 256 VMs, whatever the runner
 * uid range. pvmd waits with epoll only, so the hard limit is safe to use. */
static void raise_fd_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur >= rl.rlim_max)
		return;
	rl.rlim_cur = rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
		log_warning("Cannot raise the open file limit to %llu: %m; pvmd will run fewer VMs",
			    (unsigned long long)rl.rlim_max);
}

static int on_sigterm(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata)
{
	pvmd_manager *m = userdata;

	log_info("Received %s; shutting down", strsignal((int)si->ssi_signo));
	manager_begin_shutdown(m);
	return 0;
}

static int on_sighup(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata)
{
	manager_reload(userdata);
	return 0;
}

int main(int argc, char **argv)
{
	pvmd_manager *m = NULL;
	sigset_t mask;
	int r;

	/* Buffers of a MiB (configs and payloads read from callers' fds) are mapped and unmapped
	 * each time. glibc otherwise raises its mmap threshold after the first such free, and
	 * from then on they come from the heap and stay resident after they are freed. */
	mallopt(M_MMAP_THRESHOLD, 128 * 1024);
	log_setup();
	r = manager_new(&m);
	if (r < 0) {
		log_error("Cannot set up: %s", strerror(-r));
		return EXIT_FAILURE;
	}
	r = parse_argv(m, argc, argv);
	if (r <= 0) {
		manager_free(m);
		return r < 0 ? 2 : EXIT_SUCCESS;
	}

	raise_fd_limit();
	/* fds a previous pvmd left in systemd's store: claimed by recovery below */
	r = pvmd_fdstore_open(&m->fdstore);
	if (r < 0)
		log_error("Cannot take the stored file descriptors: %s", strerror(-r));
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGCHLD);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	if ((r = sd_event_add_signal(m->event, NULL, SIGTERM, on_sigterm, m)) < 0 ||
	    (r = sd_event_add_signal(m->event, NULL, SIGINT, on_sigterm, m)) < 0 ||
	    (r = sd_event_add_signal(m->event, NULL, SIGHUP, on_sighup, m)) < 0)
		goto fail;
	/* pings WATCHDOG=1 on its own when WATCHDOG_USEC is set */
	r = sd_event_set_watchdog(m->event, true);
	if (r < 0)
		goto fail;

	r = manager_load_policy(m);
	if (r < 0)
		goto fail;
	r = setup_runtime_dir(m);
	if (r < 0)
		goto fail;
	r = manager_connect(m);
	if (r < 0)
		goto fail;
	r = manager_start_pool(m);
	if (r < 0)
		goto fail;
	/* recover before taking the name: no caller sees a half-known set of VMs */
	r = manager_recover(m);
	if (r < 0)
		log_error("Recovering the runtime directory failed: %s", strerror(-r));
	r = manager_request_name(m);
	if (r < 0)
		goto fail;

	log_info("pvmd %s ready on the system bus as org.pvm1 (runtime %s, %zu policy dirs)",
		 PVM_VERSION, m->runtime_dir, m->n_policy_dirs);
	sd_notify(false, "READY=1");
	manager_update_status(m);

	r = sd_event_loop(m->event);
	if (r < 0)
		log_error("Event loop failed: %s", strerror(-r));
	for (pvmd_vm *vm = m->vms; vm; vm = vm->next)
		if (pvmd_vm_is_active(vm) && !(m->keep_vms && vm->stored_pid))
			log_vm_warning(vm->name, "VM '%s' still running at exit; killing it",
				       vm->name);
	if (m->exit_failure) {
		log_error("pvmd exits: it %s", m->exit_reason);
		r = -EIO;
	}
	manager_free(m);
	return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;

fail:
	log_error("pvmd failed to start: %s", strerror(-r));
	manager_free(m);
	return EXIT_FAILURE;
}
