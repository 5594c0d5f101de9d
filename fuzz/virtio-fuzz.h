/* What the virtio fuzz targets share: after the window's bytes, the rest of an input is guest
 * register accesses, 5 bytes each (offset low byte; flags: bit 0 the offset's bit 8, bit 1 a read,
 * bits 6-7 its width; and the value, overlapping the flags byte). */
#pragma once

#include <stdint.h>
#include <string.h>

#include "virtio/virtio-mmio.h"

static inline void fuzz_virtio_registers(pvm_virtio_mmio *m, const uint8_t *data, size_t size)
{
	pvm_error err = { 0 };

	for (size_t i = 0; i + 5 <= size; i += 5) {
		uint64_t off = (uint64_t)(data[i] | (data[i + 1] & 1) << 8);
		uint32_t v;
		memcpy(&v, data + i + 1, 4);
		if (data[i + 1] & 2) {
			uint64_t r;
			pvm_virtio_mmio_read(m, off, &r, 1u << (data[i + 1] >> 6 & 3), &err);
		} else
			pvm_virtio_mmio_write(m, off & ~3ull, &v, 4, &err);
	}
}
