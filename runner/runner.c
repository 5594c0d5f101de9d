/* pvm-runner: one per VM, spawned by pvmd with a SOCK_SEQPACKET socket on fd 3. It opens
 * /dev/kvm and builds its sandbox but for the seccomp filter before it knows its VM (it may wait
 * so in pvmd's pool of ready runners), then creates the VM (KVM binds a VM to the process that
 * creates it), its guest memory and vCPUs, hands the memory fd to pvmd, waits for the entry
 * state, loads pvmd's seccomp filter (sandbox.c) and runs the vCPUs.
 * It trusts nothing from the guest and checks every message from pvmd (runner-protocol.h).
 *
 * Threads: the main thread serves pvmd's messages, flushes console output and services the
 * virtio devices' host fds (vsock's sockets, the network's tap, and on arm64 the queues'
 * notification eventfds KVM signals) while the vCPUs run; one thread per vCPU runs KVM_RUN and
 * dispatches MMIO exits to the devices, waking the main thread (an eventfd) after each device
 * register write so it polls the right sockets. Both do their device work under the shared
 * window's fault guard (window-guard.h). Lock order: devices_lock, then console_lock. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#include "arch.h"
#include "devices.h"
#include "kvm-compat.h"
#include "kvm.h"
#include "memory.h"
#include "runner-protocol.h"
#include "sandbox.h"
#include "window-guard.h"

#define RUNNER_CONTROL_FD 3
#define RUNNER_FLUSH_MSEC 20
#define RUNNER_NOTICE_BURST 16 /* unknown-I/O notices sent before rate limiting */

typedef struct runner {
	int sock;
	const pvm_arch *arch;
	int kvm_fd, vm_fd;
	pvm_vm_shape shape;
	pvm_memory_map map;
	pvm_guest_memory memory;
	pvm_kvm_vcpu *vcpus;
	int *vcpu_fds;
	runner_msg_running prepared; /* namespaces entered, uid and gid dropped to */
	uint8_t filter[RUNNER_FILTER_MAX] __attribute__((aligned(8))); /* pvmd's seccomp program */
	size_t filter_len;

	pthread_mutex_t devices_lock;
	pvm_arch_devices *devices;
	runner_devices virtio;
	int wake_fd;	  /* eventfd: a vCPU changed device state the main thread polls for */
	int vsock_dir_fd; /* where <vm>.vsock_<port> sockets live; becomes the working directory */
	atomic_bool stop_requested;

	pthread_mutex_t console_lock;
	uint8_t console_out[RUNNER_CONSOLE_CHUNK];
	size_t console_out_len;
	uint8_t console_in[RUNNER_CONSOLE_CHUNK];
	size_t console_in_head, console_in_len;

	uint64_t unknown_io;
	runner_sandbox sandbox;
} runner;

static runner R = { .sock = -1, .kvm_fd = -1, .vm_fd = -1, .wake_fd = -1, .vsock_dir_fd = -1 };

/* Report a setup failure to pvmd and exit: nothing has run in the guest yet. */
static _Noreturn void runner_fail(const pvm_error *err)
{
	runner_msg_error e = { .error = err->code ? err->code : EINVAL };

	/* the message may be cut at the protocol's text size */
	memcpy(e.message, err->message, sizeof(e.message) - 1);
	fprintf(stderr, "pvm-runner: %s\n", err->message);
	runner_msg_send(R.sock, RUNNER_MSG_ERROR, &e, sizeof(e), -1);
	exit(EXIT_FAILURE);
}

static void console_flush_locked(void)
{
	if (R.console_out_len > 0) {
		runner_msg_send(R.sock, RUNNER_MSG_CONSOLE, R.console_out, R.console_out_len, -1);
		R.console_out_len = 0;
	}
}

static void console_flush(void)
{
	pthread_mutex_lock(&R.console_lock);
	console_flush_locked();
	pthread_mutex_unlock(&R.console_lock);
}

