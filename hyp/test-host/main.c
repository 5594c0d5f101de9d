// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The EL1 test host: calls the hypervisor's HVC interface the way a host kernel would and
 * prints TAP. A page it gave away must fault when touched: the hypervisor injects a
 * synchronous abort, host_sync_exception() records it and resumes after the access.
 * Runs with its MMU off (device-type accesses), so all accesses are aligned 64-bit words.
 */
#include <stdbool.h>

#include "lib.h"
#include "pvm-hyp-abi.h"
#include "selftest.h"

#define RAM_BASE 0x40000000UL
#define HYP_IMAGE 0x40200000UL	 /* the hypervisor's region (see hyp.ld) */
#define HYP_POOLISH 0x40300000UL /* inside the hypervisor's region, past its code */
#define PAGE_A 0x40800000UL	 /* host RAM the tests play with */
#define PAGE_B 0x40a00000UL
#define PFN(pa) ((pa) >> PVM_HYP_PAGE_SHIFT)
#define EC_IABT_CUR 0x21
#define EC_DABT_CUR 0x25
#define PAGE_SIZE (1UL << PVM_HYP_PAGE_SHIFT)

void host_main(uint64_t group) __attribute__((noreturn));
void host_sync_exception(uint64_t *frame);
void host_bad_vector(uint64_t kind) __attribute__((noreturn));

struct hvc_res {
	uint64_t x0, x1, x2, x3;
};

static struct hvc_res hvc(uint64_t fn, uint64_t a1, uint64_t a2, uint64_t a3, uint64_t a4)
{
	register uint64_t x0 __asm__("x0") = fn;
	register uint64_t x1 __asm__("x1") = a1;
	register uint64_t x2 __asm__("x2") = a2;
	register uint64_t x3 __asm__("x3") = a3;
	register uint64_t x4 __asm__("x4") = a4;

	__asm__ volatile("hvc #0" : "+r"(x0), "+r"(x1), "+r"(x2), "+r"(x3), "+r"(x4) : : "memory");
	return (struct hvc_res){ x0, x1, x2, x3 };
}

/* The result of a call the hypervisor knows (x1), or a marker if it refused the ID. */
static int64_t call(uint64_t fn, uint64_t a1, uint64_t a2, uint64_t a3, uint64_t a4)
{
	struct hvc_res r = hvc(fn, a1, a2, a3, a4);

	return r.x0 == PVM_HYP_SMCCC_SUCCESS ? (int64_t)r.x1 : 0x7fff;
}

static void __attribute__((noreturn)) power_off(void)
{
	hvc(PVM_HYP_PSCI_SYSTEM_OFF, 0, 0, 0, 0);
	print("# host: power off returned\n");
	for (;;)
		;
}

/* --- aborts the hypervisor injects ------------------------------------------------------- */

static volatile uint64_t aborts, abort_esr, abort_far;

void host_sync_exception(uint64_t *frame)
{
	uint64_t esr = read_sysreg(esr_el1), ec = esr >> 26;

	aborts++;
	abort_esr = esr;
	abort_far = read_sysreg(far_el1);
	if (ec == EC_DABT_CUR) {
		/* Skip the load or store that failed. */
		write_sysreg(read_sysreg(elr_el1) + 4, elr_el1);
	} else if (ec == EC_IABT_CUR) {
		/* A call into memory we may not execute: return to the caller. */
		write_sysreg(frame[30], elr_el1);
	} else {
		print("not ok - unexpected exception ESR_EL1 %lx ELR_EL1 %lx\n", esr,
		      read_sysreg(elr_el1));
		power_off();
	}
}

void host_bad_vector(uint64_t kind)
{
	print("not ok - unexpected exception at vector %lu, ESR_EL1 %lx\n", kind,
	      read_sysreg(esr_el1));
	power_off();
}

static uint64_t peek(uint64_t addr)
{
	uint64_t v = 0xdeadbeefUL;

	__asm__ volatile("ldr %0, [%1]" : "+r"(v) : "r"(addr) : "memory");
	return v;
}

static void poke(uint64_t addr, uint64_t v)
{
	__asm__ volatile("str %0, [%1]" : : "r"(v), "r"(addr) : "memory");
}

