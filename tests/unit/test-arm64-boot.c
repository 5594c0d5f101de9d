/* The arm64 backend's portable contracts: the Image header check, where kernel, initrd and
 * device tree go in guest RAM, the VM type, and how MMIO and PSCI exits become events. */
#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <linux/kvm.h>

#include "arch/arm64/arm64.h"
#include "guest-fdt.h"
#include "kvm-compat.h"

static void make_header(uint8_t *h, uint64_t text_offset, uint64_t image_size, uint64_t flags)
{
	uint32_t magic = PVM_ARM64_IMAGE_MAGIC;

	memset(h, 0, PVM_ARM64_IMAGE_HEADER_SIZE);
	memcpy(h + 8, &text_offset, 8);
	memcpy(h + 16, &image_size, 8);
	memcpy(h + 24, &flags, 8);
	memcpy(h + 56, &magic, 4);
}

static void test_image(void)
{
	uint8_t img[4096];
	pvm_arm64_image out;
	pvm_error err = {};

	make_header(img, 0, 0x2000, 0xa);
	assert(pvm_arm64_image_detect(img, sizeof(img)));
	assert(pvm_arm64_image_parse(img, sizeof(img), &out, NULL) == 0);
	assert(out.text_offset == 0 && out.image_size == 0x2000);

	/* too short, or no magic: not an Image */
	assert(!pvm_arm64_image_detect(img, 63));
	assert(pvm_arm64_image_parse(img, 63, &out, NULL) == -EINVAL);
	img[56] = 'X';
	assert(pvm_arm64_image_parse(img, sizeof(img), &out, &err) == -EINVAL);
	assert(strstr(err.message, "magic"));

	make_header(img, 0, 0x2000, 1); /* big-endian kernel */
	assert(pvm_arm64_image_parse(img, sizeof(img), &out, NULL) == -EINVAL);
	make_header(img, 0, 100, 0); /* header claims less than the file */
	assert(pvm_arm64_image_parse(img, sizeof(img), &out, NULL) == -EINVAL);
	make_header(img, 0x123, 0x2000, 0); /* text_offset not page aligned */
	assert(pvm_arm64_image_parse(img, sizeof(img), &out, NULL) == -EINVAL);
	make_header(img, 0, 0, 0); /* pre-3.17 kernels: text_offset 0x80000, size unknown */
	assert(pvm_arm64_image_parse(img, sizeof(img), &out, NULL) == 0);
	assert(out.text_offset == 0x80000 && out.image_size > sizeof(img));
}

static void test_layout(void)
{
	const uint64_t base = PVM_ARM64_RAM_BASE, size = 64 << 20;
	pvm_arm64_image img = { .text_offset = 0, .image_size = 8 << 20 };
	pvm_arm64_layout l;

	assert(pvm_arm64_layout_plan(base, size, &img, 1 << 20, 0, &l, NULL) == 0);
	assert(l.kernel_gpa == base && l.initrd_gpa == 0);
	assert(l.dtb_gpa == base + size - PVM_FDT_SIZE_MAX && l.dtb_gpa % 8 == 0);

	assert(pvm_arm64_layout_plan(base, size, &img, 1 << 20, 5000, &l, NULL) == 0);
	assert(l.initrd_gpa % 4096 == 0 && l.initrd_gpa + 5000 <= l.dtb_gpa);
	assert(l.initrd_gpa >= base + img.image_size);

	img.text_offset = 0x80000;
	assert(pvm_arm64_layout_plan(base, size, &img, 1 << 20, 0, &l, NULL) == 0);
	assert(l.kernel_gpa == base + 0x80000);

	/* kernel plus initrd larger than RAM; RAM not 2 MiB aligned */
	assert(pvm_arm64_layout_plan(base, size, &img, 1 << 20, 60 << 20, &l, NULL) == -E2BIG);
	assert(pvm_arm64_layout_plan(base, size, &img, 1 << 20, size, &l, NULL) == -E2BIG);
	img.image_size = size;
	assert(pvm_arm64_layout_plan(base, size, &img, 1 << 20, 0, &l, NULL) == -E2BIG);
	assert(pvm_arm64_layout_plan(base + 4096, size, &img, 1, 0, &l, NULL) == -EINVAL);
	assert(pvm_arm64_layout_plan(base, size + 4096, &img, 1, 0, &l, NULL) == -EINVAL);
}

static void test_vm_type(void)
{
	unsigned long type = 7;

	assert(pvm_arm64_vm_type(false, false, &type, NULL) == 0 && type == 0);
	assert(pvm_arm64_vm_type(true, true, &type, NULL) == 0 && type == KVM_VM_TYPE_ARM_PROTECTED);
	type = 7;
	assert(pvm_arm64_vm_type(true, false, &type, NULL) == -EOPNOTSUPP && type == 7);
}

