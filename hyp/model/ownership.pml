/*
 * Bounded model of pvm's page ownership (hyp/core/mem_protect.c, rules in rules.pml), for
 * spin: a host CPU and a guest vCPU call every transition with every argument on two pages,
 * all interleavings: one guest with two guest addresses and calls of one or two pages, or
 * (-DNGUESTS=2 -DNGFN=1 -DMAXNR=1) two guests with one address each and one-page calls. A monitor checks, at every step, what the hardware can reach (the host's
 * stage 2 plus stale TLB entries, the guests' stage 2); and, whenever no call is in flight,
 * that the page tracking, the loan counts and the tables agree.
 * Mutants that must fail (run-spin.sh checks they do): -DNO_LOCK (no lock), -DMUTANT_ORDER
 * (unshare changes the guest's side first), -DMUTANT_NO_ZERO (reclaim does not zero).
 */
#include "rules.pml"

proctype host_cpu()
{
	byte p, nr, h, gfn, ret, i, s, g, t;
	bool share;

	do
	:: atomic { select(t : 0 .. 4); select(p : 0 .. NPAGES - 1); select(nr : 0 .. MAXNR) };
	   host_transition(t, p, nr, ret, i, s, g);
	   d_step { p = 0; nr = 0; h = 0; gfn = 0; ret = 0; i = 0; s = 0; g = 0; t = 0 }
	:: atomic {
		select(h : 0 .. NGUESTS - 1); select(p : 0 .. NPAGES - 1); select(nr : 1 .. MAXNR);
		select(gfn : 0 .. NGFN - 1);
		if
		:: share = true
		:: share = false
		fi
	   };
	   host_to_guest(h, p, gfn, nr, share, ret, i, s);
	   d_step { p = 0; nr = 0; h = 0; gfn = 0; ret = 0; i = 0; s = 0; g = 0; share = false }
	:: atomic { select(h : 0 .. NGUESTS - 1); select(gfn : 0 .. NGFN - 1); select(nr : 1 .. MAXNR) };
	   unshare_guest(h, gfn, nr, ret, i, s, g);
	   d_step { nr = 0; h = 0; gfn = 0; ret = 0; i = 0; s = 0; g = 0 }
	:: atomic { select(p : 0 .. NPAGES - 1) };
	   force_reclaim(p, ret, g, s, i);
	   d_step { p = 0; ret = 0; g = 0; s = 0; i = 0 }
	:: guest_create(ret, g);
	   d_step { ret = 0; g = 0 }
	:: atomic { select(h : 0 .. NGUESTS - 1) };
	   guest_destroy(h, ret, i, s, g);
	   d_step { h = 0; ret = 0; i = 0; s = 0; g = 0 }
	:: atomic { select(p : 0 .. NPAGES - 1) };
	   host_fault(p, ret, s);
	   d_step { p = 0; ret = 0; s = 0 }
	od
}

proctype guest_vcpu()
{
	byte h, gfn, nr, ret, i, s, pg;
	bool share;

	do
	:: atomic {
		select(h : 0 .. NGUESTS - 1); select(gfn : 0 .. NGFN - 1); select(nr : 1 .. MAXNR);
		if
		:: share = true
		:: share = false
		fi
	   };
	   guest_share(h, gfn, nr, share, ret, i, s, pg);
	   d_step { h = 0; gfn = 0; nr = 0; ret = 0; i = 0; s = 0; pg = 0; share = false }
	od
}

/* What the hardware allows, at every step, even in the middle of a call. */
inline check_reach(pg)
{
	/* Guest data never reaches the host. */
	assert(!(host_tlb[pg] && pages[pg].secret));
	for (i : 0 .. NGUESTS * NGFN - 1) {
		/* A page a guest's table holds as its own alone is out of the host's reach. */
		assert(!(gpt[i] == pg + 1 && gpt_state[i] == OWNED && host_tlb[pg]));
		/* A guest reaches only pages it owns or the host lends (to guests). */
		assert(gpt[i] != pg + 1 || pages[pg].owner == G0 + i / NGFN ||
		       (pages[pg].owner == HOST && pages[pg].borrower == GUESTS))
	}
}

/* The tracking, the loan counts and the tables agree (no call in flight). */
inline check_quiet(pg)
{
	state_of(pg, HOST, s);
	assert(host_pte[pg] == UNMAPPED || (s != NOPAGE && host_pte[pg] == s));
	assert(!host_tlb[pg] || host_pte[pg] != UNMAPPED);
	assert(pages[pg].borrower == NONE ||
	       (pages[pg].borrower == HYP && pages[pg].owner == HOST) ||
	       (pages[pg].borrower == HOST && owner_is_guest(pg)) ||
	       (pages[pg].borrower == GUESTS && pages[pg].owner == HOST && pages[pg].count > 0));
	assert(pages[pg].borrower == GUESTS || pages[pg].count == 0);
	assert(!pages[pg].donated || pages[pg].owner == HYP);
	n = 0;
	for (i : 0 .. NGUESTS * NGFN - 1) {
		if
		:: gpt[i] == pg + 1 ->
			n++;
			assert(owner_is_guest(pg) || gpt_state[i] == SHARED_BORROWED)
		:: else -> skip
		fi
	};
	if
	:: owner_is_guest(pg) ->
		g = pages[pg].owner - G0;
		assert(gstatus[g] != FREE && n == 1);
		assert(gpt[g * NGFN + pages[pg].gfn] == pg + 1);
		state_of(pg, pages[pg].owner, s);
		assert(gpt_state[g * NGFN + pages[pg].gfn] == s)
	:: else -> assert(n == pages[pg].count)
	fi
}

proctype monitor()
{
	byte i, s, g, n;

	do
	:: atomic {
		check_reach(0);
		check_reach(1);
		if
		:: in_call == 0 ->
			check_quiet(0);
			check_quiet(1);
			for (g : 0 .. NGUESTS - 1) {
				n = (pages[0].owner == G0 + g) + (pages[1].owner == G0 + g);
				assert(gnr[g] == n);
				assert(gstatus[g] != DEAD || n > 0);
				assert(gstatus[g] != FREE ||
				       (gpt[g * NGFN] == 0 && gpt[g * NGFN + NGFN - 1] == 0))
			}
		:: else -> skip
		fi;
		i = 0; s = 0; g = 0; n = 0 /* no state of its own */
	   }
	od
}

init
{
	byte i;

	atomic {
		rules_init(i);
		i = 0;
		run host_cpu();
		run guest_vcpu();
		run monitor()
	}
}
