// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * pKVM's own ownership expectations, run against pvm's core: the sequence of Linux 7.3's
 * pkvm_ownership_selftest() (arch/arm64/kvm/hyp/nvhe/mem_protect.c, 100 expectations on one
 * page and two guest addresses), each pKVM call mapped onto pvm's, with pKVM's result and the
 * host/hypervisor/guest states after it. An expectation either holds as pKVM states it, or is
 * listed here with the reason it does not apply or differs (hyp/ABI.md, "pKVM").
 */
#include <string.h>

#include "hyp-test.h"

static struct hyp_mem mem;
static char err[256];

/* The calls the selftest makes, by pKVM's names. */
enum pk_fn {
	PK_HOST_DONATE_HYP,
	PK_HOST_SHARE_HYP,
	PK_HOST_UNSHARE_HYP,
	PK_HOST_SHARE_FFA,
	PK_HOST_UNSHARE_FFA,
	PK_PIN,
	PK_HOST_SHARE_GUEST,
	PK_HOST_UNSHARE_GUEST,
	PK_HOST_DONATE_GUEST,
	PK_HYP_DONATE_HOST,
	PK_GUEST_SHARE_HOST,
	PK_GUEST_UNSHARE_HOST,
	PK_FORCE_RECLAIM,
	PK_RECLAIM_PAGE_GUEST,
};

static const char *const pk_names[] = {
	[PK_HOST_DONATE_HYP] = "__pkvm_host_donate_hyp",
	[PK_HOST_SHARE_HYP] = "__pkvm_host_share_hyp",
	[PK_HOST_UNSHARE_HYP] = "__pkvm_host_unshare_hyp",
	[PK_HOST_SHARE_FFA] = "__pkvm_host_share_ffa",
	[PK_HOST_UNSHARE_FFA] = "__pkvm_host_unshare_ffa",
	[PK_PIN] = "hyp_pin_shared_mem",
	[PK_HOST_SHARE_GUEST] = "__pkvm_host_share_guest",
	[PK_HOST_UNSHARE_GUEST] = "__pkvm_host_unshare_guest",
	[PK_HOST_DONATE_GUEST] = "__pkvm_host_donate_guest",
	[PK_HYP_DONATE_HOST] = "__pkvm_hyp_donate_host",
	[PK_GUEST_SHARE_HOST] = "__pkvm_guest_share_host",
	[PK_GUEST_UNSHARE_HOST] = "__pkvm_guest_unshare_host",
	[PK_FORCE_RECLAIM] = "__pkvm_host_force_reclaim_page_guest",
	[PK_RECLAIM_PAGE_GUEST] = "__pkvm_host_reclaim_page_guest",
};

/* Page states as pKVM names them; POISON is a guest address a forced reclaim emptied. */
#define O HYP_PAGE_OWNED
#define SO HYP_PAGE_SHARED_OWNED
#define SB HYP_PAGE_SHARED_BORROWED
#define N HYP_PAGE_NOPAGE
#define POISON 4

struct states {
	int host, hyp, guest[2]; /* guest[i]: the guest's view of gfn + i */
};

enum kind {
	EXPECT,	   /* assert_transition_res(ret, fn, ...) */
	STATE,	   /* selftest_state = ... */
	PVM_STATE, /* pvm's states differ from pKVM's until the next STATE, because of why */
	UNPIN,	   /* hyp_unpin_shared_mem(), then assert_page_state() */
	PINS,	   /* WARN_ON(hyp_page_count(virt) != count) */
	SHARES,	   /* WARN_ON(host_share_guest_count != count) */
};

struct step {
	enum kind kind;
	enum pk_fn fn;
	unsigned off; /* the call names gfn + off */
	int ret;      /* pKVM's result */
	bool not_applicable;
	int pvm_ret;	 /* with why and applicable: pvm's result */
	const char *why; /* NULL: pvm behaves as pKVM states */
	struct states st;
	unsigned count;
};

#define X(f, r)                                                                                    \
	{                                                                                          \
		.kind = EXPECT, .fn = PK_##f, .ret = -(r)                                          \
	}
#define X1(f, r)                                                                                   \
	{                                                                                          \
		.kind = EXPECT, .fn = PK_##f, .off = 1, .ret = -(r)                                \
	}
