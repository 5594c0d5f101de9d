/* The arm64 guest device tree contract (libpvm/fdt.c): what Linux needs to boot on pvm's
 * machine is there, read back with libfdt, and nodes come in one fixed order. */
#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <libfdt.h>
#include <stdlib.h>

#include "arch/arm64/arm64-layout.h"
#include "guest-fdt.h"

static const char *const expected_order[] = {
	"chosen", "memory@80000000", "cpus", "psci", "intc@8000000", "timer", "uart@9000000",
};

static uint64_t prop_u64(const void *fdt, const char *path, const char *name)
{
	int len, node = fdt_path_offset(fdt, path);
	const fdt64_t *p;

	assert(node >= 0);
	p = fdt_getprop(fdt, node, name, &len);
	assert(p && len == 8);
	return fdt64_ld(p);
}

static const char *prop_str(const void *fdt, const char *path, const char *name)
{
	int node = fdt_path_offset(fdt, path);

	assert(node >= 0);
	return fdt_getprop(fdt, node, name, NULL);
}

static void test_full_tree(void)
{
	pvm_fdt_arm64 m = {
		.ram_base = 0x80000000,
		.ram_size = 256 << 20,
		.cpus = 2,
		.bootargs = "console=ttyS0 earlycon",
		.initrd_start = 0x88000000,
		.initrd_end = 0x88100000,
	};
	void *fdt = NULL;
	size_t size = 0;
	const fdt32_t *cells;
	const fdt64_t *reg;
	int node, len, i = 0;

	assert(pvm_fdt_arm64_build(&m, &fdt, &size, NULL) == 0);
	assert(fdt_check_header(fdt) == 0 && size == fdt_totalsize(fdt) &&
	       size <= PVM_FDT_SIZE_MAX);

	/* one fixed, readable order of the top-level nodes */
	fdt_for_each_subnode(node, fdt, 0)
	{
		assert(i < (int)ELEMENTSOF(expected_order));
		assert(strcmp(fdt_get_name(fdt, node, NULL), expected_order[i]) == 0);
		i++;
	}
	assert(i == (int)ELEMENTSOF(expected_order));

	/* /chosen: bootargs, the initrd range and a stdout-path that names the UART node */
	assert(strcmp(prop_str(fdt, "/chosen", "bootargs"), "console=ttyS0 earlycon") == 0);
	assert(prop_u64(fdt, "/chosen", "linux,initrd-start") == 0x88000000);
	assert(prop_u64(fdt, "/chosen", "linux,initrd-end") == 0x88100000);
	assert(fdt_path_offset(fdt, prop_str(fdt, "/chosen", "stdout-path")) ==
	       fdt_path_offset(fdt, "/uart@9000000"));

	/* /memory: one range, 2 address and 2 size cells */
	node = fdt_path_offset(fdt, "/memory@80000000");
	assert(strcmp(prop_str(fdt, "/memory@80000000", "device_type"), "memory") == 0);
	reg = fdt_getprop(fdt, node, "reg", &len);
	assert(len == 16 && fdt64_ld(&reg[0]) == 0x80000000 && fdt64_ld(&reg[1]) == 256 << 20);

	/* /cpus: one node per vCPU, brought up through PSCI over HVC */
	assert(strcmp(prop_str(fdt, "/cpus/cpu@0", "enable-method"), "psci") == 0);
	assert(strcmp(prop_str(fdt, "/cpus/cpu@1", "enable-method"), "psci") == 0);
	assert(fdt_path_offset(fdt, "/cpus/cpu@2") < 0);
	assert(strcmp(prop_str(fdt, "/psci", "method"), "hvc") == 0);
	assert(fdt_node_check_compatible(fdt, fdt_path_offset(fdt, "/psci"), "arm,psci-0.2") == 0);

	/* GICv3 at the addresses KVM's vGIC is given, one redistributor frame per vCPU, and it is
	 * the root's interrupt parent */
	node = fdt_path_offset(fdt, "/intc@8000000");
	assert(fdt_node_check_compatible(fdt, node, "arm,gic-v3") == 0);
	assert(fdt_getprop(fdt, node, "interrupt-controller", NULL));
	reg = fdt_getprop(fdt, node, "reg", &len);
	assert(len == 32 && fdt64_ld(&reg[0]) == PVM_ARM64_GICD_BASE &&
	       fdt64_ld(&reg[2]) == PVM_ARM64_GICR_BASE &&
	       fdt64_ld(&reg[3]) == 2 * PVM_ARM64_GICR_STRIDE);
	cells = fdt_getprop(fdt, 0, "interrupt-parent", &len);
	assert(cells && fdt_get_phandle(fdt, node) == fdt32_ld(cells));

	/* the architected timer: four PPIs, three cells each */
	node = fdt_path_offset(fdt, "/timer");
	assert(fdt_node_check_compatible(fdt, node, "arm,armv8-timer") == 0);
	cells = fdt_getprop(fdt, node, "interrupts", &len);
	assert(len == 12 * 4 && fdt32_ld(&cells[0]) == 1 && fdt32_ld(&cells[1]) == 13);

	assert(fdt_node_check_compatible(fdt, fdt_path_offset(fdt, "/uart@9000000"), "ns16550a") ==
	       0);
	free(fdt);
}

static void test_minimal_tree(void)
{
	pvm_fdt_arm64 m = { .ram_base = 0x80000000, .ram_size = 16 << 20, .cpus = 1 };
	void *fdt = NULL;
	size_t size;

	assert(pvm_fdt_arm64_build(&m, &fdt, &size, NULL) == 0);
	/* no bootargs, no initrd: the properties are absent, not empty */
	assert(prop_str(fdt, "/chosen", "bootargs") == NULL);
	assert(fdt_getprop(fdt, fdt_path_offset(fdt, "/chosen"), "linux,initrd-start", NULL) ==
	       NULL);
	free(fdt);
}

