/* The arm64 Linux boot protocol on pvm's guest machine: checks an Image header and decides
 * where the kernel, the initrd and the device tree go in guest RAM. Plain C: unit-tested on
 * any host, used by pvmd when it plans a boot. */
#include <endian.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arm64.h"
#include "config.h"
#include "guest-fdt.h"
#include "kvm-compat.h"

#define PAGE_SIZE_4K 0x1000ULL
#define ALIGN_DOWN(x, a) ((x) & ~((a)-1))
#define ALIGN_UP(x, a) ALIGN_DOWN((x) + (a)-1, a)

/* Linux before 3.17 left image_size zero and meant text_offset 0x80000; such kernels need up
 * to this much room for bss beyond the file. */
#define OLD_IMAGE_SLACK (16ULL << 20)

static uint64_t get_le64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return le64toh(v);
}

bool pvm_arm64_image_detect(const void *data, size_t len)
{
	uint32_t magic;

	if (len < PVM_ARM64_IMAGE_HEADER_SIZE)
		return false;
	memcpy(&magic, (const uint8_t *)data + 56, sizeof(magic));
	return le32toh(magic) == PVM_ARM64_IMAGE_MAGIC;
}

int pvm_arm64_image_parse(const void *data, size_t len, pvm_arm64_image *ret, pvm_error *err)
{
	const uint8_t *h = data;
	uint64_t text_offset, image_size, flags;

	if (!pvm_arm64_image_detect(data, len))
		return pvm_error_set(
		    err, EINVAL,
		    "payload: not an arm64 Image (%zu bytes, no 'ARM\\x64' magic at offset 56)",
		    len);
	text_offset = get_le64(h + 8);
	image_size = get_le64(h + 16);
	flags = get_le64(h + 24);
	if (flags & 1)
		return pvm_error_set(err, EINVAL, "payload: big-endian arm64 Image (flags bit 0)");
	if (image_size == 0) {
		text_offset = 0x80000;
		image_size = ALIGN_UP(len, PAGE_SIZE_4K) + OLD_IMAGE_SLACK;
	}
	if (text_offset >= PVM_ARM64_KERNEL_ALIGN || text_offset % PAGE_SIZE_4K)
		return pvm_error_set(err, EINVAL,
				     "payload: Image text_offset 0x%" PRIx64
				     " (expected page-aligned, below 2 MiB)",
				     text_offset);
	if (image_size < len)
		return pvm_error_set(err, EINVAL,
				     "payload: Image header says %" PRIu64
				     " bytes but the file has %zu",
				     image_size, len);
	*ret = (pvm_arm64_image){ .text_offset = text_offset, .image_size = image_size };
	return 0;
}

int pvm_arm64_layout_plan(uint64_t ram_base, uint64_t ram_size, const pvm_arm64_image *image,
			  size_t kernel_len, size_t initrd_len, pvm_arm64_layout *ret,
			  pvm_error *err)
{
	uint64_t ram_end = ram_base + ram_size, kernel_gpa, kernel_end, dtb_gpa, initrd_gpa = 0;

	if (ram_base % PVM_ARM64_KERNEL_ALIGN || ram_size % PVM_ARM64_KERNEL_ALIGN ||
	    ram_size == 0 || ram_end < ram_base)
		return pvm_error_set(err, EINVAL,
				     "memory: RAM 0x%" PRIx64 "+0x%" PRIx64 " is not 2 MiB aligned",
				     ram_base, ram_size);
	kernel_gpa = ram_base + image->text_offset;
	kernel_end = kernel_gpa + MAX(image->image_size, (uint64_t)kernel_len);
	dtb_gpa = ram_end - PVM_FDT_SIZE_MAX;
	if (initrd_len) {
		if (initrd_len > dtb_gpa - ram_base)
			return pvm_error_set(
			    err, E2BIG, "initrd: %zu bytes do not fit in %" PRIu64 " MiB of RAM",
			    initrd_len, ram_size >> 20);
		initrd_gpa = ALIGN_DOWN(dtb_gpa - initrd_len, PAGE_SIZE_4K);
	}
	if (kernel_end > (initrd_len ? initrd_gpa : dtb_gpa) || kernel_end < kernel_gpa)
		return pvm_error_set(err, E2BIG,
				     "payload: kernel (%" PRIu64
				     " bytes in memory)%s does not fit in %" PRIu64 " MiB of RAM",
				     image->image_size, initrd_len ? " plus initrd" : "",
				     ram_size >> 20);
	*ret = (pvm_arm64_layout){ .kernel_gpa = kernel_gpa,
				   .initrd_gpa = initrd_gpa,
				   .dtb_gpa = dtb_gpa };
	return 0;
}

