// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The aarch64 port at EL2: the arch interface for the core (its own memory identity-mapped,
 * other pages through a one-page fixmap, TLB and cache maintenance), the hypervisor's own
 * stage 1 (only its image and pool, write-xor-execute), the host's stage 2, the HVC table,
 * stage-2 fault handling with abort injection, and the drop to the host at EL1.
 */
#include "hyp/arch.h"
#include "hyp/mem_protect.h"
#include "lib.h"
#include "selftest.h"

#define RAM_BASE 0x40000000ULL
#define RAM_SIZE (128ULL << 20)	    /* the test harness runs QEMU with -m 128M */
#define TEST_SELECTOR 0x40100000ULL /* written by QEMU's loader device: the test group */

#define ESR_EC(esr) ((esr) >> 26)
#define EC_WFX 0x01
#define EC_HVC64 0x16
#define EC_SMC64 0x17
#define EC_IABT_LOW 0x20
#define EC_IABT_CUR 0x21
#define EC_DABT_LOW 0x24
#define EC_DABT_CUR 0x25
#define ESR_IL (1ULL << 25)
#define ESR_DABT_WNR (1ULL << 6)
#define FSC_SYNC_EXTERNAL 0x10
#define FSC_TRANSLATION_L0 0x04
#define FSC_TRANSLATION_L3 0x07

#define HCR_VM (1ULL << 0)
#define HCR_TWI (1ULL << 13)
#define HCR_TWE (1ULL << 14)
#define HCR_TSC (1ULL << 19)
#define HCR_RW (1ULL << 31)
#define HCR_APK (1ULL << 40)
#define HCR_API (1ULL << 41)

extern char __hyp_start[], __hyp_end[], __pool_start[], __pool_end[], __text_end[], __rodata_end[];
extern char hyp_vectors[], host_start[];
void hyp_enter_host(uint64_t entry, uint64_t arg) __attribute__((noreturn));
void hyp_main(void) __attribute__((noreturn));
void hyp_handle_host_sync(uint64_t *regs);
void hyp_bad_vector(uint64_t kind) __attribute__((noreturn));

static struct hyp_mem mem;
static struct vcpu {
	uint64_t x[31]; /* layout known to guest_enter/guest_exit (vectors.S) */
	uint64_t pc, pstate;
	uint64_t sctlr_el1, vbar_el1, sp_el1, elr_el1, spsr_el1, esr_el1, far_el1;
	bool started;
} vcpus[HYP_MAX_GUESTS];
/* The hypervisor's stage-1 tables (4 KiB granule, 4 GiB of VA from level 1). */
static uint64_t s1_l1[512] __attribute__((aligned(4096)));
static uint64_t s1_l2_dev[512] __attribute__((aligned(4096))); /* GiB 0: devices */
static uint64_t s1_l2_ram[512] __attribute__((aligned(4096))); /* GiB 1: RAM */
static uint64_t s1_l3_hyp[512] __attribute__((aligned(4096))); /* the hypervisor's 2 MiB */
static uint64_t s1_l2_fix[512] __attribute__((aligned(4096))); /* GiB 2: the fixmap */
static uint64_t s1_l3_fix[512] __attribute__((aligned(4096)));

#define FIXMAP_VA 0x80000000ULL /* no RAM or device there: one page mapped at a time */

#define S1_TABLE 3ULL /* table at levels 1-2, page at level 3 */
#define S1_BLOCK 1ULL
#define S1_ATTR_DEVICE (0ULL << 2) /* MAIR_EL2 attribute 0: device nGnRE */
#define S1_ATTR_NORMAL (1ULL << 2) /* attribute 1: normal write-back */
#define S1_AP_RW (1ULL << 6)	   /* AP[1] is RES1 at EL2 */
#define S1_AP_RO (3ULL << 6)
#define S1_SH_INNER (3ULL << 8)
#define S1_AF (1ULL << 10)
#define S1_XN (1ULL << 54)
#define S1_RW_DATA (S1_ATTR_NORMAL | S1_SH_INNER | S1_AF | S1_AP_RW | S1_XN)

