/* halt-idle: signals ready, then halts with interrupts enabled. Nothing can interrupt it, so it
 * never wakes: pvmd must still end it (stop timeout, then force). */
#include "guest.h"

void guest_main(const struct hvm_start_info *si)
{
	guest_puts("halt-idle: halting with interrupts enabled\n");
	guest_ready();
	for (;;)
		__asm__ volatile("sti; hlt");
}
