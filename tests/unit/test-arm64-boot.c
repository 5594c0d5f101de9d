/* The arm64 backend's portable contracts: the Image header check, where kernel, initrd and
 * device tree go in guest RAM, the memory map and VM type, the boot plan (entry, x0, segments;
 * through pvm-fw: the layout docs/pvm-fw.md gives), and how MMIO and PSCI exits become events
 * (pvm-fw's verdict among them). */
#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <libfdt.h>
#include <linux/kvm.h>

#include "arch/arm64/arm64.h"
#include "config.h"
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

static void test_memory_map(void)
{
	pvm_memory_map map;

	assert(pvm_arm64_memory_map(64 << 20, &map, NULL) == 0);
	assert(map.ram_base == PVM_ARM64_RAM_BASE && map.ram_size == 64 << 20);
	assert(pvm_arm64_memory_map(2 << 20, &map, NULL) == -EINVAL);		/* too small */
	assert(pvm_arm64_memory_map((64 << 20) + 4096, &map, NULL) == -EINVAL); /* not 2 MiB */
}

static void test_vm_type(void)
{
	pvm_vm_shape shape = { .protected_vm = false, .memory_bytes = 64 << 20, .cpus = 1 };
	pvm_host_caps caps = { .protected_vm_type = false };
	unsigned long type = 7;
	pvm_error err = {};

	assert(pvm_arm64_vm_type(&shape, &caps, &type, NULL) == 0 && type == 0);
	/* protected asked for, host without pKVM: refused, never run unprotected */
	shape.protected_vm = true;
	type = 7;
	assert(pvm_arm64_vm_type(&shape, &caps, &type, &err) == -EOPNOTSUPP && type == 7);
	assert(strstr(err.message, "kvm-arm.mode=protected"));
	caps.protected_vm_type = true;
	assert(pvm_arm64_vm_type(&shape, &caps, &type, NULL) == 0 &&
	       type == KVM_VM_TYPE_ARM_PROTECTED);
}

/* A protected VM gets guest_memfd only where the kernel reports the capability of pvm's series;
 * elsewhere EOPNOTSUPP (the fallback's cue) naming the capability and GAPS.md. */
static void test_guest_memfd_flags(void)
{
	pvm_vm_shape shape = { .protected_vm = false, .memory_bytes = 64 << 20, .cpus = 1 };
	pvm_host_caps caps = { .protected_vm_type = true,
			       .guest_memfd = true,
			       .guest_memfd_flags =
				   GUEST_MEMFD_FLAG_MMAP | GUEST_MEMFD_FLAG_INIT_SHARED };
	const uint64_t both = GUEST_MEMFD_FLAG_MMAP | GUEST_MEMFD_FLAG_INIT_SHARED;
	uint64_t flags = 0;
	pvm_error err = {};

	assert(pvm_arm64_guest_memfd_flags(&shape, &caps, &flags, NULL) == 0 && flags == both);
	shape.protected_vm = true;
	flags = 0;
	assert(pvm_arm64_guest_memfd_flags(&shape, &caps, &flags, &err) == -EOPNOTSUPP && !flags);
	assert(strstr(err.message, "KVM_CAP_ARM_PROTECTED_GUEST_MEMFD") &&
	       strstr(err.message, "GAPS.md"));
	caps.protected_guest_memfd = true;
	assert(pvm_arm64_guest_memfd_flags(&shape, &caps, &flags, NULL) == 0 && flags == both);
	/* the capability does not stand in for guest_memfd itself */
	caps.guest_memfd_flags = GUEST_MEMFD_FLAG_MMAP;
	assert(pvm_arm64_guest_memfd_flags(&shape, &caps, &flags, NULL) == -EOPNOTSUPP);
}

static const pvm_boot_segment *segment(const pvm_boot_plan *plan, const char *what)
{
	for (size_t i = 0; i < plan->n_segments; i++)
		if (strcmp(plan->segments[i].what, what) == 0)
			return &plan->segments[i];
	return NULL;
}

