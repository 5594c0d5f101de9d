/* flood: writes console output as fast as it can, forever; between lines it polls the control
 * port and powers off when pvmd asks. */
#include "guest.h"

void guest_main(const struct hvm_start_info *si)
{
	uint32_t line = 0;

	guest_ready();
	for (;;) {
		guest_puts("flood: the quick brown fox jumps over the lazy dog, line ");
		guest_put_dec(line++);
		guest_putc('\n');
		if (guest_stop_requested()) {
			guest_puts("flood: stop requested, powering off\n");
			guest_shutdown();
		}
	}
}