static bool in_hyp(uint64_t addr)
{
	return addr >= (uintptr_t)__hyp_start && addr < (uintptr_t)__hyp_end;
}

void *arch_pa_to_va(hyp_pa_t pa)
{
	/* Only the hypervisor's own region is mapped, at its physical address. */
	CHECK(in_hyp(hyp_pa_addr(pa)));
	return (void *)(uintptr_t)hyp_pa_addr(pa);
}

hyp_pa_t arch_va_to_pa(const void *va)
{
	CHECK(in_hyp((uintptr_t)va));
	return hyp_pa((uint64_t)(uintptr_t)va);
}

/*
 * Pages of the host or a guest are mapped only while the hypervisor must touch them (zeroing,
 * cache maintenance), one at a time, read-write and never executable.
 */
static void *fixmap_map(hyp_pa_t pa)
{
	CHECK(s1_l3_fix[0] == 0);
	s1_l3_fix[0] = hyp_pa_addr(pa) | S1_RW_DATA | S1_TABLE;
	dsb(ishst); /* the slot was invalid and flushed: nothing stale to break first */
	isb();
	return (void *)(uintptr_t)FIXMAP_VA;
}

static void fixmap_unmap(void)
{
	s1_l3_fix[0] = 0;
	dsb(ishst);
	__asm__ volatile("tlbi vae2is, %0" : : "r"(FIXMAP_VA >> 12) : "memory");
	dsb(ish);
	isb();
}

void arch_zero_page(hyp_pa_t pa)
{
	memset(fixmap_map(pa), 0, HYP_PAGE_SIZE);
	fixmap_unmap();
}

void arch_s2_tlb_flush_vmid(uint16_t vmid)
{
	/* One CPU and few VMIDs: dropping every stage-1&2 entry is simple and always right. */
	dsb(ishst);
	__asm__ volatile("tlbi alle1is" : : : "memory");
	dsb(ish);
	isb();
}

void arch_dcache_clean_inval_page(hyp_pa_t pa)
{
	uint64_t line = 4ULL << ((read_sysreg(ctr_el0) >> 16) & 0xf); /* DminLine */
	uintptr_t va = (uintptr_t)fixmap_map(pa);

	/* Data caches are physically tagged: maintenance through the alias reaches the page. */
	for (uint64_t a = va; a < va + HYP_PAGE_SIZE; a += line)
		__asm__ volatile("dc civac, %0" : : "r"(a) : "memory");
	dsb(ish);
	fixmap_unmap();
}

void arch_icache_inval_all(void)
{
	__asm__ volatile("ic ialluis" : : : "memory");
	dsb(ish);
	isb();
}

static void __attribute__((noreturn)) system_off(void)
{
	register uint64_t x0 __asm__("x0") = PVM_HYP_PSCI_SYSTEM_OFF;

	/* With virtualization=on and no EL3, QEMU implements PSCI behind SMC from EL2. */
	__asm__ volatile("smc #0" : "+r"(x0) : : "memory");
	for (;;)
		__asm__ volatile("wfi");
}

_Noreturn void arch_panic(const char *file, int line, const char *what)
{
	print("# hyp panic: %s:%d: %s\n", file, line, what);
	system_off();
}

void hyp_bad_vector(uint64_t kind)
{
	print(
	    "# hyp panic: unexpected exception, vector %lu, ESR_EL2 %lx ELR_EL2 %lx FAR_EL2 %lx\n",
	    kind, read_sysreg(esr_el2), read_sysreg(elr_el2), read_sysreg(far_el2));
	system_off();
}

/*
 * The hypervisor's stage 1 maps only its own memory, page by page at its physical address:
 * code read-execute, read-only data read-only, everything writable never executable (and
 * SCTLR_EL2.WXN on top); the UART as device memory; nothing of the host's or guests' RAM but
 * the fixmap slot. MAIR_EL2 attribute 0 is device nGnRE, 1 is normal write-back.
 */