static void test_plan_boot(void)
{
	static uint8_t kernel[8192], initrd[3000];
	pvm_boot_input in = {
		.kernel = kernel,
		.kernel_len = sizeof(kernel),
		.initrd = initrd,
		.initrd_len = sizeof(initrd),
		.params = "console=ttyS0",
		.format = PVM_PAYLOAD_AUTO,
		.map = { .ram_base = PVM_ARM64_RAM_BASE, .ram_size = 32 << 20 },
		.cpus = 2,
	};
	const pvm_boot_segment *k, *i, *d;
	pvm_boot_plan plan;
	pvm_error err = {};
	const void *prop;

	make_header(kernel, 0, 0x100000, 0xa);
	assert(pvm_arm64_plan_boot(&in, &plan, NULL) == 0);
	assert(strcmp(plan.format, "linux-image") == 0 && plan.n_segments == 3);
	k = segment(&plan, "kernel");
	i = segment(&plan, "initrd");
	d = segment(&plan, "device-tree");
	assert(k && i && d);
	/* booting.rst: entry at the Image, x0 = the device tree, which names the initrd and the
	 * command line and describes both vCPUs */
	assert(plan.entry.pc == k->gpa && k->gpa == PVM_ARM64_RAM_BASE);
	assert(plan.entry.arg[0] == d->gpa && plan.entry.arg[1] == 0);
	assert(fdt_check_header(d->data) == 0);
	prop = fdt_getprop(d->data, fdt_path_offset(d->data, "/chosen"), "bootargs", NULL);
	assert(prop && strcmp(prop, "console=ttyS0") == 0);
	prop =
	    fdt_getprop(d->data, fdt_path_offset(d->data, "/chosen"), "linux,initrd-start", NULL);
	assert(prop && fdt64_ld(prop) == i->gpa);
	prop = fdt_getprop(d->data, fdt_path_offset(d->data, "/chosen"), "linux,initrd-end", NULL);
	assert(prop && fdt64_ld(prop) == i->gpa + sizeof(initrd));
	assert(fdt_path_offset(d->data, "/cpus/cpu@1") >= 0);
	pvm_boot_plan_clear(&plan);

	/* raw payloads enter at load_address and still get a device tree in x0 */
	in.format = PVM_PAYLOAD_RAW;
	in.initrd = NULL;
	in.initrd_len = 0;
	in.load_address = PVM_ARM64_RAM_BASE + 0x200000;
	assert(pvm_arm64_plan_boot(&in, &plan, NULL) == 0);
	assert(plan.entry.pc == in.load_address && segment(&plan, "device-tree"));
	pvm_boot_plan_clear(&plan);
	in.load_address = 0x1000; /* outside RAM */
	assert(pvm_arm64_plan_boot(&in, &plan, NULL) == -ERANGE && plan.n_segments == 0);

	/* not an Image, and no format given: refused with a reason */
	in.format = PVM_PAYLOAD_AUTO;
	kernel[56] = 0;
	assert(pvm_arm64_plan_boot(&in, &plan, &err) == -EINVAL && strstr(err.message, "Image"));
	in.format = PVM_PAYLOAD_PVH_ELF;
	assert(pvm_arm64_plan_boot(&in, &plan, NULL) == -EINVAL);
}

/* Through pvm-fw: firmware at the start of RAM and entered there, descriptor at +2 MiB, kernel
 * at +4 MiB, the initrd where the firmware looks for it, /chosen left to the firmware. */
/* A plan that must fail: the error of this attempt (pvm_error keeps the first one it gets). */
static int plan_fails(const pvm_boot_input *in, pvm_boot_plan *plan, pvm_error *err)
{
	*err = (pvm_error){ 0 };
	return pvm_arm64_plan_boot(in, plan, err);
}

