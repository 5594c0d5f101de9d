/* The runner's virtio devices (devices.h). Every guest access lands in the virtio core, which
 * reaches guest memory only through the window; a guest that breaks the device protocol (a
 * ring or buffer outside the window, a descriptor loop, an oversized chain, a window page it
 * withheld from the host) ends its VM with death reason protection-violation, and the host side
 * carries on. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <linux/virtio_config.h>
#include <linux/virtio_mmio.h>

#include "devices.h"
#include "kvm-compat.h"
#include "macro.h"
#include "memory.h"
#include "window-guard.h"

void runner_devices_init(runner_devices *d, uint64_t mmio_base, uint64_t mmio_stride)
{
	*d = (runner_devices){ .mmio_base = mmio_base,
			       .mmio_stride = mmio_stride,
			       .vm_fd = -1,
			       .vsock_listen_fd = -1,
			       .net = { .tap_fd = -1 } };
	for (unsigned i = 0; i < RUNNER_VSOCK_HELLOS; i++)
		d->hellos[i].fd = -1;
	for (unsigned i = 0; i < PVM_VIRTIO_SLOTS; i++) {
		d->irq_fds[i] = -1;
		for (unsigned q = 0; q < PVM_VIRTIO_QUEUES_MAX; q++)
			d->notify_fds[i][q] = -1;
	}
}

void runner_devices_set_kvm(runner_devices *d, int vm_fd, bool irqfd, uint32_t irq_base,
			    bool ioeventfd)
{
	d->vm_fd = vm_fd;
	d->irqfd = irqfd;
	d->irq_base = irq_base;
	d->ioeventfd = ioeventfd;
}

int runner_devices_set_window(runner_devices *d, int mem_fd, uint64_t ram_base, uint64_t ram_size,
			      uint64_t gpa, uint64_t size, pvm_error *err)
{
	void *p;

	if (d->window.host)
		return pvm_error_set(err, EEXIST, "the shared window is already set");
	if (size == 0 || (gpa | size) & 0xfff || gpa < ram_base || gpa - ram_base > ram_size ||
	    size > ram_size - (gpa - ram_base))
		return pvm_error_set(err, EINVAL,
				     "shared window 0x%llx+0x%llx is not whole pages inside RAM",
				     (unsigned long long)gpa, (unsigned long long)size);
	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, mem_fd, (off_t)(gpa - ram_base));
	if (p == MAP_FAILED)
		return pvm_error_set(err, errno, "mapping the shared window: %m");
	d->window = (pvm_window){ .gpa = gpa, .size = size, .host = p };
	return 0;
}

int runner_devices_set_window_slot(runner_devices *d, int vm_fd, uint64_t gpa, uint64_t size,
				   uint64_t want_gpa, uint64_t max, pvm_error *err)
{
	void *p;
	int r;

	if (d->window.host)
		return pvm_error_set(err, EEXIST, "the shared window is already set");
	if (gpa != want_gpa || size == 0 || size & 0xfff || size > max)
		return pvm_error_set(err, EINVAL,
				     "shared window 0x%llx+0x%llx: expected whole pages at 0x%llx, "
				     "at most 0x%llx bytes",
				     (unsigned long long)gpa, (unsigned long long)size,
				     (unsigned long long)want_gpa, (unsigned long long)max);
	r = pvm_shared_window_create(vm_fd, gpa, size, &p, err);
	if (r < 0)
		return r;
	d->window = (pvm_window){ .gpa = gpa, .size = size, .host = p };
	d->window_own_slot = true;
	return 0;
}

static pvm_virtio_mmio *slot_new(runner_devices *d, const char *what, pvm_error *err)
{
	if (!d->window.host)
		pvm_error_set(err, EINVAL, "%s before the shared window", what);
	else if (d->n_slots == PVM_VIRTIO_SLOTS)
		pvm_error_set(err, ENOSPC, "%s: all %d virtio slots are taken", what,
			      PVM_VIRTIO_SLOTS);
	else
		return &d->slots[d->n_slots];
	return NULL;
}

static int connect_irq(runner_devices *d, unsigned slot, pvm_error *err)
{
	_cleanup_close_ int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	struct kvm_irqfd irqfd = { .gsi = d->irq_base + slot };

	if (fd < 0)
		return pvm_error_set(err, errno, "virtio slot %u: eventfd: %m", slot);
	irqfd.fd = (uint32_t)fd;
	if (ioctl(d->vm_fd, KVM_IRQFD, &irqfd) < 0)
		return pvm_error_set(err, errno, "virtio slot %u: KVM_IRQFD (GSI %u): %m", slot,
				     irqfd.gsi);
	d->slots[slot].irq_fd = d->irq_fds[slot] = TAKE_FD(fd);
	return 0;
}

/* KVM signals the eventfd for a 4-byte write of q to the slot's QueueNotify register; other
 * values and widths still exit, and the transport ignores them as before. */