static uint64_t hyp_page_attrs(uint64_t addr)
{
	if (addr < (uintptr_t)__text_end)
		return S1_ATTR_NORMAL | S1_SH_INNER | S1_AF | S1_AP_RO;
	if (addr < (uintptr_t)__rodata_end)
		return S1_ATTR_NORMAL | S1_SH_INNER | S1_AF | S1_AP_RO | S1_XN;
	return S1_RW_DATA;
}

static void setup_stage1(void)
{
	uint64_t hyp = (uintptr_t)__hyp_start;

	/* The hypervisor's region is one aligned 2 MiB block (hyp.ld). */
	CHECK((hyp & (s2_level_size(2) - 1)) == 0 &&
	      (uintptr_t)__hyp_end - hyp <= s2_level_size(2));
	s1_l1[0] = (uintptr_t)s1_l2_dev | S1_TABLE;
	s1_l2_dev[PL011_BASE >> 21] = (PL011_BASE & ~(s2_level_size(2) - 1)) | S1_ATTR_DEVICE |
				      S1_AF | S1_AP_RW | S1_XN | S1_BLOCK;
	s1_l1[1] = (uintptr_t)s1_l2_ram | S1_TABLE;
	s1_l2_ram[(hyp - RAM_BASE) >> 21] = (uintptr_t)s1_l3_hyp | S1_TABLE;
	for (uint64_t a = hyp; a < (uintptr_t)__hyp_end; a += HYP_PAGE_SIZE)
		s1_l3_hyp[(a - hyp) >> HYP_PAGE_SHIFT] = a | hyp_page_attrs(a) | S1_TABLE;
	s1_l1[FIXMAP_VA >> 30] = (uintptr_t)s1_l2_fix | S1_TABLE;
	s1_l2_fix[0] = (uintptr_t)s1_l3_fix | S1_TABLE;

	write_sysreg(0xff04ULL, mair_el2);
	/* T0SZ=32 (4 GiB, start at level 1), WBWA walks, inner shareable, 4K, PS=40 bits. */
	write_sysreg(32ULL | (1ULL << 8) | (1ULL << 10) | (3ULL << 12) | (2ULL << 16) |
			 (1ULL << 23) | (1ULL << 31),
		     tcr_el2);
	write_sysreg((uintptr_t)s1_l1, ttbr0_el2);
	dsb(ish);
	isb();
	__asm__ volatile("tlbi alle2" : : : "memory");
	dsb(ish);
	isb();
	/* M, C, I, WXN (a writable page is never executable); little-endian. */
	write_sysreg((1ULL << 0) | (1ULL << 2) | (1ULL << 12) | (1ULL << 19) | 0x30c50830ULL,
		     sctlr_el2);
	isb();
}

static void setup_host_stage2(void)
{
	uint64_t vtcr;
	int r;

	r = s2_vtcr(&mem.host_s2.geo, read_sysreg(id_aa64mmfr0_el1) & 0xf, &vtcr);
	CHECK(r == 0);
	write_sysreg(vtcr, vtcr_el2);
	write_sysreg(s2_vttbr(&mem.host_s2), vttbr_el2);
	write_sysreg(HCR_VM | HCR_RW | HCR_TSC | HCR_API | HCR_APK, hcr_el2);
	isb();
	arch_s2_tlb_flush_vmid(0);
}

/* --- the host's calls -------------------------------------------------------------------- */

static int hvc_version(uint64_t *regs)
{
	regs[2] = PVM_HYP_ABI_VERSION;
	return 0;
}

static int hvc_share_hyp(uint64_t *regs)
{
	return hyp_host_share_hyp(&mem, regs[1], regs[2]);
}

static int hvc_unshare_hyp(uint64_t *regs)
{
	return hyp_host_unshare_hyp(&mem, regs[1], regs[2]);
}

static int hvc_donate_hyp(uint64_t *regs)
{
	return hyp_host_donate_hyp(&mem, regs[1], regs[2]);
}

static int hvc_reclaim_hyp(uint64_t *regs)
{
	return hyp_host_reclaim_hyp(&mem, regs[1], regs[2]);
}

