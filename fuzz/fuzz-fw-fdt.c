/* libFuzzer target: pvm-fw's device tree step over arbitrary bytes as the host's tree: copy and
 * check, find the RAM region, write /chosen. Every input is accepted or refused with a reason;
 * an accepted RAM region holds the firmware's address, and the edited tree stays valid. */
#include <libfdt.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fw-fdt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define BASE 0x80000000ull

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint64_t src[PVM_FW_FDT_MAX / 8],
	    buf[(PVM_FW_FDT_MAX + PVM_FW_CMDLINE_MAX + 0x1000) / 8];
	uint64_t start, end;
	const char *why = NULL;

	if (size > sizeof(src))
		return 0;
	memset(src, 0, sizeof(src));
	memcpy(src, data, size);
	if (pvm_fw_fdt_copy(src, buf, sizeof(buf), &why) != PVM_FW_OK ||
	    pvm_fw_fdt_ram(buf, BASE, &start, &end, &why) != PVM_FW_OK) {
		if (!why || !why[0])
			abort();
		return 0;
	}
	if (!(start <= BASE && BASE < end))
		abort();
	if (pvm_fw_fdt_set_chosen(buf, "console=ttyS0", BASE + 0x800000, 4096, &why) == PVM_FW_OK &&
	    fdt_check_full(buf, fdt_totalsize(buf)) != 0)
		abort();
	return 0;
}
