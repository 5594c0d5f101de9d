/*
 * Bounded model of pvm's page ownership (hyp/core/mem_protect.c), for spin. Two host CPUs and
 * a guest vCPU call every transition with every argument on two pages and two guests, all
 * interleavings. A monitor checks, at every step, what the hardware can reach (the host's
 * stage 2 plus stale TLB entries, the guests' stage 2); and, whenever no call is in flight, that
 * the page tracking and the tables agree. Each inline below names the C function it mirrors:
 * keep them in step (hyp/model/check-in-step.py fails the build's test when a transition of
 * mem_protect.h has no model here).
 * Mutants that must fail (run-spin.sh checks they do): -DNO_LOCK (no lock), -DMUTANT_ORDER
 * (unshare changes the guest's side first), -DMUTANT_NO_ZERO (reclaim does not zero).
 */
#define NPAGES 2
#define NGUESTS 1 /* two guests: over 60 million states, beyond a test's budget */
#define NGFN 2
#define MAXNR 2

#define HOST 0
#define HYP 1
#define G0 2 /* guest h has ID G0 + h */
#define NONE 15

/* enum hyp_page_state, and "not mapped" for the host's stage 2 */
#define OWNED 0
#define SHARED_OWNED 1
#define SHARED_BORROWED 2
#define NOPAGE 3
#define UNMAPPED 4

/* enum hyp_guest_status */
#define FREE 0
#define ALIVE 1
#define DEAD 2

#define EPERM 1
#define ENOENT 2
#define EBUSY 16
#define EINVAL 22

typedef page_t {
	byte owner;
	byte borrower;
	bool donated;
	byte gfn;
	bool secret /* may hold a guest's private data */
};

page_t pages[NPAGES];
byte host_pte[NPAGES];   /* host stage 2: UNMAPPED or the state in the software bits */
bool host_tlb[NPAGES];   /* the host can reach the page (mapped, or a stale TLB entry) */
byte gpt[NGUESTS * NGFN]; /* guest stage 2: page index + 1; 0: not mapped */
byte gpt_state[NGUESTS * NGFN];
byte gstatus[NGUESTS];
byte gnr[NGUESTS];
bool lock;
byte in_call; /* CPUs between taking and dropping the lock */

inline state_of(pg, c, ret)
{
	if
	:: pages[pg].owner == c && pages[pg].borrower == NONE -> ret = OWNED
	:: pages[pg].owner == c && pages[pg].borrower != NONE -> ret = SHARED_OWNED
	:: pages[pg].owner != c && pages[pg].borrower == c -> ret = SHARED_BORROWED
	:: pages[pg].owner != c && pages[pg].borrower != c -> ret = NOPAGE
	fi
}

inline lock_take()
{
#ifdef NO_LOCK
	atomic { in_call++ }
#else
	atomic { !lock -> lock = true; in_call++ }
#endif
}

inline lock_drop()
{
	atomic { in_call--; lock = false }
}

/* host_sync_page(): the host's descriptor follows the tracked state; new mappings are live */
inline host_sync(pg, s)
{
	state_of(pg, HOST, s);
	if
	:: s == NOPAGE -> host_pte[pg] = UNMAPPED
	:: else -> host_pte[pg] = s; host_tlb[pg] = true
	fi
}

/* arch_s2_tlb_flush_vmid(host): stale host entries are gone */
inline host_flush()
{
	atomic {
		host_tlb[0] = (host_pte[0] != UNMAPPED);
		host_tlb[1] = (host_pte[1] != UNMAPPED)
	}
}

/* check_host_range() */
inline host_range(p, nr, ret)
{
	ret = 0;
	if
	:: nr == 0 || p + nr > NPAGES -> ret = EINVAL
	:: else -> skip
	fi
}

/* share_hyp_check, unshare_hyp_check, donate_check, reclaim_hyp_check, reclaim_guest_check */
#define T_SHARE_HYP 0
#define T_UNSHARE_HYP 1
#define T_DONATE_HYP 2
#define T_RECLAIM_HYP 3
#define T_RECLAIM_GUEST 4

