/* pvm-fw's freestanding pieces shared between its files: console, ending the VM, the jump. */
#pragma once

#include "descriptor.h"

void fw_puts(const char *s);
/* Prints "pvm-fw: refused: <verdict> (reason N): <detail>" and powers off. */
_Noreturn void fw_fail(PvmFwVerdict v, const char *detail);
_Noreturn void fw_power_off(void);
_Noreturn void fw_enter_kernel(uint64_t entry, uint64_t dtb);
void fw_main(uint64_t dtb, uint64_t base);
_Noreturn void __stack_chk_fail(void);
