/* The uids pvmd's runners run as: one uid (and the gid of the same number) per live VM, from a
 * range no systemd allocator hands out, so a runner never shares an id with a DynamicUser
 * service, a homed user or a container. The range is declared in sysusers.d/pvm.conf. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "error.h"

/* 0x70000000-0x7000FFFF: in the block systemd's UIDS-GIDS table leaves unused between the
 * container ranges (524288-1879048191) and the foreign range (2147352576-), below 2^31, and one
 * whole 64K block whose first uid is a named user: allocators that probe a block's first uid
 * in NSS (systemd-nspawn style) see it taken. */
#define RUNNER_UIDS_FIRST_DEFAULT 1879048192u
#define RUNNER_UIDS_COUNT_DEFAULT 65536u
#define RUNNER_UIDS_COUNT_MAX 65536u

typedef struct runner_uids {
	uid_t first;
	uint32_t count;
	uint32_t in_use;
	uint64_t used[RUNNER_UIDS_COUNT_MAX / 64];
} runner_uids;

/* "FIRST-LAST" (inclusive, decimal) into a range; validated as runner_uids_check does. */
int runner_uids_parse(const char *text, uid_t *ret_first, uint32_t *ret_count, pvm_error *err);
/* Refuse a range that is empty, larger than RUNNER_UIDS_COUNT_MAX, reaches root, system or
 * regular users (1-60000), nobody, the 16-bit or 32-bit -1, 2^31 or above, or any range a
 * systemd allocator hands out. */
int runner_uids_check(uid_t first, uint32_t count, pvm_error *err);
int runner_uids_init(runner_uids *u, uid_t first, uint32_t count, pvm_error *err);
/* A free uid of the range; -EUSERS when every one is in use. */
int runner_uids_alloc(runner_uids *u, uid_t *ret);
/* Mark this uid in use (a runner taken over from a previous pvmd); -ERANGE outside the range,
 * -EBUSY when it is in use already. */
int runner_uids_claim(runner_uids *u, uid_t uid);
void runner_uids_release(runner_uids *u, uid_t uid);
bool runner_uids_contains(const runner_uids *u, uid_t uid);