static void fill(uint64_t page, uint64_t v)
{
	for (uint64_t off = 0; off < PAGE_SIZE; off += 8)
		poke(page + off, v);
}

static bool filled_with(uint64_t page, uint64_t v)
{
	for (uint64_t off = 0; off < PAGE_SIZE; off += 8)
		if (peek(page + off) != v)
			return false;
	return true;
}

/* Did touching addr raise exactly one injected abort of this class, at addr? */
static bool access_aborts(uint64_t addr, bool write, uint64_t ec)
{
	uint64_t before = aborts;

	if (write)
		poke(addr, 0x1234);
	else
		peek(addr);
	return aborts == before + 1 && abort_far == addr && (abort_esr >> 26) == ec;
}

static bool access_works(uint64_t addr)
{
	uint64_t before = aborts;

	poke(addr, 0xfeedf00dUL);
	return peek(addr) == 0xfeedf00dUL && aborts == before;
}

/* --- TAP ----------------------------------------------------------------------------------- */

static unsigned tests, failures;

static void check(bool ok, const char *what)
{
	tests++;
	if (!ok)
		failures++;
	print("%sok %u - %s\n", ok ? "" : "not ", tests, what);
}

static void check_ret(int64_t got, int64_t want, const char *what)
{
	tests++;
	if (got != want)
		failures++;
	print("%sok %u - %s: %ld", got == want ? "" : "not ", tests, what, got);
	if (got != want)
		print(" (expected %ld)", want);
	print("\n");
}

static void check_state(uint64_t pa, uint64_t state, uint64_t owner, const char *what)
{
	struct hvc_res r = hvc(PVM_HYP_FN_PAGE_STATE, PFN(pa), 0, 0, 0);

	tests++;
	if (r.x0 || r.x1 || r.x2 != state || r.x3 != owner)
		failures++;
	print("%sok %u - %s: state %lu owner %lu\n",
	      !r.x0 && !r.x1 && r.x2 == state && r.x3 == owner ? "" : "not ", tests, what, r.x2,
	      r.x3);
}

/* --- test groups ------------------------------------------------------------------------- */

static void test_basics(void)
{
	struct hvc_res r = hvc(PVM_HYP_FN_VERSION, 0, 0, 0, 0);

	check(((read_sysreg(CurrentEL) >> 2) & 3) == 1, "host runs at EL1");
	check(r.x0 == PVM_HYP_SMCCC_SUCCESS && r.x1 == 0 && r.x2 == PVM_HYP_ABI_VERSION,
	      "VERSION reports the ABI version");
	check(hvc(PVM_HYP_FN(0x7ff), 0, 0, 0, 0).x0 == PVM_HYP_SMCCC_NOT_SUPPORTED,
	      "unknown function ID: NOT_SUPPORTED");
	check(access_works(PAGE_A), "host RAM faults in lazily and is usable");
	check(access_works(RAM_BASE + 0x1ff8), "host RAM below the hypervisor is usable");
	check_state(PAGE_A, PVM_HYP_PAGE_OWNED, PVM_HYP_OWNER_HOST, "host page is owned");
	check_state(HYP_IMAGE, PVM_HYP_PAGE_NOPAGE, PVM_HYP_OWNER_HYP, "hypervisor page");
}

static void test_share(void)
{
	poke(PAGE_A, 42);
	check_ret(call(PVM_HYP_FN_HOST_SHARE_HYP, PFN(PAGE_A), 2, 0, 0), 0, "share 2 pages");
	check_state(PAGE_A + PAGE_SIZE, PVM_HYP_PAGE_SHARED_OWNED, PVM_HYP_OWNER_HOST,
		    "shared page");
	check(peek(PAGE_A) == 42 && access_works(PAGE_A + 8), "shared page stays usable");
	check_ret(call(PVM_HYP_FN_HOST_SHARE_HYP, PFN(PAGE_A), 1, 0, 0), -PVM_HYP_EPERM,
		  "share again");
	check_ret(call(PVM_HYP_FN_HOST_DONATE_HYP, PFN(PAGE_A), 1, 0, 0), -PVM_HYP_EPERM,
		  "donate a shared page");
	check_ret(call(PVM_HYP_FN_HOST_UNSHARE_HYP, PFN(PAGE_A), 2, 0, 0), 0, "unshare");
	check_ret(call(PVM_HYP_FN_HOST_UNSHARE_HYP, PFN(PAGE_A), 1, 0, 0), -PVM_HYP_EPERM,
		  "unshare again");
	check_state(PAGE_A, PVM_HYP_PAGE_OWNED, PVM_HYP_OWNER_HOST, "owned again");
	check(peek(PAGE_A) == 42, "contents kept");
}

