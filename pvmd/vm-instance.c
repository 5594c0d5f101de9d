/* One VM in pvmd: reads pvmd's sealed copy of the payload, plans the boot, spawns the sandboxed
 * runner, loads guest memory through a short-lived mapping of the guest_memfd the runner hands
 * over, and follows the VM on the sd-event loop until it ends. Everything from the runner is
 * untrusted: messages are checked (runner-protocol.c) and a malformed one ends the VM as a
 * protection violation. Lifecycle: CREATED -> STARTING -> RUNNING -> READY -> STOPPING ->
 * STOPPED | FAILED, with the death reason decided in one place (vm_decide_end). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "arch.h"
#include "arch/arm64/arm64-layout.h"
#include "kvm-compat.h"
#include "memory.h"
#include "runner-protocol.h"
#include "caller-fd.h"
#include "runner-pool.h"
#include "runner-uids.h"
#include "tap.h"
#include "time-util.h"
#include "vm-instance.h"
#include "worker.h"

#define VM_CONSOLE_RING_DEFAULT (64u * 1024)
#define VM_GUEST_MEMFD_LINK "anon_inode:[kvm-gmem]"
/* Linux 7.x (seen on arm64 7.3): guest_memfd files live on their own pseudo-filesystem */
#define VM_GUEST_MEMFD_LINK_FS "/[kvm-gmem]"
#define VM_MEMFD_LINK_PREFIX "/memfd:pvm-guest-ram"

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

struct vm_instance {
	sd_event *event;
	pvm_config *cfg;
	char *runner_path, *log_dir;
	vm_instance_options opts;
	vm_instance_callbacks cb;
	void *userdata;
	int kernel_fd, initrd_fd;	/* sealed payload memfds (vm_instance_set_payload) */
	int firmware_fd, descriptor_fd; /* pvm-fw and its descriptor (vm_instance_set_firmware) */
	int fw_result; /* enum pvm_firmware_result, or a verdict pvm does not know */

	enum pvm_vm_state state;
	enum pvm_death_reason death;
	char message[PVM_ERROR_MESSAGE_MAX];
	uint64_t start_time_usec;

	/* the current run */
	pid_t pid;
	int pidfd, sock, log_fd;
	sd_event_source *child_source, *io_source, *boot_timer, *stop_timer;
	uid_t uid;
	bool uid_allocated; /* from the runner range (not given by the options) */
	bool prepared_seen; /* the runner's PREPARED (a pooled runner's went to the pool) */
	pvm_memory_map map;
	pvm_boot_plan plan;
	bool boot_sent, running_seen, stop_requested;
	/* disks with a digest in the config are hashed on a worker thread meanwhile; BOOT waits */
	worker_job *disk_job;
	bool disks_checked, boot_waiting;
	bool reading, change_pending; /* a batch of runner messages is being read */
	/* the memory report as last computed; its facts (the memory, the runner and its
	 * mappings) change only with a published change or the memory fd, which clear it */
	pvm_memory_report report;
	bool report_valid;
	bool adopted; /* taken over from a previous pvmd: not our child, exit status unknown */
	runner_msg_running running;

	/* guest memory held by pvmd */
	int mem_fd;
	enum runner_backing backing;
	uint64_t mem_flags, mem_size;
	bool runner_maps; /* the runner said KVM needs its mapping of guest memory */
	struct stat mem_st;
	char mem_link[128]; /* what /proc/self/fd says the memory fd is */

	/* how it ends */
	bool exit_seen, error_seen, forced;
	uint32_t exit_kind;
	enum pvm_death_reason forced_reason;

	bool have_sandbox_report;
	vm_instance_sandbox_report sandbox_report;

	char *ring;
	size_t ring_size, ring_head, ring_len;

	/* virtio devices */
	int disk_fds[PVM_DISKS_MAX];
	char *vsock_dir;
	int vsock_listen_fd;	     /* the current run's <name>.vsock, -1: none */
	struct sockaddr_un vsock_sa; /* its address, unlinked when the run ends */
	bool vsock_bound;	     /* vsock_sa names the run's socket (an adopted runner's too) */
	pvm_tap tap; /* the current run's tap; fd -1 once the runner holds the only one */
};

static void vm_publish(vm_instance *vm)
{
	vm->change_pending = false;
	if (vm->cb.changed)
		vm->cb.changed(vm, vm->userdata);
}

/* Publishing a change (signals, the record, the memory report) costs pvmd milliseconds: while
 * a batch of runner messages is read, it waits until the console bytes already waiting behind
 * the change are in the ring and the log (vm_read_messages), so a guest's first output is not
 * held up by the RUNNING before it. */
static void vm_changed(vm_instance *vm)
{
	vm->report_valid = false;
	if (vm->reading)
		vm->change_pending = true;
	else
		vm_publish(vm);
}

static void vm_set_message(vm_instance *vm, const char *fmt, ...) _printf_(2, 3);
static void vm_set_message(vm_instance *vm, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(vm->message, sizeof(vm->message), fmt, ap);
	va_end(ap);
}

/* Text from the runner becomes the VM's message, which D-Bus carries as a string (sd-bus
 * refuses one that is not UTF-8: the property, the VM's GetAll and the whole ObjectManager
 * listing would fail with it) and pvmctl prints to terminals. The runner writes ASCII; anything
 * else it sends (control bytes, escape sequences, stray high bytes) becomes '?'. */
static void vm_message_from_runner(vm_instance *vm, const char *prefix, const char *text)
{
	size_t n = strlen(prefix);

	vm_set_message(vm, "%s%s", prefix, text);
	for (char *p = vm->message + MIN(n, sizeof(vm->message) - 1); *p; p++)
		if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f)
			*p = '?';
}

static pvm_config *vm_config_copy(const pvm_config *cfg)
{
	pvm_config *c = malloc(sizeof(*c));

	if (!c)
		return NULL;
	*c = *cfg;
	c->kernel = cfg->kernel ? strdup(cfg->kernel) : NULL;
	c->initrd = cfg->initrd ? strdup(cfg->initrd) : NULL;
	c->params = cfg->params ? strdup(cfg->params) : NULL;
	c->firmware = cfg->firmware ? strdup(cfg->firmware) : NULL;
	c->descriptor = cfg->descriptor ? strdup(cfg->descriptor) : NULL;
	if ((cfg->kernel && !c->kernel) || (cfg->initrd && !c->initrd) ||
	    (cfg->params && !c->params) || (cfg->firmware && !c->firmware) ||
	    (cfg->descriptor && !c->descriptor)) {
		pvm_config_free(c);
		return NULL;
	}
	return c;
}

/* A disk's fd must be a regular file or block device, writable when the disk is. Its digest,
 * when the config names one, is checked by pvmd on a worker thread before boot, off the event
 * loop (vm_disk_digests_start); reading it for the guest is the runner's job. */
int vm_instance_check_disk(const pvm_disk *d, size_t i, int fd, pvm_error *err)
{
	struct stat st;
	int fl;

	if (fd < 0 || fstat(fd, &st) < 0 || (fl = fcntl(fd, F_GETFL)) < 0)
		return pvm_error_set(err, EINVAL, "disk %zu: not an open file descriptor", i);
	if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode))
		return pvm_error_set(err, EINVAL,
				     "disk %zu: the descriptor is not a regular file or block "
				     "device",
				     i);
	if ((fl & O_ACCMODE) == O_WRONLY || (fl & O_PATH))
		return pvm_error_set(err, EINVAL,
				     "disk %zu: the descriptor is not open for reading", i);
	if (!d->read_only && (fl & O_ACCMODE) != O_RDWR)
		return pvm_error_set(err, EINVAL,
				     "disk %zu is read-write but its descriptor is read-only: open "
				     "it O_RDWR or set \"read_only\": true",
				     i);
	return 0;
}