static void console_append(const uint8_t *p, size_t n)
{
	pthread_mutex_lock(&R.console_lock);
	while (n > 0) {
		size_t k = MIN(n, sizeof(R.console_out) - R.console_out_len);
		memcpy(R.console_out + R.console_out_len, p, k);
		R.console_out_len += k, p += k, n -= k;
		/* a full buffer blocks this vCPU on the socket: a flooding guest is slowed to the
		 * pace pvmd reads at, and memory stays bounded on both sides */
		if (R.console_out_len == sizeof(R.console_out))
			console_flush_locked();
	}
	pthread_mutex_unlock(&R.console_lock);
}

static bool device_console_read(void *userdata, uint8_t *ret)
{
	bool have;

	pthread_mutex_lock(&R.console_lock);
	have = R.console_in_len > 0;
	if (have) {
		*ret = R.console_in[R.console_in_head];
		R.console_in_head = (R.console_in_head + 1) % sizeof(R.console_in);
		R.console_in_len--;
	}
	pthread_mutex_unlock(&R.console_lock);
	return have;
}

static void console_input(const uint8_t *p, size_t n)
{
	pthread_mutex_lock(&R.console_lock);
	for (size_t i = 0; i < n && R.console_in_len < sizeof(R.console_in); i++) {
		R.console_in[(R.console_in_head + R.console_in_len) % sizeof(R.console_in)] = p[i];
		R.console_in_len++;
	}
	pthread_mutex_unlock(&R.console_lock);
}

static bool device_stop_requested(void *userdata)
{
	return atomic_load(&R.stop_requested);
}

static bool device_mmio(void *userdata, uint64_t gpa, void *data, unsigned len, bool is_write,
			pvm_exit_event *ev)
{
	bool mine = runner_devices_mmio(&R.virtio, gpa, data, len, is_write, ev);
	uint64_t one = 1;

	if (mine && is_write && R.wake_fd >= 0 && write(R.wake_fd, &one, sizeof(one)) < 0) {
		/* the counter is saturated: the main thread is awake already */
	}
	return mine;
}

static void send_event(uint16_t type, const pvm_exit_event *ev)
{
	runner_msg_event m = { .kind = ev->kind, .code = ev->code };

	snprintf(m.detail, sizeof(m.detail), "%s", ev->detail);
	runner_msg_send(R.sock, type, &m, sizeof(m), -1);
}

/* The VM is over: everything the guest printed goes out first, then the reason. */
static _Noreturn void vm_end(const pvm_exit_event *ev)
{
	console_flush();
	send_event(RUNNER_MSG_EXIT, ev);
	_exit(EXIT_SUCCESS);
}

static void *vcpu_thread(void *arg)
{
	pvm_kvm_vcpu *vcpu = arg;
	pvm_exit_event ev;

	for (;;) {
		if (ioctl(vcpu->fd, KVM_RUN, 0) < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			ev = (pvm_exit_event){ .kind = PVM_EXIT_EVENT_FATAL };
			snprintf(ev.detail, sizeof(ev.detail), "KVM_RUN failed: %s",
				 strerror(errno));
			vm_end(&ev);
		}
		pthread_mutex_lock(&R.devices_lock);
		R.arch->handle_exit(R.devices, vcpu->fd, vcpu->run, &ev);
		if (ev.kind == PVM_EXIT_EVENT_CONSOLE)
			console_append(ev.console, ev.console_len);
		pthread_mutex_unlock(&R.devices_lock);

		switch (ev.kind) {
		case PVM_EXIT_EVENT_CONTINUE:
		case PVM_EXIT_EVENT_CONSOLE:
			break;
		case PVM_EXIT_EVENT_READY:
			console_flush();
			runner_msg_send(R.sock, RUNNER_MSG_READY, NULL, 0, -1);
			break;
		case PVM_EXIT_EVENT_UNKNOWN_IO:
			R.unknown_io++;
			if (R.unknown_io <= RUNNER_NOTICE_BURST || R.unknown_io % 4096 == 0) {
				size_t n = strlen(ev.detail);
				snprintf(ev.detail + n, sizeof(ev.detail) - n,
					 " (unknown access #%llu)",
					 (unsigned long long)R.unknown_io);
				send_event(RUNNER_MSG_NOTICE, &ev);
			}
			break;
		case PVM_EXIT_EVENT_FW_VERIFIED:
			console_flush();
			send_event(RUNNER_MSG_NOTICE, &ev);
			break;
		case PVM_EXIT_EVENT_IDLE:
			/* nothing can wake this vCPU: park it; pvmd decides when the VM ends */
			console_flush();
			send_event(RUNNER_MSG_NOTICE, &ev);
			for (;;)
				ppoll(NULL, 0, NULL, NULL);
		default:
			vm_end(&ev);
		}
	}
	return NULL;
}