static void test_donate_hyp(void)
{
	poke(PAGE_A, 7);
	check_ret(call(PVM_HYP_FN_HOST_DONATE_HYP, PFN(PAGE_A), 1, 0, 0), 0, "donate to hyp");
	check_state(PAGE_A, PVM_HYP_PAGE_NOPAGE, PVM_HYP_OWNER_HYP, "donated page");
	check(access_aborts(PAGE_A + 0x10, false, EC_DABT_CUR), "read of donated page aborts");
	check(access_aborts(PAGE_A + 0x18, true, EC_DABT_CUR), "write of donated page aborts");
	check(abort_esr & (1UL << 6), "injected abort says write (WnR)");
	check(access_works(PAGE_A + PAGE_SIZE), "the next page is still the host's");
	check_ret(call(PVM_HYP_FN_HOST_SHARE_HYP, PFN(PAGE_A), 1, 0, 0), -PVM_HYP_EPERM,
		  "share a page given away");
	check_ret(call(PVM_HYP_FN_HOST_RECLAIM_HYP, PFN(PAGE_A), 1, 0, 0), 0, "reclaim from hyp");
	check(filled_with(PAGE_A, 0), "reclaimed page comes back zeroed");
	check(access_works(PAGE_A + 0x10), "reclaimed page usable");
	check_ret(call(PVM_HYP_FN_HOST_RECLAIM_HYP, PFN(PAGE_A), 1, 0, 0), -PVM_HYP_EPERM,
		  "reclaim again");
}

static void test_guest(void)
{
	struct hvc_res r = hvc(PVM_HYP_FN_GUEST_CREATE, 0, 0, 0, 0);
	uint64_t g = r.x2;

	check(r.x0 == 0 && r.x1 == 0, "create a guest");
	fill(PAGE_B, 0x5ec2e75ec2e7UL);
	check_ret(call(PVM_HYP_FN_HOST_DONATE_GUEST, g, PFN(PAGE_B), 0x100, 1), 0,
		  "donate a page to the guest");
	check_state(PAGE_B, PVM_HYP_PAGE_NOPAGE, PVM_HYP_OWNER_GUEST, "guest page");
	check(access_aborts(PAGE_B + 0x40, false, EC_DABT_CUR), "read of guest page aborts");
	check_ret(call(PVM_HYP_FN_HOST_DONATE_GUEST, g, PFN(PAGE_B) + 1, 0x100, 1), -PVM_HYP_EPERM,
		  "donate to an occupied guest address");
	check_ret(call(PVM_HYP_FN_HOST_RECLAIM_GUEST, PFN(PAGE_B), 1, 0, 0), -PVM_HYP_EINVAL,
		  "reclaim while the guest lives");
	check_ret(call(PVM_HYP_FN_GUEST_DESTROY, g, 0, 0, 0), 0, "tear the guest down");
	check_ret(call(PVM_HYP_FN_HOST_DONATE_GUEST, g, PFN(PAGE_B) + 1, 0x101, 1), -PVM_HYP_ENOENT,
		  "donate to a torn-down guest");
	check(access_aborts(PAGE_B, true, EC_DABT_CUR), "dead guest's page still aborts");
	check_ret(call(PVM_HYP_FN_HOST_RECLAIM_GUEST, PFN(PAGE_B), 1, 0, 0), 0, "reclaim the page");
	check(filled_with(PAGE_B, 0), "reclaimed page reads as zeros");
	check_ret(call(PVM_HYP_FN_GUEST_DESTROY, g, 0, 0, 0), -PVM_HYP_ENOENT, "destroy again");
}

