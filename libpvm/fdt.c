/* The arm64 guest's device tree (see guest-fdt.h). The nodes follow the order a reader of a QEMU
 * "virt" tree expects: /chosen, /memory, /reserved-memory, /cpus, /psci, the GIC, the timer,
 * the UART, the virtio-mmio slots. Every
 * address comes from arch/arm64/arm64-layout.h, the single description of the guest machine. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <libfdt.h>

#include "arch.h"
#include "arch/arm64/arm64-layout.h"
#include "config.h"
#include "guest-fdt.h"
#include "virtio/virtio-mmio.h"

#define GIC_PHANDLE 1
#define WINDOW_PHANDLE 2

/* GIC interrupt specifiers: <type number flags>. */
#define GIC_SPI 0
#define GIC_PPI 1
#define IRQ_TYPE_EDGE_RISING 0x1
#define IRQ_TYPE_LEVEL_LOW 0x8
#define GIC_CPU_MASK_ALL 0xf00 /* GICv2 habit kept by Linux's bindings; ignored by GICv3 */

static int prop_u32(void *fdt, const char *name, uint32_t v)
{
	return fdt_property_u32(fdt, name, v);
}

static int prop_reg64(void *fdt, const uint64_t *cells, size_t n)
{
	fdt64_t be[8];

	if (n > 8)
		return -FDT_ERR_INTERNAL;
	for (size_t i = 0; i < n; i++)
		be[i] = cpu_to_fdt64(cells[i]);
	return fdt_property(fdt, "reg", be, (int)(n * sizeof(be[0])));
}

static int prop_u32s(void *fdt, const char *name, const uint32_t *cells, size_t n)
{
	fdt32_t be[16];

	if (n > 16)
		return -FDT_ERR_INTERNAL;
	for (size_t i = 0; i < n; i++)
		be[i] = cpu_to_fdt32(cells[i]);
	return fdt_property(fdt, name, be, (int)(n * sizeof(be[0])));
}

/* Each node writer returns a libfdt error (< 0) or 0; the caller stops at the first one. */
static int node_chosen(void *fdt, const pvm_fdt_arm64 *m)
{
	char stdout_path[64];
	int r;

	snprintf(stdout_path, sizeof(stdout_path), "/uart@%x", PVM_ARM64_UART_BASE);
	if ((r = fdt_begin_node(fdt, "chosen")) < 0)
		return r;
	if (m->bootargs && (r = fdt_property_string(fdt, "bootargs", m->bootargs)) < 0)
		return r;
	if ((r = fdt_property_string(fdt, "stdout-path", stdout_path)) < 0)
		return r;
	if (m->initrd_end > m->initrd_start) {
		if ((r = fdt_property_u64(fdt, "linux,initrd-start", m->initrd_start)) < 0 ||
		    (r = fdt_property_u64(fdt, "linux,initrd-end", m->initrd_end)) < 0)
			return r;
	}
	return fdt_end_node(fdt);
}

static int memory_node(void *fdt, uint64_t base, uint64_t size)
{
	char name[32];
	int r;

	snprintf(name, sizeof(name), "memory@%" PRIx64, base);
	if ((r = fdt_begin_node(fdt, name)) < 0 ||
	    (r = fdt_property_string(fdt, "device_type", "memory")) < 0 ||
	    (r = prop_reg64(fdt, (const uint64_t[]){ base, size }, 2)) < 0)
		return r;
	return fdt_end_node(fdt);
}

/* RAM, and the shared window as memory of its own: Linux maps a restricted-dma-pool through
 * its linear map, which covers only memory nodes. */
static int node_memory(void *fdt, const pvm_fdt_arm64 *m)
{
	int r = memory_node(fdt, m->ram_base, m->ram_size);

	if (r < 0 || m->window_size == 0)
		return r;
	return memory_node(fdt, m->window_gpa, m->window_size);
}

/* The window as the guest's restricted DMA pool: swiotlb bounces every virtio buffer through
 * it (and a pKVM guest shares its pages with the host), so the devices see nothing else. */
static int node_reserved_memory(void *fdt, const pvm_fdt_arm64 *m)
{
	char name[40];
	int r;

	if (m->window_size == 0)
		return 0;
	snprintf(name, sizeof(name), "pvm-window@%" PRIx64, m->window_gpa);
	if ((r = fdt_begin_node(fdt, "reserved-memory")) < 0 ||
	    (r = prop_u32(fdt, "#address-cells", 2)) < 0 ||
	    (r = prop_u32(fdt, "#size-cells", 2)) < 0 ||
	    (r = fdt_property(fdt, "ranges", NULL, 0)) < 0 || (r = fdt_begin_node(fdt, name)) < 0 ||
	    (r = fdt_property_string(fdt, "compatible", "restricted-dma-pool")) < 0 ||
	    (r = prop_reg64(fdt, (const uint64_t[]){ m->window_gpa, m->window_size }, 2)) < 0 ||
	    (r = prop_u32(fdt, "phandle", WINDOW_PHANDLE)) < 0 || (r = fdt_end_node(fdt)) < 0)
		return r;
	return fdt_end_node(fdt);
}

