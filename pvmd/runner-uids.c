/* Allocation of per-VM runner uids from pvmd's range: a bitmap, lowest free uid first (a uid
 * comes back only once its runner has been reaped). The range is checked against the uids
 * Linux and systemd give meaning to before any is used. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "runner-uids.h"

/* Uids with a meaning of their own (Linux), the distributions' system and regular users, and
 * the ranges systemd's allocators hand out (systemd.io/UIDS-GIDS): a runner range may touch
 * none of them, since any process sharing a runner's uid could signal it. */
static const struct {
	uint64_t first, last;
	const char *what;
} runner_uids_reserved[] = {
	{ 0, 0, "root" },
	{ 1, 999, "system users" },
	{ 1000, 60000, "regular users" },
	{ 60001, 60513, "systemd-homed's users" },
	{ 60514, 60577, "systemd-nspawn's host users mapped into containers" },
	{ 60578, 60705, "systemd's dynamic greeter users" },
	{ 61184, 65519, "systemd's DynamicUser= range" },
	{ 65534, 65535, "nobody and the 16-bit (uid_t) -1" },
	{ 524288, 1879048191, "systemd-nspawn's container ranges" },
	{ 2147352576, 2147418111, "systemd's foreign uid range" },
	{ 2147483648, 4294967295, "uids of 2^31 and above (not safe everywhere)" },
};

int runner_uids_check(uid_t first, uint32_t count, pvm_error *err)
{
	uint64_t last = (uint64_t)first + count - 1;

	if (count == 0 || count > RUNNER_UIDS_COUNT_MAX)
		return pvm_error_set(err, EINVAL, "runner uid range %u+%" PRIu32 ": 1 to %u uids",
				     (unsigned)first, count, RUNNER_UIDS_COUNT_MAX);
	for (size_t i = 0; i < ELEMENTSOF(runner_uids_reserved); i++)
		if (first <= runner_uids_reserved[i].last && last >= runner_uids_reserved[i].first)
			return pvm_error_set(
			    err, EINVAL,
			    "runner uid range %u-%" PRIu64 " overlaps %" PRIu64 "-%" PRIu64
			    " (%s); pick a range outside systemd's (default %u-%u)",
			    (unsigned)first, last, runner_uids_reserved[i].first,
			    runner_uids_reserved[i].last, runner_uids_reserved[i].what,
			    RUNNER_UIDS_FIRST_DEFAULT,
			    RUNNER_UIDS_FIRST_DEFAULT + RUNNER_UIDS_COUNT_DEFAULT - 1);
	return 0;
}

static int parse_uid(const char *s, const char *end, uint64_t *ret)
{
	char *e;
	unsigned long long v;

	if (s == end || *s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &e, 10);
	if (errno || e != end || v > UINT32_MAX)
		return -EINVAL;
	*ret = v;
	return 0;
}

int runner_uids_parse(const char *text, uid_t *ret_first, uint32_t *ret_count, pvm_error *err)
{
	const char *dash = strchr(text, '-');
	uint64_t first, last;
	int r;

	if (!dash || parse_uid(text, dash, &first) < 0 ||
	    parse_uid(dash + 1, dash + strlen(dash), &last) < 0 || last < first)
		return pvm_error_set(err, EINVAL,
				     "runner uid range '%s': expected FIRST-LAST, two decimal uids "
				     "with FIRST <= LAST",
				     text);
	if (last - first + 1 > RUNNER_UIDS_COUNT_MAX)
		return pvm_error_set(err, EINVAL, "runner uid range '%s': at most %u uids", text,
				     RUNNER_UIDS_COUNT_MAX);
	r = runner_uids_check((uid_t)first, (uint32_t)(last - first + 1), err);
	if (r < 0)
		return r;
	*ret_first = (uid_t)first;
	*ret_count = (uint32_t)(last - first + 1);
	return 0;
}

int runner_uids_init(runner_uids *u, uid_t first, uint32_t count, pvm_error *err)
{
	int r = runner_uids_check(first, count, err);

	if (r < 0)
		return r;
	memset(u, 0, sizeof(*u));
	u->first = first;
	u->count = count;
	return 0;
}

static bool slot_used(const runner_uids *u, uint32_t slot)
{
	return u->used[slot / 64] & (1ULL << (slot % 64));
}

int runner_uids_alloc(runner_uids *u, uid_t *ret)
{
	if (u->in_use >= u->count)
		return -EUSERS;
	/* a word at a time: a nearly full range costs 1024 word reads, not 65536 bit tests */
	for (uint32_t w = 0; w * 64 < u->count; w++) {
		uint32_t slot;
		if (u->used[w] == UINT64_MAX)
			continue;
		slot = w * 64 + (uint32_t)__builtin_ctzll(~u->used[w]);
		if (slot >= u->count)
			break;
		u->used[w] |= 1ULL << (slot % 64);
		u->in_use++;
		*ret = u->first + slot;
		return 0;
	}
	return -EUSERS; /* not reached: in_use < count means a free slot exists */
}

int runner_uids_claim(runner_uids *u, uid_t uid)
{
	uint32_t slot;

	if (!runner_uids_contains(u, uid))
		return -ERANGE;
	slot = uid - u->first;
	if (slot_used(u, slot))
		return -EBUSY;
	u->used[slot / 64] |= 1ULL << (slot % 64);
	u->in_use++;
	return 0;
}

bool runner_uids_contains(const runner_uids *u, uid_t uid)
{
	return uid >= u->first && (uint64_t)uid - u->first < u->count;
}

void runner_uids_release(runner_uids *u, uid_t uid)
{
	uint32_t slot;

	if (!runner_uids_contains(u, uid))
		return;
	slot = uid - u->first;
	if (slot_used(u, slot)) {
		u->used[slot / 64] &= ~(1ULL << (slot % 64));
		u->in_use--;
	}
}