int pvm_arm64_memory_map(uint64_t memory_bytes, pvm_memory_map *ret, pvm_error *err)
{
	const uint64_t max = (uint64_t)PVM_MEMORY_MIB_MAX << 20;

	if (memory_bytes < PVM_ARM64_RAM_MIN || memory_bytes > max ||
	    memory_bytes % PVM_ARM64_KERNEL_ALIGN)
		return pvm_error_set(
		    err, EINVAL,
		    "arm64: memory must be a multiple of 2 MiB from %llu MiB to %" PRIu64
		    " MiB, got %" PRIu64 " bytes",
		    PVM_ARM64_RAM_MIN >> 20, max >> 20, memory_bytes);
	*ret = (pvm_memory_map){ .ram_base = PVM_ARM64_RAM_BASE, .ram_size = memory_bytes };
	return 0;
}

int pvm_arm64_vm_type(const pvm_vm_shape *shape, const pvm_host_caps *sys, unsigned long *ret,
		      pvm_error *err)
{
	if (!shape->protected_vm) {
		*ret = 0; /* default VM, KVM's default IPA size */
		return 0;
	}
	if (!sys->protected_vm_type)
		return pvm_error_set(err, EOPNOTSUPP,
				     "arm64: protected_vm requested, but this host's KVM has no "
				     "protected VM type (pKVM needs kvm-arm.mode=protected)");
	*ret = KVM_VM_TYPE_ARM_PROTECTED;
	return 0;
}

/* Upstream pKVM up to 7.3 accepts a guest_memfd memslot for a protected VM but fails its
 * first KVM_RUN with EIO (once, on 7.3.4, an SError panic of the host instead): only a kernel
 * that says so by capability (pvm's kernel-patches/ series) gets a protected VM on guest_memfd.
 * Elsewhere -EOPNOTSUPP lets the memfd+mlock fallback take over where policy allows it. */
int pvm_arm64_guest_memfd_flags(const pvm_vm_shape *shape, const pvm_host_caps *vm_caps,
				uint64_t *ret, pvm_error *err)
{
	uint64_t flags;
	int r;

	/* pvmd maps the memory to load the payload: both flags are needed. */
	r = pvm_arch_shared_guest_memfd_flags("arm64", vm_caps, &flags, err);
	if (r < 0)
		return r;
	if (shape->protected_vm && !vm_caps->protected_guest_memfd)
		return pvm_error_set(
		    err, EOPNOTSUPP,
		    "arm64: protected VMs cannot run from guest_memfd on this kernel "
		    "(KVM_CAP_ARM_PROTECTED_GUEST_MEMFD is 0; upstream pKVM fails "
		    "KVM_RUN with EIO: kernel-patches/GAPS.md, the series in "
		    "kernel-patches/ adds it)");
	*ret = flags;
	return 0;
}

/* The device tree pvm builds for this boot: /chosen gets the command line and initrd, unless
 * pvm-fw boots the kernel and writes /chosen from what its descriptor signs. */