/* adopting: the runner exists and holds the disks, so opts may carry none for them */
static int vm_instance_create(sd_event *event, const pvm_config *cfg,
			      const vm_instance_options *opts, const vm_instance_callbacks *cb,
			      void *userdata, bool adopting, vm_instance **ret, pvm_error *err)
{
	_cleanup_(vm_instance_freep) vm_instance *vm = NULL;
	sigset_t chld;

	if (!event || !cfg || !opts || !opts->runner_path || !cfg->kernel)
		return pvm_error_set(
		    err, EINVAL,
		    "vm_instance_new: event, config, kernel and runner path are required");
	if (opts->runner_uid == 0) {
		int r = runner_uids_check(opts->runner_uid_base ?: RUNNER_UIDS_FIRST_DEFAULT,
					  opts->runner_uid_count ?: RUNNER_UIDS_COUNT_DEFAULT, err);
		if (r < 0)
			return r;
	}
	if ((opts->runner_uid == 0) != (opts->runner_gid == 0))
		return pvm_error_set(err, EINVAL, "runner uid and gid: give both or neither");

	if (opts->n_disk_fds != cfg->n_disks && !(adopting && opts->n_disk_fds == 0))
		return pvm_error_set(
		    err, EINVAL,
		    "the config names %zu disks but %zu file descriptors came with "
		    "it: pass one per disk, in order",
		    cfg->n_disks, opts->n_disk_fds);
	if (cfg->vsock && (opts->vsock_cid <= 2 || !opts->vsock_dir))
		return pvm_error_set(err, EINVAL,
				     "vsock needs a guest CID above 2 and a directory");

	vm = calloc(1, sizeof(*vm));
	if (!vm)
		return pvm_error_set(err, ENOMEM, "out of memory");
	vm->pid = 0;
	vm->pidfd = vm->sock = vm->log_fd = vm->mem_fd = vm->vsock_listen_fd = -1;
	vm->tap = (pvm_tap){ .fd = -1 };
	vm->kernel_fd = vm->initrd_fd = -1;
	vm->firmware_fd = vm->descriptor_fd = -1;
	vm->fw_result = cfg->firmware ? PVM_FIRMWARE_PENDING : PVM_FIRMWARE_NONE;
	for (size_t i = 0; i < PVM_DISKS_MAX; i++)
		vm->disk_fds[i] = -1;
	for (size_t i = 0; i < opts->n_disk_fds; i++) {
		int r = vm_instance_check_disk(&cfg->disks[i], i, opts->disk_fds[i], err);
		if (r < 0)
			return r;
		vm->disk_fds[i] = fcntl(opts->disk_fds[i], F_DUPFD_CLOEXEC, 3);
		if (vm->disk_fds[i] < 0)
			return pvm_error_set(err, errno, "disk %zu: duplicating its fd: %m", i);
	}
	if (opts->vsock_dir && !(vm->vsock_dir = strdup(opts->vsock_dir)))
		return pvm_error_set(err, ENOMEM, "out of memory");
	vm->event = sd_event_ref(event);
	vm->opts = *opts;
	vm->opts.runtime_dir =
	    NULL; /* not kept: per-VM runtime state is not needed by the engine */
	vm->runner_path = strdup(opts->runner_path);
	vm->log_dir = opts->log_dir ? strdup(opts->log_dir) : NULL;
	vm->cfg = vm_config_copy(cfg);
	vm->ring_size = opts->console_ring_size ? opts->console_ring_size : VM_CONSOLE_RING_DEFAULT;
	vm->ring = malloc(vm->ring_size);
	if (!vm->runner_path || (opts->log_dir && !vm->log_dir) || !vm->cfg || !vm->ring)
		return pvm_error_set(err, ENOMEM, "out of memory");
	vm->opts.runner_path = vm->runner_path;
	vm->opts.log_dir = vm->log_dir;
	vm->opts.vsock_dir = vm->vsock_dir;
	vm->opts.disk_fds = NULL; /* dup'ed above */
	if (cb)
		vm->cb = *cb;
	vm->userdata = userdata;
	vm->state = PVM_VM_CREATED;

	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	pthread_sigmask(SIG_BLOCK, &chld, NULL);

	*ret = TAKE_PTR(vm);
	return 0;
}

int vm_instance_new(sd_event *event, const pvm_config *cfg, const vm_instance_options *opts,
		    const vm_instance_callbacks *cb, void *userdata, vm_instance **ret,
		    pvm_error *err)
{
	return vm_instance_create(event, cfg, opts, cb, userdata, false, ret, err);
}

int vm_instance_set_payload(vm_instance *vm, int kernel_memfd, int initrd_memfd, pvm_error *err)
{
	_cleanup_close_ int k = -1, i = -1;
	uint64_t size;

	/* sealed, so the bytes pvmd hashed when it made the copy are the bytes every start loads */
	if (caller_payload_check_sealed(kernel_memfd, &size) < 0 ||
	    (initrd_memfd >= 0 && caller_payload_check_sealed(initrd_memfd, &size) < 0))
		return pvm_error_set(err, EPERM, "payload: not a sealed memfd");
	k = fcntl(kernel_memfd, F_DUPFD_CLOEXEC, 3);
	if (k < 0 || (initrd_memfd >= 0 && (i = fcntl(initrd_memfd, F_DUPFD_CLOEXEC, 3)) < 0))
		return pvm_error_set(err, errno, "payload: %m");
	if (vm->kernel_fd >= 0)
		close(vm->kernel_fd);
	if (vm->initrd_fd >= 0)
		close(vm->initrd_fd);
	vm->kernel_fd = TAKE_FD(k);
	vm->initrd_fd = TAKE_FD(i);
	return 0;
}

int vm_instance_set_firmware(vm_instance *vm, int firmware_memfd, int descriptor_memfd,
			     pvm_error *err)
{
	_cleanup_close_ int f = -1, d = -1;
	uint64_t size;

	if (caller_payload_check_sealed(firmware_memfd, &size) < 0 ||
	    caller_payload_check_sealed(descriptor_memfd, &size) < 0)
		return pvm_error_set(err, EPERM, "firmware or descriptor: not a sealed memfd");
	f = fcntl(firmware_memfd, F_DUPFD_CLOEXEC, 3);
	d = fcntl(descriptor_memfd, F_DUPFD_CLOEXEC, 3);
	if (f < 0 || d < 0)
		return pvm_error_set(err, errno, "firmware: %m");
	if (vm->firmware_fd >= 0)
		close(vm->firmware_fd);
	if (vm->descriptor_fd >= 0)
		close(vm->descriptor_fd);
	vm->firmware_fd = TAKE_FD(f);
	vm->descriptor_fd = TAKE_FD(d);
	return 0;
}

/* ---- console ---- */

static void vm_console_add(vm_instance *vm, const uint8_t *p, size_t n)
{
	if (vm->cfg->console_output == PVM_CONSOLE_NONE)
		return;
	if (vm->log_fd >= 0) {
		/* a full disk loses log lines, never VM state */
		if (write(vm->log_fd, p, n) < 0) {
			close(vm->log_fd);
			vm->log_fd = -1;
		}
	}
	for (size_t i = 0; i < n; i++) {
		vm->ring[(vm->ring_head + vm->ring_len) % vm->ring_size] = (char)p[i];
		if (vm->ring_len < vm->ring_size)
			vm->ring_len++;
		else
			vm->ring_head = (vm->ring_head + 1) % vm->ring_size;
	}
	if (vm->cb.console)
		vm->cb.console(vm, p, n, vm->userdata);
}

int vm_instance_console_snapshot(const vm_instance *vm, char **ret, size_t *ret_len)
{
	char *buf = malloc(vm->ring_len + 1);

	if (!buf)
		return -ENOMEM;
	for (size_t i = 0; i < vm->ring_len; i++)
		buf[i] = vm->ring[(vm->ring_head + i) % vm->ring_size];
	buf[vm->ring_len] = '\0';
	*ret = buf;
	*ret_len = vm->ring_len;
	return 0;
}

static bool vm_runner_alive(const vm_instance *vm)
{
	return vm->pid > 0;
}

int vm_instance_console_write(vm_instance *vm, const void *data, size_t len)
{
	const uint8_t *p = data;

	if (!vm->cfg->console_input)
		return -EPERM;
	if (!vm_runner_alive(vm) || !vm->boot_sent)
		return -ENOTCONN;
	while (len > 0) {
		size_t n = MIN(len, (size_t)RUNNER_CONSOLE_CHUNK);
		int r = runner_msg_send(vm->sock, RUNNER_MSG_CONSOLE_INPUT, p, n, -1);
		if (r < 0)
			return r;
		p += n, len -= n;
	}
	return 0;
}

/* ---- ending a run ---- */

static void vm_release_run(vm_instance *vm)
{
	vm->io_source = sd_event_source_disable_unref(vm->io_source);
	vm->boot_timer = sd_event_source_disable_unref(vm->boot_timer);
	vm->stop_timer = sd_event_source_disable_unref(vm->stop_timer);
	if (vm->sock >= 0)
		close(TAKE_FD(vm->sock));
	if (vm->mem_fd >= 0)
		close(TAKE_FD(vm->mem_fd));
	vm->report_valid = false;
	if (vm->log_fd >= 0)
		close(TAKE_FD(vm->log_fd));
	if (vm->pidfd >= 0)
		close(TAKE_FD(vm->pidfd));
	if (vm->uid_allocated) {
		runner_uid_release(vm->uid);
		vm->uid_allocated = false;
	}
	pvm_boot_plan_clear(&vm->plan);
	if (vm->disk_job) {
		worker_cancel(vm->disk_job);
		vm->disk_job = NULL;
	}
	vm->boot_waiting = false;
	if (vm->vsock_listen_fd >= 0)
		close(TAKE_FD(vm->vsock_listen_fd));
	if (vm->vsock_bound) {
		unlink(vm->vsock_sa.sun_path);
		vm->vsock_bound = false;
	}
	/* a tap the runner never got goes now; one it got goes with the runner */
	if (vm->tap.fd >= 0)
		close(TAKE_FD(vm->tap.fd));
	vm->tap = (pvm_tap){ .fd = -1 };
	vm->pid = 0;
}

/* sd-event signals through the pidfd or, where pidfd_send_signal(2) is missing (valgrind up to
 * 3.24 at least), by pid, which stays the runner's until sd-event reaps it */
static void vm_kill_runner(vm_instance *vm)
{
	if (!vm->child_source ||
	    sd_event_source_send_child_signal(vm->child_source, SIGKILL, NULL, 0) < 0)
		(void)syscall(SYS_pidfd_send_signal, vm->pidfd, SIGKILL, NULL, 0);
}

static void vm_force(vm_instance *vm, enum pvm_death_reason reason)
{
	if (!vm_runner_alive(vm))
		return;
	if (!vm->forced) {
		vm->forced = true;
		vm->forced_reason = reason;
	}
	vm_kill_runner(vm);
}

/* A start that cannot go on: record why and kill the runner; the child handler finishes. */
static void vm_fail_start(vm_instance *vm, enum pvm_death_reason reason, const char *fmt, ...)
    _printf_(3, 4);
