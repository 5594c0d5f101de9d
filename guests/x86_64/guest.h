/* The pvm guest interface as the x86 test guests use it (docs/guest-interface.md): console on
 * the 8250 at 0x3f8, READY and stop requests on control port 0x505, power-off by hlt with
 * interrupts disabled, reboot through the i8042. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct hvm_start_info {
	uint32_t magic, version, flags, nr_modules;
	uint64_t modlist_paddr, cmdline_paddr, rsdp_paddr, memmap_paddr;
	uint32_t memmap_entries, reserved;
};

struct hvm_memmap_table_entry {
	uint64_t addr, size;
	uint32_t type, reserved;
};

#define HVM_START_MAGIC 0x336ec578u

/* outb/inb, outl/inl: port I/O of one width */
#define GUEST_PORT_IO(suffix, type)                                                                \
	static inline void out##suffix(uint16_t port, type v)                                      \
	{                                                                                          \
		__asm__ volatile("out" #suffix " %0, %1" : : "a"(v), "Nd"(port));                  \
	}                                                                                          \
	static inline type in##suffix(uint16_t port)                                               \
	{                                                                                          \
		type v;                                                                            \
		__asm__ volatile("in" #suffix " %1, %0" : "=a"(v) : "Nd"(port));                   \
		return v;                                                                          \
	}
GUEST_PORT_IO(b, uint8_t)
GUEST_PORT_IO(l, uint32_t)

void guest_putc(char c);
void guest_puts(const char *s);
void guest_put_hex(uint32_t v);
void guest_put_dec(uint32_t v);
void guest_ready(void);
bool guest_stop_requested(void);
_Noreturn void guest_shutdown(void);
_Noreturn void guest_reboot(void);

/* Each guest's entry, called with the PVH start info. */
void guest_main(const struct hvm_start_info *si);

void *memset(void *s, int c, size_t n);
void *memcpy(void *d, const void *s, size_t n);
