/* remember: signals ready, then keeps every console line it is sent in guest memory and answers
 * each one with all it has kept so far ("remember: <lines>"). A later answer that still holds
 * the earlier lines shows the guest ran on with its memory intact (across a restart of pvmd,
 * say). Powers off when asked. */
#include "guest.h"

#define REMEMBER_MAX 1024

static char kept[REMEMBER_MAX];
static unsigned kept_len;

void guest_main(const struct hvm_start_info *si)
{
	guest_puts("remember: ready\n");
	guest_ready();
	while (!guest_stop_requested()) {
		char c;

		if (!(inb(0x3f8 + 5) & 1))
			continue;
		c = (char)inb(0x3f8);
		if (c == '\n') {
			guest_puts("remember: ");
			for (unsigned i = 0; i < kept_len; i++)
				guest_putc(kept[i]);
			guest_putc('\n');
		} else if (kept_len < REMEMBER_MAX && c >= 0x20 && c < 0x7f) {
			kept[kept_len++] = c;
		}
	}
	guest_puts("remember: stop requested, powering off\n");
	guest_shutdown();
}