#define NA(f, r, w)                                                                                \
	{                                                                                          \
		.kind = EXPECT, .fn = PK_##f, .ret = -(r), .not_applicable = true, .why = w        \
	}
#define DIFF(f, o, r, pr, w)                                                                       \
	{                                                                                          \
		.kind = EXPECT, .fn = PK_##f, .off = o, .ret = -(r), .pvm_ret = -(pr), .why = w    \
	}
#define S(h, y, g0, g1)                                                                            \
	{                                                                                          \
		.kind = STATE, .st = { h, y, { g0, g1 } }                                          \
	}
#define PVM_S(h, y, g0, g1, w)                                                                     \
	{                                                                                          \
		.kind = PVM_STATE, .st = { h, y, { g0, g1 } }, .why = w                            \
	}

#define NO_FFA "pvm has no FF-A proxy: no secure world to share with"
#define FFA_STATE "starts from a page the host shared over FF-A, a state pvm has no way to reach"
#define DYING                                                                                      \
	"pvm reclaims only a destroyed guest's pages (as pKVM's hypercall "                        \
	"__pkvm_reclaim_dying_guest_page does; the selftest calls the inner function on a "        \
	"live VM): mapped as GUEST_DESTROY then HOST_RECLAIM_GUEST, same result"
#define GONE                                                                                       \
	"the guest was destroyed for the reclaim before: -ENOENT, no such guest, where pKVM's "    \
	"live VM answers -EPERM for the poisoned address"
#define GONE_STATE "the destroyed guest's table, poison marker included, is gone"

