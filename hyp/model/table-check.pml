/*
 * Every row of model/transitions.txt through the model's inlines (rules.pml): from a fresh
 * state, reach the row's start state for page 0 (guest 0, its address 0), make the call,
 * and assert the row's result and the host/hypervisor/guest views afterwards. The rows come
 * from the file transitions.py generates, which includes this one; a failing row is named by
 * the trail (run-spin.sh replays it).
 */
#include "rules.pml"

byte row_start[NR_ROWS];
byte row_op[NR_ROWS];
byte row_ret[NR_ROWS];
byte row_host[NR_ROWS];
byte row_hyp[NR_ROWS];
byte row_guest[NR_ROWS];

inline reach(st, ret, i, s, g)
{
	rules_init(i);
	guest_create(ret, g);
	assert(ret == 0);
	if
	:: st == ST_HOST -> skip
	:: st == ST_HOST_SHARED -> host_transition(T_SHARE_HYP, 0, 1, ret, i, s, g)
	:: st == ST_HYP_DONATED -> host_transition(T_DONATE_HYP, 0, 1, ret, i, s, g)
	:: st == ST_HYP_OWN -> pages[0].owner = HYP /* the hypervisor's own, from boot */
	:: st == ST_GUEST || st == ST_GUEST_SHARED || st == ST_GUEST_DEAD ||
	   st == ST_GUEST_SHARED_DEAD ->
		host_to_guest(0, 0, 0, 1, false, ret, i, s);
		if
		:: ret == 0 && (st == ST_GUEST_SHARED || st == ST_GUEST_SHARED_DEAD) ->
			guest_share(0, 0, 1, true, ret, i, s, g)
		:: else -> skip
		fi;
		if
		:: ret == 0 && (st == ST_GUEST_DEAD || st == ST_GUEST_SHARED_DEAD) ->
			guest_destroy(0, ret, i, s, g)
		:: else -> skip
		fi
	:: st == ST_HOST_LENT -> host_to_guest(0, 0, 0, 1, true, ret, i, s)
	fi;
	assert(ret == 0);
	host_fault(0, ret, s) /* the host touches the page if it may */
}

inline run_op(op, ret, i, s, g)
{
	ret = 0;
	if
	:: op == OP_SHARE_HYP -> host_transition(T_SHARE_HYP, 0, 1, ret, i, s, g)
	:: op == OP_UNSHARE_HYP -> host_transition(T_UNSHARE_HYP, 0, 1, ret, i, s, g)
	:: op == OP_DONATE_HYP -> host_transition(T_DONATE_HYP, 0, 1, ret, i, s, g)
	:: op == OP_RECLAIM_HYP -> host_transition(T_RECLAIM_HYP, 0, 1, ret, i, s, g)
	:: op == OP_DONATE_GUEST -> host_to_guest(0, 0, 0, 1, false, ret, i, s)
	:: op == OP_GUEST_SHARE -> guest_share(0, 0, 1, true, ret, i, s, g)
	:: op == OP_GUEST_UNSHARE -> guest_share(0, 0, 1, false, ret, i, s, g)
	:: op == OP_RECLAIM_GUEST -> host_transition(T_RECLAIM_GUEST, 0, 1, ret, i, s, g)
	:: op == OP_HOST_FAULT -> host_fault(0, ret, s)
	:: op == OP_GUEST_DESTROY -> guest_destroy(0, ret, i, s, g)
	:: op == OP_SHARE_GUEST -> host_to_guest(0, 0, 0, 1, true, ret, i, s)
	:: op == OP_UNSHARE_GUEST -> unshare_guest(0, 0, 1, ret, i, s, g)
	:: op == OP_FORCE_RECLAIM -> force_reclaim(0, ret, g, s, i)
	fi
}

init
{
	byte r, ret, i, s, g, host, hyp, guest;

	table_rows();
	r = 0;
	do
	:: r < NR_ROWS ->
		printf("row %d: state %d, call %d\n", r, row_start[r], row_op[r]);
		reach(row_start[r], ret, i, s, g);
		run_op(row_op[r], ret, i, s, g);
		state_of(0, HOST, host);
		state_of(0, HYP, hyp);
		if
		:: gpt[0] == POISONED -> guest = POISON
		:: gpt[0] == 1 -> guest = gpt_state[0]
		:: else -> guest = NOPAGE
		fi;
		printf("row %d: result %d, views %d %d %d\n", r, ret, host, hyp, guest);
		assert(ret == row_ret[r]);
		assert(host == row_host[r] && hyp == row_hyp[r] && guest == row_guest[r]);
		r++
	:: else -> break
	od
}
