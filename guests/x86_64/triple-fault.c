/* triple-fault: loads an empty IDT and raises an exception: no handler, no double-fault
 * handler, so the CPU shuts down (a triple fault). */
#include "guest.h"

void guest_main(const struct hvm_start_info *si)
{
	struct __attribute__((packed)) {
		uint16_t limit;
		uint32_t base;
	} idt = { 0, 0 };

	guest_puts("triple-fault: empty IDT, then int3\n");
	__asm__ volatile("lidt %0; int3" : : "m"(idt));
	for (;;)
		;
}