/* With devices: the window as memory of its own and as a restricted-dma-pool, and one
 * virtio,mmio node per slot in use, each with its SPI and memory-region naming the pool. */
static void test_virtio_tree(void)
{
	static const char *const order[] = {
		"chosen",
		"memory@80000000",
		"memory@70000000",
		"reserved-memory",
		"cpus",
		"psci",
		"intc@8000000",
		"timer",
		"uart@9000000",
		"virtio_mmio@a000000",
		"virtio_mmio@a001000",
		"virtio_mmio@a002000",
	};
	pvm_fdt_arm64 m = { .ram_base = 0x80000000,
			    .ram_size = 64 << 20,
			    .cpus = 1,
			    .window_gpa = PVM_ARM64_WINDOW_BASE,
			    .window_size = 8 << 20,
			    .virtio_slots = 3 };
	void *fdt = NULL;
	size_t size;
	const fdt32_t *cells;
	const fdt64_t *reg;
	int node, pool, len, i = 0;

	assert(pvm_fdt_arm64_build(&m, &fdt, &size, NULL) == 0);
	fdt_for_each_subnode(node, fdt, 0)
	{
		assert(i < (int)ELEMENTSOF(order));
		assert(strcmp(fdt_get_name(fdt, node, NULL), order[i]) == 0);
		i++;
	}
	assert(i == (int)ELEMENTSOF(order));

	reg = fdt_getprop(fdt, fdt_path_offset(fdt, "/memory@70000000"), "reg", &len);
	assert(reg && len == 16 && fdt64_ld(&reg[0]) == PVM_ARM64_WINDOW_BASE &&
	       fdt64_ld(&reg[1]) == 8 << 20);
	pool = fdt_path_offset(fdt, "/reserved-memory/pvm-window@70000000");
	assert(pool >= 0);
	assert(strcmp(fdt_getprop(fdt, pool, "compatible", NULL), "restricted-dma-pool") == 0);
	assert(fdt_getprop(fdt, pool, "no-map", NULL) == NULL); /* Linux refuses a no-map pool */
	assert(fdt_getprop(fdt, fdt_path_offset(fdt, "/reserved-memory"), "ranges", &len) &&
	       len == 0);
	for (unsigned s = 0; s < 3; s++) {
		char path[40];

		snprintf(path, sizeof(path), "/virtio_mmio@%x",
			 PVM_ARM64_VIRTIO_BASE + s * PVM_ARM64_VIRTIO_STRIDE);
		node = fdt_path_offset(fdt, path);
		assert(node >= 0);
		assert(strcmp(prop_str(fdt, path, "compatible"), "virtio,mmio") == 0);
		reg = fdt_getprop(fdt, node, "reg", &len);
		assert(reg && len == 16 &&
		       fdt64_ld(&reg[0]) == PVM_ARM64_VIRTIO_BASE + s * PVM_ARM64_VIRTIO_STRIDE &&
		       fdt64_ld(&reg[1]) == 0x200);
		/* <GIC_SPI, SPI, edge rising> */
		cells = fdt_getprop(fdt, node, "interrupts", &len);
		assert(cells && len == 12 && fdt32_ld(&cells[0]) == 0 &&
		       fdt32_ld(&cells[1]) == PVM_ARM64_VIRTIO_SPI + s && fdt32_ld(&cells[2]) == 1);
		cells = fdt_getprop(fdt, node, "memory-region", &len);
		assert(cells && len == 4 && fdt32_ld(cells) == fdt_get_phandle(fdt, pool));
		assert(fdt_getprop(fdt, node, "dma-coherent", NULL));
	}
	free(fdt);

	/* no window, no virtio nodes; a window overlapping RAM or too many slots: refused */
	m.virtio_slots = 1;
	m.window_size = 0;
	assert(pvm_fdt_arm64_build(&m, &fdt, &size, NULL) == -EINVAL);
	m.window_size = 8 << 20;
	m.window_gpa = m.ram_base + (4 << 20);
	assert(pvm_fdt_arm64_build(&m, &fdt, &size, NULL) == -EINVAL);
	m.window_gpa = PVM_ARM64_WINDOW_BASE;
	m.virtio_slots = 9;
	assert(pvm_fdt_arm64_build(&m, &fdt, &size, NULL) == -EINVAL);
}

static void test_bad_input(void)
{
	pvm_fdt_arm64 m = { .ram_base = 0x80000000, .ram_size = 16 << 20, .cpus = 0 };
	pvm_error err = {};
	void *fdt = NULL;
	size_t size;

	assert(pvm_fdt_arm64_build(&m, &fdt, &size, &err) == -EINVAL && fdt == NULL);
	assert(strstr(err.message, "vCPUs"));
	m.cpus = 1;
	m.initrd_start = 2;
	m.initrd_end = 1;
	assert(pvm_fdt_arm64_build(&m, &fdt, &size, NULL) == -EINVAL);
	m.initrd_start = m.initrd_end = 0;
	m.ram_size = 0;
	assert(pvm_fdt_arm64_build(&m, &fdt, &size, NULL) == -EINVAL);
}

int main(void)
{
	test_full_tree();
	test_minimal_tree();
	test_virtio_tree();
	test_bad_input();
	printf("test-fdt: ok\n");
	return 0;
}
