/* libFuzzer target: x86_64 boot planning over arbitrary payload bytes (PVH ELF detection,
 * program headers, notes, segment placement). Every input must be planned or refused with a
 * message; a plan's segments must lie inside guest RAM. */
#include <stdint.h>
#include <stdlib.h>

#include "arch.h"
#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const int formats[] = { PVM_PAYLOAD_AUTO, PVM_PAYLOAD_RAW };
	pvm_boot_input in = {
		.kernel = data,
		.kernel_len = size,
		.params = "console=ttyS0",
		.map = { .ram_base = 0, .ram_size = 16u << 20 },
		.cpus = 1,
		.load_address = 0x100000,
	};

	for (size_t f = 0; f < 2; f++) {
		pvm_boot_plan plan;
		pvm_error err = { 0 };

		in.format = formats[f];
		if (pvm_arch_x86_64.plan_boot(&in, &plan, &err) < 0) {
			if (!err.message[0])
				abort(); /* refusals say why */
			continue;
		}
		for (size_t i = 0; i < plan.n_segments; i++)
			if (plan.segments[i].gpa + plan.segments[i].len > in.map.ram_size)
				abort();
		pvm_boot_plan_clear(&plan);
	}
	return 0;
}
