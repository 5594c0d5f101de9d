/* libFuzzer target: pvm-fw's descriptor parser and signature check over arbitrary bytes (short
 * inputs are zero-padded to the 4 KiB page the firmware copies). Every input is verified or
 * refused with a named verdict; a verified one has a command line within its field. The seeds
 * (corpus/fuzz-fw-descriptor) are signed by the key below, whose private half was discarded. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "descriptor.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint8_t seed_key[PVM_FW_PUBKEY_SIZE] = {
	0x04, 0x1f, 0x68, 0xc6, 0x27, 0xe5, 0x8c, 0x8f, 0x21, 0x4a, 0xdc, 0x75, 0x66,
	0x8b, 0x44, 0xd9, 0xd9, 0x10, 0x10, 0x61, 0x33, 0xa4, 0x0c, 0x41, 0x07, 0xf4,
	0x07, 0xee, 0x49, 0x07, 0x63, 0xff, 0xe5, 0xe7, 0xb3, 0x85, 0xc7, 0xb5, 0xb0,
	0x8c, 0x8f, 0x17, 0xd9, 0x2c, 0x39, 0x82, 0xc0, 0xe5, 0xe4, 0xd7, 0x8c, 0x55,
	0xbf, 0x72, 0xd6, 0xc2, 0x56, 0x68, 0x04, 0x7c, 0x87, 0x3d, 0xf6, 0xb5, 0xfb
};

_Noreturn void pvm_fw_crypto_abort(int status)
{
	abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t page[PVM_FW_DESCRIPTOR_SIZE];
	static int initialized;
	PvmFwDescriptor d;
	PvmFwVerdict v;

	if (!initialized) {
		pvm_fw_crypto_init();
		initialized = 1;
	}
	memset(page, 0, sizeof(page));
	memcpy(page, data, size < sizeof(page) ? size : sizeof(page));
	v = pvm_fw_descriptor_verify(page, seed_key, &d);
	if ((unsigned)v >= _PVM_FW_VERDICT_MAX)
		abort();
	if (v == PVM_FW_OK && strlen(d.cmdline) != d.cmdline_len)
		abort();
	return 0;
}