/* What pvmd may send during setup: FILTER, PREPARE and CREATE first, in that order; then the
 * devices, in any number, and BOOT. */
static const uint16_t setup_filter_types[] = { RUNNER_MSG_FILTER };
static const uint16_t setup_prepare_types[] = { RUNNER_MSG_PREPARE };
static const uint16_t setup_create_types[] = { RUNNER_MSG_CREATE };
static const uint16_t setup_boot_types[] = {
	RUNNER_MSG_BOOT,  RUNNER_MSG_WINDOW,	RUNNER_MSG_DISK,
	RUNNER_MSG_VSOCK, RUNNER_MSG_VSOCK_DIR, RUNNER_MSG_NET,
};

/* Wait for one setup message of one of the `n` types in `allowed` (nothing else is valid then);
 * its fd, if any, goes to *ret_fd. */
static void setup_recv(const uint16_t *allowed, size_t n, void *buf, int *ret_fd, pvm_error *err)
{
	struct pollfd p = { .fd = R.sock, .events = POLLIN };
	const char *reason = "";
	uint16_t type;
	int fd = -1, r;

	for (;;) {
		r = runner_msg_recv(R.sock, buf, false, &fd, &reason);
		if (r != -EAGAIN)
			break;
		poll(&p, 1, -1);
	}
	if (r == 0)
		exit(EXIT_SUCCESS); /* pvmd went away */
	if (r < 0) {
		pvm_error_set(err, -r, "bad message from pvmd: %s",
			      r == -EBADMSG ? reason : strerror(-r));
		runner_fail(err);
	}
	type = ((runner_msg_header *)buf)->type;
	for (size_t i = 0; i < n; i++)
		if (allowed[i] == type) {
			*ret_fd = fd;
			return;
		}
	pvm_error_set(err, EPROTO, "pvmd sent message type %u during setup, expected %u", type,
		      allowed[0]);
	runner_fail(err);
}

/* The seccomp program pvmd built once, kept until lock-down. */
static void runner_filter(const void *buf)
{
	R.filter_len = runner_msg_body_size(buf);
	memcpy(R.filter, runner_msg_body(buf), R.filter_len);
}

/* Everything that does not depend on the VM, done while the runner may still wait in pvmd's
 * pool: /dev/kvm opened, then the whole sandbox but its seccomp filter. */
static void runner_prepare(const runner_msg_prepare *p, int netns_fd, pvm_error *err)
{
	_cleanup_close_ int netns = netns_fd;
	int r;

	if (p->uid == 0 || p->gid == 0) {
		pvm_error_set(err, EINVAL, "invalid prepare request (uid %u, gid %u)", p->uid,
			      p->gid);
		runner_fail(err);
	}
	if (pvm_kvm_open(&R.kvm_fd, err) < 0 ||
	    runner_sandbox_prepare(p->uid, p->gid, netns, &R.prepared.namespaces, err) < 0)
		runner_fail(err);
	R.prepared.uid = getuid();
	R.prepared.gid = getgid();
	r = runner_msg_send(R.sock, RUNNER_MSG_PREPARED, &R.prepared, sizeof(R.prepared), -1);
	if (r < 0 && r != -EAGAIN)
		exit(EXIT_SUCCESS); /* pvmd went away */
}