static void test_bad_arguments(void)
{
	const uint64_t gfn_limit = 1UL << (36 - 12);
	uint64_t g = hvc(PVM_HYP_FN_GUEST_CREATE, 0, 0, 0, 0).x2;

	check_ret(call(PVM_HYP_FN_HOST_SHARE_HYP, PFN(PAGE_A), 0, 0, 0), -PVM_HYP_EINVAL,
		  "zero pages");
	check_ret(call(PVM_HYP_FN_HOST_SHARE_HYP, PFN(PAGE_A), 513, 0, 0), -PVM_HYP_EINVAL,
		  "513 pages");
	check_ret(call(PVM_HYP_FN_HOST_DONATE_HYP, ~0UL, 1, 0, 0), -PVM_HYP_EINVAL, "pfn ~0");
	check_ret(call(PVM_HYP_FN_HOST_DONATE_HYP, ~0UL >> 12, 1, 0, 0), -PVM_HYP_EINVAL,
		  "pfn whose address overflows");
	check_ret(call(PVM_HYP_FN_HOST_SHARE_HYP, (~0UL >> 12) - 1, 4, 0, 0), -PVM_HYP_EINVAL,
		  "pfn + nr overflows");
	check_ret(call(PVM_HYP_FN_HOST_SHARE_HYP, PFN(PL011_BASE), 1, 0, 0), -PVM_HYP_EPERM,
		  "MMIO page");
	check_ret(call(PVM_HYP_FN_HOST_SHARE_HYP, PFN(0x48000000UL), 1, 0, 0), -PVM_HYP_EPERM,
		  "page past the end of RAM");
	check_ret(call(PVM_HYP_FN_HOST_SHARE_HYP, PFN(HYP_IMAGE) - 1, 2, 0, 0), -PVM_HYP_EPERM,
		  "range into the hypervisor's region");
	check_ret(call(PVM_HYP_FN_HOST_SHARE_HYP, PFN(HYP_IMAGE), 1, 0, 0), -PVM_HYP_EPERM,
		  "share a hypervisor page");
	check_ret(call(PVM_HYP_FN_HOST_RECLAIM_HYP, PFN(HYP_IMAGE), 1, 0, 0), -PVM_HYP_EPERM,
		  "take a hypervisor page");
	check_ret(call(PVM_HYP_FN_HOST_RECLAIM_GUEST, PFN(HYP_POOLISH), 1, 0, 0), -PVM_HYP_EPERM,
		  "reclaim a hypervisor page as a guest's");
	check_ret(call(PVM_HYP_FN_GUEST_DESTROY, 99, 0, 0, 0), -PVM_HYP_ENOENT,
		  "destroy an unknown guest");
	check_ret(call(PVM_HYP_FN_HOST_DONATE_GUEST, ~0UL, PFN(PAGE_A), 0, 1), -PVM_HYP_ENOENT,
		  "donate to guest handle ~0");
	check_ret(call(PVM_HYP_FN_HOST_DONATE_GUEST, g, PFN(PAGE_A), gfn_limit, 1), -PVM_HYP_ERANGE,
		  "guest address past its IPA space");
	check_ret(call(PVM_HYP_FN_HOST_DONATE_GUEST, g, PFN(PAGE_A), gfn_limit - 1, 2),
		  -PVM_HYP_ERANGE, "guest range past its IPA space");
	check_ret(call(PVM_HYP_FN_PAGE_STATE, PFN(PL011_BASE), 0, 0, 0), -PVM_HYP_EPERM,
		  "page state of MMIO");
	check(hvc(PVM_HYP_FN_GUEST_SHARE_HOST, 0, 1, 0, 0).x0 == PVM_HYP_SMCCC_NOT_SUPPORTED,
	      "guest-only call from the host: NOT_SUPPORTED");
	{
		register uint64_t x0 __asm__("x0") = PVM_HYP_PSCI_SYSTEM_OFF;
		__asm__ volatile("smc #0" : "+r"(x0) : : "memory");
		check(x0 == PVM_HYP_SMCCC_NOT_SUPPORTED, "SMC from the host is trapped, refused");
	}
	check(access_works(PAGE_A), "host still works after the refusals");
}

