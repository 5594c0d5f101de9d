/* x86_64 boot planning contract: a PVH ELF loads its PT_LOAD segments at their physical
 * addresses (bss zeroed), enters at the PHYS32 entry note with EBX = hvm_start_info (magic,
 * memory map covering RAM, command line, initrd module at the top of RAM); malformed or
 * out-of-RAM payloads are refused with a message, never loaded partially. */
#include <assert.h>
#include <elf.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arch.h"
#include "config.h"

#define RAM (16u << 20)

struct image {
	Elf32_Ehdr eh;
	Elf32_Phdr ph[2];
	struct {
		Elf32_Nhdr nh;
		char name[4];
		uint32_t entry;
	} note;
	uint8_t code[16];
};

static void make_image(struct image *im, uint32_t paddr, uint32_t memsz, uint32_t note_type)
{
	memset(im, 0, sizeof(*im));
	memcpy(im->eh.e_ident, ELFMAG, SELFMAG);
	im->eh.e_ident[EI_CLASS] = ELFCLASS32;
	im->eh.e_ident[EI_DATA] = ELFDATA2LSB;
	im->eh.e_ident[EI_VERSION] = EV_CURRENT;
	im->eh.e_type = ET_EXEC;
	im->eh.e_machine = EM_386;
	im->eh.e_version = EV_CURRENT;
	im->eh.e_phoff = offsetof(struct image, ph);
	im->eh.e_ehsize = sizeof(Elf32_Ehdr);
	im->eh.e_phentsize = sizeof(Elf32_Phdr);
	im->eh.e_phnum = 2;
	im->ph[0] = (Elf32_Phdr){ .p_type = PT_LOAD,
				  .p_offset = offsetof(struct image, code),
				  .p_paddr = paddr,
				  .p_vaddr = paddr,
				  .p_filesz = sizeof(im->code),
				  .p_memsz = memsz };
	im->ph[1] = (Elf32_Phdr){ .p_type = PT_NOTE,
				  .p_offset = offsetof(struct image, note),
				  .p_filesz = sizeof(im->note) };
	im->note.nh = (Elf32_Nhdr){ .n_namesz = 4, .n_descsz = 4, .n_type = note_type };
	memcpy(im->note.name, "Xen", 4);
	im->note.entry = paddr + 4;
	memset(im->code, 0x90, sizeof(im->code));
}

static const pvm_boot_segment *find(const pvm_boot_plan *p, const char *what)
{
	for (size_t i = 0; i < p->n_segments; i++)
		if (strcmp(p->segments[i].what, what) == 0)
			return &p->segments[i];
	return NULL;
}

/* The segment must be planned: a missing one ends the test here (and the compiler knows that
 * the result is never NULL, which -Wnull-dereference at -O3 wants to see). */
static const pvm_boot_segment *get(const pvm_boot_plan *p, const char *what)
{
	const pvm_boot_segment *s = find(p, what);

	if (!s) {
		fprintf(stderr, "no '%s' segment in the boot plan\n", what);
		abort();
	}
	return s;
}

static pvm_boot_input input(const void *kernel, size_t len)
{
	return (pvm_boot_input){
		.kernel = kernel,
		.kernel_len = len,
		.format = PVM_PAYLOAD_AUTO,
		.map = { .ram_base = 0, .ram_size = RAM },
		.cpus = 1,
	};
}