static int hvc_guest_create(uint64_t *regs)
{
	return hyp_guest_create(&mem, &regs[2]);
}

static int hvc_guest_destroy(uint64_t *regs)
{
	int r = hyp_guest_destroy(&mem, regs[1]);

	if (r == 0)
		vcpus[regs[1]].started = false; /* a new guest in this slot starts afresh */
	return r;
}

static int hvc_donate_guest(uint64_t *regs)
{
	return hyp_host_donate_guest(&mem, regs[1], regs[2], regs[3], regs[4]);
}

static int hvc_reclaim_guest(uint64_t *regs)
{
	return hyp_host_reclaim_guest(&mem, regs[1], regs[2]);
}

static int hvc_share_guest(uint64_t *regs)
{
	return hyp_host_share_guest(&mem, regs[1], regs[2], regs[3], regs[4]);
}

static int hvc_unshare_guest(uint64_t *regs)
{
	return hyp_host_unshare_guest(&mem, regs[1], regs[2], regs[3]);
}

static int hvc_force_reclaim(uint64_t *regs)
{
	return hyp_host_force_reclaim_guest(&mem, regs[1]);
}

static int hvc_page_state(uint64_t *regs)
{
	enum hyp_page_state state;
	unsigned owner;
	int r;

	r = hyp_host_page_state(&mem, regs[1], &state, &owner);
	if (r == 0) {
		regs[2] = state;
		regs[3] = owner;
	}
	return r;
}

/* --- running a guest vCPU ---------------------------------------------------------------- */

struct el1_state {
	uint64_t sctlr, vbar, sp, elr, spsr, esr, far;
};

void guest_enter(struct vcpu *vcpu);

static void el1_save(struct el1_state *s)
{
	s->sctlr = read_sysreg(sctlr_el1);
	s->vbar = read_sysreg(vbar_el1);
	s->sp = read_sysreg(sp_el1);
	s->elr = read_sysreg(elr_el1);
	s->spsr = read_sysreg(spsr_el1);
	s->esr = read_sysreg(esr_el1);
	s->far = read_sysreg(far_el1);
}

static void el1_load(const struct el1_state *s)
{
	write_sysreg(s->sctlr, sctlr_el1);
	write_sysreg(s->vbar, vbar_el1);
	write_sysreg(s->sp, sp_el1);
	write_sysreg(s->elr, elr_el1);
	write_sysreg(s->spsr, spsr_el1);
	write_sysreg(s->esr, esr_el1);
	write_sysreg(s->far, far_el1);
	isb();
}

/*
 * Run one guest exit's worth of the guest's own calls: share and unshare are handled here
 * and the guest continues; a yield, a stage-2 fault or any other trap goes back to the host.
 */
static int run_guest(uint64_t handle, struct vcpu *v, uint64_t *ret_info)
{
	for (;;) {
		uint64_t esr;

		write_sysreg(v->pc, elr_el2);
		write_sysreg(v->pstate, spsr_el2);
		guest_enter(v);
		esr = read_sysreg(esr_el2);
		v->pc = read_sysreg(elr_el2);
		v->pstate = read_sysreg(spsr_el2);

		switch (ESR_EC(esr)) {
		case EC_HVC64:
			if (v->x[0] == PVM_HYP_FN_GUEST_SHARE_HOST ||
			    v->x[0] == PVM_HYP_FN_GUEST_UNSHARE_HOST) {
				int r =
				    v->x[0] == PVM_HYP_FN_GUEST_SHARE_HOST
					? hyp_guest_share_host(&mem, handle, v->x[1], v->x[2])
					: hyp_guest_unshare_host(&mem, handle, v->x[1], v->x[2]);
				v->x[0] = PVM_HYP_SMCCC_SUCCESS;
				v->x[1] = (uint64_t)(int64_t)r;
				continue;
			}
			if (v->x[0] == PVM_HYP_FN_GUEST_YIELD) {
				*ret_info = v->x[1];
				v->x[0] = PVM_HYP_SMCCC_SUCCESS;
				return PVM_HYP_EXIT_YIELD;
			}
			v->x[0] = PVM_HYP_SMCCC_NOT_SUPPORTED;
			continue;
		case EC_WFX:
			/* Waiting is the host's business: hand the CPU back, past the WFI. */
			v->pc += 4;
			*ret_info = esr;
			return PVM_HYP_EXIT_OTHER;
		case EC_DABT_LOW:
		case EC_IABT_LOW:
			*ret_info =
			    ((read_sysreg(hpfar_el2) >> 4) << 12) | (read_sysreg(far_el2) & 0xfff);
			return PVM_HYP_EXIT_FAULT;
		default:
			*ret_info = esr;
			return PVM_HYP_EXIT_OTHER;
		}
	}
}