static int connect_notify(runner_devices *d, unsigned slot, unsigned q, pvm_error *err)
{
	_cleanup_close_ int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	struct kvm_ioeventfd io = {
		.datamatch = q,
		.addr = d->mmio_base + slot * d->mmio_stride + VIRTIO_MMIO_QUEUE_NOTIFY,
		.len = 4,
		.flags = KVM_IOEVENTFD_FLAG_DATAMATCH,
	};

	if (fd < 0)
		return pvm_error_set(err, errno, "virtio slot %u: eventfd: %m", slot);
	io.fd = fd;
	if (ioctl(d->vm_fd, KVM_IOEVENTFD, &io) < 0)
		return pvm_error_set(err, errno,
				     "virtio slot %u queue %u: KVM_IOEVENTFD (0x%llx = %u): %m",
				     slot, q, (unsigned long long)io.addr, q);
	d->notify_fds[slot][q] = TAKE_FD(fd);
	return 0;
}

int runner_devices_connect_kvm(runner_devices *d, pvm_error *err)
{
	int r = 0;

	if (d->vm_fd < 0)
		return 0;
	for (unsigned slot = 0; slot < d->n_slots && r == 0; slot++) {
		if (d->irqfd)
			r = connect_irq(d, slot, err);
		for (unsigned q = 0; d->ioeventfd && q < d->slots[slot].ops->n_queues && r == 0;
		     q++)
			r = connect_notify(d, slot, q, err);
	}
	return r;
}

int runner_devices_add_disk(runner_devices *d, int fd, bool read_only, const char *id,
			    pvm_error *err)
{
	_cleanup_close_ int disk = fd;
	pvm_virtio_mmio *m = slot_new(d, "disk", err);
	pvm_virtio_blk *blk;
	int r;

	if (!m)
		return -err->code;
	blk = &d->disks[d->n_disks];
	r = pvm_virtio_blk_init(blk, disk, read_only, id, err);
	if (r < 0)
		return r;
	/* a window outside RAM is reachable only through the platform's DMA (the guest's
	 * restricted-dma-pool); inside RAM (x86, unprotected) plain addresses reach it */
	pvm_virtio_mmio_init(m, &pvm_virtio_blk_ops, blk, &d->window, d->window_own_slot);
	TAKE_FD(disk);
	d->n_disks++;
	d->n_slots++;
	return 0;
}

/* The guest connects to host port `port`: the unix socket <prefix><port>, if a host program
 * listens there. Non-blocking, so a full backlog refuses instead of stalling the vCPU. */
static int vsock_connect_host(void *userdata, uint32_t port)
{
	runner_devices *d = userdata;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd, n;

	n = snprintf(sa.sun_path, sizeof(sa.sun_path), "%s%u", d->vsock_prefix, port);
	if (n < 0 || (size_t)n >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 && errno != EINPROGRESS) {
		int r = -errno;
		close(fd);
		return r;
	}
	return fd;
}

int runner_devices_add_vsock(runner_devices *d, int listen_fd, uint64_t cid, const char *prefix,
			     pvm_error *err)
{
	_cleanup_close_ int lfd = listen_fd;
	pvm_virtio_mmio *m = slot_new(d, "vsock", err);
	pvm_vsock_host host = { .connect = vsock_connect_host, .userdata = d };
	int r;

	if (!m)
		return -err->code;
	if (d->vsock_slot)
		return pvm_error_set(err, EEXIST, "a VM has one vsock device");
	if (strlen(prefix) >= sizeof(d->vsock_prefix))
		return pvm_error_set(err, ENAMETOOLONG, "vsock socket prefix too long");
	if (fcntl(lfd, F_SETFL, O_NONBLOCK) < 0)
		return pvm_error_set(err, errno, "vsock: listening socket: %m");
	r = pvm_virtio_vsock_init(&d->vsock, cid, &host, err);
	if (r < 0)
		return r;
	d->vsock.announce_connects = true;
	snprintf(d->vsock_prefix, sizeof(d->vsock_prefix), "%s", prefix);
	pvm_virtio_mmio_init(m, &pvm_virtio_vsock_ops, &d->vsock, &d->window, d->window_own_slot);
	d->vsock_slot = m;
	d->vsock_listen_fd = TAKE_FD(lfd);
	d->n_slots++;
	return 0;
}