static void vm_fail_start(vm_instance *vm, enum pvm_death_reason reason, const char *fmt, ...)
{
	va_list ap;

	if (!vm->forced) {
		va_start(ap, fmt);
		vsnprintf(vm->message, sizeof(vm->message), fmt, ap);
		va_end(ap);
	}
	vm_force(vm, reason);
}

/* How the runner's end maps to the VM's final state: the guest's own exit first, then what
 * pvmd forced, then a setup error, then how the process died. */
static const struct {
	enum pvm_vm_state state;
	enum pvm_death_reason reason;
} vm_exit_table[] = {
	[PVM_EXIT_EVENT_SHUTDOWN] = { PVM_VM_STOPPED, PVM_DEATH_SHUTDOWN },
	[PVM_EXIT_EVENT_REBOOT] = { PVM_VM_STOPPED, PVM_DEATH_REBOOT },
	[PVM_EXIT_EVENT_EMULATION_FAILURE] = { PVM_VM_FAILED, PVM_DEATH_EMULATION_FAILURE },
	[PVM_EXIT_EVENT_CRASH] = { PVM_VM_FAILED, PVM_DEATH_CRASH },
	[PVM_EXIT_EVENT_PROTECTION_VIOLATION] = { PVM_VM_FAILED, PVM_DEATH_PROTECTION_VIOLATION },
	[PVM_EXIT_EVENT_FATAL] = { PVM_VM_FAILED, PVM_DEATH_CRASH },
	[PVM_EXIT_EVENT_PAYLOAD_REFUSED] = { PVM_VM_FAILED, PVM_DEATH_PAYLOAD_REFUSED },
};

/* How the runner process ended, for messages. si is NULL for an adopted runner: it is not
 * pvmd's child, so only its exit is seen, not its status. */
static void vm_describe_exit(const siginfo_t *si, char *buf, size_t size)
{
	if (!si)
		snprintf(buf, size, "exit status unknown: adopted from a previous pvmd");
	else
		snprintf(buf, size, "%s %d", si->si_code == CLD_EXITED ? "exit status" : "signal",
			 si->si_status);
}

static void vm_decide_end(vm_instance *vm, const siginfo_t *si)
{
	char how[64];

	vm_describe_exit(si, how, sizeof(how));
	if (vm->exit_seen && vm->exit_kind < ELEMENTSOF(vm_exit_table) &&
	    vm_exit_table[vm->exit_kind].reason != PVM_DEATH_NONE) {
		vm->state = vm_exit_table[vm->exit_kind].state;
		vm->death = vm_exit_table[vm->exit_kind].reason;
		if (vm->death == PVM_DEATH_SHUTDOWN && vm->stop_requested)
			vm->death = PVM_DEATH_STOPPED;
	} else if (vm->forced) {
		vm->death = vm->forced_reason;
		vm->state = vm->death == PVM_DEATH_KILLED ? PVM_VM_STOPPED : PVM_VM_FAILED;
		if (vm->death == PVM_DEATH_KILLED && !vm->message[0])
			vm_set_message(vm, "runner killed (SIGKILL)");
	} else if (vm->error_seen || !vm->running_seen) {
		vm->state = PVM_VM_FAILED;
		vm->death = PVM_DEATH_START_FAILED;
		if (!vm->message[0])
			vm_set_message(vm, "runner ended during start (%s)", how);
	} else if (si && si->si_code != CLD_EXITED && si->si_status == SIGSYS) {
		vm->state = PVM_VM_FAILED;
		vm->death = PVM_DEATH_PROTECTION_VIOLATION;
		vm_set_message(
		    vm, "runner killed by its seccomp filter (SIGSYS): a forbidden system call");
	} else {
		vm->state = PVM_VM_FAILED;
		vm->death = PVM_DEATH_CRASH;
		vm_set_message(vm, "runner ended unexpectedly (%s)", how);
	}
}

static void vm_read_messages(vm_instance *vm, unsigned max);

static int vm_on_child(sd_event_source *s, const siginfo_t *si, void *userdata)
{
	vm_instance *vm = userdata;

	/* messages the runner sent before it died decide how it ended: read them first */
	if (vm->io_source)
		vm_read_messages(vm, UINT_MAX); /* finite: the runner is gone */
	vm_decide_end(vm, si);
	sd_event_source_set_enabled(s, SD_EVENT_OFF);
	vm_release_run(vm);
	vm_changed(vm);
	return 0;
}

/* An adopted runner is watched through its pidfd, which turns readable when it exits. */
static int vm_on_adopted_exit(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	vm_instance *vm = userdata;

	if (vm->io_source)
		vm_read_messages(vm, UINT_MAX);
	vm_decide_end(vm, NULL);
	sd_event_source_set_enabled(s, SD_EVENT_OFF);
	vm_release_run(vm);
	vm_changed(vm);
	return 0;
}

/* ---- messages from the runner ---- */

/* What a guest memory fd really is, by its /proc link (the runner's word is not enough):
 * guest_memfd or pvm's own memfd, of the VM's size. Fills mem_st and mem_link. */
static int vm_identify_memory(vm_instance *vm, int fd, uint64_t size,
			      enum runner_backing *ret_backing)
{
	char path[64], link[128] = "";
	ssize_t n;

	if (fstat(fd, &vm->mem_st) < 0 || !S_ISREG(vm->mem_st.st_mode) ||
	    (uint64_t)vm->mem_st.st_size != size)
		return -EBADMSG;
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	n = readlink(path, link, sizeof(link) - 1);
	link[n > 0 ? n : 0] = '\0';
	if (strcmp(link, VM_GUEST_MEMFD_LINK) == 0 ||
	    strncmp(link, VM_GUEST_MEMFD_LINK_FS, strlen(VM_GUEST_MEMFD_LINK_FS)) == 0)
		*ret_backing = RUNNER_BACKING_GUEST_MEMFD;
	else if (strncmp(link, VM_MEMFD_LINK_PREFIX, strlen(VM_MEMFD_LINK_PREFIX)) == 0)
		*ret_backing = RUNNER_BACKING_MEMFD_MLOCK;
	else
		return -EBADMSG;
	snprintf(vm->mem_link, sizeof(vm->mem_link), "%s", link);
	return 0;
}

static int vm_check_memory(vm_instance *vm, const runner_msg_created *m, int fd)
{
	enum runner_backing backing;

	if (m->backing != RUNNER_BACKING_GUEST_MEMFD && m->backing != RUNNER_BACKING_MEMFD_MLOCK)
		return -EBADMSG;
	if (m->backing == RUNNER_BACKING_MEMFD_MLOCK &&
	    !(vm->opts.allow_memory_fallback &&
	      vm->cfg->memory_backing == PVM_MEMORY_BACKING_PREFER_GUEST_MEMFD))
		return -EPERM;
	if (m->memory_bytes != vm->map.ram_size || m->ram_base != vm->map.ram_base ||
	    (m->created_flags & ~RUNNER_CREATED_ALL) ||
	    (m->guest_memfd_flags & ~(GUEST_MEMFD_FLAG_MMAP | GUEST_MEMFD_FLAG_INIT_SHARED)))
		return -EBADMSG;
	/* the fd must really be what the runner says it is */
	if (vm_identify_memory(vm, fd, m->memory_bytes, &backing) < 0 || backing != m->backing)
		return -EBADMSG;
	return 0;
}

/* The devices, between the runner's memory and the entry state: the window (where the arch
 * places it), each disk with its fd, vsock with its listening socket and the directory of host
 * sockets, the network with its tap (whose only descriptor is the runner's from then on), in
 * pvm_config_virtio_devices()'s slot order. */