/* The vCPU fds move to the fixed numbers the seccomp program names (runner-protocol.h). */
static void runner_place_vcpu_fd(uint32_t i, pvm_error *err)
{
	int fd = dup3(R.vcpus[i].fd, RUNNER_VCPU_FD_FIRST + (int)i, O_CLOEXEC);

	if (fd < 0) {
		pvm_error_set(err, errno, "moving vCPU %u to fd %d: %m", i,
			      RUNNER_VCPU_FD_FIRST + (int)i);
		runner_fail(err);
	}
	close(R.vcpus[i].fd);
	R.vcpus[i].fd = fd;
}

static void runner_create(const runner_msg_create *c, pvm_error *err)
{
	pvm_host_caps caps = { 0 };
	unsigned long type;
	uint64_t flags;
	bool needs_mapping = false, probed = false;
	int r;

	if ((c->flags & ~RUNNER_CREATE_ALL) || c->cpus == 0 || c->cpus > RUNNER_VCPUS_MAX ||
	    c->memory_bytes == 0 || (c->memory_bytes & 0xfffff) ||
	    c->window_bytes > c->memory_bytes) {
		pvm_error_set(
		    err, EINVAL,
		    "invalid create request (cpus %u, memory %llu, window %llu, flags 0x%x)",
		    c->cpus, (unsigned long long)c->memory_bytes,
		    (unsigned long long)c->window_bytes, c->flags);
		runner_fail(err);
	}
	R.shape = (pvm_vm_shape){ .protected_vm = c->flags & RUNNER_CREATE_PROTECTED,
				  .memory_bytes = c->memory_bytes,
				  .cpus = c->cpus,
				  .window_bytes = c->window_bytes };

	pvm_kvm_probe_system(R.kvm_fd, &caps);
	if (R.arch->memory_map(R.shape.memory_bytes, &R.map, err) < 0 ||
	    R.arch->vm_type(R.kvm_fd, &R.shape, &caps, &type, err) < 0 ||
	    pvm_kvm_create_vm(R.kvm_fd, type, &R.vm_fd, err) < 0)
		runner_fail(err);
	pvm_kvm_probe_vm(R.vm_fd, &caps);

	r = R.arch->guest_memfd_flags(&R.shape, &caps, &flags, err);
	/* The answer is a property of the host: the probe VM runs once per pvmd, in the first
	 * runner that needs it, and pvmd hands the answer to the runners after it. A protected VM
	 * may need another answer (arm64: a kernel with pvm's series faults its pages from
	 * guest_memfd itself), so it always asks the arch and its answer is not handed on. */
	if (r == 0 && !R.shape.protected_vm && (c->flags & RUNNER_CREATE_MAPPING_KNOWN) &&
	    c->known_guest_memfd_flags == flags)
		needs_mapping = c->flags & RUNNER_CREATE_NEEDS_MAPPING;
	else if (r == 0 && R.arch->guest_memfd_needs_mapping) {
		r = R.arch->guest_memfd_needs_mapping(R.kvm_fd, &R.shape, flags, &needs_mapping,
						      err);
		probed = r == 0 && !R.shape.protected_vm;
	}
	if (r == 0)
		r = pvm_guest_memfd_create(R.vm_fd, R.map.ram_base, R.map.ram_size, flags,
					   needs_mapping, &R.memory, err);
	else if (r == -EOPNOTSUPP && (c->flags & RUNNER_CREATE_ALLOW_FALLBACK)) {
		pvm_error_clear(err);
		r = pvm_memfd_mlock_create(R.vm_fd, R.map.ram_base, R.map.ram_size, &R.memory, err);
	}
	if (r < 0)
		runner_fail(err);
	R.shape.guest_memfd = R.memory.kind == PVM_MEMORY_GUEST_MEMFD;

	if (R.arch->vm_setup(R.kvm_fd, R.vm_fd, &R.shape, err) < 0)
		runner_fail(err);
	R.vcpus = calloc(c->cpus, sizeof(*R.vcpus));
	R.vcpu_fds = calloc(c->cpus, sizeof(*R.vcpu_fds));
	if (!R.vcpus || !R.vcpu_fds) {
		pvm_error_set(err, ENOMEM, "out of memory");
		runner_fail(err);
	}
	for (uint32_t i = 0; i < c->cpus; i++) {
		if (pvm_kvm_create_vcpu(R.kvm_fd, R.vm_fd, i, &R.vcpus[i], err) < 0)
			runner_fail(err);
		runner_place_vcpu_fd(i, err);
		R.vcpu_fds[i] = R.vcpus[i].fd;
	}

	runner_msg_created m = {
		.backing = R.memory.kind == PVM_MEMORY_GUEST_MEMFD ? RUNNER_BACKING_GUEST_MEMFD
								   : RUNNER_BACKING_MEMFD_MLOCK,
		.created_flags =
		    (R.memory.mapping ? RUNNER_CREATED_RUNNER_MAPS : 0) |
		    (probed && R.memory.kind == PVM_MEMORY_GUEST_MEMFD ? RUNNER_CREATED_PROBED : 0),
		.guest_memfd_flags = R.memory.flags,
		.memory_bytes = R.memory.size,
		.ram_base = R.memory.gpa,
		.vm_type = type,
	};
	r = runner_msg_send(R.sock, RUNNER_MSG_CREATED, &m, sizeof(m), R.memory.fd);
	if (r < 0) {
		pvm_error_set(err, -r, "sending the guest memory to pvmd: %s", strerror(-r));
		runner_fail(err);
	}
}