/* clang-format off */
static const struct step steps[] = {
	S(N, O, N, N),
	X(HOST_DONATE_HYP, HYP_EPERM),
	X(HOST_SHARE_HYP, HYP_EPERM),
	X(HOST_UNSHARE_HYP, HYP_EPERM),
	NA(HOST_SHARE_FFA, HYP_EPERM, NO_FFA),
	NA(HOST_UNSHARE_FFA, HYP_EPERM, NO_FFA),
	X(PIN, HYP_EPERM),
	X(HOST_SHARE_GUEST, HYP_EPERM),
	X(HOST_UNSHARE_GUEST, HYP_ENOENT),
	X(HOST_DONATE_GUEST, HYP_EPERM),

	S(O, N, N, N),
	X(HYP_DONATE_HOST, 0),
	X(HYP_DONATE_HOST, HYP_EPERM),
	X(HOST_UNSHARE_HYP, HYP_EPERM),
	NA(HOST_UNSHARE_FFA, HYP_EPERM, NO_FFA),
	X(HOST_UNSHARE_GUEST, HYP_ENOENT),
	X(PIN, HYP_EPERM),

	S(SO, SB, N, N),
	X(HOST_SHARE_HYP, 0),
	X(HOST_SHARE_HYP, HYP_EPERM),
	X(HOST_DONATE_HYP, HYP_EPERM),
	NA(HOST_SHARE_FFA, HYP_EPERM, NO_FFA),
	X(HYP_DONATE_HOST, HYP_EPERM),
	X(HOST_SHARE_GUEST, HYP_EPERM),
	X(HOST_UNSHARE_GUEST, HYP_ENOENT),
	X(HOST_DONATE_GUEST, HYP_EPERM),

	X(PIN, 0),
	X(PIN, 0),
	{ .kind = UNPIN },
	{ .kind = PINS, .count = 1 },
	X(HOST_UNSHARE_HYP, HYP_EBUSY),
	X(HOST_SHARE_HYP, HYP_EPERM),
	X(HOST_DONATE_HYP, HYP_EPERM),
	NA(HOST_SHARE_FFA, HYP_EPERM, NO_FFA),
	X(HYP_DONATE_HOST, HYP_EPERM),
	X(HOST_SHARE_GUEST, HYP_EPERM),
	X(HOST_UNSHARE_GUEST, HYP_ENOENT),
	X(HOST_DONATE_GUEST, HYP_EPERM),

	{ .kind = UNPIN },
	{ .kind = PINS, .count = 0 },

	S(O, N, N, N),
	X(HOST_UNSHARE_HYP, 0),

	S(SO, N, N, N),
	NA(HOST_SHARE_FFA, 0, NO_FFA),
	NA(HOST_SHARE_FFA, HYP_EPERM, NO_FFA),
	NA(HOST_DONATE_HYP, HYP_EPERM, FFA_STATE),
	NA(HOST_SHARE_HYP, HYP_EPERM, FFA_STATE),
	NA(HOST_UNSHARE_HYP, HYP_EPERM, FFA_STATE),
	NA(HYP_DONATE_HOST, HYP_EPERM, FFA_STATE),
	NA(HOST_SHARE_GUEST, HYP_EPERM, FFA_STATE),
	NA(HOST_UNSHARE_GUEST, HYP_ENOENT, FFA_STATE),
	NA(HOST_DONATE_GUEST, HYP_EPERM, FFA_STATE),
	NA(PIN, HYP_EPERM, FFA_STATE),

	S(O, N, N, N),
	NA(HOST_UNSHARE_FFA, 0, NO_FFA),
	NA(HOST_UNSHARE_FFA, HYP_EPERM, NO_FFA),

	S(SO, N, SB, N),
	X(HOST_SHARE_GUEST, 0),
	X(HOST_SHARE_GUEST, HYP_EPERM),
	NA(HOST_SHARE_FFA, HYP_EPERM, NO_FFA),
	X(HOST_DONATE_HYP, HYP_EPERM),
	X(HOST_SHARE_HYP, HYP_EPERM),
	X(HOST_UNSHARE_HYP, HYP_EPERM),
	X(HYP_DONATE_HOST, HYP_EPERM),
	X(HOST_DONATE_GUEST, HYP_EPERM),
	X(PIN, HYP_EPERM),

	S(SO, N, SB, SB),
	X1(HOST_SHARE_GUEST, 0),
	{ .kind = SHARES, .count = 2 },

	S(SO, N, N, SB),
	X(HOST_UNSHARE_GUEST, 0),

	S(O, N, N, N),
	X1(HOST_UNSHARE_GUEST, 0),

	S(N, N, O, N),
	X(HOST_DONATE_GUEST, 0),
	X(HOST_DONATE_GUEST, HYP_EPERM),
	X1(HOST_DONATE_GUEST, HYP_EPERM),
	X(HOST_SHARE_GUEST, HYP_EPERM),
	X1(HOST_SHARE_GUEST, HYP_EPERM),
	NA(HOST_SHARE_FFA, HYP_EPERM, NO_FFA),
	X(HOST_DONATE_HYP, HYP_EPERM),
	X(HOST_SHARE_HYP, HYP_EPERM),
	X(HOST_UNSHARE_HYP, HYP_EPERM),
	X(HYP_DONATE_HOST, HYP_EPERM),

	S(SB, N, SO, N),
	X(GUEST_SHARE_HOST, 0),
	X(GUEST_SHARE_HOST, HYP_EPERM),
	X(HOST_DONATE_GUEST, HYP_EPERM),
	X1(HOST_DONATE_GUEST, HYP_EPERM),
	X(HOST_SHARE_GUEST, HYP_EPERM),
	X1(HOST_SHARE_GUEST, HYP_EPERM),
	NA(HOST_SHARE_FFA, HYP_EPERM, NO_FFA),
	X(HOST_DONATE_HYP, HYP_EPERM),
	X(HOST_SHARE_HYP, HYP_EPERM),
	X(HOST_UNSHARE_HYP, HYP_EPERM),
	X(HYP_DONATE_HOST, HYP_EPERM),

	S(N, N, O, N),
	X(GUEST_UNSHARE_HOST, 0),
	X(GUEST_UNSHARE_HOST, HYP_EPERM),
	X(HOST_DONATE_GUEST, HYP_EPERM),
	X1(HOST_DONATE_GUEST, HYP_EPERM),
	X(HOST_SHARE_GUEST, HYP_EPERM),
	X1(HOST_SHARE_GUEST, HYP_EPERM),
	NA(HOST_SHARE_FFA, HYP_EPERM, NO_FFA),
	X(HOST_DONATE_HYP, HYP_EPERM),
	X(HOST_SHARE_HYP, HYP_EPERM),
	X(HOST_UNSHARE_HYP, HYP_EPERM),
	X(HYP_DONATE_HOST, HYP_EPERM),

	S(O, N, POISON, N),
	X(FORCE_RECLAIM, 0),
	X(HOST_DONATE_GUEST, HYP_EPERM),
	X(HOST_SHARE_GUEST, HYP_EPERM),
	X(GUEST_SHARE_HOST, HYP_EHWPOISON),
	X(GUEST_UNSHARE_HOST, HYP_EHWPOISON),

	S(N, N, POISON, O),
	X1(HOST_DONATE_GUEST, 0),

	S(O, N, POISON, N),
	PVM_S(O, N, N, N, GONE_STATE),
	DIFF(RECLAIM_PAGE_GUEST, 1, 0, 0, DYING),
	DIFF(HOST_DONATE_GUEST, 0, HYP_EPERM, HYP_ENOENT, GONE),
	DIFF(HOST_SHARE_GUEST, 0, HYP_EPERM, HYP_ENOENT, GONE),

	S(N, O, POISON, N),
	PVM_S(N, O, N, N, GONE_STATE),
	X(HOST_DONATE_HYP, 0),
};
/* clang-format on */