static int hvc_guest_run(uint64_t *regs)
{
	uint64_t handle = regs[1], vttbr, host_elr, host_spsr, host_vtcr, guest_vtcr, info = 0;
	struct el1_state host, guest;
	struct s2_geometry geo;
	struct vcpu *v;
	int r, exit;

	r = hyp_vcpu_load(&mem, handle, &vttbr);
	if (r < 0)
		return r;
	/* Guests have their own IPA size, hence their own VTCR_EL2. */
	r = s2_geometry(HYP_GUEST_IPA_BITS, &geo);
	CHECK(r == 0);
	r = s2_vtcr(&geo, read_sysreg(id_aa64mmfr0_el1) & 0xf, &guest_vtcr);
	CHECK(r == 0);
	v = &vcpus[handle];
	if (!v->started) {
		memset(v, 0, sizeof(*v));
		v->pc = regs[2];
		v->pstate = 0x3c5; /* EL1h, DAIF masked */
		v->sctlr_el1 = 0x30d00800ULL;
		v->started = true;
	}

	/* The host's return state from this HVC lives in EL2 registers the guest run reuses. */
	host_elr = read_sysreg(elr_el2);
	host_spsr = read_sysreg(spsr_el2);
	el1_save(&host);
	guest = (struct el1_state){ v->sctlr_el1, v->vbar_el1, v->sp_el1, v->elr_el1,
				    v->spsr_el1,  v->esr_el1,  v->far_el1 };
	el1_load(&guest);
	host_vtcr = read_sysreg(vtcr_el2);
	write_sysreg(guest_vtcr, vtcr_el2);
	/* A guest's WFI/WFE traps: with no timer of ours yet, it must not sleep on the CPU. */
	write_sysreg(read_sysreg(hcr_el2) | HCR_TWI | HCR_TWE, hcr_el2);
	write_sysreg(vttbr, vttbr_el2);
	isb();

	exit = run_guest(handle, v, &info);

	el1_save(&guest);
	v->sctlr_el1 = guest.sctlr;
	v->vbar_el1 = guest.vbar;
	v->sp_el1 = guest.sp;
	v->elr_el1 = guest.elr;
	v->spsr_el1 = guest.spsr;
	v->esr_el1 = guest.esr;
	v->far_el1 = guest.far;
	write_sysreg(read_sysreg(hcr_el2) & ~(HCR_TWI | HCR_TWE), hcr_el2);
	write_sysreg(host_vtcr, vtcr_el2);
	write_sysreg(s2_vttbr(&mem.host_s2), vttbr_el2);
	isb();
	el1_load(&host);
	write_sysreg(host_elr, elr_el2);
	write_sysreg(host_spsr, spsr_el2);
	hyp_vcpu_put(&mem, handle);
	regs[2] = (uint64_t)exit;
	regs[3] = info;
	return 0;
}

uint64_t hyp_probe_store(volatile void *addr);
uint64_t hyp_probe_load(volatile void *addr);
uint64_t hyp_probe_exec(const void *addr);
void hyp_probe_code(void);
extern char hyp_probe_data[];
static uint64_t probe_scratch;