static int vm_send_devices(vm_instance *vm, pvm_error *err)
{
	const pvm_config *cfg = vm->cfg;
	runner_msg_window w;
	int r = 0;

	if (!pvm_config_has_devices(cfg))
		return 0;
	w = (runner_msg_window){ .size = (uint64_t)cfg->window_mib << 20 };
	r = pvm_arch_window_place(pvm_arch_native(), &vm->map, w.size, &w.gpa, err);
	if (r < 0)
		return r;
	r = runner_msg_send(vm->sock, RUNNER_MSG_WINDOW, &w, sizeof(w), -1);
	for (size_t i = 0; r >= 0 && i < cfg->n_disks; i++) {
		runner_msg_disk d = { .flags =
					  cfg->disks[i].read_only ? RUNNER_DISK_READ_ONLY : 0 };
		snprintf(d.id, sizeof(d.id), "%s", cfg->disks[i].id);
		r = runner_msg_send(vm->sock, RUNNER_MSG_DISK, &d, sizeof(d), vm->disk_fds[i]);
	}
	if (r >= 0 && cfg->vsock) {
		_cleanup_close_ int dir = open(vm->vsock_dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
		runner_msg_vsock v = { .guest_cid = vm->opts.vsock_cid };
		snprintf(v.prefix, sizeof(v.prefix), "%s.vsock_", cfg->name);
		if (dir < 0)
			return pvm_error_set(err, errno, "opening %s: %m", vm->vsock_dir);
		r = runner_msg_send(vm->sock, RUNNER_MSG_VSOCK, &v, sizeof(v), vm->vsock_listen_fd);
		if (r >= 0)
			r = runner_msg_send(vm->sock, RUNNER_MSG_VSOCK_DIR, NULL, 0, dir);
	}
	if (r >= 0 && cfg->net.enabled) {
		runner_msg_net n = { 0 };
		pvm_config_net_mac(cfg, n.mac);
		r = runner_msg_send(vm->sock, RUNNER_MSG_NET, &n, sizeof(n), vm->tap.fd);
		if (r >= 0)
			close(TAKE_FD(vm->tap.fd));
	}
	if (r < 0)
		return pvm_error_set(err, -r, "sending the devices to the runner: %s",
				     strerror(-r));
	return 0;
}

/* The devices, then the entry state: the guest runs once the runner has it. */
static void vm_send_boot(vm_instance *vm)
{
	runner_msg_boot boot = { .entry = vm->plan.entry };
	pvm_error err = { 0 };
	int r;

	vm->boot_waiting = false;
	r = vm_send_devices(vm, &err);
	if (r < 0)
		return vm_fail_start(vm, PVM_DEATH_START_FAILED, "%s", err.message);
	r = runner_msg_send(vm->sock, RUNNER_MSG_BOOT, &boot, sizeof(boot), -1);
	if (r < 0)
		return vm_fail_start(vm, PVM_DEATH_START_FAILED,
				     "sending the entry state to the runner: %s", strerror(-r));
	vm->boot_sent = true;
	pvm_boot_plan_clear(&vm->plan); /* the payload now lives only in guest memory */
}

static void vm_on_created(vm_instance *vm, const runner_msg_created *m, int fd)
{
	_cleanup_close_ int mem_fd = fd;
	pvm_error err = { 0 };
	int r;

	if (vm->state != PVM_VM_STARTING || vm->boot_sent || vm->mem_fd >= 0)
		return vm_fail_start(vm, PVM_DEATH_PROTECTION_VIOLATION,
				     "runner sent its memory twice or out of order");
	r = vm_check_memory(vm, m, mem_fd);
	if (r == -EPERM)
		return vm_fail_start(
		    vm, PVM_DEATH_START_FAILED,
		    "the runner fell back to memfd+mlock, which this VM may not use");
	if (r < 0)
		return vm_fail_start(
		    vm, PVM_DEATH_PROTECTION_VIOLATION,
		    "runner's guest memory does not match the request (backing %u, 0x%" PRIx64
		    " bytes)",
		    m->backing, m->memory_bytes);
	r = pvm_guest_memory_load(mem_fd, vm->map.ram_base, m->memory_bytes, &vm->plan, &err);
	if (r < 0)
		return vm_fail_start(vm, PVM_DEATH_START_FAILED, "loading the payload: %s",
				     err.message);
	vm->mem_fd = TAKE_FD(mem_fd);
	vm->report_valid = false;
	vm->backing = m->backing;
	vm->mem_flags = m->guest_memfd_flags;
	vm->mem_size = m->memory_bytes;
	vm->runner_maps = m->created_flags & RUNNER_CREATED_RUNNER_MAPS;
	if ((m->created_flags & RUNNER_CREATED_PROBED) &&
	    m->backing == RUNNER_BACKING_GUEST_MEMFD && vm->opts.host_facts)
		*vm->opts.host_facts = (vm_host_facts){
			.mapping_known = true,
			.needs_mapping = vm->runner_maps,
			.mapping_guest_memfd_flags = m->guest_memfd_flags,
		};
	if (vm->disks_checked)
		vm_send_boot(vm);
	else
		vm->boot_waiting = true; /* vm_disk_digests_done sends it */
}

/* pvm-fw's verdict, as the runner decoded it from the control page. The VM's own word: a
 * verdict from a VM that boots no firmware is its kernel pretending, and only the first of a
 * run counts (the runner latches it too). pvmd words the message from its own table. */
static void vm_on_fw_verdict(vm_instance *vm, const runner_msg_event *e)
{
	const char *text = pvm_firmware_result_describe((int)e->code);
	bool refused = e->kind == PVM_EXIT_EVENT_PAYLOAD_REFUSED;

	if (!vm->cfg->firmware) {
		if (refused) {
			vm->exit_kind = PVM_EXIT_EVENT_CRASH;
			vm_set_message(vm,
				       "the guest reported a firmware verdict (%" PRIu32
				       "), but it boots no firmware",
				       e->code);
		}
		return;
	}
	if (vm->fw_result != PVM_FIRMWARE_PENDING || refused != (e->code != 0))
		return;
	vm->fw_result = e->code > INT_MAX ? INT_MAX : (int)e->code;
	if (refused)
		vm_set_message(vm,
			       "pvm-fw refused the payload: %s (reason %" PRIu32
			       "); the console says where",
			       text ?: "a verdict pvm does not know", e->code);
	vm_changed(vm);
}

static void vm_on_message(vm_instance *vm, const uint8_t *buf, int fd)
{
	const runner_msg_header *h = (const runner_msg_header *)buf;
	const void *body = runner_msg_body(buf);

	switch (h->type) {
	case RUNNER_MSG_PREPARED: {
		const runner_msg_running *p = body;
		if (vm->prepared_seen || vm->mem_fd >= 0 || vm->boot_sent || p->uid != vm->uid)
			return vm_fail_start(vm, PVM_DEATH_PROTECTION_VIOLATION,
					     "runner reported its sandbox out of order");
		vm->prepared_seen = true;
		return;
	}
	case RUNNER_MSG_CREATED:
		vm_on_created(vm, body, fd);
		return;
	case RUNNER_MSG_RUNNING:
		if (!vm->boot_sent || vm->running_seen)
			return vm_fail_start(vm, PVM_DEATH_PROTECTION_VIOLATION,
					     "runner reported running out of order");
		memcpy(&vm->running, body, sizeof(vm->running));
		vm->running_seen = true;
		if (vm->state == PVM_VM_STARTING) {
			vm->state = PVM_VM_RUNNING;
			vm_changed(vm);
		}
		return;
	case RUNNER_MSG_CONSOLE:
		vm_console_add(vm, body, runner_msg_body_size(buf));
		return;
	case RUNNER_MSG_READY:
		if (!vm->running_seen)
			return vm_fail_start(vm, PVM_DEATH_PROTECTION_VIOLATION,
					     "runner reported ready before running");
		vm->boot_timer = sd_event_source_disable_unref(vm->boot_timer);
		if (vm->state == PVM_VM_RUNNING) {
			vm->state = PVM_VM_READY;
			vm_changed(vm);
		}
		return;
	case RUNNER_MSG_NOTICE: {
		const runner_msg_event *e = body;
		if (e->kind == PVM_EXIT_EVENT_FW_VERIFIED) {
			vm_on_fw_verdict(vm, e);
			return;
		}
		vm_message_from_runner(vm, e->kind == PVM_EXIT_EVENT_IDLE ? "idle halt: " : "",
				       e->detail);
		vm_changed(vm);
		return;
	}
	case RUNNER_MSG_EXIT: {
		const runner_msg_event *e = body;
		if (!vm->exit_seen) {
			vm->exit_seen = true;
			vm->exit_kind = e->kind;
			vm_message_from_runner(vm, "", e->detail);
			if (e->kind == PVM_EXIT_EVENT_PAYLOAD_REFUSED)
				vm_on_fw_verdict(vm, e);
		}
		return;
	}
	case RUNNER_MSG_ERROR: {
		const runner_msg_error *e = body;
		vm->error_seen = true;
		vm_message_from_runner(vm, "runner: ", e->message);
		return;
	}
	case RUNNER_MSG_SELF_CHECK_RESULT: {
		const runner_msg_self_check *c = body;
		vm->sandbox_report = (vm_instance_sandbox_report){
			.create_guest_memfd = c->create_guest_memfd,
			.set_user_memory_region2 = c->set_user_memory_region2,
			.set_user_memory_region = c->set_user_memory_region,
			.mmap_exec = c->mmap_exec,
			.open_dev_kvm = c->open_dev_kvm,
			.seccomp_mode = c->seccomp_mode,
			.no_new_privs = c->no_new_privs,
			.uid = c->uid,
			.gid = c->gid,
			.vm_fd_valid = c->vm_fd_valid,
			.dup_to_vcpu_range = c->dup_to_vcpu_range,
			.namespaces = vm->running.namespaces,
		};
		vm->have_sandbox_report = true;
		vm_changed(vm);
		return;
	}
	}
}

/* Messages per wakeup: a runner that sends without pause cannot keep pvmd's loop to itself. */
#define VM_MESSAGES_PER_DISPATCH 64

static void vm_read_batch(vm_instance *vm, unsigned max)
{
	static uint8_t buf[RUNNER_MSG_MAX] __attribute__((aligned(8)));

	for (unsigned i = 0; i < max; i++) {
		const char *reason = "";
		int mem_fd = -1, r;

		r = runner_msg_recv(vm->sock, buf, true, &mem_fd, &reason);
		if (r == -EAGAIN || r == -EINTR)
			return;
		/* a runner that exits with pvmd's messages unread (it failed before it read
		 * CREATE) leaves ECONNRESET, reported once, ahead of what it sent before: read on
		 */
		if (r == -ECONNRESET)
			continue;
		if (r == 0) {
			/* the runner closed its end; its exit (child source) finishes the VM */
			vm->io_source = sd_event_source_disable_unref(vm->io_source);
			return;
		}
		if (r < 0) {
			vm->io_source = sd_event_source_disable_unref(vm->io_source);
			vm_fail_start(vm, PVM_DEATH_PROTECTION_VIOLATION,
				      "runner sent a malformed message: %s",
				      r == -EBADMSG ? reason : strerror(-r));
			return;
		}
		/* console bytes go in before a pending change is published; anything else is
		 * published change by change, so that no state is skipped */
		if (vm->change_pending &&
		    ((const runner_msg_header *)buf)->type != RUNNER_MSG_CONSOLE)
			vm_publish(vm);
		vm_on_message(vm, buf, mem_fd);
		if (!vm->io_source)
			return;
	}
}

static void vm_read_messages(vm_instance *vm, unsigned max)
{
	vm->reading = true;
	vm_read_batch(vm, max);
	vm->reading = false;
	if (vm->change_pending)
		vm_publish(vm);
}

static int vm_on_io(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	vm_read_messages(userdata, VM_MESSAGES_PER_DISPATCH);
	return 0;
}

/* ---- disk digests ---- */

/* A disk whose config names its sha256 is read through and hashed before the guest runs (so
 * no guest can race it), on a worker thread: a disk may be large and a block device slow, and
 * pvmd's loop never waits. It runs while the runner creates the VM; BOOT waits for it. */
#define VM_DISK_CHECK_TIMEOUT_USEC (10 * 60 * 1000 * 1000ULL)

typedef struct vm_disk_digests {
	int fds[PVM_DISKS_MAX]; /* duplicates, -1 for a disk without a digest */
	uint8_t want[PVM_DISKS_MAX][32];
	size_t n;
	pvm_error err;
} vm_disk_digests;

static void vm_disk_digests_free(void *data)
{
	vm_disk_digests *d = data;

	for (size_t i = 0; i < d->n; i++)
		if (d->fds[i] >= 0)
			close(d->fds[i]);
	free(d);
}

static int vm_disk_digests_work(void *data, uint64_t deadline_usec)
{
	vm_disk_digests *d = data;
	uint8_t got[32];

	for (size_t i = 0; i < d->n; i++) {
		if (d->fds[i] < 0)
			continue;
		if (caller_fd_sha256(d->fds[i], deadline_usec, got, &d->err) < 0) {
			pvm_error_prefix(&d->err, "disk %zu: ", i);
			return -d->err.code;
		}
		if (memcmp(got, d->want[i], sizeof(got)) != 0)
			return pvm_error_set(
			    &d->err, EBADMSG,
			    "disk %zu: the disk's SHA-256 does not match its sha256 "
			    "in the config",
			    i);
	}
	return 0;
}

static void vm_disk_digests_done(int r, void *data, void *userdata)
{
	vm_instance *vm = userdata;
	vm_disk_digests *d = data;

	vm->disk_job = NULL;
	if (r < 0) {
		vm_fail_start(vm, PVM_DEATH_START_FAILED, "%s",
			      d ? d->err.message : "the disks' digests were not read in time");
		return;
	}
	vm->disks_checked = true;
	if (vm->boot_waiting)
		vm_send_boot(vm);
}

static int vm_disk_digests_start(vm_instance *vm, pvm_error *err)
{
	const pvm_config *cfg = vm->cfg;
	vm_disk_digests *d;
	int r;

	vm->disks_checked = true;
	for (size_t i = 0; i < cfg->n_disks; i++)
		vm->disks_checked = vm->disks_checked && !cfg->disks[i].has_sha256;
	if (vm->disks_checked)
		return 0;
	d = calloc(1, sizeof(*d));
	if (!d)
		return pvm_error_set(err, ENOMEM, "out of memory");
	for (d->n = 0; d->n < cfg->n_disks; d->n++) {
		size_t i = d->n;
		d->fds[i] = -1;
		if (!cfg->disks[i].has_sha256)
			continue;
		memcpy(d->want[i], cfg->disks[i].sha256, sizeof(d->want[i]));
		d->fds[i] = fcntl(vm->disk_fds[i], F_DUPFD_CLOEXEC, 3);
		if (d->fds[i] < 0) {
			r = pvm_error_set(err, errno, "disk %zu: duplicating its fd: %m", i);
			d->n++;
			vm_disk_digests_free(d);
			return r;
		}
	}
	r = worker_start(vm->event, VM_DISK_CHECK_TIMEOUT_USEC, vm_disk_digests_work, d,
			 vm_disk_digests_free, vm_disk_digests_done, vm, &vm->disk_job);
	if (r == -EBUSY)
		return pvm_error_set(err, EBUSY,
				     "pvmd is reading %d descriptors already; start the VM again "
				     "once they are read",
				     WORKER_JOBS_MAX);
	if (r < 0)
		return pvm_error_set(err, -r, "reading the disks' digests: %s", strerror(-r));
	return 0;
}

/* ---- timers ---- */

static int vm_on_boot_timeout(sd_event_source *s, uint64_t usec, void *userdata)
{
	vm_instance *vm = userdata;

	if (vm->state != PVM_VM_READY)
		vm_fail_start(vm, PVM_DEATH_BOOT_TIMEOUT,
			      "the guest did not signal ready within %u ms",
			      vm->cfg->boot_timeout_ms);
	return 0;
}

static int vm_on_stop_timeout(sd_event_source *s, uint64_t usec, void *userdata)
{
	vm_instance *vm = userdata;

	vm_set_message(vm, "the guest did not power off in time; killed");
	vm_force(vm, PVM_DEATH_KILLED);
	return 0;
}

/* ---- start ---- */

/* A payload memfd's bytes: pvmd's own sealed copy, so its size cannot change under the read and
 * reading it never waits on anyone. */
static int vm_read_payload(int memfd, const char *what, size_t max, uint8_t **ret, size_t *ret_len,
			   pvm_error *err)
{
	_cleanup_free_ uint8_t *buf = NULL;
	uint64_t size = 0;
	size_t done = 0;

	if (caller_payload_check_sealed(memfd, &size) < 0)
		return pvm_error_set(err, EPERM, "%s: not a sealed payload copy", what);
	if (size == 0 || size > max)
		return pvm_error_set(err, EFBIG,
				     "%s: %" PRIu64 " bytes; must be 1 to %zu (guest memory)", what,
				     size, max);
	buf = malloc((size_t)size);
	if (!buf)
		return pvm_error_set(err, ENOMEM, "%s: out of memory", what);
	while (done < (size_t)size) {
		ssize_t n = pread(memfd, buf + done, (size_t)size - done, (off_t)done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return pvm_error_set(err, n < 0 ? errno : EIO, "%s: short read", what);
		done += (size_t)n;
	}
	*ret = TAKE_PTR(buf);
	*ret_len = done;
	return 0;
}

static int vm_plan(vm_instance *vm, pvm_error *err)
{
	const pvm_arch *arch = pvm_arch_native();
	_cleanup_free_ uint8_t *kernel = NULL, *initrd = NULL, *firmware = NULL, *descriptor = NULL;
	size_t kernel_len = 0, initrd_len = 0, firmware_len = 0, descriptor_len = 0;
	uint64_t mem = (uint64_t)vm->cfg->memory_mib << 20;
	int r;

	if (!arch)
		return pvm_error_set(err, ENOTSUP, "no KVM backend for this architecture");
	r = arch->memory_map(mem, &vm->map, err);
	if (r < 0)
		return r;
	if (vm->kernel_fd < 0)
		return pvm_error_set(err, EINVAL, "no payload: pvmd did not hand one over");
	r = vm_read_payload(vm->kernel_fd, "kernel", mem, &kernel, &kernel_len, err);
	if (r < 0)
		return r;
	if (vm->initrd_fd >= 0) {
		r = vm_read_payload(vm->initrd_fd, "initrd", mem, &initrd, &initrd_len, err);
		if (r < 0)
			return r;
	}
	if (vm->cfg->firmware) {
		if (vm->firmware_fd < 0 || vm->descriptor_fd < 0)
			return pvm_error_set(
			    err, EINVAL, "no firmware or descriptor: pvmd did not hand them over");
		r = vm_read_payload(vm->firmware_fd, "firmware", PVM_ARM64_FW_IMAGE_MAX, &firmware,
				    &firmware_len, err);
		if (r >= 0)
			r = vm_read_payload(vm->descriptor_fd, "descriptor",
					    PVM_ARM64_FW_DESCRIPTOR_SIZE, &descriptor,
					    &descriptor_len, err);
		if (r < 0)
			return r;
	}
	pvm_boot_input in = {
		.kernel = kernel,
		.kernel_len = kernel_len,
		.initrd = initrd,
		.initrd_len = initrd_len,
		.params = vm->cfg->params,
		.format = vm->cfg->payload_format,
		.load_address = vm->cfg->load_address,
		.map = vm->map,
		.cpus = vm->cfg->cpus,
		.window_size =
		    pvm_config_has_devices(vm->cfg) ? (uint64_t)vm->cfg->window_mib << 20 : 0,
		.firmware = firmware,
		.firmware_len = firmware_len,
		.descriptor = descriptor,
		.descriptor_len = descriptor_len,
		.virtio_slots = pvm_config_virtio_devices(vm->cfg),
	};
	if (in.window_size &&
	    (r = pvm_arch_window_place(arch, &vm->map, in.window_size, &in.window_gpa, err)) < 0)
		return r;
	return arch->plan_boot(&in, &vm->plan, err);
}

static int vm_open_log(vm_instance *vm, pvm_error *err)
{
	_cleanup_free_ char *path = NULL;

	if (!vm->log_dir || vm->cfg->console_output != PVM_CONSOLE_RING_AND_LOG)
		return 0;
	if (asprintf(&path, "%s/%s.log", vm->log_dir, vm->cfg->name) < 0)
		return pvm_error_set(err, ENOMEM, "out of memory");
	vm->log_fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0640);
	if (vm->log_fd < 0)
		return pvm_error_set(err, errno, "console log %s: %m", path);
	return 0;
}

int pvmd_unix_listener(const struct sockaddr_un *sa, int type_flags, uid_t uid, gid_t gid,
		       pvm_error *err)
{
	_cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | type_flags, 0);

	if (fd < 0)
		return pvm_error_set(err, errno, "a socket for %s: %m", sa->sun_path);
	if (bind(fd, (const struct sockaddr *)sa, sizeof(*sa)) < 0)
		return pvm_error_set(err, errno, "binding %s: %m", sa->sun_path);
	/* the name is in pvmd's own directory, where only pvmd makes files; lchown all the same */
	if (chmod(sa->sun_path, 0600) < 0 || lchown(sa->sun_path, uid, gid) < 0 ||
	    listen(fd, 16) < 0) {
		int e = errno;
		unlink(sa->sun_path);
		return pvm_error_set(err, e, "setting up %s: %s", sa->sun_path, strerror(e));
	}
	return TAKE_FD(fd);
}

