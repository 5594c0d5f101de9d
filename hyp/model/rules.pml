/*
 * The ownership rules of hyp/core/mem_protect.c as spin inlines: the page tracking, the
 * host's stage 2 and TLB, the guests' stage 2, and every transition. Each inline names the C
 * function it mirrors: keep them in step (check-in-step.py fails hyp-model-in-step when a
 * transition of mem_protect.h has no model here; table-check.pml checks each inline against
 * model/transitions.txt, the table the C core is checked against too). Included by
 * ownership.pml (all interleavings) and table-check.pml (the table, one row at a time).
 * Not modelled: the hypervisor's pins and holds (they only make unshare/reclaim -EBUSY), the
 * loaded-vCPU count, caches.
 */
#ifndef NGUESTS
#define NGUESTS 1
#endif
#define NPAGES 2
#ifndef NGFN
#define NGFN 2
#endif
#ifndef MAXNR
#define MAXNR 2
#endif

#define HOST 0
#define HYP 1
#define G0 2 /* guest h has ID G0 + h */
#define GUESTS 14 /* borrower: lent by the host to guests */
#define NONE 15
#define POISONED 15 /* a guest table entry emptied by a forced reclaim */
#define MAXCOUNT 255 /* loans per page (UINT32_MAX in C) */

/* enum hyp_page_state, "not mapped" for the host's stage 2, "poisoned" for a guest's view */
#define OWNED 0
#define SHARED_OWNED 1
#define SHARED_BORROWED 2
#define NOPAGE 3
#define UNMAPPED 4
#define POISON 4

/* enum hyp_guest_status */
#define FREE 0
#define ALIVE 1
#define DEAD 2

#define EPERM 1
#define ENOENT 2
#define EBUSY 16
#define EINVAL 22
#define ERANGE 34
#define EHWPOISON 133

typedef page_t {
	byte owner;
	byte borrower;
	bool donated;
	byte gfn;
	byte count; /* loans to guests */
	bool secret /* may hold a guest's private data */
};

page_t pages[NPAGES];
byte host_pte[NPAGES];   /* host stage 2: UNMAPPED or the state in the software bits */
bool host_tlb[NPAGES];   /* the host can reach the page (mapped, or a stale TLB entry) */
byte gpt[NGUESTS * NGFN]; /* guest stage 2: page index + 1, POISONED, or 0: not mapped */
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

/* check_host_range(): a bad count is -EINVAL, pages outside RAM -EPERM */
inline host_range(p, nr, ret)
{
	ret = 0;
	if
	:: nr == 0 -> ret = EINVAL
	:: nr != 0 && p + nr > NPAGES -> ret = EPERM
	:: else -> skip
	fi
}

/* check_guest_range() */
inline guest_range(gf, nr, ret)
{
	if
	:: nr == 0 -> ret = EINVAL
	:: nr != 0 && gf + nr > NGFN -> ret = ERANGE
	:: else -> skip
	fi
}

#define owner_is_guest(pg) (pages[pg].owner >= G0 && pages[pg].owner < GUESTS)

/* guest_free(): the table goes, poison markers included */
inline guest_free(g, i)
{
	gstatus[g] = FREE;
	for (i : 0 .. NGFN - 1) {
		gpt[g * NGFN + i] = 0
	}
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
	:: t == T_SHARE_HYP || t == T_DONATE_HYP ->
		ret = ((pages[pg].owner == HOST && pages[pg].borrower == NONE) -> 0 : EPERM)
	:: t == T_UNSHARE_HYP ->
		ret = ((pages[pg].owner == HOST && pages[pg].borrower == HYP) -> 0 : EPERM)
	:: t == T_RECLAIM_HYP ->
		ret = ((pages[pg].owner == HYP && pages[pg].donated) -> 0 : EPERM)
	:: t == T_RECLAIM_GUEST ->
		if
		:: !owner_is_guest(pg) -> ret = EPERM
		:: else -> ret = (gstatus[pages[pg].owner - G0] == DEAD -> 0 : EINVAL)
		fi
	fi
}

