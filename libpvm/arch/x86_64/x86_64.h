/* Internal to the x86_64 backend: the boot-time GDT layout shared by boot planning (which
 * writes the table) and vCPU setup (which loads matching segment registers). */
#pragma once

#include "arch.h"

#define X86_GDT_GPA 0x500u
enum {
	X86_GDT_NULL,
	X86_GDT_UNUSED,
	X86_GDT_CODE32, /* selector 0x10 */
	X86_GDT_DATA32, /* selector 0x18 */
	X86_GDT_TSS,	/* selector 0x20 */
	X86_GDT_ENTRIES,
};

/* x86 guests may have at most this much RAM: the rest of the 32-bit space stays a hole where
 * no memory is mapped (MMIO accesses there exit as unknown I/O). */
#define X86_RAM_MAX (3ULL << 30)

int x86_64_plan_boot(const pvm_boot_input *in, pvm_boot_plan *ret, pvm_error *err);