/* The address of <vsock_dir>/<name>.vsock in vsock_sa. */
static int vm_vsock_address(vm_instance *vm, pvm_error *err)
{
	struct sockaddr_un *sa = &vm->vsock_sa;
	int n;

	*sa = (struct sockaddr_un){ .sun_family = AF_UNIX };
	n = snprintf(sa->sun_path, sizeof(sa->sun_path), "%s/%s.vsock", vm->vsock_dir,
		     vm->cfg->name);
	if (n < 0 || (size_t)n >= sizeof(sa->sun_path))
		return pvm_error_set(err, ENAMETOOLONG, "vsock socket path %s/%s.vsock is too long",
				     vm->vsock_dir, vm->cfg->name);
	return 0;
}

/* <vsock_dir>/<name>.vsock: host programs connect here and write "CONNECT <port>\n". pvmd
 * makes it (the runner's jail cannot), owned by the VM's owner with mode 0600, and hands the
 * listening socket to the runner. */
static int vm_vsock_listen(vm_instance *vm, pvm_error *err)
{
	int r = vm_vsock_address(vm, err);

	if (r < 0)
		return r;
	(void)unlink(vm->vsock_sa.sun_path); /* a previous run's */
	r = pvmd_unix_listener(&vm->vsock_sa, SOCK_NONBLOCK, vm->opts.vsock_uid, vm->opts.vsock_gid,
			       err);
	if (r < 0)
		return r;
	vm->vsock_listen_fd = r;
	vm->vsock_bound = true;
	return 0;
}

