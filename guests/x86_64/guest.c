/* Shared runtime of the x86 test guests: a polled 8250 console and pvm's control port. */
#include "guest.h"

#define UART 0x3f8
#define UART_LSR 5
#define UART_LSR_THRE 0x20
#define CONTROL_PORT 0x505
#define READY_MAGIC 0x59444552u /* "REDY" */

void guest_putc(char c)
{
	while (!(inb(UART + UART_LSR) & UART_LSR_THRE))
		;
	outb(UART, (uint8_t)c);
}

void guest_puts(const char *s)
{
	while (*s)
		guest_putc(*s++);
}

void guest_put_hex(uint32_t v)
{
	guest_puts("0x");
	for (int i = 28; i >= 0; i -= 4)
		guest_putc("0123456789abcdef"[(v >> i) & 0xf]);
}

void guest_put_dec(uint32_t v)
{
	char buf[11];
	int n = 0;

	do
		buf[n++] = (char)('0' + v % 10);
	while ((v /= 10) != 0);
	while (n > 0)
		guest_putc(buf[--n]);
}

void guest_ready(void)
{
	outl(CONTROL_PORT, READY_MAGIC);
}

bool guest_stop_requested(void)
{
	return inl(CONTROL_PORT) & 1;
}

_Noreturn void guest_shutdown(void)
{
	for (;;)
		__asm__ volatile("cli; hlt");
}

_Noreturn void guest_reboot(void)
{
	outb(0x64, 0xfe);
	guest_shutdown(); /* not reached when the reset is honoured */
}

void *memset(void *s, int c, size_t n)
{
	uint8_t *p = s;
	while (n--)
		*p++ = (uint8_t)c;
	return s;
}

void *memcpy(void *d, const void *s, size_t n)
{
	uint8_t *dp = d;
	const uint8_t *sp = s;
	while (n--)
		*dp++ = *sp++;
	return d;
}
