/* memtest: fills all RAM the PVH memory map describes (except this image and its stack) with an
 * address-dependent pattern and its complement, verifies both, prints the result, powers off.
 * Proves the guest really owns every byte of the memory pvmd gave it. */
#include "guest.h"

extern char _image_start[], _image_end[];

static struct hvm_memmap_table_entry map[16];

static uint32_t pattern(uint32_t addr, uint32_t pass)
{
	return (addr * 2654435761u) ^ pass;
}

/* Test [start, end), word by word; returns the first bad address or 0. */
static uint32_t test_range(uint32_t start, uint32_t end, uint32_t pass)
{
	for (uint32_t a = start; a < end; a += 4)
		*(volatile uint32_t *)a = pattern(a, pass);
	for (uint32_t a = start; a < end; a += 4)
		if (*(volatile uint32_t *)a != pattern(a, pass))
			return a;
	return 0;
}

void guest_main(const struct hvm_start_info *si)
{
	uint32_t n = si->memmap_entries, tested = 0, img_start = (uint32_t)_image_start,
		 img_end = ((uint32_t)_image_end + 4095) & ~4095u;

	if (si->magic != HVM_START_MAGIC || n == 0 || n > 16) {
		guest_puts("memtest: FAIL bad start info\n");
		guest_shutdown();
	}
	/* the start info lives in RAM we are about to overwrite: copy the map first */
	memcpy(map, (const void *)(uint32_t)si->memmap_paddr, n * sizeof(map[0]));

	for (uint32_t i = 0; i < n; i++) {
		uint32_t start, end;
		if (map[i].type != 1 || map[i].addr >= 0x100000000ULL)
			continue;
		start = (uint32_t)map[i].addr;
		end = map[i].addr + map[i].size > 0x100000000ULL ? 0xfffff000u : (uint32_t)(map[i].addr + map[i].size);
		/* two pieces: below the image and above it; address 0 is tested too */
		uint32_t pieces[2][2] = { { start, end < img_start ? end : img_start },
					  { start > img_end ? start : img_end, end } };
		for (int p = 0; p < 2; p++) {
			uint32_t s = pieces[p][0], e = pieces[p][1], bad;
			if (s >= e)
				continue;
			for (uint32_t pass = 0; pass < 2; pass++) {
				bad = test_range(s, e, pass ? 0xffffffffu : 0);
				if (bad || (s == 0 && *(volatile uint32_t *)0 != pattern(0, pass ? 0xffffffffu : 0))) {
					guest_puts("memtest: FAIL at ");
					guest_put_hex(bad);
					guest_putc('\n');
					guest_shutdown();
				}
			}
			tested += e - s;
		}
	}
	guest_puts("memtest: ");
	guest_put_dec(tested >> 10);
	guest_puts(" KiB tested, image ");
	guest_put_dec((img_end - img_start) >> 10);
	guest_puts(" KiB skipped: ok\n");
	guest_ready();
	guest_shutdown();
}
