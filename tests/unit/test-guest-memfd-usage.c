/* The kernel's guest_memfd accounting as pvmd reads it: the fdinfo lines of pvm's kernel series
 * give allocated and guest-owned bytes; a kernel without them (or a garbled line) is "unknown",
 * never zero. */
#include <assert.h>
#include <errno.h>
#include <stdio.h>

#include "memory.h"

static void test_patched_kernel(void)
{
	const char *fdinfo = "pos:\t0\nflags:\t02100002\nmnt_id:\t15\nino:\t1042\n"
			     "gmem-size:\t16777216\ngmem-flags:\t0x3\n"
			     "gmem-allocated:\t16777216\ngmem-guest-owned:\t1052672\n";
	pvm_guest_memfd_usage u = {};

	assert(pvm_guest_memfd_usage_parse(fdinfo, &u) == 0);
	assert(u.allocated == 16777216 && u.guest_owned == 1052672);
}

static void test_unpatched_kernel(void)
{
	pvm_guest_memfd_usage u = { .allocated = 7, .guest_owned = 7 };

	/* an upstream guest_memfd prints only the generic lines: unknown, and ret untouched */
	assert(pvm_guest_memfd_usage_parse("pos:\t0\nflags:\t02100002\nmnt_id:\t15\nino:\t1\n",
					   &u) == -ENODATA);
	assert(u.allocated == 7 && u.guest_owned == 7);
	/* half the accounting is no accounting */
	assert(pvm_guest_memfd_usage_parse("gmem-allocated:\t4096\n", &u) == -ENODATA);
	assert(pvm_guest_memfd_usage_parse("", &u) == -ENODATA);
}

static void test_garbled(void)
{
	pvm_guest_memfd_usage u;

	assert(pvm_guest_memfd_usage_parse("gmem-allocated:\tlots\ngmem-guest-owned:\t0\n", &u) ==
	       -EBADMSG);
	assert(pvm_guest_memfd_usage_parse("gmem-allocated:\t4096 kB\ngmem-guest-owned:\t0\n",
					   &u) == -EBADMSG);
	assert(pvm_guest_memfd_usage_parse(
		   "gmem-allocated:\t99999999999999999999999\ngmem-guest-owned:\t0\n", &u) ==
	       -EBADMSG);
	/* the last line may lack its newline */
	assert(pvm_guest_memfd_usage_parse("gmem-allocated:\t4096\ngmem-guest-owned:\t0", &u) == 0);
	assert(u.allocated == 4096 && u.guest_owned == 0);
}

int main(void)
{
	test_patched_kernel();
	test_unpatched_kernel();
	test_garbled();
	printf("guest_memfd usage: ok\n");
	return 0;
}
