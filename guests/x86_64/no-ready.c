/* no-ready: prints and spins without ever signalling ready: ends by the boot timeout. */
#include "guest.h"

void guest_main(const struct hvm_start_info *si)
{
	guest_puts("no-ready: never ready\n");
	for (;;)
		__asm__ volatile("" ::: "memory");
}