/* One device message from pvmd (between CREATED and BOOT); fd, if any, is taken. */
static void runner_device(const void *buf, int fd, pvm_error *err)
{
	const void *body = runner_msg_body(buf);
	int r = 0;

	if (!R.arch->virtio_mmio_base) {
		pvm_error_set(err, EOPNOTSUPP, "%s: virtio devices are not available yet",
			      R.arch->name);
		runner_fail(err);
	}
	switch (((const runner_msg_header *)buf)->type) {
	case RUNNER_MSG_WINDOW: {
		const runner_msg_window *w = body;
		/* the size CREATE announced is the one the memory lock was reserved for */
		if (w->size != R.shape.window_bytes)
			r = pvm_error_set(
			    err, EINVAL, "shared window of %llu bytes, but CREATE announced %llu",
			    (unsigned long long)w->size, (unsigned long long)R.shape.window_bytes);
		else if (R.arch->window_base)
			r = runner_devices_set_window_slot(&R.virtio, R.vm_fd, w->gpa, w->size,
							   R.arch->window_base, R.arch->window_max,
							   err);
		else
			r = runner_devices_set_window(&R.virtio, R.memory.fd, R.memory.gpa,
						      R.memory.size, w->gpa, w->size, err);
		break;
	}
	case RUNNER_MSG_DISK: {
		const runner_msg_disk *k = body;
		r = runner_devices_add_disk(&R.virtio, fd, k->flags & RUNNER_DISK_READ_ONLY, k->id,
					    err);
		break;
	}
	case RUNNER_MSG_VSOCK: {
		const runner_msg_vsock *v = body;
		r = runner_devices_add_vsock(&R.virtio, fd, v->guest_cid, v->prefix, err);
		break;
	}
	case RUNNER_MSG_VSOCK_DIR:
		if (R.vsock_dir_fd >= 0)
			close(R.vsock_dir_fd);
		R.vsock_dir_fd = fd;
		break;
	case RUNNER_MSG_NET: {
		const runner_msg_net *n = body;
		r = runner_devices_add_net(&R.virtio, fd, n->mac, err);
		break;
	}
	}
	if (r < 0)
		runner_fail(err);
}

