/* pvm-fw's device tree contract, with the firmware's own code on the host: the host's tree is
 * accepted only if its memory regions are well-formed, do not overlap and one holds the
 * firmware; a tree claiming more room than it uses is fine, one using more than 64 KiB is not;
 * /chosen ends up with the signed command line and the verified initrd, and nothing stale. */
#include <libfdt.h>
#include <stdlib.h>
#include <string.h>

#include "../../tests/unit/check.h"
#include "fw-fdt.h"

#define BASE 0x80000000ull
#define MIB (1ull << 20)

static uint64_t src[PVM_FW_FDT_MAX * 2 / 8];
static uint64_t buf[(PVM_FW_FDT_MAX + PVM_FW_CMDLINE_MAX + 0x1000) / 8];

/* A tree with 2 address and size cells and one memory node per region pair in `regs`. */
/* A 64-bit property value: properties are only 4-byte aligned in the blob. */
static uint64_t prop_u64(const void *p)
{
	fdt64_t v;
	memcpy(&v, p, sizeof(v));
	return fdt64_to_cpu(v);
}

static void make_tree(const uint64_t *regs, int n_nodes, int regions_per_node)
{
	char name[32];

	if (fdt_create_empty_tree(src, 0x4000) != 0)
		abort();
	fdt_setprop_u32(src, 0, "#address-cells", 2);
	fdt_setprop_u32(src, 0, "#size-cells", 2);
	fdt_add_subnode(src, 0, "chosen");
	for (int i = 0; i < n_nodes; i++) {
		int node;
		snprintf(name, sizeof(name), "memory@%llx",
			 (unsigned long long)regs[2 * i * regions_per_node]);
		node = fdt_add_subnode(src, 0, name);
		fdt_setprop_string(src, node, "device_type", "memory");
		fdt_setprop(src, node, "reg", NULL, 0);
		for (int r = 0; r < regions_per_node; r++) {
			fdt_appendprop_u64(src, node, "reg", regs[2 * (i * regions_per_node + r)]);
			fdt_appendprop_u64(src, node, "reg",
					   regs[2 * (i * regions_per_node + r) + 1]);
		}
	}
	fdt_pack(src);
}

static PvmFwVerdict check(uint64_t *ret_start, uint64_t *ret_end, const char **why)
{
	PvmFwVerdict v = pvm_fw_fdt_copy(src, buf, sizeof(buf), why);
	uint64_t s, e;

	if (v == PVM_FW_OK)
		v = pvm_fw_fdt_ram(buf, BASE, ret_start ?: &s, ret_end ?: &e, why);
	return v;
}

static const char *expect_refused(const char *want)
{
	const char *why = "";
	PvmFwVerdict v = check(NULL, NULL, &why);

	CHECK(v == PVM_FW_BAD_DEVICE_TREE && strstr(why, want), "want '%s', got %d '%s'", want, v,
	      why);
	return why;
}