int runner_devices_add_net(runner_devices *d, int tap_fd, const uint8_t mac[PVM_NET_MAC_LEN],
			   pvm_error *err)
{
	_cleanup_close_ int tap = tap_fd;
	pvm_virtio_mmio *m = slot_new(d, "network", err);
	int r;

	if (!m)
		return -err->code;
	if (d->net_slot)
		return pvm_error_set(err, EEXIST, "a VM has one network device");
	/* a frame that cannot move now is dropped, never waited for */
	if (fcntl(tap, F_SETFL, O_NONBLOCK) < 0)
		return pvm_error_set(err, errno, "network: the tap: %m");
	r = pvm_virtio_net_init(&d->net, tap, mac, err);
	if (r < 0)
		return r;
	pvm_virtio_mmio_init(m, &pvm_virtio_net_ops, &d->net, &d->window, d->window_own_slot);
	TAKE_FD(tap);
	d->net_slot = m;
	d->n_slots++;
	return 0;
}

static void device_failed(pvm_exit_event *ev, const pvm_error *err)
{
	ev->kind = PVM_EXIT_EVENT_PROTECTION_VIOLATION;
	snprintf(ev->detail, sizeof(ev->detail), "%.*s", PVM_EXIT_DETAIL_MAX - 1, err->message);
}

/* The device work touched a window page the guest took back (window-guard.h). */
static void window_withheld(pvm_exit_event *ev, uint64_t gpa)
{
	ev->kind = PVM_EXIT_EVENT_PROTECTION_VIOLATION;
	snprintf(ev->detail, sizeof(ev->detail),
		 "the guest withheld page 0x%llx of the shared window from the host while a "
		 "device used it (a protected guest must share the window's pages)",
		 (unsigned long long)(gpa & ~0xfffull));
}

typedef struct mmio_access {
	pvm_virtio_mmio *m;
	uint64_t off;
	void *data;
	unsigned len;
	bool is_write;
	pvm_error err;
	int r;
} mmio_access;

static void mmio_access_run(void *arg)
{
	mmio_access *a = arg;

	a->r = a->is_write ? pvm_virtio_mmio_write(a->m, a->off, a->data, a->len, &a->err)
			   : pvm_virtio_mmio_read(a->m, a->off, a->data, a->len, &a->err);
}

bool runner_devices_mmio(runner_devices *d, uint64_t gpa, void *data, unsigned len, bool is_write,
			 pvm_exit_event *ev)
{
	mmio_access a = { .data = data, .len = len, .is_write = is_write };
	uint64_t off, slot, fault;

	if (d->n_slots == 0 || gpa < d->mmio_base ||
	    gpa - d->mmio_base >= (uint64_t)PVM_VIRTIO_SLOTS * d->mmio_stride)
		return false;
	slot = (gpa - d->mmio_base) / d->mmio_stride;
	off = (gpa - d->mmio_base) % d->mmio_stride;
	ev->kind = PVM_EXIT_EVENT_CONTINUE;
	/* an empty slot, or past a device's registers: DeviceID 0, "no device here" (4.2.2) */
	if (slot >= d->n_slots || off >= PVM_VIRTIO_MMIO_SIZE) {
		if (!is_write)
			memset(data, 0, len);
		return true;
	}
	a.m = &d->slots[slot];
	a.off = off;
	/* a queue notification serves the queue here when KVM has no eventfd for it */
	if (runner_window_guarded(&d->window, mmio_access_run, &a, &fault) < 0)
		window_withheld(ev, fault);
	else if (a.r < 0)
		device_failed(ev, &a.err);
	return true;
}

size_t runner_devices_pollfds(runner_devices *d, struct pollfd *fds, size_t max)
{
	size_t n = 0;

	for (unsigned slot = 0; slot < d->n_slots; slot++)
		for (unsigned q = 0; q < PVM_VIRTIO_QUEUES_MAX && n < max; q++)
			if (d->notify_fds[slot][q] >= 0)
				fds[n++] = (struct pollfd){ .fd = d->notify_fds[slot][q],
							    .events = POLLIN };
	if (d->net_slot)
		n += pvm_virtio_net_pollfds(d->net_slot, fds + n, max - n);
	if (!d->vsock_slot)
		return n;
	if (n < max)
		fds[n++] = (struct pollfd){ .fd = d->vsock_listen_fd, .events = POLLIN };
	for (unsigned i = 0; i < RUNNER_VSOCK_HELLOS && n < max; i++)
		if (d->hellos[i].fd >= 0)
			fds[n++] = (struct pollfd){ .fd = d->hellos[i].fd, .events = POLLIN };
	return n + pvm_virtio_vsock_pollfds(&d->vsock, fds + n, max - n);
}

