/* The shared window as a memslot of its own (the arm64 arrangement, runner/devices.c), on this
 * host's real KVM: it is accepted only at the arch's address and size, it is a memfd named
 * pvm-window that the runner maps and nothing else of the guest, its devices (disk and network)
 * require VIRTIO_F_ACCESS_PLATFORM, and a queue whose rings lie in RAM instead of the window is
 * refused. Queue notifications through KVM_IOEVENTFD: one eventfd per queue that KVM holds, and
 * a signal on it serves the queue as a QueueNotify exit would (a hostile ring then ends the VM
 * as a protection violation). A window page the guest withheld from the host (pKVM's stage 2
 * faults the host's access; here the page is mprotect()ed away) ends the VM as a protection
 * violation through either path, and the process carries on. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <linux/virtio_config.h>
#include <linux/virtio_ring.h>
#include <linux/virtio_mmio.h>

#include "../../runner/devices.h"
#include "../unit/check.h"
#include "kvm-compat.h"
#include "macro.h"
#include "memory.h"
#include "../../runner/window-guard.h"

#define WINDOW_GPA 0x70000000ULL
#define WINDOW_SIZE (2ULL << 20)
#define WINDOW_MAX (256ULL << 20)

static unsigned window_mappings(void)
{
	char line[512];
	unsigned n = 0;
	FILE *f = fopen("/proc/self/maps", "re");

	while (f && fgets(line, sizeof(line), f))
		n += strstr(line, "/memfd:pvm-window") != NULL;
	if (f)
		fclose(f);
	return n;
}

static uint32_t reg(pvm_virtio_mmio *m, uint64_t off)
{
	uint32_t v = 0;
	pvm_error err = { 0 };

	pvm_virtio_mmio_read(m, off, &v, 4, &err);
	return v;
}

static int put(pvm_virtio_mmio *m, uint64_t off, uint32_t v, pvm_error *err)
{
	return pvm_virtio_mmio_write(m, off, &v, 4, err);
}

/* Slot 0 is a live disk whose queue 0 has its rings at the window's start. */
static void check_notifications(runner_devices *d, int vm)
{
	pvm_exit_event ev = { 0 };
	pvm_error err = { 0 };
	struct vring_desc *desc = (struct vring_desc *)d->window.host;
	struct vring_avail *avail = (struct vring_avail *)(d->window.host + 0x1000);
	uint64_t one = 1;

	runner_devices_set_kvm(d, vm, false, 0, true);
	CHECK(runner_devices_connect_kvm(d, &err) == 0, "%s", err.message);
	/* the disk has one queue, the network two: an eventfd for each, none beyond */
	CHECK(d->notify_fds[0][0] >= 0 && d->notify_fds[0][1] < 0, "disk: notify fds %d %d",
	      d->notify_fds[0][0], d->notify_fds[0][1]);
	CHECK(d->notify_fds[1][0] >= 0 && d->notify_fds[1][1] >= 0 && d->notify_fds[1][2] < 0,
	      "network: notify fds %d %d %d", d->notify_fds[1][0], d->notify_fds[1][1],
	      d->notify_fds[1][2]);
	/* KVM holds them: the same address and value again is a collision */
	struct kvm_ioeventfd again = { .datamatch = 0,
				       .addr = 0xfeb00000 + VIRTIO_MMIO_QUEUE_NOTIFY,
				       .len = 4,
				       .fd = d->notify_fds[1][0],
				       .flags = KVM_IOEVENTFD_FLAG_DATAMATCH };
	CHECK(ioctl(vm, KVM_IOEVENTFD, &again) < 0 && errno == EEXIST,
	      "a second KVM_IOEVENTFD on slot 0's queue 0 was not a collision: %m");
	struct pollfd fds[RUNNER_DEVICES_POLLFDS_MAX];
	size_t n = runner_devices_pollfds(d, fds, ELEMENTSOF(fds));
	CHECK(n >= 3 && fds[0].fd == d->notify_fds[0][0], "%zu fds to poll, first %d", n,
	      fds[0].fd);

	/* the page of the driver ring withheld: the notification, as an exit or through its
	 * eventfd, faults on it and ends the VM instead of the process */
	uint32_t q0 = 0;
	CHECK(mprotect(avail, 4096, PROT_NONE) == 0, "mprotect: %m");
	ev = (pvm_exit_event){ 0 };
	CHECK(runner_devices_mmio(d, 0xfeb00000 + VIRTIO_MMIO_QUEUE_NOTIFY, &q0, 4, true, &ev),
	      "QueueNotify not claimed");
	CHECK(ev.kind == PVM_EXIT_EVENT_PROTECTION_VIOLATION &&
		  strstr(ev.detail, "withheld page 0x70001000 of the shared window"),
	      "QueueNotify on a withheld ring: event %d (%s)", ev.kind, ev.detail);
	ev = (pvm_exit_event){ 0 };
	CHECK(write(d->notify_fds[0][0], &one, sizeof(one)) == sizeof(one), "eventfd: %m");
	CHECK(runner_devices_service(d, &ev) == -EFAULT &&
		  ev.kind == PVM_EXIT_EVENT_PROTECTION_VIOLATION &&
		  strstr(ev.detail, "withheld page 0x70001000 of the shared window"),
	      "notified through the eventfd, a withheld ring: event %d (%s)", ev.kind, ev.detail);
	CHECK(mprotect(avail, 4096, PROT_READ | PROT_WRITE) == 0, "mprotect: %m");

	/* a request whose buffer lies in RAM, not the window: nothing happens until the queue is
	 * notified, then the VM ends */
	ev = (pvm_exit_event){ 0 };
	desc[0] = (struct vring_desc){ .addr = 0x80000000, .len = 16 };
	avail->ring[0] = 0;
	avail->idx = 1;
	CHECK(runner_devices_service(d, &ev) == 0, "served a queue nobody notified");
	CHECK(write(d->notify_fds[0][0], &one, sizeof(one)) == sizeof(one), "eventfd: %m");
	CHECK(runner_devices_service(d, &ev) < 0 && ev.kind == PVM_EXIT_EVENT_PROTECTION_VIOLATION,
	      "a notified queue with a buffer outside the window: event %d (%s)", ev.kind,
	      ev.detail);
	CHECK(strstr(ev.detail, "virtio-blk queue 0"), "%s", ev.detail);
}