int main(void)
{
	const pvm_arch *a = &pvm_arch_x86_64;
	struct image im;
	pvm_boot_plan plan;
	pvm_error err = { 0 };
	pvm_boot_input in;
	const pvm_boot_segment *s;
	uint8_t initrd[5000];
	uint32_t v32;
	uint64_t v64;

	/* the good case, with command line and initrd */
	make_image(&im, 0x100000, 64, 18);
	in = input(&im, sizeof(im));
	in.params = "console=ttyS0";
	memset(initrd, 0xab, sizeof(initrd));
	in.initrd = initrd;
	in.initrd_len = sizeof(initrd);
	assert(a->plan_boot(&in, &plan, &err) == 0);
	assert(strcmp(plan.format, "pvh-elf") == 0);
	assert(plan.entry.pc == 0x100004);
	s = find(&plan, "kernel");
	assert(s && s->gpa == 0x100000 && s->len == 64);
	assert(s->data[0] == 0x90 && s->data[15] == 0x90 && s->data[16] == 0 && s->data[63] == 0);
	s = find(&plan, "start info");
	assert(s && s->gpa == plan.entry.arg[0]);
	memcpy(&v32, s->data, 4);
	assert(v32 == 0x336ec578);
	memcpy(&v32, s->data + 12, 4); /* nr_modules */
	assert(v32 == 1);
	memcpy(&v64, s->data + 40, 8); /* memmap_paddr */
	assert(get(&plan, "memory map")->gpa == v64);
	memcpy(&v64, get(&plan, "memory map")->data + 8, 8);
	assert(v64 == RAM);
	s = find(&plan, "initrd");
	assert(s && s->gpa + s->len <= RAM && RAM - (s->gpa + s->len) < 4096 &&
	       (s->gpa & 0xfff) == 0);
	assert(strcmp((const char *)get(&plan, "cmdline")->data, "console=ttyS0") == 0);
	pvm_boot_plan_clear(&plan);

	/* no PVH note: refused, nothing planned */
	make_image(&im, 0x100000, 64, 17);
	in = input(&im, sizeof(im));
	assert(a->plan_boot(&in, &plan, &err) == -EINVAL);
	assert(strstr(err.message, "PHYS32_ENTRY"));
	assert(plan.n_segments == 0);
	pvm_error_clear(&err);

	/* segment beyond RAM */
	make_image(&im, RAM - 16, 64, 18);
	in = input(&im, sizeof(im));
	assert(a->plan_boot(&in, &plan, &err) == -ERANGE);
	pvm_error_clear(&err);

	/* segment over the boot data (start info page) */
	make_image(&im, 0x1000, 64, 18);
	in = input(&im, sizeof(im));
	assert(a->plan_boot(&in, &plan, &err) == -EINVAL);
	assert(strstr(err.message, "overlaps"));
	pvm_error_clear(&err);

	/* truncated file: program headers cut off */
	make_image(&im, 0x100000, 64, 18);
	in = input(&im, offsetof(struct image, ph) + 8);
	assert(a->plan_boot(&in, &plan, &err) == -EINVAL);
	pvm_error_clear(&err);

	/* a segment whose file range lies beyond the file */
	make_image(&im, 0x100000, 64, 18);
	im.ph[0].p_offset = 0xfffffff0;
	in = input(&im, sizeof(im));
	assert(a->plan_boot(&in, &plan, &err) == -EINVAL);
	pvm_error_clear(&err);

	/* raw binary: loaded and entered at load_address; AUTO does not guess raw */
	in = input("\xf4", 1);
	assert(a->plan_boot(&in, &plan, &err) == -EINVAL);
	pvm_error_clear(&err);
	in.format = PVM_PAYLOAD_RAW;
	in.load_address = 0x200000;
	assert(a->plan_boot(&in, &plan, &err) == 0);
	assert(plan.entry.pc == 0x200000 && get(&plan, "kernel")->gpa == 0x200000);
	pvm_boot_plan_clear(&plan);

	/* memory map limits */
	pvm_memory_map map;
	assert(a->memory_map(RAM, &map, &err) == 0 && map.ram_base == 0 && map.ram_size == RAM);
	assert(a->memory_map(1u << 20, &map, &err) == -EINVAL);
	pvm_error_clear(&err);

	/* VM type: uniprocessor, no protected type on x86 */
	pvm_host_caps caps = { .vm_types = 1, .guest_memfd = true, .guest_memfd_flags = 3 };
	pvm_vm_shape shape = { .memory_bytes = RAM, .cpus = 1 };
	unsigned long type = 99;
	uint64_t flags = 0;
	assert(a->vm_type(-1, &shape, &caps, &type, &err) == 0 && type == 0);
	assert(a->guest_memfd_flags(&shape, &caps, &flags, &err) == 0 && flags == 3);
	caps.guest_memfd_flags = 1;
	assert(a->guest_memfd_flags(&shape, &caps, &flags, &err) == -EOPNOTSUPP);
	pvm_error_clear(&err);
	shape.protected_vm = true;
	assert(a->vm_type(-1, &shape, &caps, &type, &err) == -EOPNOTSUPP);
	pvm_error_clear(&err);
	shape.protected_vm = false;
	shape.cpus = 2;
	assert(a->vm_type(-1, &shape, &caps, &type, &err) == -EOPNOTSUPP);

	printf("test-arch-x86-64-boot: ok\n");
	return 0;
}