/* The VM's tap, made before the run takes a runner: what fails here (no /dev/net/tun, a missing
 * bridge) fails the start with no runner used up. */
static int vm_net_create(vm_instance *vm, pvm_error *err)
{
	uint8_t mac[PVM_MAC_LEN];
	int r;

	pvm_config_net_mac(vm->cfg, mac);
	r = pvm_tap_create(mac, vm->cfg->net.bridge, &vm->tap, err);
	if (r < 0)
		pvm_error_prefix(err, "network: ");
	return r;
}

static runner_ids vm_runner_ids(const vm_instance *vm)
{
	return (runner_ids){ .runner_uid = vm->opts.runner_uid,
			     .runner_gid = vm->opts.runner_gid,
			     .uid_base = vm->opts.runner_uid_base,
			     .uid_count = vm->opts.runner_uid_count };
}

/* The run's runner: a ready one from the pool, or one spawned now. Its sandbox request is on its
 * way or done either way; the instance takes its fds and uid and watches it. */
static int vm_spawn(vm_instance *vm, pvm_error *err)
{
	runner_ids ids = vm_runner_ids(vm);
	runner_proc p = RUNNER_PROC_NULL;
	int r;

	r = runner_pool_take(vm->opts.pool, vm->runner_path, &ids, &p);
	vm->prepared_seen = r >= 0;
	if (r < 0) {
		r = runner_spawn(vm->runner_path, &ids, &p, err);
		if (r < 0)
			return r;
	}
	vm->pid = p.pid;
	vm->pidfd = p.pidfd;
	vm->sock = p.sock;
	vm->uid = p.uid;
	vm->uid_allocated = p.uid_allocated;
	r = sd_event_add_child_pidfd(vm->event, &vm->child_source, vm->pidfd, WEXITED, vm_on_child,
				     vm);
	if (r >= 0)
		r = sd_event_add_io(vm->event, &vm->io_source, vm->sock, EPOLLIN, vm_on_io, vm);
	if (r < 0) {
		vm->child_source = sd_event_source_disable_unref(vm->child_source);
		vm->io_source = sd_event_source_disable_unref(vm->io_source);
		p.sock = vm->sock, p.pidfd = vm->pidfd;
		vm->sock = vm->pidfd = -1, vm->pid = 0, vm->uid_allocated = false;
		runner_proc_kill(&p);
		return pvm_error_set(err, -r, "watching the runner: %s", strerror(-r));
	}
	return 0;
}

int vm_instance_start(vm_instance *vm, pvm_error *err)
{
	int r;

	if (vm->state != PVM_VM_CREATED && vm->state != PVM_VM_STOPPED &&
	    vm->state != PVM_VM_FAILED)
		return pvm_error_set(err, EBUSY, "VM %s is %s", vm->cfg->name,
				     pvm_vm_state_to_string(vm->state));
	for (size_t i = 0; i < vm->cfg->n_disks; i++)
		if (vm->disk_fds[i] < 0)
			return pvm_error_set(
			    err, EBADF,
			    "pvmd holds no descriptor for disk %zu ('%s'): the run taken over "
			    "after a restart of pvmd had them, this one cannot; remove the VM and "
			    "create it again with its disks",
			    i, vm->cfg->disks[i].id);

	/* a fresh run */
	vm->child_source = sd_event_source_disable_unref(vm->child_source);
	vm->death = PVM_DEATH_NONE;
	vm->message[0] = '\0';
	vm->boot_sent = vm->running_seen = vm->stop_requested = false;
	vm->exit_seen = vm->error_seen = vm->forced = vm->have_sandbox_report = false;
	vm->ring_head = vm->ring_len = 0;
	memset(&vm->running, 0, sizeof(vm->running));
	vm->fw_result = vm->cfg->firmware ? PVM_FIRMWARE_PENDING : PVM_FIRMWARE_NONE;
	vm->start_time_usec = pvm_now_usec(CLOCK_REALTIME);

	r = vm_plan(vm, err);
	if (r >= 0)
		r = vm_disk_digests_start(vm, err);
	if (r >= 0 && vm->cfg->vsock)
		r = vm_vsock_listen(vm, err);
	if (r >= 0 && vm->cfg->net.enabled)
		r = vm_net_create(vm, err);
	if (r >= 0)
		r = vm_open_log(vm, err);
	if (r >= 0)
		r = vm_spawn(vm, err);
	if (r >= 0) {
		runner_msg_create c = {
			.memory_bytes = vm->map.ram_size,
			.cpus = vm->cfg->cpus,
			.flags = (vm->cfg->protected_vm ? RUNNER_CREATE_PROTECTED : 0) |
				 (vm->opts.allow_memory_fallback &&
					  vm->cfg->memory_backing ==
					      PVM_MEMORY_BACKING_PREFER_GUEST_MEMFD
				      ? RUNNER_CREATE_ALLOW_FALLBACK
				      : 0),
			.window_bytes = pvm_config_has_devices(vm->cfg)
					    ? (uint64_t)vm->cfg->window_mib << 20
					    : 0,
		};
		const vm_host_facts *facts = vm->opts.host_facts;
		if (facts && facts->mapping_known) {
			c.flags |= RUNNER_CREATE_MAPPING_KNOWN |
				   (facts->needs_mapping ? RUNNER_CREATE_NEEDS_MAPPING : 0);
			c.known_guest_memfd_flags = facts->mapping_guest_memfd_flags;
		}
		r = runner_msg_send(vm->sock, RUNNER_MSG_CREATE, &c, sizeof(c), -1);
		if (r < 0) {
			vm->state = PVM_VM_STARTING;
			vm_fail_start(vm, PVM_DEATH_START_FAILED,
				      "sending the VM shape to the runner: %s", strerror(-r));
			vm_changed(vm);
			return 0; /* the runner exists; its exit ends the start */
		}
	}
	if (r < 0) {
		vm->child_source = sd_event_source_disable_unref(vm->child_source);
		vm_release_run(vm);
		vm->state = PVM_VM_FAILED;
		vm->death = PVM_DEATH_START_FAILED;
		vm_set_message(vm, "%s", err ? err->message : "start failed");
		vm_changed(vm);
		return r;
	}

	if (vm->cfg->boot_timeout_ms > 0) {
		r = sd_event_add_time_relative(vm->event, &vm->boot_timer, CLOCK_MONOTONIC,
					       (uint64_t)vm->cfg->boot_timeout_ms * 1000, 0,
					       vm_on_boot_timeout, vm);
		if (r < 0)
			vm_fail_start(vm, PVM_DEATH_START_FAILED, "boot timer: %s", strerror(-r));
	}
	vm->state = PVM_VM_STARTING;
	vm_changed(vm);
	return 0;
}

/* ---- stop ---- */