static int plan_device_tree(const pvm_boot_input *in, uint64_t initrd_gpa, void **ret,
			    size_t *ret_len, pvm_error *err)
{
	bool fw = in->firmware != NULL;

	return pvm_fdt_arm64_build(
	    &(pvm_fdt_arm64){
		.ram_base = in->map.ram_base,
		.ram_size = in->map.ram_size,
		.cpus = in->cpus,
		.bootargs = !fw && in->params && in->params[0] ? in->params : NULL,
		.initrd_start = fw ? 0 : initrd_gpa,
		.initrd_end = fw ? 0 : initrd_gpa + (in->initrd ? in->initrd_len : 0),
	    },
	    ret, ret_len, err);
}

/* Booting through pvm-fw (docs/pvm-fw.md): the firmware at the start of RAM and entered there,
 * the descriptor at +2 MiB, the kernel at +4 MiB, the initrd after the kernel's image, the
 * device tree at the top of RAM. pvmd checks only what it needs to place the pieces; what they
 * say is the firmware's to check, inside the VM: a tampered payload or a short descriptor is
 * placed as it is, and refused there. */
static int plan_firmware_boot(const pvm_boot_input *in, pvm_boot_plan *plan, pvm_error *err)
{
	const uint64_t base = in->map.ram_base, end = in->map.ram_base + in->map.ram_size;
	_cleanup_free_ void *dtb = NULL;
	pvm_arm64_image fw, kernel;
	uint64_t span, initrd_gpa, dtb_gpa = end - PVM_FDT_SIZE_MAX;
	size_t dtb_len = 0;
	int r;

	pvm_error why = { 0 };

	memset(plan, 0, sizeof(*plan));
	if (pvm_arm64_image_parse(in->firmware, in->firmware_len, &fw, &why) < 0)
		return pvm_error_set(err, EINVAL, "firmware: %s", why.message);
	if (fw.text_offset != 0 || fw.image_size > PVM_ARM64_FW_IMAGE_MAX)
		return pvm_error_set(err, EINVAL,
				     "firmware: an Image with text_offset 0 of at most 2 MiB "
				     "expected (text_offset 0x%" PRIx64 ", %" PRIu64 " bytes)",
				     fw.text_offset, fw.image_size);
	if (!in->descriptor || in->descriptor_len == 0 ||
	    in->descriptor_len > PVM_ARM64_FW_DESCRIPTOR_SIZE)
		return pvm_error_set(
		    err, EINVAL, "descriptor: %zu bytes; pvm-fw's descriptor is 1 to %d bytes",
		    in->descriptor ? in->descriptor_len : 0, PVM_ARM64_FW_DESCRIPTOR_SIZE);
	if (in->format != PVM_PAYLOAD_AUTO && in->format != PVM_PAYLOAD_LINUX_IMAGE)
		return pvm_error_set(err, EINVAL, "pvm-fw boots an arm64 Linux Image only");
	r = pvm_arm64_image_parse(in->kernel, in->kernel_len, &kernel, err);
	if (r < 0)
		return r;
	/* where pvm-fw looks for the initrd: after max(file size, header image_size) */
	span = MAX((uint64_t)in->kernel_len, get_le64(in->kernel + 16));
	initrd_gpa = base + PVM_ARM64_FW_KERNEL_OFFSET + ALIGN_UP(span, PVM_ARM64_FW_PAYLOAD_ALIGN);
	if (initrd_gpa < base || initrd_gpa > dtb_gpa ||
	    (in->initrd && in->initrd_len > dtb_gpa - initrd_gpa))
		return pvm_error_set(
		    err, E2BIG, "payload: firmware, kernel%s do not fit in %" PRIu64 " MiB of RAM",
		    in->initrd ? " and initrd" : "", in->map.ram_size >> 20);
	r = plan_device_tree(in, 0, &dtb, &dtb_len, err);
	if (r < 0)
		return r;
	if ((r = pvm_boot_plan_add(plan, &in->map, "firmware", base, in->firmware, in->firmware_len,
				   err)) < 0 ||
	    (r = pvm_boot_plan_add(plan, &in->map, "descriptor",
				   base + PVM_ARM64_FW_DESCRIPTOR_OFFSET, in->descriptor,
				   in->descriptor_len, err)) < 0 ||
	    (r = pvm_boot_plan_add(plan, &in->map, "kernel", base + PVM_ARM64_FW_KERNEL_OFFSET,
				   in->kernel, in->kernel_len, err)) < 0 ||
	    (in->initrd && (r = pvm_boot_plan_add(plan, &in->map, "initrd", initrd_gpa, in->initrd,
						  in->initrd_len, err)) < 0) ||
	    (r = pvm_boot_plan_add(plan, &in->map, "device-tree", dtb_gpa, dtb, dtb_len, err)) <
		0) {
		pvm_boot_plan_clear(plan);
		return r;
	}
	snprintf(plan->format, sizeof(plan->format), "pvm-fw");
	plan->entry = (pvm_vcpu_entry){ .pc = base, .arg = { dtb_gpa } };
	return 0;
}