/* share_hyp_commit, ..., reclaim_guest_commit (guest_free when its last page goes) */
inline host_commit(t, pg, g, scratch)
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
		:: gnr[g] == 0 -> guest_free(g, scratch)
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
			:: i < nr -> host_commit(t, p + i, g, s); host_sync(p + i, s); i++
			:: else -> break
			od;
			host_flush()
		:: else -> skip
		fi;
		lock_drop()
	:: else -> skip
	fi
}

/*
 * host_to_guest_transition(): hyp_host_donate_guest (share false) and hyp_host_share_guest
 * (share true, a loan counted per page). The host's side changes and is flushed first.
 */
inline host_to_guest(h, p, gf, nr, share, ret, i, s)
{
	host_range(p, nr, ret);
	if
	:: ret == 0 -> guest_range(gf, nr, ret)
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
				:: gpt[h * NGFN + gf + i] != 0 -> ret = EPERM
				:: gpt[h * NGFN + gf + i] == 0 && !share ->
					host_check(T_DONATE_HYP, p + i, ret)
				:: gpt[h * NGFN + gf + i] == 0 && share ->
					/* share_guest_check() */
					if
					:: pages[p + i].owner != HOST -> ret = EPERM
					:: pages[p + i].owner == HOST && pages[p + i].borrower == NONE
					:: pages[p + i].owner == HOST && pages[p + i].borrower == GUESTS ->
						ret = (pages[p + i].count == MAXCOUNT -> EBUSY : 0)
					:: pages[p + i].owner == HOST && pages[p + i].borrower != NONE &&
					   pages[p + i].borrower != GUESTS -> ret = EPERM
					fi
				fi;
				i++
			:: else -> break
			od
		};
		if
		:: ret == 0 ->
			i = 0;
			do
			:: i < nr && share ->
				pages[p + i].borrower = GUESTS;
				pages[p + i].count++;
				host_sync(p + i, s);
				i++
			:: i < nr && !share ->
				pages[p + i].owner = G0 + h;
				pages[p + i].gfn = gf + i;
				host_sync(p + i, s);
				i++
			:: else -> break
			od;
			host_flush();
			i = 0;
			do
			:: i < nr ->
				atomic { /* one descriptor: address and state in one store */
					gpt[h * NGFN + gf + i] = p + i + 1;
					gpt_state[h * NGFN + gf + i] = (share -> SHARED_BORROWED : OWNED)
				};
				pages[p + i].secret = !share; /* a guest's own page gets its data */
				i++
			:: else -> break
			od;
			gnr[h] = gnr[h] + (share -> 0 : nr)
		:: else -> skip
		fi;
		lock_drop()
	:: else -> skip
	fi
}

/* hyp_host_unshare_guest(): the guest loses each loan before the host may own the page alone */
inline unshare_guest(h, gf, nr, ret, i, s, pg)
{
	ret = 0;
	guest_range(gf, nr, ret);
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
				:: gpt[h * NGFN + gf + i] == 0 || gpt[h * NGFN + gf + i] == POISONED ->
					ret = ENOENT
				:: else ->
					ret = (pages[gpt[h * NGFN + gf + i] - 1].owner != HOST -> EPERM : 0)
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
				pg = gpt[h * NGFN + gf + i] - 1;
				gpt[h * NGFN + gf + i] = 0;
				pages[pg].count--;
				if
				:: pages[pg].count == 0 -> pages[pg].borrower = NONE
				:: else -> skip
				fi;
				host_sync(pg, s);
				i++
			:: else -> break
			od;
			host_flush()
		:: else -> skip
		fi;
		lock_drop()
	:: else -> skip
	fi
}