static void runner_boot(const runner_msg_boot *b, pvm_error *err)
{
	pvm_device_host host = {
		.console_read = device_console_read,
		.stop_requested = device_stop_requested,
		.mmio = device_mmio,
	};
	runner_msg_running running = { 0 };

	for (uint32_t i = 0; i < R.shape.cpus; i++)
		if (R.arch->vcpu_setup(R.kvm_fd, R.vm_fd, R.vcpus[i].fd, i, &b->entry, err) < 0)
			runner_fail(err);
	/* the vCPUs are set up, so the irqchip is initialised: the devices' interrupt lines and
	 * queue notifications */
	if (runner_devices_connect_kvm(&R.virtio, err) < 0)
		runner_fail(err);
	/* a window page the guest withholds faults the device work that touches it: the VM ends */
	if (R.virtio.window.host && runner_window_guard_install(err) < 0)
		runner_fail(err);
	if (R.arch->devices_new(&host, &R.devices) < 0) {
		pvm_error_set(err, ENOMEM, "out of memory for devices");
		runner_fail(err);
	}

	R.wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (R.wake_fd < 0) {
		pvm_error_set(err, errno, "eventfd: %m");
		runner_fail(err);
	}

	/* Lock-down. The memslot holds the guest memory; the runner keeps no fd to it (only
	 * the shared window's mapping, when the VM has devices). */
	close(TAKE_FD(R.memory.fd));
	close(TAKE_FD(R.kvm_fd));
	R.sandbox = (runner_sandbox){
		.vm_fd = R.vm_fd,
		.vcpu_fds = R.vcpu_fds,
		.n_vcpus = R.shape.cpus,
		.cwd_fd = R.vsock_dir_fd,
		.filter = R.filter,
		.filter_len = R.filter_len,
	};
	if (runner_sandbox_lockdown(&R.sandbox, err) < 0)
		runner_fail(err);
	running.namespaces = R.prepared.namespaces;
	running.uid = getuid();
	running.gid = getgid();
	runner_msg_send(R.sock, RUNNER_MSG_RUNNING, &running, sizeof(running), -1);

	for (uint32_t i = 0; i < R.shape.cpus; i++) {
		pthread_t t;
		int r = pthread_create(&t, NULL, vcpu_thread, &R.vcpus[i]);
		if (r != 0) {
			pvm_exit_event ev = { .kind = PVM_EXIT_EVENT_FATAL };
			snprintf(ev.detail, sizeof(ev.detail), "starting vCPU %u thread: %s", i,
				 strerror(r));
			vm_end(&ev);
		}
	}
}

