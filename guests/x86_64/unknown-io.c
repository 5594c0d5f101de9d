/* unknown-io: touches I/O ports and MMIO where no device is, checks reads see all-ones, then
 * signals ready and powers off: unknown accesses are reported, not fatal. */
#include "guest.h"

void guest_main(const struct hvm_start_info *si)
{
	volatile uint32_t *mmio = (volatile uint32_t *)0xd0000000u;
	uint32_t port_read, mmio_read;

	outb(0x1234, 0x55);
	port_read = inb(0x4321);
	*mmio = 0x12345678u;
	mmio_read = *mmio;
	guest_puts("unknown-io: port read ");
	guest_put_hex(port_read);
	guest_puts(", mmio read ");
	guest_put_hex(mmio_read);
	guest_puts(port_read == 0xff && mmio_read == 0xffffffffu ? ": all-ones ok\n"
								 : ": UNEXPECTED\n");
	guest_ready();
	guest_shutdown();
}
