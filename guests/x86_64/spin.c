/* spin: signals ready, then loops forever without polling anything: it ignores stop requests,
 * so only force ends it. */
#include "guest.h"

void guest_main(const struct hvm_start_info *si)
{
	guest_puts("spin: spinning forever\n");
	guest_ready();
	for (;;)
		__asm__ volatile("" ::: "memory");
}