int main(void)
{
	static const uint8_t mac[PVM_NET_MAC_LEN] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };
	int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC), vm, disk, tap[2];
	runner_devices d;
	pvm_error err = { 0 };
	char path[] = "/tmp/pvm-window-disk.XXXXXX";
	pvm_virtio_mmio *m;

	if (kvm < 0) {
		printf("engine-window-slot: no /dev/kvm, skipped\n");
		return 77;
	}
	vm = ioctl(kvm, KVM_CREATE_VM, 0);
	CHECK(vm >= 0, "KVM_CREATE_VM: %m");

	CHECK(runner_window_guard_install(&err) == 0, "%s", err.message);
	runner_devices_init(&d, 0xfeb00000, 0x1000);
	/* anywhere but the arch's address, or too big, or not whole pages: refused */
	CHECK(runner_devices_set_window_slot(&d, vm, WINDOW_GPA + 0x1000, WINDOW_SIZE, WINDOW_GPA,
					     WINDOW_MAX, &err) == -EINVAL,
	      "a window at the wrong address was accepted");
	CHECK(strstr(err.message, "expected whole pages at 0x70000000"), "%s", err.message);
	CHECK(runner_devices_set_window_slot(&d, vm, WINDOW_GPA, WINDOW_MAX + 0x1000, WINDOW_GPA,
					     WINDOW_MAX, &err) == -EINVAL,
	      "an oversized window was accepted");
	CHECK(runner_devices_set_window_slot(&d, vm, WINDOW_GPA, 0x800, WINDOW_GPA, WINDOW_MAX,
					     &err) == -EINVAL,
	      "a window of part of a page was accepted");
	CHECK(window_mappings() == 0, "a refused window left a mapping");

	/* accepted: one mapping of the pvm-window memfd, exactly the window, a KVM memslot */
	CHECK(runner_devices_set_window_slot(&d, vm, WINDOW_GPA, WINDOW_SIZE, WINDOW_GPA,
					     WINDOW_MAX, &err) == 0,
	      "%s", err.message);
	CHECK(window_mappings() == 1, "%u mappings of the window", window_mappings());
	CHECK(d.window.gpa == WINDOW_GPA && d.window.size == WINDOW_SIZE && d.window.host,
	      "window 0x%llx+0x%llx", (unsigned long long)d.window.gpa,
	      (unsigned long long)d.window.size);
	CHECK(runner_devices_set_window_slot(&d, vm, WINDOW_GPA, WINDOW_SIZE, WINDOW_GPA,
					     WINDOW_MAX, &err) == -EEXIST,
	      "a second window was accepted");

	/* a device behind it offers ACCESS_PLATFORM and refuses a driver without it */
	disk = mkstemp(path);
	CHECK(disk >= 0 && ftruncate(disk, 65536) == 0, "disk: %m");
	unlink(path);
	CHECK(runner_devices_add_disk(&d, disk, true, "w", &err) == 0, "%s", err.message);
	m = &d.slots[0];
	put(m, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1, &err);
	CHECK(reg(m, VIRTIO_MMIO_DEVICE_FEATURES) & (1u << (VIRTIO_F_ACCESS_PLATFORM - 32)),
	      "ACCESS_PLATFORM not offered");
	/* the network too (a datagram socket stands in for the tap): without ACCESS_PLATFORM a
	 * driver would hand it buffers in private RAM */
	CHECK(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, tap) == 0, "socketpair: %m");
	CHECK(runner_devices_add_net(&d, tap[0], mac, &err) == 0, "%s", err.message);
	put(d.net_slot, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1, &err);
	CHECK(reg(d.net_slot, VIRTIO_MMIO_DEVICE_FEATURES) &
		  (1u << (VIRTIO_F_ACCESS_PLATFORM - 32)),
	      "the network device does not offer ACCESS_PLATFORM");
	put(m, VIRTIO_MMIO_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER, &err);
	put(m, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1, &err);
	put(m, VIRTIO_MMIO_DRIVER_FEATURES, 1u << (VIRTIO_F_VERSION_1 - 32), &err);
	put(m, VIRTIO_MMIO_STATUS,
	    VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER | VIRTIO_CONFIG_S_FEATURES_OK,
	    &err);
	CHECK(!(reg(m, VIRTIO_MMIO_STATUS) & VIRTIO_CONFIG_S_FEATURES_OK),
	      "FEATURES_OK without ACCESS_PLATFORM");
	put(m, VIRTIO_MMIO_STATUS, 0, &err);
	put(m, VIRTIO_MMIO_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER, &err);
	put(m, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1, &err);
	put(m, VIRTIO_MMIO_DRIVER_FEATURES,
	    (1u << (VIRTIO_F_VERSION_1 - 32)) | (1u << (VIRTIO_F_ACCESS_PLATFORM - 32)), &err);
	put(m, VIRTIO_MMIO_STATUS,
	    VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER | VIRTIO_CONFIG_S_FEATURES_OK,
	    &err);
	CHECK(reg(m, VIRTIO_MMIO_STATUS) & VIRTIO_CONFIG_S_FEATURES_OK,
	      "FEATURES_OK refused with ACCESS_PLATFORM");

	/* rings in guest RAM (where an x86 window would be) are outside this window: refused */
	put(m, VIRTIO_MMIO_QUEUE_SEL, 0, &err);
	put(m, VIRTIO_MMIO_QUEUE_NUM, 16, &err);
	put(m, VIRTIO_MMIO_QUEUE_DESC_LOW, 0x80000000u, &err);
	put(m, VIRTIO_MMIO_QUEUE_AVAIL_LOW, 0x80001000u, &err);
	put(m, VIRTIO_MMIO_QUEUE_USED_LOW, 0x80002000u, &err);
	pvm_error_clear(&err);
	CHECK(put(m, VIRTIO_MMIO_QUEUE_READY, 1, &err) < 0 &&
		  strstr(err.message, "outside the shared window"),
	      "rings outside the window: %s", err.message);
	/* inside it: accepted */
	put(m, VIRTIO_MMIO_QUEUE_DESC_LOW, (uint32_t)WINDOW_GPA, &err);
	put(m, VIRTIO_MMIO_QUEUE_AVAIL_LOW, (uint32_t)WINDOW_GPA + 0x1000, &err);
	put(m, VIRTIO_MMIO_QUEUE_USED_LOW, (uint32_t)WINDOW_GPA + 0x2000, &err);
	pvm_error_clear(&err);
	CHECK(put(m, VIRTIO_MMIO_QUEUE_READY, 1, &err) == 0, "rings in the window: %s",
	      err.message);
	put(m, VIRTIO_MMIO_STATUS,
	    VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER | VIRTIO_CONFIG_S_FEATURES_OK |
		VIRTIO_CONFIG_S_DRIVER_OK,
	    &err);
	check_notifications(&d, vm);
	return check_exit("engine-window-slot");
}