static int node_cpus(void *fdt, const pvm_fdt_arm64 *m)
{
	int r;

	if ((r = fdt_begin_node(fdt, "cpus")) < 0 || (r = prop_u32(fdt, "#address-cells", 1)) < 0 ||
	    (r = prop_u32(fdt, "#size-cells", 0)) < 0)
		return r;
	for (uint32_t i = 0; i < m->cpus; i++) {
		char name[16];

		snprintf(name, sizeof(name), "cpu@%" PRIx32, i);
		/* reg is the MPIDR affinity KVM gives vCPU i (Aff0 = i for up to 16 vCPUs). */
		if ((r = fdt_begin_node(fdt, name)) < 0 ||
		    (r = fdt_property_string(fdt, "device_type", "cpu")) < 0 ||
		    (r = fdt_property_string(fdt, "compatible", "arm,arm-v8")) < 0 ||
		    (r = prop_u32(fdt, "reg", i)) < 0 ||
		    (r = fdt_property_string(fdt, "enable-method", "psci")) < 0 ||
		    (r = fdt_end_node(fdt)) < 0)
			return r;
	}
	return fdt_end_node(fdt);
}

static int node_psci(void *fdt)
{
	static const char compat[] = "arm,psci-1.0\0arm,psci-0.2";
	int r;

	if ((r = fdt_begin_node(fdt, "psci")) < 0 ||
	    (r = fdt_property(fdt, "compatible", compat, sizeof(compat))) < 0 ||
	    (r = fdt_property_string(fdt, "method", "hvc")) < 0)
		return r;
	return fdt_end_node(fdt);
}

static int node_gic(void *fdt, const pvm_fdt_arm64 *m)
{
	char name[32];
	int r;

	snprintf(name, sizeof(name), "intc@%x", PVM_ARM64_GICD_BASE);
	if ((r = fdt_begin_node(fdt, name)) < 0 ||
	    (r = fdt_property_string(fdt, "compatible", "arm,gic-v3")) < 0 ||
	    (r = prop_u32(fdt, "#interrupt-cells", 3)) < 0 ||
	    (r = fdt_property(fdt, "interrupt-controller", NULL, 0)) < 0 ||
	    (r = prop_u32(fdt, "#redistributor-regions", 1)) < 0 ||
	    (r = prop_reg64(fdt,
			    (const uint64_t[]){ PVM_ARM64_GICD_BASE, PVM_ARM64_GICD_SIZE,
						PVM_ARM64_GICR_BASE,
						(uint64_t)m->cpus * PVM_ARM64_GICR_STRIDE },
			    4)) < 0 ||
	    (r = prop_u32(fdt, "phandle", GIC_PHANDLE)) < 0)
		return r;
	return fdt_end_node(fdt);
}

static int node_timer(void *fdt)
{
	/* The architected timer's PPIs: secure, non-secure, virtual, hypervisor (INTIDs 29, 30,
	 * 27, 26 are PPIs 13, 14, 11, 10). */
	static const uint32_t ppis[] = { 13, 14, 11, 10 };
	uint32_t cells[12];
	int r;

	for (size_t i = 0; i < ELEMENTSOF(ppis); i++) {
		cells[3 * i] = GIC_PPI;
		cells[3 * i + 1] = ppis[i];
		cells[3 * i + 2] = GIC_CPU_MASK_ALL | IRQ_TYPE_LEVEL_LOW;
	}
	if ((r = fdt_begin_node(fdt, "timer")) < 0 ||
	    (r = fdt_property_string(fdt, "compatible", "arm,armv8-timer")) < 0 ||
	    (r = prop_u32s(fdt, "interrupts", cells, ELEMENTSOF(cells))) < 0 ||
	    (r = fdt_property(fdt, "always-on", NULL, 0)) < 0)
		return r;
	return fdt_end_node(fdt);
}

static int node_uart(void *fdt)
{
	char name[32];
	int r;

	/* No interrupts property: the UART raises none, so Linux's 8250 driver polls it. */
	snprintf(name, sizeof(name), "uart@%x", PVM_ARM64_UART_BASE);
	if ((r = fdt_begin_node(fdt, name)) < 0 ||
	    (r = fdt_property_string(fdt, "compatible", "ns16550a")) < 0 ||
	    (r = prop_reg64(fdt, (const uint64_t[]){ PVM_ARM64_UART_BASE, PVM_ARM64_UART_SIZE },
			    2)) < 0 ||
	    (r = prop_u32(fdt, "clock-frequency", PVM_ARM64_UART_CLOCK)) < 0)
		return r;
	return fdt_end_node(fdt);
}

