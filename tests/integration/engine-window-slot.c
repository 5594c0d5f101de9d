/* The shared window as a memslot of its own (the arm64 arrangement, runner/devices.c), on this
 * host's real KVM: it is accepted only at the arch's address and size, it is a memfd named
 * pvm-window that the runner maps and nothing else of the guest, its devices (disk and network)
 * require VIRTIO_F_ACCESS_PLATFORM, and a queue whose rings lie in RAM instead of the window is
 * refused. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <linux/virtio_config.h>
#include <linux/virtio_mmio.h>

#include "../../runner/devices.h"
#include "../unit/check.h"
#include "kvm-compat.h"
#include "memory.h"

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
	return check_exit("engine-window-slot");
}