static uint64_t run_probe(uint64_t which)
{
	switch (which) {
	case HYP_PROBE_EXEC_CODE:
		return hyp_probe_exec((const void *)hyp_probe_code);
	case HYP_PROBE_EXEC_DATA:
		return hyp_probe_exec(hyp_probe_data);
	case HYP_PROBE_WRITE_CODE:
		return hyp_probe_store((volatile void *)hyp_probe_code);
	case HYP_PROBE_WRITE_DATA:
		return hyp_probe_store(&probe_scratch);
	default:
		return hyp_probe_load((volatile void *)(uintptr_t)(RAM_BASE + 0x800000));
	}
}

/* The test image's probe of the hypervisor's own stage 1 (selftest.h): x2 = 0 or the ESR. */
static int hvc_selftest_probe(uint64_t *regs)
{
	uint64_t host_elr, host_spsr;

	if (regs[1] >= HYP_NR_PROBES)
		return -HYP_EINVAL;
	/* A fault at EL2 reuses the registers that hold the host's return from this HVC. */
	host_elr = read_sysreg(elr_el2);
	host_spsr = read_sysreg(spsr_el2);
	regs[2] = run_probe(regs[1]);
	write_sysreg(host_elr, elr_el2);
	write_sysreg(host_spsr, spsr_el2);
	return 0;
}

static const struct {
	uint64_t fn;
	int (*handler)(uint64_t *regs);
} host_calls[] = {
	{ PVM_HYP_FN_VERSION, hvc_version },
	{ PVM_HYP_FN_HOST_SHARE_HYP, hvc_share_hyp },
	{ PVM_HYP_FN_HOST_UNSHARE_HYP, hvc_unshare_hyp },
	{ PVM_HYP_FN_HOST_DONATE_HYP, hvc_donate_hyp },
	{ PVM_HYP_FN_HOST_RECLAIM_HYP, hvc_reclaim_hyp },
	{ PVM_HYP_FN_GUEST_CREATE, hvc_guest_create },
	{ PVM_HYP_FN_GUEST_DESTROY, hvc_guest_destroy },
	{ PVM_HYP_FN_HOST_DONATE_GUEST, hvc_donate_guest },
	{ PVM_HYP_FN_HOST_RECLAIM_GUEST, hvc_reclaim_guest },
	{ PVM_HYP_FN_PAGE_STATE, hvc_page_state },
	{ PVM_HYP_FN_GUEST_RUN, hvc_guest_run },
	{ PVM_HYP_FN_HOST_SHARE_GUEST, hvc_share_guest },
	{ PVM_HYP_FN_HOST_UNSHARE_GUEST, hvc_unshare_guest },
	{ PVM_HYP_FN_HOST_FORCE_RECLAIM, hvc_force_reclaim },
	{ HYP_SELFTEST_FN_PROBE, hvc_selftest_probe },
};

static void handle_hvc(uint64_t *regs)
{
	if (regs[0] == PVM_HYP_PSCI_SYSTEM_OFF)
		system_off();
	for (size_t i = 0; i < HYP_ARRAY_SIZE(host_calls); i++) {
		if (host_calls[i].fn != regs[0])
			continue;
		regs[1] = (uint64_t)(int64_t)host_calls[i].handler(regs);
		regs[0] = PVM_HYP_SMCCC_SUCCESS;
		return;
	}
	regs[0] = PVM_HYP_SMCCC_NOT_SUPPORTED;
}

/*
 * Deliver a synchronous external abort to the host, as if its own access had failed: the
 * host's exception state is set up the way the CPU would, and we return into its vector.
 */
static void inject_host_abort(uint64_t esr_el2)
{
	uint64_t spsr = read_sysreg(spsr_el2), mode = spsr & 0xf, offset, ec, esr;
	bool data = ESR_EC(esr_el2) == EC_DABT_LOW;

	if (mode == 0x5) /* EL1h */
		offset = 0x200;
	else if (mode == 0x4) /* EL1t */
		offset = 0x000;
	else /* EL0 */
		offset = 0x400;
	if (mode == 0)
		ec = data ? EC_DABT_LOW : EC_IABT_LOW;
	else
		ec = data ? EC_DABT_CUR : EC_IABT_CUR;
	esr = (ec << 26) | ESR_IL | FSC_SYNC_EXTERNAL | (data ? esr_el2 & ESR_DABT_WNR : 0);

	write_sysreg(esr, esr_el1);
	write_sysreg(read_sysreg(far_el2), far_el1);
	write_sysreg(read_sysreg(elr_el2), elr_el1);
	write_sysreg(spsr, spsr_el1);
	write_sysreg(read_sysreg(vbar_el1) + offset, elr_el2);
	write_sysreg(0x3c5ULL, spsr_el2); /* EL1h, DAIF masked */
}

