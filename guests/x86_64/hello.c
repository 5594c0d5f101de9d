/* hello: prints, signals ready, powers off. The smallest well-behaved guest. */
#include "guest.h"

void guest_main(const struct hvm_start_info *si)
{
	guest_puts("hello from a pvm guest\n");
	guest_puts(si->magic == HVM_START_MAGIC ? "start info ok\n" : "start info BAD\n");
	guest_ready();
	guest_shutdown();
}