int vm_instance_stop(vm_instance *vm, uint64_t timeout_usec, pvm_error *err)
{
	int r;

	if (!vm_runner_alive(vm))
		return pvm_error_set(err, ENOTCONN, "VM %s is not running", vm->cfg->name);
	if (vm->state == PVM_VM_STOPPING)
		return 0;
	if (vm->state == PVM_VM_STARTING) {
		/* no guest to ask yet */
		vm_force(vm, PVM_DEATH_KILLED);
		vm->state = PVM_VM_STOPPING;
		vm_changed(vm);
		return 0;
	}
	r = runner_msg_send(vm->sock, RUNNER_MSG_STOP_REQUEST, NULL, 0, -1);
	if (r < 0) {
		vm_force(vm, PVM_DEATH_KILLED);
	} else {
		vm->stop_requested = true;
		r = sd_event_add_time_relative(vm->event, &vm->stop_timer, CLOCK_MONOTONIC,
					       timeout_usec, 0, vm_on_stop_timeout, vm);
		if (r < 0)
			vm_force(vm, PVM_DEATH_KILLED);
	}
	vm->state = PVM_VM_STOPPING;
	vm_changed(vm);
	return 0;
}

int vm_instance_kill(vm_instance *vm, pvm_error *err)
{
	if (!vm_runner_alive(vm))
		return pvm_error_set(err, ENOTCONN, "VM %s is not running", vm->cfg->name);
	vm_force(vm, PVM_DEATH_KILLED);
	if (vm->state != PVM_VM_STOPPING) {
		vm->state = PVM_VM_STOPPING;
		vm_changed(vm);
	}
	return 0;
}

int vm_instance_request_sandbox_check(vm_instance *vm, pvm_error *err)
{
	int r;

	if (!vm_runner_alive(vm) || !vm->running_seen)
		return pvm_error_set(err, ENOTCONN, "VM %s is not running", vm->cfg->name);
	vm->have_sandbox_report = false;
	r = runner_msg_send(vm->sock, RUNNER_MSG_SELF_CHECK, NULL, 0, -1);
	if (r < 0)
		return pvm_error_set(err, -r, "asking the runner for its self-check: %s",
				     strerror(-r));
	return 0;
}

bool vm_instance_sandbox_report_get(const vm_instance *vm, vm_instance_sandbox_report *ret)
{
	if (!vm->have_sandbox_report)
		return false;
	*ret = vm->sandbox_report;
	return true;
}

/* ---- queries ---- */

const pvm_config *vm_instance_config(const vm_instance *vm)
{
	return vm->cfg;
}

enum pvm_vm_state vm_instance_state(const vm_instance *vm)
{
	return vm->state;
}

enum pvm_death_reason vm_instance_death_reason(const vm_instance *vm)
{
	return vm->death;
}

int vm_instance_firmware_result(const vm_instance *vm)
{
	return vm->fw_result;
}

const char *vm_instance_message(const vm_instance *vm)
{
	return vm->message;
}

pid_t vm_instance_runner_pid(const vm_instance *vm)
{
	return vm->pid;
}

int vm_instance_runner_ids(const vm_instance *vm, uid_t *ret_uid, gid_t *ret_gid)
{
	if (!vm->pid || !vm->uid)
		return -ESRCH;
	*ret_uid = vm->uid;
	/* a uid from the runner range comes with the gid of the same number */
	*ret_gid = vm->opts.runner_uid ? vm->opts.runner_gid : (gid_t)vm->uid;
	return 0;
}

uint64_t vm_instance_start_time_usec(const vm_instance *vm)
{
	return vm->start_time_usec;
}

const char *vm_instance_net_interface(const vm_instance *vm)
{
	return vm->tap.name;
}

/* VmLck of a process in kB, or -1. */
static long vm_locked_kb(pid_t pid)
{
	char path[64], line[256];
	long kb = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmLck: %ld kB", &kb) == 1)
			break;
	fclose(f);
	return kb;
}

static void vm_report_mapped(const vm_instance *vm, pvm_memory_report *rep)
{
	int runner = pvm_memory_mapped_by(vm->pid, vm->mem_st.st_dev, vm->mem_st.st_ino);
	int self = pvm_memory_mapped_by(0, vm->mem_st.st_dev, vm->mem_st.st_ino);

	if (runner < 0 || self < 0) {
		rep->host_mapped = PVM_UNKNOWN;
		snprintf(rep->host_mapped_how, sizeof(rep->host_mapped_how),
			 "could not read /proc/%d/maps or /proc/%d/maps: %s", (int)vm->pid,
			 (int)getpid(), strerror(-(runner < 0 ? runner : self)));
		return;
	}
	rep->host_mapped = runner || self ? PVM_YES : PVM_NO;
	snprintf(rep->host_mapped_how, sizeof(rep->host_mapped_how),
		 "inode %llu %s in /proc/%d/maps (runner), %s in /proc/%d/maps (pvmd)%s",
		 (unsigned long long)vm->mem_st.st_ino, runner ? "mapped" : "not mapped",
		 (int)vm->pid, self ? "mapped" : "not mapped", (int)getpid(),
		 vm->runner_maps
		     ? "; the runner maps it because this host's KVM reaches guest_memfd "
		       "memory only through the memslot's mapping (probed at VM creation)"
		     : "");
}

static int vm_memory_report_compute(const vm_instance *vm, pvm_memory_report *ret)
{
	pvm_memory_report rep = { .unswappable = PVM_UNKNOWN,
				  .unmigratable = PVM_UNKNOWN,
				  .host_mapped = PVM_UNKNOWN };

	if (vm->mem_fd < 0) {
		snprintf(rep.backing, sizeof(rep.backing), "none");
		snprintf(rep.host_mapped_how, sizeof(rep.host_mapped_how),
			 "the VM has no guest memory now");
		*ret = rep;
		return 0;
	}
	rep.flags = vm->mem_flags;
	rep.size_bytes = vm->mem_size;
	vm_report_mapped(vm, &rep);
	if (vm->backing == RUNNER_BACKING_GUEST_MEMFD) {
		snprintf(rep.backing, sizeof(rep.backing), "guest_memfd");
		rep.unswappable = PVM_YES;
		snprintf(rep.unswappable_how, sizeof(rep.unswappable_how),
			 "backing is guest_memfd (pvmd's fd is %.40s, %llu bytes): its pages are "
			 "unevictable and never swapped",
			 vm->mem_link, (unsigned long long)vm->mem_st.st_size);
		rep.unmigratable = PVM_YES;
		snprintf(rep.unmigratable_how, sizeof(rep.unmigratable_how),
			 "backing is guest_memfd: the kernel marks its mapping unmovable and "
			 "refuses folio migration");
	} else {
		long kb = vm_locked_kb(vm->pid);
		snprintf(rep.backing, sizeof(rep.backing), "memfd-mlock");
		rep.unswappable =
		    kb >= 0 && (uint64_t)kb * 1024 >= vm->mem_size ? PVM_YES : PVM_UNKNOWN;
		snprintf(rep.unswappable_how, sizeof(rep.unswappable_how),
			 "mlock of the runner's mapping: VmLck %ld kB in /proc/%d/status for %llu "
			 "kB of guest memory",
			 kb, (int)vm->pid, (unsigned long long)(vm->mem_size / 1024));
		rep.unmigratable = PVM_NO;
		snprintf(rep.unmigratable_how, sizeof(rep.unmigratable_how),
			 "mlock does not stop page migration (compaction, NUMA balancing may move "
			 "the pages)");
	}
	*ret = rep;
	return 0;
}

/* guest_memfd's own accounting, read at every report (one fdinfo read of pvmd's fd, no maps
 * scan): the guest allocates as it touches its memory, so it is never the figure of a past
 * state change. */
static void vm_report_add_usage(const vm_instance *vm, pvm_memory_report *rep)
{
	pvm_guest_memfd_usage usage;
	size_t len = strlen(rep->unswappable_how);

	if (pvm_guest_memfd_usage_read(vm->mem_fd, &usage) < 0) {
		snprintf(rep->unswappable_how + len, sizeof(rep->unswappable_how) - len,
			 "; allocation unknown (this kernel's guest_memfd does not report it)");
		return;
	}
	snprintf(rep->unswappable_how + len, sizeof(rep->unswappable_how) - len,
		 "; allocated %" PRIu64 " bytes, %" PRIu64 " guest-owned (kernel fdinfo)",
		 usage.allocated, usage.guest_owned);
	/* what the host cannot map whatever its page tables say */
	len = strlen(rep->host_mapped_how);
	if (usage.guest_owned)
		snprintf(rep->host_mapped_how + len, sizeof(rep->host_mapped_how) - len,
			 "; %" PRIu64 " bytes guest-owned, which the kernel refuses to map "
			 "(fdinfo)",
			 usage.guest_owned);
}

/* Computed once per change of its facts, not per read: a property read or a listing of many
 * VMs scans no /proc maps. After RUNNING the runner holds no fd to guest memory and its
 * seccomp filter refuses new mappings, so a scan could not find anything new until a fact
 * changes. */
int vm_instance_memory_report(vm_instance *vm, pvm_memory_report *ret)
{
	int r;

	if (!vm->report_valid) {
		r = vm_memory_report_compute(vm, &vm->report);
		if (r < 0)
			return r;
		vm->report_valid = true;
	}
	*ret = vm->report;
	if (vm->mem_fd >= 0 && vm->backing == RUNNER_BACKING_GUEST_MEMFD)
		vm_report_add_usage(vm, ret);
	return 0;
}

/* ---- handover ---- */