/* assert_transition_res() lines in Linux 7.3's pkvm_ownership_selftest(). */
#define PKVM_EXPECTATIONS 100

#define PAGE_PA (T_RAM_A + 0x37000)
/* pKVM's selftest_ipa(): the first address of the upper half of the guest's IPA space. */
#define GFN (1ULL << (HYP_GUEST_IPA_BITS - 1 - HYP_PAGE_SHIFT))

static uint64_t guest;

static const char *const state_names[] = { "OWNED", "SHARED_OWNED", "SHARED_BORROWED", "NOPAGE",
					   "POISON" };

static int run_call(enum pk_fn fn, unsigned off)
{
	uint64_t pfn = T_PFN(PAGE_PA), gfn = GFN + off;
	int r;

	switch (fn) {
	case PK_HOST_DONATE_HYP:
		return hyp_host_donate_hyp(&mem, pfn, 1);
	case PK_HOST_SHARE_HYP:
		return hyp_host_share_hyp(&mem, pfn, 1);
	case PK_HOST_UNSHARE_HYP:
		return hyp_host_unshare_hyp(&mem, pfn, 1);
	case PK_PIN:
		return hyp_pin_shared(&mem, pfn, 1);
	case PK_HOST_SHARE_GUEST:
		return hyp_host_share_guest(&mem, guest, pfn, gfn, 1);
	case PK_HOST_UNSHARE_GUEST:
		return hyp_host_unshare_guest(&mem, guest, gfn, 1);
	case PK_HOST_DONATE_GUEST:
		return hyp_host_donate_guest(&mem, guest, pfn, gfn, 1);
	case PK_HYP_DONATE_HOST:
		/* In pvm the host asks for a page it gave back; the hypervisor's own never go. */
		return hyp_host_reclaim_hyp(&mem, pfn, 1);
	case PK_GUEST_SHARE_HOST:
		return hyp_guest_share_host(&mem, guest, gfn, 1);
	case PK_GUEST_UNSHARE_HOST:
		return hyp_guest_unshare_host(&mem, guest, gfn, 1);
	case PK_FORCE_RECLAIM:
		return hyp_host_force_reclaim_guest(&mem, pfn);
	case PK_RECLAIM_PAGE_GUEST:
		r = hyp_guest_destroy(&mem, guest);
		return r < 0 ? r : hyp_host_reclaim_guest(&mem, pfn, 1);
	default:
		T_ASSERT(0);
	}
}

static int guest_view(unsigned off)
{
	const struct hyp_guest *g = &mem.guests[guest];
	uint64_t desc;

	if (g->status == HYP_GUEST_FREE)
		return N;
	desc = s2_lookup_desc(&g->pgt, hyp_ipa((GFN + off) << HYP_PAGE_SHIFT));
	if (desc & S2_PTE_VALID)
		return s2_pte_state(desc);
	return desc & S2_PTE_POISON ? POISON : N;
}