/* One node per virtio-mmio slot in use, whatever its device type: the guest reads the type
 * from the DeviceID register. */
static int node_virtio(void *fdt, const pvm_fdt_arm64 *m)
{
	int r;

	for (unsigned i = 0; i < m->virtio_slots; i++) {
		uint64_t base = PVM_ARM64_VIRTIO_BASE + (uint64_t)i * PVM_ARM64_VIRTIO_STRIDE;
		const uint32_t irq[] = { GIC_SPI, PVM_ARM64_VIRTIO_SPI + i, IRQ_TYPE_EDGE_RISING };
		char name[32];

		snprintf(name, sizeof(name), "virtio_mmio@%" PRIx64, base);
		if ((r = fdt_begin_node(fdt, name)) < 0 ||
		    (r = fdt_property_string(fdt, "compatible", "virtio,mmio")) < 0 ||
		    (r = prop_reg64(fdt, (const uint64_t[]){ base, PVM_VIRTIO_MMIO_SIZE }, 2)) <
			0 ||
		    (r = prop_u32s(fdt, "interrupts", irq, ELEMENTSOF(irq))) < 0 ||
		    (r = fdt_property(fdt, "dma-coherent", NULL, 0)) < 0 ||
		    (r = prop_u32(fdt, "memory-region", WINDOW_PHANDLE)) < 0 ||
		    (r = fdt_end_node(fdt)) < 0)
			return r;
	}
	return 0;
}

int pvm_fdt_arm64_build(const pvm_fdt_arm64 *m, void **ret, size_t *ret_size, pvm_error *err)
{
	_cleanup_free_ void *fdt = NULL;
	int r;

	if (m->cpus == 0 || m->cpus > PVM_CPUS_MAX)
		return pvm_error_set(err, EINVAL, "device tree: %" PRIu32 " vCPUs (expected 1..%d)",
				     m->cpus, PVM_CPUS_MAX);
	if (m->ram_size == 0 || m->ram_base + m->ram_size < m->ram_base)
		return pvm_error_set(err, EINVAL, "device tree: bad RAM range");
	if (m->initrd_end < m->initrd_start)
		return pvm_error_set(err, EINVAL, "device tree: initrd ends before it starts");
	if (m->virtio_slots > PVM_VIRTIO_SLOTS || (m->virtio_slots && !m->window_size) ||
	    m->window_gpa + m->window_size < m->window_gpa ||
	    (m->window_size && m->window_gpa < m->ram_base + m->ram_size &&
	     m->ram_base < m->window_gpa + m->window_size))
		return pvm_error_set(err, EINVAL,
				     "device tree: %u virtio slots, window 0x%" PRIx64 "+0x%" PRIx64
				     " (expected at most %d slots and a window outside RAM)",
				     m->virtio_slots, m->window_gpa, m->window_size,
				     PVM_VIRTIO_SLOTS);

	fdt = malloc(PVM_FDT_SIZE_MAX);
	if (!fdt)
		return -ENOMEM;

	if ((r = fdt_create(fdt, PVM_FDT_SIZE_MAX)) < 0 || (r = fdt_finish_reservemap(fdt)) < 0 ||
	    (r = fdt_begin_node(fdt, "")) < 0 ||
	    (r = fdt_property_string(fdt, "compatible", "linux,dummy-virt")) < 0 ||
	    (r = fdt_property_string(fdt, "model", "pvm arm64")) < 0 ||
	    (r = prop_u32(fdt, "#address-cells", 2)) < 0 ||
	    (r = prop_u32(fdt, "#size-cells", 2)) < 0 ||
	    (r = prop_u32(fdt, "interrupt-parent", GIC_PHANDLE)) < 0 ||
	    (r = node_chosen(fdt, m)) < 0 || (r = node_memory(fdt, m)) < 0 ||
	    (r = node_reserved_memory(fdt, m)) < 0 || (r = node_cpus(fdt, m)) < 0 ||
	    (r = node_psci(fdt)) < 0 || (r = node_gic(fdt, m)) < 0 || (r = node_timer(fdt)) < 0 ||
	    (r = node_uart(fdt)) < 0 || (r = node_virtio(fdt, m)) < 0 ||
	    (r = fdt_end_node(fdt)) < 0 || (r = fdt_finish(fdt)) < 0)
		return pvm_error_set(err, r == -FDT_ERR_NOSPACE ? ENOSPC : EINVAL,
				     "device tree: %s", fdt_strerror(r));

	*ret_size = fdt_totalsize(fdt);
	*ret = TAKE_PTR(fdt);
	return 0;
}