static bool stop_flag;
static bool test_stop_requested(void *userdata)
{
	return stop_flag;
}
static bool test_console_read(void *userdata, uint8_t *ret)
{
	int *left = userdata;

	if (*left == 0)
		return false;
	(*left)--;
	*ret = 'k';
	return true;
}

static pvm_arm64_event mmio(pvm_arm64_devices *dev, struct kvm_run *run, uint64_t addr,
			    bool write, uint32_t len, uint64_t value)
{
	pvm_arm64_event ev;

	memset(run, 0, sizeof(*run));
	run->exit_reason = KVM_EXIT_MMIO;
	run->mmio.phys_addr = addr;
	run->mmio.is_write = write;
	run->mmio.len = len;
	memcpy(run->mmio.data, &value, sizeof(value));
	assert(pvm_arm64_handle_exit(dev, run, &ev) == 0);
	return ev;
}

static void test_exits(void)
{
	int input_left = 1;
	pvm_arm64_devices dev = { .stop_requested = test_stop_requested,
				  .console_read = test_console_read, .userdata = &input_left };
	struct kvm_run run;
	pvm_arm64_event ev;
	uint32_t v;

	ev = mmio(&dev, &run, PVM_ARM64_UART_BASE, true, 1, 'A');
	assert(ev.kind == PVM_ARM64_EVENT_CONSOLE && ev.byte == 'A');
	/* LSR: transmitter always ready; a queued input byte shows as data-ready, then RBR */
	ev = mmio(&dev, &run, PVM_ARM64_UART_BASE + 5, false, 1, 0);
	assert(ev.kind == PVM_ARM64_EVENT_CONTINUE && (run.mmio.data[0] & 0x21) == 0x21);
	ev = mmio(&dev, &run, PVM_ARM64_UART_BASE, false, 1, 0);
	assert(run.mmio.data[0] == 'k');
	ev = mmio(&dev, &run, PVM_ARM64_UART_BASE + 5, false, 1, 0);
	assert((run.mmio.data[0] & 0x01) == 0);
	/* a register the guest writes (LCR) reads back */
	mmio(&dev, &run, PVM_ARM64_UART_BASE + 3, true, 1, 0x83);
	mmio(&dev, &run, PVM_ARM64_UART_BASE + 3, false, 1, 0);
	assert(run.mmio.data[0] == 0x83);

	ev = mmio(&dev, &run, PVM_ARM64_CONTROL_BASE + PVM_ARM64_CONTROL_READY, true, 4,
		  PVM_ARM64_READY_MAGIC);
	assert(ev.kind == PVM_ARM64_EVENT_READY);
	ev = mmio(&dev, &run, PVM_ARM64_CONTROL_BASE + PVM_ARM64_CONTROL_READY, true, 4, 1234);
	assert(ev.kind == PVM_ARM64_EVENT_CONTINUE);
	stop_flag = false;
	mmio(&dev, &run, PVM_ARM64_CONTROL_BASE + PVM_ARM64_CONTROL_STATUS, false, 4, ~0ULL);
	memcpy(&v, run.mmio.data, 4);
	assert(v == 0);
	stop_flag = true;
	mmio(&dev, &run, PVM_ARM64_CONTROL_BASE + PVM_ARM64_CONTROL_STATUS, false, 4, 0);
	memcpy(&v, run.mmio.data, 4);
	assert(v == PVM_ARM64_STOP_REQUESTED);

	/* no device: reads see all-ones, and the access is reported */
	ev = mmio(&dev, &run, 0x12340000, false, 4, 0);
	assert(ev.kind == PVM_ARM64_EVENT_UNKNOWN_IO && strstr(ev.detail, "0x12340000"));
	memcpy(&v, run.mmio.data, 4);
	assert(v == 0xffffffff);
	/* an access straddling the end of the UART page is not the UART's */
	ev = mmio(&dev, &run, PVM_ARM64_UART_BASE + PVM_ARM64_UART_SIZE - 2, true, 4, 0);
	assert(ev.kind == PVM_ARM64_EVENT_UNKNOWN_IO);

	memset(&run, 0, sizeof(run));
	run.exit_reason = KVM_EXIT_SYSTEM_EVENT;
	run.system_event.type = KVM_SYSTEM_EVENT_SHUTDOWN;
	assert(pvm_arm64_handle_exit(&dev, &run, &ev) == 0 && ev.kind == PVM_ARM64_EVENT_SHUTDOWN);
	run.system_event.type = KVM_SYSTEM_EVENT_RESET;
	assert(pvm_arm64_handle_exit(&dev, &run, &ev) == 0 && ev.kind == PVM_ARM64_EVENT_REBOOT);
	run.exit_reason = KVM_EXIT_INTERNAL_ERROR;
	assert(pvm_arm64_handle_exit(&dev, &run, &ev) == 0 && ev.kind == PVM_ARM64_EVENT_FATAL);
}

int main(void)
{
	test_image();
	test_layout();
	test_vm_type();
	test_exits();
	printf("test-arm64-boot: ok\n");
	return 0;
}