inline host_check(t, pg, ret)
{
	if
	:: t == T_SHARE_HYP ->
		ret = ((pages[pg].owner == HOST && pages[pg].borrower == NONE) -> 0 : EPERM)
	:: t == T_UNSHARE_HYP ->
		ret = ((pages[pg].owner == HOST && pages[pg].borrower == HYP) -> 0 : EPERM)
	:: t == T_DONATE_HYP ->
		if
		:: pages[pg].owner != HOST -> ret = EPERM
		:: else -> ret = (pages[pg].borrower == NONE -> 0 : EBUSY)
		fi
	:: t == T_RECLAIM_HYP ->
		if
		:: pages[pg].owner != HYP || !pages[pg].donated -> ret = EPERM
		:: else -> ret = (pages[pg].borrower == NONE -> 0 : EBUSY)
		fi
	:: t == T_RECLAIM_GUEST ->
		if
		:: pages[pg].owner < G0 -> ret = EPERM
		:: else -> ret = (gstatus[pages[pg].owner - G0] == DEAD -> 0 : EBUSY)
		fi
	fi
}

/* share_hyp_commit, ..., reclaim_guest_commit (guest_free when its last page goes) */
inline host_commit(t, pg, g)
{
	if
	:: t == T_SHARE_HYP -> pages[pg].borrower = HYP
	:: t == T_UNSHARE_HYP -> pages[pg].borrower = NONE
	:: t == T_DONATE_HYP -> pages[pg].owner = HYP; pages[pg].donated = true
	:: t == T_RECLAIM_HYP -> pages[pg].owner = HOST; pages[pg].donated = false
	:: t == T_RECLAIM_GUEST ->
		g = pages[pg].owner - G0;
#ifndef MUTANT_NO_ZERO
		pages[pg].secret = false; /* zeroed */
#endif
		gpt[g * NGFN + pages[pg].gfn] = 0;
		pages[pg].owner = HOST;
		pages[pg].borrower = NONE;
		pages[pg].gfn = 0;
		gnr[g]--;
		if
		:: gnr[g] == 0 -> gstatus[g] = FREE
		:: else -> skip
		fi
	fi
}

/*
 * host_transition(): hyp_host_share_hyp, hyp_host_unshare_hyp, hyp_host_donate_hyp,
 * hyp_host_reclaim_hyp, hyp_host_reclaim_guest
 */
inline host_transition(t, p, nr, ret, i, s, g)
{
	host_range(p, nr, ret);
	if
	:: ret == 0 ->
		lock_take();
		atomic {
			i = 0;
			do
			:: i < nr && ret == 0 -> host_check(t, p + i, ret); i++
			:: else -> break
			od
		};
		if
		:: ret == 0 ->
			i = 0;
			do
			:: i < nr -> host_commit(t, p + i, g); host_sync(p + i, s); i++
			:: else -> break
			od;
			host_flush()
		:: else -> skip
		fi;
		lock_drop()
	:: else -> skip
	fi
}

/* hyp_host_donate_guest() */
inline donate_guest(h, p, gfn, nr, ret, i, s)
{
	host_range(p, nr, ret);
	if
	:: ret == 0 && gfn + nr > NGFN -> ret = EINVAL
	:: else -> skip
	fi;
	if
	:: ret == 0 ->
		lock_take();
		atomic {
			if
			:: gstatus[h] != ALIVE -> ret = ENOENT
			:: else -> skip
			fi;
			i = 0;
			do
			:: i < nr && ret == 0 ->
				host_check(T_DONATE_HYP, p + i, ret);
				if
				:: ret == 0 && gpt[h * NGFN + gfn + i] != 0 -> ret = EBUSY
				:: else -> skip
				fi;
				i++
			:: else -> break
			od
		};
		if
		:: ret == 0 ->
			i = 0;
			do
			:: i < nr ->
				pages[p + i].owner = G0 + h;
				pages[p + i].gfn = gfn + i;
				host_sync(p + i, s);
				i++
			:: else -> break
			od;
			host_flush();
			i = 0;
			do
			:: i < nr ->
				gpt[h * NGFN + gfn + i] = p + i + 1;
				gpt_state[h * NGFN + gfn + i] = OWNED;
				pages[p + i].secret = true; /* the guest may write private data now */
				i++
			:: else -> break
			od;
			gnr[h] = gnr[h] + nr
		:: else -> skip
		fi;
		lock_drop()
	:: else -> skip
	fi
}

