/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The little freestanding library both the EL2 image and its EL1 test host link (each its own
 * copy): PL011 output, a small printf, memset/memcpy, system register access.
 */
#ifndef HYP_AARCH64_LIB_H
#define HYP_AARCH64_LIB_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#define PL011_BASE 0x09000000UL /* QEMU virt */

#define read_sysreg(r)                                                                             \
	({                                                                                         \
		uint64_t _v;                                                                       \
		__asm__ volatile("mrs %0, " #r : "=r"(_v));                                        \
		_v;                                                                                \
	})
#define write_sysreg(v, r)                                                                         \
	do {                                                                                       \
		uint64_t _w = (uint64_t)(v);                                                       \
		__asm__ volatile("msr " #r ", %0" : : "r"(_w));                                    \
	} while (0)
#define isb() __asm__ volatile("isb" : : : "memory")
#define dsb(opt) __asm__ volatile("dsb " #opt : : : "memory")

void uart_putc(char c);
void print(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void vprint(const char *fmt, va_list ap);

void *memset(void *s, int c, size_t n);
void *memcpy(void *dst, const void *src, size_t n);

#endif