/* hyp_host_force_reclaim_guest(): poison the guest's address, zero, then the host's */
inline force_reclaim(pg, ret, g, s, i)
{
	lock_take();
	if
	:: !owner_is_guest(pg) || pages[pg].borrower != NONE -> ret = EPERM
	:: else ->
		ret = 0;
		g = pages[pg].owner - G0;
		gpt[g * NGFN + pages[pg].gfn] = POISONED;
		pages[pg].secret = false; /* zeroed */
		pages[pg].owner = HOST;
		pages[pg].gfn = 0;
		host_sync(pg, s);
		host_flush();
		gnr[g]--;
		if
		:: gnr[g] == 0 && gstatus[g] == DEAD -> guest_free(g, i)
		:: else -> skip
		fi
	fi;
	lock_drop()
}

/* guest_sync_range() */
inline guest_sync_range(h, gf, nr, i, s, pg)
{
	i = 0;
	do
	:: i < nr ->
		pg = gpt[h * NGFN + gf + i] - 1;
		state_of(pg, G0 + h, s);
		gpt_state[h * NGFN + gf + i] = s;
		i++
	:: else -> break
	od
}

/* host_sync_guest_range() */
inline host_sync_guest_range(h, gf, nr, i, s, pg)
{
	i = 0;
	do
	:: i < nr ->
		pg = gpt[h * NGFN + gf + i] - 1;
		host_sync(pg, s);
		i++
	:: else -> break
	od;
	host_flush()
}

/* guest_share_transition(): hyp_guest_share_host (share) and hyp_guest_unshare_host */
inline guest_share(h, gf, nr, share, ret, i, s, pg)
{
	ret = 0;
	guest_range(gf, nr, ret);
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
				:: gpt[h * NGFN + gf + i] == 0 -> ret = ENOENT
				:: gpt[h * NGFN + gf + i] == POISONED -> ret = EHWPOISON
				:: else ->
					pg = gpt[h * NGFN + gf + i] - 1;
					state_of(pg, G0 + h, s);
					ret = (pages[pg].owner == G0 + h &&
					       s == (share -> OWNED : SHARED_OWNED) -> 0 : EPERM)
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
				pg = gpt[h * NGFN + gf + i] - 1;
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
				guest_sync_range(h, gf, nr, i, s, pg);
				host_sync_guest_range(h, gf, nr, i, s, pg)
			:: else ->
				host_sync_guest_range(h, gf, nr, i, s, pg);
				guest_sync_range(h, gf, nr, i, s, pg)
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

/* hyp_guest_destroy(): the host's loans come back (the guest's side first) */
inline guest_destroy(h, ret, i, s, pg)
{
	lock_take();
	if
	:: gstatus[h] != ALIVE -> ret = ENOENT
	:: else ->
		ret = 0;
		for (i : 0 .. NGFN - 1) {
			pg = gpt[h * NGFN + i];
			if
			:: pg != 0 && pg != POISONED && pages[pg - 1].owner == HOST ->
				gpt[h * NGFN + i] = 0;
				pages[pg - 1].count--;
				if
				:: pages[pg - 1].count == 0 -> pages[pg - 1].borrower = NONE
				:: else -> skip
				fi;
				host_sync(pg - 1, s)
			:: else -> skip
			fi
		};
		host_flush();
		if
		:: gnr[h] == 0 -> guest_free(h, i)
		:: else -> gstatus[h] = DEAD
		fi
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

/* hyp_mem_init(): every page the host's, nothing mapped, no guest */
inline rules_init(i)
{
	for (i : 0 .. NPAGES - 1) {
		pages[i].owner = HOST;
		pages[i].borrower = NONE;
		pages[i].donated = false;
		pages[i].gfn = 0;
		pages[i].count = 0;
		pages[i].secret = false;
		host_pte[i] = UNMAPPED;
		host_tlb[i] = false
	};
	for (i : 0 .. NGUESTS * NGFN - 1) {
		gpt[i] = 0;
		gpt_state[i] = 0
	};
	for (i : 0 .. NGUESTS - 1) {
		gstatus[i] = FREE;
		gnr[i] = 0
	}
}
