/* bad-fetch: jumps to an address where no memory is, so the CPU must fetch instructions from
 * unmapped guest-physical space: KVM cannot emulate that (an emulation failure). */
#include "guest.h"

void guest_main(const struct hvm_start_info *si)
{
	guest_puts("bad-fetch: jumping to 0xd0000000\n");
	__asm__ volatile("jmp *%0" : : "r"(0xd0000000u));
	for (;;)
		;
}
