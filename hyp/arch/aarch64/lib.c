// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * PL011 output and a printf for %s %c %d %u %x %p with l/ll, enough for TAP lines and panics;
 * memset/memcpy because the compiler emits calls to them even in freestanding code.
 */
#include "lib.h"

void uart_putc(char c)
{
	volatile uint32_t *uart = (volatile uint32_t *)PL011_BASE;

	if (c == '\n')
		uart_putc('\r');
	while (uart[0x18 / 4] & (1U << 5)) /* FR.TXFF */
		;
	uart[0] = (uint32_t)(unsigned char)c;
}

static void put_unsigned(uint64_t v, unsigned base)
{
	char buf[24];
	int n = 0;

	do {
		buf[n++] = "0123456789abcdef"[v % base];
		v /= base;
	} while (v);
	while (n)
		uart_putc(buf[--n]);
}

void vprint(const char *fmt, va_list ap)
{
	for (; *fmt; fmt++) {
		int longs = 0;
		if (*fmt != '%') {
			uart_putc(*fmt);
			continue;
		}
		while (*++fmt == 'l')
			longs++;
		switch (*fmt) {
		case 's':
			for (const char *s = va_arg(ap, const char *); *s; s++)
				uart_putc(*s);
			break;
		case 'c':
			uart_putc((char)va_arg(ap, int));
			break;
		case 'd': {
			int64_t v = longs ? va_arg(ap, int64_t) : va_arg(ap, int);
			if (v < 0) {
				uart_putc('-');
				put_unsigned(-(uint64_t)v, 10);
			} else {
				put_unsigned((uint64_t)v, 10);
			}
			break;
		}
		case 'u':
			put_unsigned(longs ? va_arg(ap, uint64_t) : va_arg(ap, unsigned), 10);
			break;
		case 'x':
			put_unsigned(longs ? va_arg(ap, uint64_t) : va_arg(ap, unsigned), 16);
			break;
		case 'p':
			uart_putc('0');
			uart_putc('x');
			put_unsigned((uint64_t)va_arg(ap, void *), 16);
			break;
		case '%':
			uart_putc('%');
			break;
		default:
			return;
		}
	}
}

void print(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vprint(fmt, ap);
	va_end(ap);
}

void *memset(void *s, int c, size_t n)
{
	volatile unsigned char *p = s;

	while (n--)
		*p++ = (unsigned char)c;
	return s;
}

void *memcpy(void *dst, const void *src, size_t n)
{
	volatile unsigned char *d = dst;
	const unsigned char *s = src;

	while (n--)
		*d++ = *s++;
	return dst;
}