static void handle_s2_abort(uint64_t esr)
{
	/* HPFAR_EL2.FIPA holds IPA[47:12] in bits [43:4]. */
	uint64_t ipa = ((read_sysreg(hpfar_el2) >> 4) << 12) | (read_sysreg(far_el2) & 0xfff);
	uint64_t fsc = esr & 0x3f;
	int r;

	/*
	 * Only a translation fault can be a page not faulted in yet. A permission fault (say, a
	 * fetch from device memory mapped XN) would fault again forever if retried.
	 */
	if (fsc < FSC_TRANSLATION_L0 || fsc > FSC_TRANSLATION_L3) {
		inject_host_abort(esr);
		return;
	}
	/*
	 * -ENOMEM (guests hold the whole pool even after the host's own tables were recycled)
	 * is the host's to handle like any refused access: it never stops the machine.
	 */
	r = hyp_host_handle_s2_fault(&mem, hyp_ipa(ipa));
	if (r == 0)
		return; /* mapped: the host retries the access */
	inject_host_abort(esr);
}

void hyp_handle_host_sync(uint64_t *regs)
{
	uint64_t esr = read_sysreg(esr_el2);

	switch (ESR_EC(esr)) {
	case EC_HVC64:
		handle_hvc(regs);
		break;
	case EC_SMC64:
		/* The host's firmware is us: an SMC answers "not supported" and moves on. */
		regs[0] = PVM_HYP_SMCCC_NOT_SUPPORTED;
		write_sysreg(read_sysreg(elr_el2) + 4, elr_el2);
		break;
	case EC_DABT_LOW:
	case EC_IABT_LOW:
		handle_s2_abort(esr);
		break;
	default:
		print("# hyp panic: host trap ESR_EL2 %lx ELR_EL2 %lx\n", esr,
		      read_sysreg(elr_el2));
		system_off();
	}
}

void hyp_main(void)
{
	const struct hyp_memmap_region map[] = {
		{ hyp_pa(RAM_BASE), (uintptr_t)__hyp_start - RAM_BASE, HYP_REGION_HOST_RAM },
		{ hyp_pa((uintptr_t)__hyp_start), (uintptr_t)__hyp_end - (uintptr_t)__hyp_start,
		  HYP_REGION_HYP },
		{ hyp_pa((uintptr_t)__hyp_end), RAM_BASE + RAM_SIZE - (uintptr_t)__hyp_end,
		  HYP_REGION_HOST_RAM },
	};
	/* Host RAM: read before the hypervisor's own stage 1 leaves it out. */
	uint64_t group = *(volatile uint32_t *)TEST_SELECTOR;
	int r;

	setup_stage1();
	write_sysreg((uintptr_t)hyp_vectors, vbar_el2);
	isb();
	print("# pvm-hyp: at EL%lu, hypervisor %p-%p, test group %lu\n",
	      (read_sysreg(CurrentEL) >> 2) & 3, __hyp_start, __hyp_end, group);

	r = hyp_mem_init(&mem, map, HYP_ARRAY_SIZE(map), hyp_pa((uintptr_t)__pool_start),
			 ((uintptr_t)__pool_end - (uintptr_t)__pool_start) >> HYP_PAGE_SHIFT);
	CHECK(r == 0);
	setup_host_stage2();

	/* A host that starts with its MMU and caches off; it sets up its own vectors. */
	write_sysreg(0x30d00800ULL, sctlr_el1);
	isb();
	hyp_enter_host((uintptr_t)host_start, group);
}