int main(void)
{
	uint64_t start = 0, end = 0;
	const char *why = "";
	const void *p;
	int len, chosen;

	const uint64_t one[] = { BASE, 64 * MIB };
	make_tree(one, 1, 1);
	CHECK(check(&start, &end, &why) == PVM_FW_OK, "one region: %s", why);
	CHECK(start == BASE && end == BASE + 64 * MIB, "region %llx-%llx",
	      (unsigned long long)start, (unsigned long long)end);

	/* QEMU's trees claim 1 MiB and use a few KiB. */
	fdt_set_totalsize(src, 1 << 20);
	CHECK(check(NULL, NULL, &why) == PVM_FW_OK, "a tree claiming 1 MiB: %s", why);

	const uint64_t two[] = { 0x40000000, 16 * MIB, BASE, 64 * MIB };
	make_tree(two, 2, 1);
	CHECK(check(&start, &end, &why) == PVM_FW_OK && start == BASE, "two disjoint regions: %s",
	      why);
	make_tree(two, 1, 2);
	CHECK(check(&start, &end, &why) == PVM_FW_OK && start == BASE, "two regions in one reg: %s",
	      why);

	const uint64_t overlap[] = { BASE, 64 * MIB, BASE + 32 * MIB, 64 * MIB };
	make_tree(overlap, 2, 1);
	expect_refused("overlap");
	make_tree(overlap, 1, 2);
	expect_refused("overlap");
	const uint64_t inside[] = { BASE, 64 * MIB, BASE + MIB, MIB };
	make_tree(inside, 2, 1);
	expect_refused("overlap");

	const uint64_t elsewhere[] = { 0x40000000, 64 * MIB };
	make_tree(elsewhere, 1, 1);
	expect_refused("no memory region holds");
	const uint64_t empty[] = { BASE, 0 };
	make_tree(empty, 1, 1);
	expect_refused("empty or wrapping");
	const uint64_t wrapping[] = { BASE, ~0ull };
	make_tree(wrapping, 1, 1);
	expect_refused("empty or wrapping");
	uint64_t many[18];
	for (int i = 0; i < 9; i++) {
		many[2 * i] = BASE + (uint64_t)i * 16 * MIB;
		many[2 * i + 1] = MIB;
	}
	make_tree(many, 9, 1);
	expect_refused("more than 8");

	make_tree(one, 1, 1);
	fdt_setprop_u32(src, 0, "#size-cells", 3);
	expect_refused("#size-cells");
	make_tree(one, 1, 1);
	fdt_setprop(src, fdt_path_offset(src, "/memory@80000000"), "reg", "abc", 3);
	expect_refused("well-formed reg");

	make_tree(one, 1, 1);
	((uint8_t *)src)[0] ^= 1;
	expect_refused("no device tree");
	make_tree(one, 1, 1);
	fdt_set_off_dt_strings(src, fdt_off_dt_strings(src) + 8);
	expect_refused("invalid");
	/* A tree that really uses more than 64 KiB. */
	if (fdt_create_empty_tree(src, sizeof(src)) != 0)
		abort();
	static char big[PVM_FW_FDT_MAX];
	memset(big, 'x', sizeof(big) - 1);
	fdt_setprop_string(src, 0, "padding", big);
	fdt_pack(src);
	expect_refused("larger than 64 KiB");

	/* /chosen: the signed command line and the verified initrd, and none left from the host. */
	make_tree(one, 1, 1);
	fdt_setprop_string(src, fdt_path_offset(src, "/chosen"), "bootargs", "init=/bin/evil");
	fdt_setprop_u64(src, fdt_path_offset(src, "/chosen"), "linux,initrd-start", BASE);
	fdt_setprop_u64(src, fdt_path_offset(src, "/chosen"), "linux,initrd-end", BASE + MIB);
	CHECK(check(NULL, NULL, &why) == PVM_FW_OK, "%s", why);
	CHECK(pvm_fw_fdt_set_chosen(buf, "console=ttyS0", BASE + 8 * MIB, 4096, &why) == PVM_FW_OK,
	      "%s", why);
	chosen = fdt_path_offset(buf, "/chosen");
	p = fdt_getprop(buf, chosen, "bootargs", &len);
	CHECK(p && strcmp(p, "console=ttyS0") == 0, "bootargs");
	p = fdt_getprop(buf, chosen, "linux,initrd-start", &len);
	CHECK(p && len == 8 && prop_u64(p) == BASE + 8 * MIB, "initrd-start");
	p = fdt_getprop(buf, chosen, "linux,initrd-end", &len);
	CHECK(p && len == 8 && prop_u64(p) == BASE + 8 * MIB + 4096, "initrd-end");
	CHECK(pvm_fw_fdt_set_chosen(buf, "", 0, 0, &why) == PVM_FW_OK, "%s", why);
	CHECK(!fdt_getprop(buf, chosen, "linux,initrd-start", &len) &&
		  !fdt_getprop(buf, chosen, "linux,initrd-end", &len),
	      "no initrd: the host's initrd properties are gone");

	/* No /chosen at all: one is added. */
	make_tree(one, 1, 1);
	fdt_del_node(src, fdt_path_offset(src, "/chosen"));
	fdt_pack(src);
	CHECK(check(NULL, NULL, &why) == PVM_FW_OK, "%s", why);
	CHECK(pvm_fw_fdt_set_chosen(buf, "quiet", 0, 0, &why) == PVM_FW_OK, "%s", why);
	p = fdt_getprop(buf, fdt_path_offset(buf, "/chosen"), "bootargs", &len);
	CHECK(p && strcmp(p, "quiet") == 0, "bootargs in the added /chosen");

	return check_exit("test-fw-fdt");
}