/* After boot: serve pvmd until it closes the socket; flush console output regularly. */
static _Noreturn void runner_serve(void)
{
	static uint8_t buf[RUNNER_MSG_MAX] __attribute__((aligned(8)));
	struct timespec flush = { .tv_nsec = RUNNER_FLUSH_MSEC * 1000000L };

	for (;;) {
		struct pollfd p[2 + RUNNER_DEVICES_POLLFDS_MAX] = {
			{ .fd = R.sock, .events = POLLIN },
			{ .fd = R.wake_fd, .events = POLLIN },
		};
		const char *reason = "";
		size_t n = 2;
		int fd = -1, r;

		pthread_mutex_lock(&R.devices_lock);
		n += runner_devices_pollfds(&R.virtio, p + n, ELEMENTSOF(p) - n);
		pthread_mutex_unlock(&R.devices_lock);
		r = ppoll(p, n, &flush, NULL);
		if (r == 0) {
			console_flush();
			continue;
		}
		if (r > 0 && n > 1) {
			uint64_t count;
			pvm_exit_event ev = { 0 };
			if (p[1].revents && read(R.wake_fd, &count, sizeof(count)) < 0) {
				/* nothing to clear */
			}
			pthread_mutex_lock(&R.devices_lock);
			r = runner_devices_service(&R.virtio, &ev);
			pthread_mutex_unlock(&R.devices_lock);
			if (r < 0)
				vm_end(&ev);
		}
		if (!(p[0].revents & (POLLIN | POLLHUP | POLLERR)))
			continue;
		r = runner_msg_recv(R.sock, buf, false, &fd, &reason);
		if (r == -EAGAIN || r == -EINTR)
			continue;
		if (r <= 0) {
			if (r < 0)
				fprintf(stderr, "pvm-runner: bad message from pvmd: %s\n",
					r == -EBADMSG ? reason : strerror(-r));
			_exit(r == 0 ? EXIT_SUCCESS : EXIT_FAILURE); /* pvmd is gone or broken */
		}
		switch (((runner_msg_header *)buf)->type) {
		case RUNNER_MSG_STOP_REQUEST:
			atomic_store(&R.stop_requested, true);
			break;
		case RUNNER_MSG_CONSOLE_INPUT:
			console_input(runner_msg_body(buf), runner_msg_body_size(buf));
			break;
		case RUNNER_MSG_SELF_CHECK: {
			runner_msg_self_check sc;
			runner_sandbox_self_check(&R.sandbox, &sc);
			runner_msg_send(R.sock, RUNNER_MSG_SELF_CHECK_RESULT, &sc, sizeof(sc), -1);
			break;
		}
		default:
			fprintf(stderr, "pvm-runner: unexpected message type %u after boot\n",
				((runner_msg_header *)buf)->type);
			_exit(EXIT_FAILURE);
		}
	}
}

int main(int argc, char **argv)
{
	static uint8_t buf[RUNNER_MSG_MAX] __attribute__((aligned(8)));
	pvm_error err = { 0 };
	int fd = -1; /* the protocol lets an fd come only with PREPARE and the devices */

	if (argc != 1 || isatty(RUNNER_CONTROL_FD) || fcntl(RUNNER_CONTROL_FD, F_GETFD) < 0) {
		fprintf(stderr, "pvm-runner: started by pvmd only (expects its socket on fd %d)\n",
			RUNNER_CONTROL_FD);
		return EXIT_FAILURE;
	}
	R.sock = RUNNER_CONTROL_FD;
	/* No parent-death signal: the runner ends when its control socket closes, i.e. when
	 * nobody holds pvmd's end any more. A pvmd killed outright takes its end with it; under
	 * systemd the fd store keeps it, and the next pvmd takes the runner over. */
	signal(SIGPIPE, SIG_IGN);
	pthread_mutex_init(&R.devices_lock, NULL);
	pthread_mutex_init(&R.console_lock, NULL);
	R.arch = pvm_arch_native();
	if (!R.arch) {
		pvm_error_set(&err, ENOTSUP, "no KVM backend for this architecture");
		runner_fail(&err);
	}
	runner_devices_init(&R.virtio, R.arch->virtio_mmio_base, R.arch->virtio_mmio_stride);

	setup_recv(setup_filter_types, ELEMENTSOF(setup_filter_types), buf, &fd, &err);
	runner_filter(buf);
	setup_recv(setup_prepare_types, ELEMENTSOF(setup_prepare_types), buf, &fd, &err);
	runner_prepare(runner_msg_body(buf), TAKE_FD(fd), &err);
	setup_recv(setup_create_types, ELEMENTSOF(setup_create_types), buf, &fd, &err);
	runner_create(runner_msg_body(buf), &err);
	runner_devices_set_kvm(&R.virtio, R.vm_fd, R.arch->virtio_irqfd, R.arch->virtio_irq_base,
			       R.arch->virtio_ioeventfd);
	for (;;) {
		setup_recv(setup_boot_types, ELEMENTSOF(setup_boot_types), buf, &fd, &err);
		if (((runner_msg_header *)buf)->type == RUNNER_MSG_BOOT)
			break;
		runner_device(buf, TAKE_FD(fd), &err);
	}
	runner_boot(runner_msg_body(buf), &err);
	runner_serve();
}