/* guest_sync_range() */
inline guest_sync_range(h, gfn, nr, i, s, pg)
{
	i = 0;
	do
	:: i < nr ->
		pg = gpt[h * NGFN + gfn + i] - 1;
		state_of(pg, G0 + h, s);
		gpt_state[h * NGFN + gfn + i] = s;
		i++
	:: else -> break
	od
}

/* host_sync_guest_range() */
inline host_sync_guest_range(h, gfn, nr, i, s, pg)
{
	i = 0;
	do
	:: i < nr ->
		pg = gpt[h * NGFN + gfn + i] - 1;
		host_sync(pg, s);
		i++
	:: else -> break
	od;
	host_flush()
}

/* guest_share_transition(): hyp_guest_share_host (share) and hyp_guest_unshare_host */
inline guest_share(h, gfn, nr, share, ret, i, s, pg)
{
	ret = 0;
	if
	:: nr == 0 || gfn + nr > NGFN -> ret = EINVAL
	:: else -> skip
	fi;
	if
	:: ret == 0 ->
		lock_take();
		atomic {
			if
			:: gstatus[h] != ALIVE -> ret = ENOENT
			:: else -> skip
			fi;
			i = 0;
			do
			:: i < nr && ret == 0 ->
				if
				:: gpt[h * NGFN + gfn + i] == 0 -> ret = ENOENT
				:: else ->
					pg = gpt[h * NGFN + gfn + i] - 1;
					state_of(pg, G0 + h, s);
					assert(pages[pg].owner == G0 + h); /* the C code's CHECK() */
					ret = (s == (share -> OWNED : SHARED_OWNED) -> 0 : EPERM)
				fi;
				i++
			:: else -> break
			od
		};
		if
		:: ret == 0 ->
			i = 0;
			do
			:: i < nr ->
				pg = gpt[h * NGFN + gfn + i] - 1;
				pages[pg].borrower = (share -> HOST : NONE);
				if
				:: share -> pages[pg].secret = false /* the guest made it public */
				:: else -> skip
				fi;
				i++
			:: else -> break
			od;
			/* whoever loses something goes first: host on unshare, guest on share */
			if
#ifdef MUTANT_ORDER
			:: true ->
#else
			:: share ->
#endif
				guest_sync_range(h, gfn, nr, i, s, pg);
				host_sync_guest_range(h, gfn, nr, i, s, pg)
			:: else ->
				host_sync_guest_range(h, gfn, nr, i, s, pg);
				guest_sync_range(h, gfn, nr, i, s, pg)
			fi
		:: else -> skip
		fi;
		lock_drop()
	:: else -> skip
	fi
}

/* hyp_guest_create(): the first free slot */
inline guest_create(ret, g)
{
	lock_take();
	ret = ENOENT;
	g = 0;
	do
	:: g < NGUESTS && gstatus[g] == FREE -> gstatus[g] = ALIVE; gnr[g] = 0; ret = 0; break
	:: g < NGUESTS && gstatus[g] != FREE -> g++
	:: g == NGUESTS -> break
	od;
	lock_drop()
}

/* hyp_guest_destroy() */
inline guest_destroy(h, ret)
{
	lock_take();
	if
	:: gstatus[h] != ALIVE -> ret = ENOENT
	:: else ->
		ret = 0;
		gstatus[h] = (gnr[h] == 0 -> FREE : DEAD)
	fi;
	lock_drop()
}