/* Kernel (or raw payload), initrd and device tree as boot segments; x0 = device tree. */
int pvm_arm64_plan_boot(const pvm_boot_input *in, pvm_boot_plan *plan, pvm_error *err)
{
	_cleanup_free_ void *dtb = NULL;
	pvm_arm64_image image = { .text_offset = 0, .image_size = in->kernel_len };
	pvm_arm64_layout layout;
	size_t dtb_len = 0;
	int format = in->format, r;

	if (in->firmware)
		return plan_firmware_boot(in, plan, err);
	memset(plan, 0, sizeof(*plan));
	if (format == PVM_PAYLOAD_AUTO) {
		if (!pvm_arm64_image_detect(in->kernel, in->kernel_len))
			return pvm_error_set(
			    err, EINVAL,
			    "payload format not recognised: arm64 boots an arm64 Linux Image, or a "
			    "raw binary when payload_format is \"raw\"");
		format = PVM_PAYLOAD_LINUX_IMAGE;
	}
	switch (format) {
	case PVM_PAYLOAD_LINUX_IMAGE:
		r = pvm_arm64_image_parse(in->kernel, in->kernel_len, &image, err);
		if (r < 0)
			return r;
		r = pvm_arm64_layout_plan(in->map.ram_base, in->map.ram_size, &image,
					  in->kernel_len, in->initrd_len, &layout, err);
		snprintf(plan->format, sizeof(plan->format), "linux-image");
		break;
	case PVM_PAYLOAD_RAW:
		/* Same layout (initrd, device tree at the top of RAM), entered at load_address;
		 * the segment checks below catch a payload that overlaps them. */
		r = pvm_arm64_layout_plan(in->map.ram_base, in->map.ram_size, &image,
					  in->kernel_len, in->initrd_len, &layout, err);
		layout.kernel_gpa = in->load_address;
		snprintf(plan->format, sizeof(plan->format), "raw");
		break;
	default:
		return pvm_error_set(err, EINVAL, "payload format %d cannot boot on arm64", format);
	}
	if (r < 0)
		return r;

	r = plan_device_tree(in, layout.initrd_gpa, &dtb, &dtb_len, err);
	if (r < 0)
		return r;
	if ((r = pvm_boot_plan_add(plan, &in->map, "kernel", layout.kernel_gpa, in->kernel,
				   in->kernel_len, err)) < 0 ||
	    (in->initrd && (r = pvm_boot_plan_add(plan, &in->map, "initrd", layout.initrd_gpa,
						  in->initrd, in->initrd_len, err)) < 0) ||
	    (r = pvm_boot_plan_add(plan, &in->map, "device-tree", layout.dtb_gpa, dtb, dtb_len,
				   err)) < 0) {
		pvm_boot_plan_clear(plan);
		return r;
	}
	plan->entry = (pvm_vcpu_entry){ .pc = layout.kernel_gpa, .arg = { layout.dtb_gpa } };
	return 0;
}