static void test_hyp_protected(void)
{
	void (*hyp_code)(void) = (void (*)(void))HYP_IMAGE;
	uint64_t before;

	check(access_aborts(HYP_IMAGE, false, EC_DABT_CUR), "read of hypervisor code aborts");
	check(access_aborts(HYP_IMAGE + 0x100, true, EC_DABT_CUR),
	      "write to hypervisor code aborts");
	check(access_aborts(HYP_POOLISH, true, EC_DABT_CUR), "write to hypervisor data aborts");
	before = aborts;
	hyp_code();
	check(aborts == before + 1 && (abort_esr >> 26) == EC_IABT_CUR && abort_far == HYP_IMAGE,
	      "executing hypervisor code aborts");
	before = aborts;
	((void (*)(void))PL011_BASE)();
	check(aborts == before + 1 && (abort_esr >> 26) == EC_IABT_CUR && abort_far == PL011_BASE,
	      "executing device memory aborts (stage-2 XN)");
	check(access_works(PAGE_A), "host keeps running");
}

extern const char guest_code_start[], guest_code_end[];

#define PAGE_C 0x40c00000UL	    /* guest code */
#define PAGE_D 0x40c01000UL	    /* guest private data */
#define PAGE_E 0x40c02000UL	    /* shared with the host by the guest */
#define PAGE_UNTOUCHED 0x47000000UL /* in a 2 MiB block of host RAM no test touches first */

static struct hvc_res guest_run(uint64_t g, uint64_t entry)
{
	return hvc(PVM_HYP_FN_GUEST_RUN, g, entry, 0, 0);
}

/* A guest with guest.S at 0x100000 (PAGE_C), its private page and the page it will share. */
static uint64_t guest_with_code(void)
{
	uint64_t g = hvc(PVM_HYP_FN_GUEST_CREATE, 0, 0, 0, 0).x2;

	for (uint64_t off = 0; off < (uint64_t)(guest_code_end - guest_code_start); off += 8)
		poke(PAGE_C + off, *(const uint64_t *)(guest_code_start + off));
	fill(PAGE_D, 0);
	fill(PAGE_E, 0);
	check_ret(call(PVM_HYP_FN_HOST_DONATE_GUEST, g, PFN(PAGE_C), 0x100, 3), 0,
		  "donate code and data pages to the guest");
	return g;
}

static void test_guest_run(void)
{
	uint64_t g = guest_with_code();
	struct hvc_res r;

	r = guest_run(g, 0x100000);
	check(r.x0 == 0 && r.x1 == 0 && r.x2 == PVM_HYP_EXIT_YIELD && r.x3 == 0,
	      "guest runs, shares a page (result 0) and yields");
	check(peek(PAGE_E) == 0x1234, "host reads what the guest wrote to the shared page");
	check_state(PAGE_E, PVM_HYP_PAGE_SHARED_BORROWED, PVM_HYP_OWNER_GUEST,
		    "shared page seen by the host");
	check(access_aborts(PAGE_D, false, EC_DABT_CUR), "guest private page still aborts");

	r = guest_run(g, 0);
	check(r.x2 == PVM_HYP_EXIT_YIELD && r.x3 == 0, "guest unshares (result 0)");
	check(access_aborts(PAGE_E, false, EC_DABT_CUR), "unshared page aborts again");

	r = guest_run(g, 0);
	check(r.x2 == PVM_HYP_EXIT_YIELD && (int64_t)r.x3 == -PVM_HYP_ENOENT,
	      "guest sharing a page it lacks gets -ENOENT");

	r = guest_run(g, 0);
	check(r.x2 == PVM_HYP_EXIT_OTHER && (r.x3 >> 26) == 0x01,
	      "guest WFI returns the CPU to the host (EC 0x01)");

	r = guest_run(g, 0);
	check(r.x2 == PVM_HYP_EXIT_FAULT && r.x3 == 0x200000,
	      "guest touching an address without a page exits with the IPA");

	check_ret(call(PVM_HYP_FN_GUEST_DESTROY, g, 0, 0, 0), 0, "tear the guest down");
	check_ret(call(PVM_HYP_FN_GUEST_RUN, g, 0, 0, 0), -PVM_HYP_ENOENT, "run a dead guest");
	check_ret(call(PVM_HYP_FN_HOST_RECLAIM_GUEST, PFN(PAGE_C), 3, 0, 0), 0,
		  "reclaim its pages");
	check(filled_with(PAGE_D, 0), "its private data is gone");
}

/* Touch MMIO in nr new 2 MiB windows from 4 GiB up: each needs a new host stage-2 table. */
static void mmio_faults(uint64_t first, uint64_t nr)
{
	for (uint64_t i = first; i < first + nr; i++)
		peek(0x100000000UL + (i << 21));
}