/* A guest is resumable by another pvmd once its payload is loaded and it runs. */
static bool vm_state_resumable(enum pvm_vm_state s)
{
	return s == PVM_VM_RUNNING || s == PVM_VM_READY || s == PVM_VM_STOPPING;
}

int vm_instance_get_handover(const vm_instance *vm, vm_instance_handover *ret)
{
	if (!vm_runner_alive(vm) || vm->mem_fd < 0 || !vm->running_seen ||
	    !vm_state_resumable(vm->state))
		return -ENOTCONN;
	*ret = (vm_instance_handover){
		.state = vm->state,
		.pid = vm->pid,
		.pidfd = vm->pidfd,
		.sock = vm->sock,
		.mem_fd = vm->mem_fd,
		.uid = vm->uid,
		.mem_flags = vm->mem_flags,
		.runner_maps = vm->runner_maps,
		.namespaces = vm->running.namespaces,
		.start_time_usec = vm->start_time_usec,
	};
	return 0;
}

/* The pid a pidfd refers to (its fdinfo "Pid:" line), or -ESRCH once the process has exited. */
static int vm_pidfd_pid(int pidfd, pid_t *ret)
{
	char path[64], line[128];
	long pid = 0;
	bool found = false;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", pidfd);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	while (!found && fgets(line, sizeof(line), f))
		found = sscanf(line, "Pid: %ld", &pid) == 1;
	fclose(f);
	if (!found)
		return -EBADF; /* not a pidfd */
	if (pid <= 0)
		return -ESRCH;
	*ret = (pid_t)pid;
	return 0;
}

static int vm_check_handover(vm_instance *vm, const vm_instance_handover *h, pvm_error *err)
{
	enum runner_backing backing;
	int type = 0, domain = 0;
	socklen_t len = sizeof(int);
	pid_t pid = 0;
	int r;

	if (h->state != PVM_VM_RUNNING && h->state != PVM_VM_READY && h->state != PVM_VM_STOPPING)
		return pvm_error_set(err, EINVAL, "recorded state %s cannot be resumed",
				     pvm_vm_state_to_string(h->state));
	r = vm_pidfd_pid(h->pidfd, &pid);
	if (r < 0 || pid != h->pid)
		return pvm_error_set(err, r < 0 ? -r : ESRCH,
				     "the stored pidfd is not runner %d (%s)", (int)h->pid,
				     r == -ESRCH ? "it has exited"
				     : r < 0	 ? strerror(-r)
						 : "other pid");
	if (getsockopt(h->sock, SOL_SOCKET, SO_TYPE, &type, &len) < 0 ||
	    getsockopt(h->sock, SOL_SOCKET, SO_DOMAIN, &domain, &len) < 0 || domain != AF_UNIX ||
	    type != SOCK_SEQPACKET)
		return pvm_error_set(err, ENOTSOCK,
				     "the stored control fd is not a runner socket (AF_UNIX "
				     "SOCK_SEQPACKET)");
	r = pvm_arch_native()
		? pvm_arch_native()->memory_map((uint64_t)vm->cfg->memory_mib << 20, &vm->map, err)
		: pvm_error_set(err, ENOTSUP, "no KVM backend for this architecture");
	if (r < 0)
		return r;
	if (vm_identify_memory(vm, h->mem_fd, vm->map.ram_size, &backing) < 0)
		return pvm_error_set(
		    err, EBADMSG, "the stored memory fd is not guest memory of %" PRIu64 " bytes",
		    vm->map.ram_size);
	vm->backing = backing;
	return 0;
}

/* The tap an adopted runner holds, by its name in the tun fd's fdinfo ("iff:"): the previous
 * pvmd made it and gave the runner its only descriptor, so this pvmd knows it only from there. */
static void vm_find_runner_tap(vm_instance *vm, pid_t pid)
{
	char path[64], target[32], line[64];
	struct dirent *de;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	d = opendir(path);
	if (!d)
		return;
	while (!vm->tap.name[0] && (de = readdir(d))) {
		ssize_t n;
		FILE *f;

		snprintf(path, sizeof(path), "/proc/%d/fd/%.16s", (int)pid, de->d_name);
		n = readlink(path, target, sizeof(target) - 1);
		if (n < 0 || (size_t)n != strlen("/dev/net/tun") ||
		    memcmp(target, "/dev/net/tun", (size_t)n) != 0)
			continue;
		snprintf(path, sizeof(path), "/proc/%d/fdinfo/%.16s", (int)pid, de->d_name);
		f = fopen(path, "re");
		while (f && fgets(line, sizeof(line), f))
			if (sscanf(line, "iff: %15s", vm->tap.name) == 1)
				break;
		if (f)
			fclose(f);
	}
	closedir(d);
}

/* The uid an adopted runner holds stays taken, so that no new runner gets it. */
static void vm_claim_uid(vm_instance *vm, uid_t uid)
{
	runner_ids ids = vm_runner_ids(vm);

	vm->uid = uid;
	vm->uid_allocated = runner_uid_claim(&ids, uid);
}

int vm_instance_adopt(sd_event *event, const pvm_config *cfg, const vm_instance_options *opts,
		      const vm_instance_callbacks *cb, void *userdata,
		      const vm_instance_handover *h, vm_instance **ret, pvm_error *err)
{
	_cleanup_(vm_instance_freep) vm_instance *vm = NULL;
	int r;

	r = vm_instance_create(event, cfg, opts, cb, userdata, true, &vm, err);
	if (r < 0)
		return r;
	r = vm_check_handover(vm, h, err);
	if (r < 0)
		return r;
	r = vm_open_log(vm, err);
	if (r < 0)
		return r;
	r = sd_event_add_io(vm->event, &vm->child_source, h->pidfd, EPOLLIN, vm_on_adopted_exit,
			    vm);
	if (r >= 0)
		r = sd_event_add_io(vm->event, &vm->io_source, h->sock, EPOLLIN, vm_on_io, vm);
	if (r < 0) {
		vm->child_source = sd_event_source_disable_unref(vm->child_source);
		vm->io_source = sd_event_source_disable_unref(vm->io_source);
		if (vm->log_fd >= 0)
			close(TAKE_FD(vm->log_fd));
		return pvm_error_set(err, -r, "watching the runner: %s", strerror(-r));
	}
	/* from here on the instance owns the fds */
	(void)fcntl(h->sock, F_SETFL, O_NONBLOCK);
	vm->adopted = true;
	vm->pid = h->pid;
	vm->pidfd = h->pidfd;
	vm->sock = h->sock;
	vm->mem_fd = h->mem_fd;
	vm->mem_flags = h->mem_flags;
	vm->mem_size = vm->map.ram_size;
	vm->runner_maps = h->runner_maps;
	vm->running.namespaces = h->namespaces;
	vm->start_time_usec = h->start_time_usec;
	vm_claim_uid(vm, h->uid);
	if (vm->cfg->net.enabled)
		vm_find_runner_tap(vm, h->pid);
	/* the runner listens on <name>.vsock with the socket it was given; it goes when the run
	 * ends, as a socket this pvmd made would */
	if (vm->cfg->vsock && vm_vsock_address(vm, NULL) >= 0)
		vm->vsock_bound = true;
	vm->boot_sent = vm->running_seen = true;
	/* a guest that was stopping is asked again by the caller (its stop timer was pvmd's) */
	vm->state = h->state == PVM_VM_READY ? PVM_VM_READY : PVM_VM_RUNNING;
	if (vm->state == PVM_VM_RUNNING && vm->cfg->boot_timeout_ms > 0) {
		/* the previous pvmd's boot timer is gone: a not-yet-ready guest gets a new one */
		r = sd_event_add_time_relative(vm->event, &vm->boot_timer, CLOCK_MONOTONIC,
					       (uint64_t)vm->cfg->boot_timeout_ms * 1000, 0,
					       vm_on_boot_timeout, vm);
		if (r < 0)
			vm_fail_start(vm, PVM_DEATH_START_FAILED, "boot timer: %s", strerror(-r));
	}
	*ret = TAKE_PTR(vm);
	return 0;
}

vm_instance *vm_instance_abandon(vm_instance *vm)
{
	if (!vm)
		return NULL;
	vm->child_source = sd_event_source_disable_unref(vm->child_source);
	vm_release_run(vm); /* closes pvmd's copies; the runner lives on */
	return vm_instance_free(vm);
}

vm_instance *vm_instance_free(vm_instance *vm)
{
	if (!vm)
		return NULL;
	if (vm_runner_alive(vm)) {
		siginfo_t si;
		vm_kill_runner(vm);
		while (waitid(P_PIDFD, (id_t)vm->pidfd, &si, WEXITED) < 0 && errno == EINTR)
			;
	}
	vm->child_source = sd_event_source_disable_unref(vm->child_source);
	vm_release_run(vm);
	for (size_t i = 0; i < PVM_DISKS_MAX; i++)
		if (vm->disk_fds[i] >= 0)
			close(vm->disk_fds[i]);
	free(vm->vsock_dir);
	pvm_config_free(vm->cfg);
	if (vm->kernel_fd >= 0)
		close(vm->kernel_fd);
	if (vm->initrd_fd >= 0)
		close(vm->initrd_fd);
	if (vm->firmware_fd >= 0)
		close(vm->firmware_fd);
	if (vm->descriptor_fd >= 0)
		close(vm->descriptor_fd);
	free(vm->runner_path);
	free(vm->log_dir);
	free(vm->ring);
	sd_event_unref(vm->event);
	free(vm);
	return NULL;
}
