/* undefined-op: executes ud2 with no IDT: #UD, then #DF, then a triple fault, which this
 * host's KVM reports as KVM_EXIT_SHUTDOWN (the runner's "crash"). */
#include "guest.h"

void guest_main(const struct hvm_start_info *si)
{
	guest_puts("undefined-op: ud2 without an IDT\n");
	__asm__ volatile("ud2");
	for (;;)
		;
}