static void test_mmio_flood(void)
{
	uint64_t g = guest_with_code();
	struct hvc_res r;

	mmio_faults(0, 5000);
	check(hvc(PVM_HYP_FN_VERSION, 0, 0, 0, 0).x2 == PVM_HYP_ABI_VERSION,
	      "the hypervisor answers after 5000 MMIO faults in distinct windows");
	r = guest_run(g, 0x100000);
	check(r.x2 == PVM_HYP_EXIT_YIELD && r.x3 == 0 && peek(PAGE_E) == 0x1234,
	      "the guest runs and shares a page");
	mmio_faults(5000, 5000);
	r = guest_run(g, 0);
	check(r.x2 == PVM_HYP_EXIT_YIELD && r.x3 == 0,
	      "after 10000 MMIO faults the guest still runs (unshares)");
	check(access_aborts(PAGE_D, false, EC_DABT_CUR), "its private page still aborts");
	check(access_works(PAGE_A), "host RAM faults in again");
	/* Both need new tables from the pool the faults went through. */
	check_ret(call(PVM_HYP_FN_HOST_SHARE_HYP, PFN(PAGE_UNTOUCHED), 1, 0, 0), 0,
		  "the host shares a page of a block it never touched");
	r = hvc(PVM_HYP_FN_GUEST_CREATE, 0, 0, 0, 0);
	check(r.x0 == 0 && r.x1 == 0, "a second guest can be created");
	check_ret(call(PVM_HYP_FN_GUEST_DESTROY, r.x2, 0, 0, 0), 0, "and torn down");
	check_ret(call(PVM_HYP_FN_GUEST_DESTROY, g, 0, 0, 0), 0, "tear the guest down");
	check_ret(call(PVM_HYP_FN_HOST_RECLAIM_GUEST, PFN(PAGE_C), 3, 0, 0), 0,
		  "reclaim its pages");
}

static void test_loans_and_force_reclaim(void)
{
	uint64_t g = guest_with_code();
	struct hvc_res r;

	poke(PAGE_A, 99);
	check_ret(call(PVM_HYP_FN_HOST_SHARE_GUEST, g, PFN(PAGE_A), 0x200, 1), 0,
		  "lend a page to the guest");
	check_ret(call(PVM_HYP_FN_HOST_SHARE_GUEST, g, PFN(PAGE_A), 0x201, 1), 0,
		  "lend it again at another guest address");
	check_state(PAGE_A, PVM_HYP_PAGE_SHARED_OWNED, PVM_HYP_OWNER_HOST, "lent page");
	check(peek(PAGE_A) == 99 && access_works(PAGE_A + 8), "the host keeps using it");
	check_ret(call(PVM_HYP_FN_HOST_DONATE_GUEST, g, PFN(PAGE_A), 0x202, 1), -PVM_HYP_EPERM,
		  "a lent page cannot be donated");
	check_ret(call(PVM_HYP_FN_HOST_UNSHARE_GUEST, g, 0x200, 1, 0), 0, "take one loan back");
	check_state(PAGE_A, PVM_HYP_PAGE_SHARED_OWNED, PVM_HYP_OWNER_HOST, "still lent once");
	check_ret(call(PVM_HYP_FN_HOST_UNSHARE_GUEST, g, 0x201, 1, 0), 0, "take the other back");
	check_state(PAGE_A, PVM_HYP_PAGE_OWNED, PVM_HYP_OWNER_HOST, "the host's alone again");
	check_ret(call(PVM_HYP_FN_HOST_UNSHARE_GUEST, g, 0x201, 1, 0), -PVM_HYP_ENOENT,
		  "nothing left to take back");

	r = guest_run(g, 0x100000);
	check(r.x2 == PVM_HYP_EXIT_YIELD && r.x3 == 0, "the guest writes its private page, shares");
	check_ret(call(PVM_HYP_FN_HOST_FORCE_RECLAIM, PFN(PAGE_E), 0, 0, 0), -PVM_HYP_EPERM,
		  "force reclaim of a page the guest shares");
	check_ret(call(PVM_HYP_FN_HOST_FORCE_RECLAIM, PFN(PAGE_D), 0, 0, 0), 0,
		  "force reclaim of the guest's private page");
	check(filled_with(PAGE_D, 0), "it comes back zeroed: the guest's secret is gone");
	check_state(PAGE_D, PVM_HYP_PAGE_OWNED, PVM_HYP_OWNER_HOST, "the host owns it");
	check_ret(call(PVM_HYP_FN_HOST_DONATE_GUEST, g, PFN(PAGE_A), 0x101, 1), -PVM_HYP_EPERM,
		  "the poisoned guest address takes no new page");
	r = guest_run(g, 0);
	check(r.x2 == PVM_HYP_EXIT_YIELD && r.x3 == 0, "the guest runs on (unshares)");
	check_ret(call(PVM_HYP_FN_GUEST_DESTROY, g, 0, 0, 0), 0, "tear the guest down");
	check_ret(call(PVM_HYP_FN_HOST_RECLAIM_GUEST, PFN(PAGE_C), 1, 0, 0), 0, "reclaim its code");
	check_ret(call(PVM_HYP_FN_HOST_RECLAIM_GUEST, PFN(PAGE_E), 1, 0, 0), 0, "and its data");
}