static void check_states(const struct states *want, const char *what)
{
	const struct hyp_page *p = hyp_page_lookup(&mem, hyp_pa(PAGE_PA));
	struct states got = {
		hyp_page_state_of(p, HYP_ID_HOST),
		hyp_page_state_of(p, HYP_ID_HYP),
		{ guest_view(0), guest_view(1) },
	};

	if (memcmp(&got, want, sizeof(got))) {
		fprintf(stderr,
			"after %s: host/hyp/guest[0]/guest[1] %d/%d/%d/%d, expected %d/%d/%d/%d\n",
			what, got.host, got.hyp, got.guest[0], got.guest[1], want->host, want->hyp,
			want->guest[0], want->guest[1]);
		exit(EXIT_FAILURE);
	}
	if (t_check_invariants(&mem, err, sizeof(err)) < 0) {
		fprintf(stderr, "after %s: invariant broken: %s\n", what, err);
		exit(EXIT_FAILURE);
	}
}

int main(void)
{
	unsigned n = 0, expectations = 0, same = 0, differ = 0, not_applicable = 0;
	struct states want = { 0 }, pvm_want = { 0 };
	bool pvm_differs = false;

	t_require_lock_on_flush(&mem);

	printf("1..%zu\n", HYP_ARRAY_SIZE(steps));
	t_setup(&mem, 128);
	T_ASSERT_EQ(hyp_guest_create(&mem, &guest), 0);
	/* pKVM's page comes from the hypervisor's pool; pvm's host gives it (it may go back). */
	T_ASSERT_EQ(hyp_host_donate_hyp(&mem, T_PFN(PAGE_PA), 1), 0);

	for (size_t i = 0; i < HYP_ARRAY_SIZE(steps); i++) {
		const struct step *s = &steps[i];
		const struct states *cur = pvm_differs ? &pvm_want : &want;
		const struct hyp_page *p = hyp_page_lookup(&mem, hyp_pa(PAGE_PA));
		int r;

		switch (s->kind) {
		case STATE:
			want = s->st;
			pvm_differs = false;
			printf("ok %u - pKVM expects host %s, hyp %s, guest %s / %s\n", ++n,
			       state_names[want.host], state_names[want.hyp],
			       state_names[want.guest[0]], state_names[want.guest[1]]);
			break;
		case PVM_STATE:
			pvm_want = s->st;
			pvm_differs = true;
			printf("ok %u - pvm expects host %s, hyp %s, guest %s / %s: %s\n", ++n,
			       state_names[pvm_want.host], state_names[pvm_want.hyp],
			       state_names[pvm_want.guest[0]], state_names[pvm_want.guest[1]],
			       s->why);
			break;
		case UNPIN:
			hyp_unpin_shared(&mem, T_PFN(PAGE_PA), 1);
			check_states(cur, "hyp_unpin_shared_mem");
			printf("ok %u - hyp_unpin_shared_mem: states as expected\n", ++n);
			break;
		case PINS:
			T_ASSERT_EQ(p->pins, s->count);
			printf("ok %u - hyp_page_count() == %u\n", ++n, s->count);
			break;
		case SHARES:
			T_ASSERT_EQ(p->share_count, s->count);
			printf("ok %u - host_share_guest_count == %u\n", ++n, s->count);
			break;
		case EXPECT:
			expectations++;
			if (s->not_applicable) {
				not_applicable++;
				printf("ok %u - pKVM #%u %s -> %d # SKIP %s\n", ++n, expectations,
				       pk_names[s->fn], s->ret, s->why);
				break;
			}
			r = run_call(s->fn, s->off);
			if (r != (s->why ? s->pvm_ret : s->ret)) {
				fprintf(stderr, "pKVM #%u %s(gfn + %u): returned %d, expected %d\n",
					expectations, pk_names[s->fn], s->off, r,
					s->why ? s->pvm_ret : s->ret);
				exit(EXIT_FAILURE);
			}
			check_states(cur, pk_names[s->fn]);
			if (s->why) {
				differ++;
				printf("ok %u - pKVM #%u %s -> %d; pvm %d: %s\n", ++n, expectations,
				       pk_names[s->fn], s->ret, r, s->why);
			} else {
				same++;
				printf("ok %u - pKVM #%u %s -> %d\n", ++n, expectations,
				       pk_names[s->fn], r);
			}
			break;
		}
	}
	printf("# %u expectations: %u hold as in pKVM, %u differ, %u do not apply\n", expectations,
	       same, differ, not_applicable);
	T_ASSERT_EQ(expectations, PKVM_EXPECTATIONS);
	return 0;
}
