/* wait-stop: signals ready, then polls the control port until pvmd asks it to power off, and
 * does: the cooperative guest for graceful stop. Echoes console input while it waits. */
#include "guest.h"

void guest_main(const struct hvm_start_info *si)
{
	guest_puts("wait-stop: ready, waiting for a stop request\n");
	guest_ready();
	while (!guest_stop_requested())
		if (inb(0x3f8 + 5) & 1)
			guest_putc((char)inb(0x3f8));
	guest_puts("wait-stop: stop requested, powering off\n");
	guest_shutdown();
}
