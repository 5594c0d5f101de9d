/* memtest: fills all RAM the PVH memory map describes (except this image and its stack) with
 * two complementary patterns and verifies each, then writes every page's address into it and
 * checks those (aliasing), prints the result, powers off. Proves the guest really owns every
 * byte of the memory pvmd gave it. */
#include "guest.h"

extern char _image_start[], _image_end[];

static struct hvm_memmap_table_entry map[16];

/* Fill with rep stosl and verify with repe scasl: string instructions let KVM's instruction
 * emulator (which runs this paging-off guest on some hosts) handle a whole run per exit. */
static void fill(uint32_t start, uint32_t words, uint32_t value)
{
	__asm__ volatile("cld; rep stosl" : "+D"(start), "+c"(words) : "a"(value) : "memory");
}

/* Returns the address of the first word that differs, or 0 if all match. */
static uint32_t verify(uint32_t start, uint32_t words, uint32_t value)
{
	uint32_t left = words;

	if (words == 0)
		return 0;
	__asm__ volatile("cld; repe scasl" : "+D"(start), "+c"(left) : "a"(value) : "memory", "cc");
	/* EDI is one past the last word compared; ZF tells whether it matched */
	if (left == 0 && *(volatile uint32_t *)(start - 4) == value)
		return 0;
	return start - 4 ? start - 4 : 0xffffffffu;
}

/* Test [start, end): two complementary fills over every word, then each page's first word
 * holding its own address (so two addresses that alias the same memory are caught). Returns
 * the first bad address or 0. */
static uint32_t test_range(uint32_t start, uint32_t end)
{
	static const uint32_t patterns[] = { 0x5aa5c33cu, 0xa55a3cc3u };
	uint32_t words = (end - start) / 4, bad;

	for (unsigned p = 0; p < 2; p++) {
		fill(start, words, patterns[p]);
		bad = verify(start, words, patterns[p]);
		if (bad)
			return bad;
	}
	for (uint32_t a = start; a < end; a += 4096)
		*(volatile uint32_t *)a = a;
	for (uint32_t a = start; a < end; a += 4096)
		if (*(volatile uint32_t *)a != a)
			return a ? a : 0xffffffffu;
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
		end = map[i].addr + map[i].size > 0x100000000ULL
			  ? 0xfffff000u
			  : (uint32_t)(map[i].addr + map[i].size);
		/* two pieces: below the image and above it; address 0 is tested too */
		uint32_t pieces[2][2] = { { start, end < img_start ? end : img_start },
					  { start > img_end ? start : img_end, end } };
		for (int p = 0; p < 2; p++) {
			uint32_t s = pieces[p][0], e = pieces[p][1], bad;
			if (s >= e)
				continue;
			bad = test_range(s, e);
			if (bad) {
				guest_puts("memtest: FAIL at ");
				guest_put_hex(bad);
				guest_putc('\n');
				guest_shutdown();
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