/* What the hypervisor's probe of its own memory raised: 0, or its ESR_EL2. */
static uint64_t probe(enum hyp_probe p)
{
	struct hvc_res r = hvc(HYP_SELFTEST_FN_PROBE, p, 0, 0, 0);

	return r.x0 == 0 && r.x1 == 0 ? r.x2 : ~0UL;
}

/* A fault at EL2 itself (EC 0x21 instruction, 0x25 data) of the given fault status class. */
static bool el2_fault(uint64_t esr, uint64_t ec, bool permission)
{
	uint64_t fsc = esr & 0x3f;

	if (esr == ~0UL || (esr >> 26) != ec)
		return false;
	return permission ? fsc >= 0x0c && fsc <= 0x0f : fsc >= 0x04 && fsc <= 0x07;
}

static void test_w_xor_x(void)
{
	uint64_t esr;

	check(probe(HYP_PROBE_EXEC_CODE) == 0, "the hypervisor executes its code");
	check(probe(HYP_PROBE_WRITE_DATA) == 0, "the hypervisor writes its data");
	esr = probe(HYP_PROBE_WRITE_CODE);
	check(el2_fault(esr, EC_DABT_CUR, true) && (esr & (1UL << 6)),
	      "a write to the hypervisor's code faults (permission, WnR)");
	esr = probe(HYP_PROBE_EXEC_DATA);
	check(el2_fault(esr, EC_IABT_CUR, true), "an execute of the hypervisor's data faults");
	esr = probe(HYP_PROBE_READ_HOST);
	check(el2_fault(esr, EC_DABT_CUR, false),
	      "host RAM is not mapped in the hypervisor (translation fault)");
	check(probe(HYP_PROBE_EXEC_CODE) == 0 &&
		  hvc(PVM_HYP_FN_VERSION, 0, 0, 0, 0).x2 == PVM_HYP_ABI_VERSION,
	      "the hypervisor runs on after its faults");
	check(hvc(HYP_SELFTEST_FN_PROBE, HYP_NR_PROBES, 0, 0, 0).x1 == (uint64_t)-PVM_HYP_EINVAL,
	      "an unknown probe is refused");
}

static const struct {
	const char *name;
	void (*run)(void);
} groups[] = {
	{ "basics", test_basics },
	{ "share", test_share },
	{ "donate-hyp", test_donate_hyp },
	{ "guest", test_guest },
	{ "bad-arguments", test_bad_arguments },
	{ "hyp-protected", test_hyp_protected },
	{ "guest-run", test_guest_run },
	{ "mmio-flood", test_mmio_flood },
	{ "loans-and-force-reclaim", test_loans_and_force_reclaim },
	{ "w-xor-x", test_w_xor_x },
};

void host_main(uint64_t group)
{
	if (group < 1 || group > sizeof(groups) / sizeof(groups[0])) {
		print("not ok 1 - no test group %lu\n1..1\n", group);
		power_off();
	}
	print("# host: test group %lu: %s\n", group, groups[group - 1].name);
	groups[group - 1].run();
	print("1..%u\n# host: %u failed\n", tests, failures);
	power_off();
}