static void test_plan_firmware_boot(void)
{
	static uint8_t fw[12288], desc[PVM_ARM64_FW_DESCRIPTOR_SIZE + 1], kernel[3 << 20],
	    initrd[5000];
	const uint64_t base = PVM_ARM64_RAM_BASE;
	pvm_boot_input in = {
		.kernel = kernel,
		.kernel_len = sizeof(kernel),
		.initrd = initrd,
		.initrd_len = sizeof(initrd),
		.format = PVM_PAYLOAD_AUTO,
		.map = { .ram_base = base, .ram_size = 32 << 20 },
		.cpus = 1,
		.firmware = fw,
		.firmware_len = sizeof(fw),
		.descriptor = desc,
		.descriptor_len = 2048, /* short: placed as it is, for the firmware to refuse */
	};
	const pvm_boot_segment *f, *d, *k, *i, *t;
	pvm_boot_plan plan;
	pvm_error err = {};
	int chosen;

	make_header(fw, 0, 0x40000, 0xa);
	/* image_size above the file: the initrd follows the image, 2 MiB-aligned */
	make_header(kernel, 0, (4 << 20) + 1, 0xa);
	assert(pvm_arm64_plan_boot(&in, &plan, &err) == 0);
	assert(strcmp(plan.format, "pvm-fw") == 0 && plan.n_segments == 5);
	f = segment(&plan, "firmware");
	d = segment(&plan, "descriptor");
	k = segment(&plan, "kernel");
	i = segment(&plan, "initrd");
	t = segment(&plan, "device-tree");
	assert(f && d && k && i && t);
	assert(f->gpa == base && plan.entry.pc == base && plan.entry.arg[0] == t->gpa);
	assert(d->gpa == base + 0x200000 && d->len == 2048);
	assert(k->gpa == base + 0x400000 && k->len == sizeof(kernel));
	assert(i->gpa == base + 0x400000 + (6 << 20));
	/* the firmware writes bootargs and the initrd from what its descriptor signs */
	chosen = fdt_path_offset(t->data, "/chosen");
	assert(chosen >= 0 && !fdt_getprop(t->data, chosen, "bootargs", NULL) &&
	       !fdt_getprop(t->data, chosen, "linux,initrd-start", NULL));
	pvm_boot_plan_clear(&plan);

	/* what pvmd cannot place is refused before the VM exists, saying what */
	in.descriptor_len = sizeof(desc);
	assert(plan_fails(&in, &plan, &err) == -EINVAL && strstr(err.message, "4096"));
	in.descriptor_len = 4096;
	make_header(fw, 0x1000, 0x40000, 0xa);
	assert(plan_fails(&in, &plan, &err) == -EINVAL && strstr(err.message, "firmware"));
	make_header(fw, 0, 0x40000, 0xa);
	fw[56] = 0;
	assert(plan_fails(&in, &plan, &err) == -EINVAL && strstr(err.message, "firmware"));
	make_header(fw, 0, 0x40000, 0xa);
	in.map.ram_size = 8 << 20; /* the initrd would start past the device tree */
	assert(plan_fails(&in, &plan, &err) == -E2BIG && plan.n_segments == 0);
	in.map.ram_size = 32 << 20;
	in.format = PVM_PAYLOAD_RAW;
	assert(plan_fails(&in, &plan, &err) == -EINVAL);
	in.format = PVM_PAYLOAD_AUTO;
	assert(pvm_arm64_plan_boot(&in, &plan, &err) == 0);
	pvm_boot_plan_clear(&plan);
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

static pvm_exit_event mmio(pvm_arch_devices *dev, struct kvm_run *run, uint64_t addr, bool write,
			   uint32_t len, uint64_t value)
{
	pvm_exit_event ev;

	memset(run, 0, sizeof(*run));
	run->exit_reason = KVM_EXIT_MMIO;
	run->mmio.phys_addr = addr;
	run->mmio.is_write = write;
	run->mmio.len = len;
	memcpy(run->mmio.data, &value, sizeof(value));
	assert(pvm_arm64_handle_exit(dev, -1, run, &ev) == 0);
	return ev;
}

static void test_exits(void)
{
	int input_left = 1;
	pvm_device_host host = { .stop_requested = test_stop_requested,
				 .console_read = test_console_read,
				 .userdata = &input_left };
	pvm_arch_devices *dev = NULL;
	struct kvm_run run;
	pvm_exit_event ev;
	uint32_t v;

	assert(pvm_arm64_devices_new(&host, &dev) == 0);
	ev = mmio(dev, &run, PVM_ARM64_UART_BASE, true, 1, 'A');
	assert(ev.kind == PVM_EXIT_EVENT_CONSOLE && ev.console_len == 1 && ev.console[0] == 'A');
	/* LSR: transmitter always ready; a queued input byte shows as data-ready, then RBR */
	ev = mmio(dev, &run, PVM_ARM64_UART_BASE + 5, false, 1, 0);
	assert(ev.kind == PVM_EXIT_EVENT_CONTINUE && (run.mmio.data[0] & 0x21) == 0x21);
	mmio(dev, &run, PVM_ARM64_UART_BASE, false, 1, 0);
	assert(run.mmio.data[0] == 'k');
	mmio(dev, &run, PVM_ARM64_UART_BASE + 5, false, 1, 0);
	assert((run.mmio.data[0] & 0x01) == 0);

	ev = mmio(dev, &run, PVM_ARM64_CONTROL_BASE + PVM_ARM64_CONTROL_READY, true, 4,
		  PVM_X86_READY_MAGIC);
	assert(ev.kind == PVM_EXIT_EVENT_READY);
	ev = mmio(dev, &run, PVM_ARM64_CONTROL_BASE + PVM_ARM64_CONTROL_READY, true, 4, 1234);
	assert(ev.kind == PVM_EXIT_EVENT_UNKNOWN_IO && strstr(ev.detail, "no known command"));
	stop_flag = false;
	mmio(dev, &run, PVM_ARM64_CONTROL_BASE + PVM_ARM64_CONTROL_STATUS, false, 4, ~0ULL);
	memcpy(&v, run.mmio.data, 4);
	assert(v == 0);
	stop_flag = true;
	mmio(dev, &run, PVM_ARM64_CONTROL_BASE + PVM_ARM64_CONTROL_STATUS, false, 4, 0);
	memcpy(&v, run.mmio.data, 4);
	assert(v == PVM_CONTROL_STOP_REQUESTED);

	/* pvm-fw's verdict: the first of a run counts, a refusal ends the VM with its reason */
	ev = mmio(dev, &run, PVM_ARM64_CONTROL_BASE + PVM_ARM64_CONTROL_FW_VERDICT, true, 4, 4);
	assert(ev.kind == PVM_EXIT_EVENT_UNKNOWN_IO); /* no magic: no verdict */
	ev = mmio(dev, &run, PVM_ARM64_CONTROL_BASE + PVM_ARM64_CONTROL_FW_VERDICT, true, 2,
		  PVM_ARM64_FW_VERDICT_MAGIC | 4);
	assert(ev.kind == PVM_EXIT_EVENT_UNKNOWN_IO); /* not a 32-bit write */
	ev = mmio(dev, &run, PVM_ARM64_CONTROL_BASE + PVM_ARM64_CONTROL_FW_VERDICT, true, 4,
		  PVM_ARM64_FW_VERDICT_MAGIC | 4);
	assert(ev.kind == PVM_EXIT_EVENT_PAYLOAD_REFUSED && ev.code == 4);
	ev = mmio(dev, &run, PVM_ARM64_CONTROL_BASE + PVM_ARM64_CONTROL_FW_VERDICT, true, 4,
		  PVM_ARM64_FW_VERDICT_MAGIC);
	assert(ev.kind == PVM_EXIT_EVENT_UNKNOWN_IO); /* a later verdict is no verdict */
	pvm_arm64_devices_free(dev);
	assert(pvm_arm64_devices_new(&host, &dev) == 0);
	ev = mmio(dev, &run, PVM_ARM64_CONTROL_BASE + PVM_ARM64_CONTROL_FW_VERDICT, true, 4,
		  PVM_ARM64_FW_VERDICT_MAGIC);
	assert(ev.kind == PVM_EXIT_EVENT_FW_VERIFIED && ev.code == 0);
	ev = mmio(dev, &run, PVM_ARM64_CONTROL_BASE + PVM_ARM64_CONTROL_FW_VERDICT, true, 4,
		  PVM_ARM64_FW_VERDICT_MAGIC | 2);
	assert(ev.kind == PVM_EXIT_EVENT_UNKNOWN_IO); /* the booted kernel cannot take it back */

	/* no device: reads see all-ones, and the access is reported */
	ev = mmio(dev, &run, 0x12340000, false, 4, 0);
	assert(ev.kind == PVM_EXIT_EVENT_UNKNOWN_IO && strstr(ev.detail, "0x12340000"));
	memcpy(&v, run.mmio.data, 4);
	assert(v == 0xffffffff);
	/* an access straddling the end of the UART page is not the UART's */
	ev = mmio(dev, &run, PVM_ARM64_UART_BASE + PVM_ARM64_UART_SIZE - 2, true, 4, 0);
	assert(ev.kind == PVM_EXIT_EVENT_UNKNOWN_IO);

	memset(&run, 0, sizeof(run));
	run.exit_reason = KVM_EXIT_SYSTEM_EVENT;
	run.system_event.type = KVM_SYSTEM_EVENT_SHUTDOWN;
	assert(pvm_arm64_handle_exit(dev, -1, &run, &ev) == 0 &&
	       ev.kind == PVM_EXIT_EVENT_SHUTDOWN);
	run.system_event.type = KVM_SYSTEM_EVENT_RESET;
	assert(pvm_arm64_handle_exit(dev, -1, &run, &ev) == 0 && ev.kind == PVM_EXIT_EVENT_REBOOT);
	run.exit_reason = KVM_EXIT_MEMORY_FAULT;
	assert(pvm_arm64_handle_exit(dev, -1, &run, &ev) == 0 &&
	       ev.kind == PVM_EXIT_EVENT_PROTECTION_VIOLATION);
	run.exit_reason = KVM_EXIT_FAIL_ENTRY;
	assert(pvm_arm64_handle_exit(dev, -1, &run, &ev) == 0 && ev.kind == PVM_EXIT_EVENT_FATAL);
	pvm_arm64_devices_free(dev);
}

int main(void)
{
	test_image();
	test_layout();
	test_memory_map();
	test_vm_type();
	test_guest_memfd_flags();
	test_plan_boot();
	test_plan_firmware_boot();
	test_exits();
	printf("test-arm64-boot: ok\n");
	return 0;
}
