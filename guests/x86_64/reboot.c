/* reboot: prints and asks for a reset through the i8042 controller. */
#include "guest.h"

void guest_main(const struct hvm_start_info *si)
{
	guest_puts("reboot: resetting through the i8042\n");
	guest_reboot();
}