static void vsock_accept(runner_devices *d)
{
	for (unsigned i = 0; i < RUNNER_VSOCK_HELLOS; i++) {
		if (d->hellos[i].fd >= 0)
			continue;
		int fd = accept4(d->vsock_listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0)
			return;
		d->hellos[i] = (runner_vsock_hello){ .fd = fd };
	}
	/* every slot busy: the rest wait in the listen backlog */
}

/* Read what a host program sent of "CONNECT <port>\n"; hand the socket to vsock once whole. A
 * malformed line, an over-long one or a program that hangs up loses its socket. */
static void vsock_hello(runner_devices *d, runner_vsock_hello *h)
{
	pvm_error err = { 0 };
	unsigned port;
	char nl;
	ssize_t n;

	/* byte by byte: nothing after the newline may be consumed, it is data for the guest */
	while (h->len < sizeof(h->line) - 1) {
		n = read(h->fd, &h->line[h->len], 1);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		if (n <= 0)
			goto drop;
		if (h->line[h->len++] == '\n')
			break;
	}
	h->line[h->len] = '\0';
	if (h->line[h->len - 1] != '\n' || sscanf(h->line, "CONNECT %u%c", &port, &nl) != 2 ||
	    nl != '\n')
		goto drop;
	if (pvm_virtio_vsock_connect_guest(&d->vsock, h->fd, port, &err) < 0)
		goto drop;
	*h = (runner_vsock_hello){ .fd = -1 };
	return;
drop:
	close(h->fd);
	*h = (runner_vsock_hello){ .fd = -1 };
}

/* One device's host-side work; a malformed ring found on the way ends the VM. */
static int device_pump(pvm_virtio_mmio *m, int (*pump)(pvm_virtio_mmio *, pvm_error *),
		       pvm_exit_event *ev)
{
	pvm_error err = { 0 };
	int r;

	if (m->broken || !(m->status & VIRTIO_CONFIG_S_DRIVER_OK))
		return 0;
	r = pump(m, &err);
	if (r < 0) {
		m->broken = true;
		device_failed(ev, &err);
	}
	return r;
}

/* The queues KVM signalled (an eventfd read clears it): what a QueueNotify exit would have
 * done on the vCPU's thread. */
static int serve_notifications(runner_devices *d, pvm_exit_event *ev)
{
	pvm_error err = { 0 };
	uint64_t count;
	int r;

	for (unsigned slot = 0; slot < d->n_slots; slot++)
		for (unsigned q = 0; q < PVM_VIRTIO_QUEUES_MAX; q++) {
			if (d->notify_fds[slot][q] < 0 ||
			    read(d->notify_fds[slot][q], &count, sizeof(count)) != sizeof(count))
				continue;
			r = pvm_virtio_mmio_notify(&d->slots[slot], q, &err);
			if (r < 0) {
				device_failed(ev, &err);
				return r;
			}
		}
	return 0;
}

static int service(runner_devices *d, pvm_exit_event *ev)
{
	int r = serve_notifications(d, ev);

	if (r < 0)
		return r;
	if (d->net_slot) {
		r = device_pump(d->net_slot, pvm_virtio_net_pump, ev);
		if (r < 0)
			return r;
	}
	if (!d->vsock_slot)
		return 0;
	vsock_accept(d);
	for (unsigned i = 0; i < RUNNER_VSOCK_HELLOS; i++)
		if (d->hellos[i].fd >= 0)
			vsock_hello(d, &d->hellos[i]);
	return device_pump(d->vsock_slot, pvm_virtio_vsock_pump, ev);
}

typedef struct service_call {
	runner_devices *d;
	pvm_exit_event *ev;
	int r;
} service_call;

static void service_run(void *arg)
{
	service_call *c = arg;

	c->r = service(c->d, c->ev);
}

int runner_devices_service(runner_devices *d, pvm_exit_event *ev)
{
	service_call c = { .d = d, .ev = ev };
	uint64_t fault;

	if (runner_window_guarded(&d->window, service_run, &c, &fault) < 0) {
		window_withheld(ev, fault);
		return -EFAULT;
	}
	return c.r;
}