/* hyp_host_handle_s2_fault() for RAM pages */
inline host_fault(pg, ret, s)
{
	lock_take();
	state_of(pg, HOST, s);
	if
	:: s == NOPAGE -> ret = EPERM
	:: else -> ret = 0; host_pte[pg] = s; host_tlb[pg] = true
	fi;
	lock_drop()
}

proctype host_cpu()
{
	byte p, nr, h, gfn, ret, i, s, g, t;

	do
	:: atomic { select(t : 0 .. 4); select(p : 0 .. NPAGES - 1); select(nr : 0 .. MAXNR) };
	   host_transition(t, p, nr, ret, i, s, g);
	   d_step { p = 0; nr = 0; h = 0; gfn = 0; ret = 0; i = 0; s = 0; g = 0; t = 0 }
	:: atomic {
		select(h : 0 .. NGUESTS - 1); select(p : 0 .. NPAGES - 1); select(nr : 1 .. MAXNR);
		select(gfn : 0 .. NGFN - 1)
	   };
	   donate_guest(h, p, gfn, nr, ret, i, s);
	   d_step { p = 0; nr = 0; h = 0; gfn = 0; ret = 0; i = 0; s = 0; g = 0; t = 0 }
	:: guest_create(ret, g);
	   d_step { ret = 0; g = 0 }
	:: atomic { select(h : 0 .. NGUESTS - 1) };
	   guest_destroy(h, ret);
	   d_step { h = 0; ret = 0 }
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
	/* A page a guest's table holds as its own alone is out of the host's reach. */
	for (i : 0 .. NGUESTS * NGFN - 1) {
		assert(!(gpt[i] == pg + 1 && gpt_state[i] == OWNED && host_tlb[pg]))
	}
}

/* The tracking and the tables agree (no call in flight). */
inline check_quiet(pg)
{
	state_of(pg, HOST, s);
	assert(host_pte[pg] == UNMAPPED || (s != NOPAGE && host_pte[pg] == s));
	assert(!host_tlb[pg] || host_pte[pg] != UNMAPPED);
	assert(pages[pg].borrower == NONE ||
	       (pages[pg].borrower == HYP && pages[pg].owner == HOST) ||
	       (pages[pg].borrower == HOST && pages[pg].owner >= G0));
	assert(!pages[pg].donated || pages[pg].owner == HYP);
	if
	:: pages[pg].owner >= G0 ->
		g = pages[pg].owner - G0;
		assert(gstatus[g] != FREE);
		assert(gpt[g * NGFN + pages[pg].gfn] == pg + 1);
		state_of(pg, pages[pg].owner, s);
		assert(gpt_state[g * NGFN + pages[pg].gfn] == s)
	:: else -> skip
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
			/* every guest mapping is of a page that guest owns, at that gfn */
			for (i : 0 .. NGUESTS * NGFN - 1) {
				assert(gpt[i] == 0 || (pages[gpt[i] - 1].owner == G0 + i / NGFN &&
						       pages[gpt[i] - 1].gfn == i % NGFN))
			}
			for (g : 0 .. NGUESTS - 1) {
				n = (pages[0].owner == G0 + g) + (pages[1].owner == G0 + g);
				assert(gnr[g] == n);
				assert(gstatus[g] != DEAD || n > 0)
			}
		:: else -> skip
		fi;
		i = 0; s = 0; g = 0; n = 0 /* no state of its own */
	   }
	od
}

init
{
	atomic {
		pages[0].owner = HOST;
		pages[0].borrower = NONE;
		pages[1].owner = HOST;
		pages[1].borrower = NONE;
		host_pte[0] = UNMAPPED;
		host_pte[1] = UNMAPPED;
		run host_cpu();
#ifdef TWO_HOST_CPUS
		run host_cpu();
#endif
		run guest_vcpu();
		run monitor()
	}
}
