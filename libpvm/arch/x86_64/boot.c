/* x86_64 boot planning: a PVH ELF (the Xen PVH entry note, entered in 32-bit protected mode with
 * EBX pointing at an hvm_start_info) or a flat binary at its load address. Pure C over bytes
 * pvmd has already read and verified: every offset and size from the payload is range-checked. */
#include <elf.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arch.h"
#include "config.h"
#include "x86_64.h"

#define XEN_ELFNOTE_PHYS32_ENTRY 18
#define HVM_START_MAGIC 0x336ec578u
#define HVM_MEMMAP_TYPE_RAM 1
#define HVM_MEMMAP_TYPE_RESERVED 2

/* Xen's public arch-x86/hvm/start_info.h layouts (version 1), little-endian */
struct hvm_start_info {
	uint32_t magic;
	uint32_t version;
	uint32_t flags;
	uint32_t nr_modules;
	uint64_t modlist_paddr;
	uint64_t cmdline_paddr;
	uint64_t rsdp_paddr;
	uint64_t memmap_paddr;
	uint32_t memmap_entries;
	uint32_t reserved;
};
struct hvm_modlist_entry {
	uint64_t paddr;
	uint64_t size;
	uint64_t cmdline_paddr;
	uint64_t reserved;
};
struct hvm_memmap_table_entry {
	uint64_t addr;
	uint64_t size;
	uint32_t type;
	uint32_t reserved;
};
_Static_assert(sizeof(struct hvm_start_info) == 56, "hvm_start_info v1 layout");
_Static_assert(sizeof(struct hvm_modlist_entry) == 32, "hvm_modlist_entry layout");
_Static_assert(sizeof(struct hvm_memmap_table_entry) == 24, "hvm_memmap_table_entry layout");

/* The boot data page layout: a GDT matching the entry segments, the start info, one module
 * entry (initrd), the memory map, and the command line. Kernels load from 1 MiB up. */
#define X86_BOOT_INFO_GPA 0x1000u
#define X86_MODLIST_GPA (X86_BOOT_INFO_GPA + 0x40)
#define X86_MEMMAP_GPA (X86_BOOT_INFO_GPA + 0x80)
#define X86_CMDLINE_GPA 0x2000u
#define X86_CMDLINE_MAX 0x2000u

static int x86_gdt_add(pvm_boot_plan *plan, const pvm_memory_map *map, pvm_error *err)
{
	/* flat 4 GiB segments: access/flags bytes as in the Intel SDM descriptor format */
	uint64_t gdt[X86_GDT_ENTRIES] = {
		[X86_GDT_CODE32] =
		    0x00cf9b000000ffffULL, /* code, exec/read, accessed, 32-bit, 4K */
		[X86_GDT_DATA32] =
		    0x00cf93000000ffffULL,	       /* data, read/write, accessed, 32-bit, 4K */
		[X86_GDT_TSS] = 0x00008b0000000067ULL, /* 32-bit busy TSS at 0, limit 0x67 */
	};
	return pvm_boot_plan_add(plan, map, "gdt", X86_GDT_GPA, gdt, sizeof(gdt), err);
}

static int x86_elf_read(const uint8_t *buf, size_t len, uint64_t off, size_t n, void *ret,
			const char *what, pvm_error *err)
{
	if (off > len || n > len - off)
		return pvm_error_set(
		    err, EINVAL, "PVH ELF: %s at 0x%" PRIx64 "+0x%zx beyond the file (0x%zx bytes)",
		    what, off, n, len);
	memcpy(ret, buf + off, n);
	return 0;
}

/* One program header, widened to 64 bits whatever the ELF class. */
typedef struct x86_phdr {
	uint32_t type;
	uint64_t offset, paddr, filesz, memsz;
} x86_phdr;

static int x86_elf_phdr(const uint8_t *buf, size_t len, bool is64, uint64_t phoff, unsigned i,
			x86_phdr *ret, pvm_error *err)
{
	int r;

	if (is64) {
		Elf64_Phdr p;
		r = x86_elf_read(buf, len, phoff + (uint64_t)i * sizeof(p), sizeof(p), &p,
				 "program header", err);
		if (r < 0)
			return r;
		*ret = (x86_phdr){ p.p_type, p.p_offset, p.p_paddr, p.p_filesz, p.p_memsz };
	} else {
		Elf32_Phdr p;
		r = x86_elf_read(buf, len, phoff + (uint64_t)i * sizeof(p), sizeof(p), &p,
				 "program header", err);
		if (r < 0)
			return r;
		*ret = (x86_phdr){ p.p_type, p.p_offset, p.p_paddr, p.p_filesz, p.p_memsz };
	}
	return 0;
}

/* The ELF header fields we use, widened whatever the class. */
typedef struct x86_ehdr {
	uint16_t type, machine, phentsize;
	unsigned phnum;
	uint64_t phoff;
} x86_ehdr;

#define X86_EHDR(eh)                                                                               \
	((x86_ehdr){ (eh).e_type, (eh).e_machine, (eh).e_phentsize, (eh).e_phnum, (eh).e_phoff })

static int x86_elf_header(const uint8_t *buf, size_t len, bool is64, x86_ehdr *ret, pvm_error *err)
{
	union {
		Elf64_Ehdr e64;
		Elf32_Ehdr e32;
	} u;
	size_t want = is64 ? sizeof(u.e64) : sizeof(u.e32);
	size_t phsize = is64 ? sizeof(Elf64_Phdr) : sizeof(Elf32_Phdr);
	int r = x86_elf_read(buf, len, 0, want, &u, "ELF header", err);

	if (r < 0)
		return r;
	*ret = is64 ? X86_EHDR(u.e64) : X86_EHDR(u.e32);
	if (ret->phentsize != phsize)
		return pvm_error_set(err, EINVAL, "PVH ELF: program header size %u, expected %zu",
				     ret->phentsize, phsize);
	return 0;
}

/* Look for XEN_ELFNOTE_PHYS32_ENTRY in one PT_NOTE segment. Returns 1 and the entry if found. */
static int x86_pvh_note(const uint8_t *buf, size_t len, const x86_phdr *ph, uint32_t *ret_entry,
			pvm_error *err)
{
	uint64_t pos = ph->offset, end;

	if (ph->offset > len || ph->filesz > len - ph->offset)
		return pvm_error_set(err, EINVAL, "PVH ELF: note segment beyond the file");
	end = ph->offset + ph->filesz;
	while (end - pos >= sizeof(Elf32_Nhdr)) {
		Elf32_Nhdr nh; /* note headers are 32-bit words in both classes */
		uint64_t name_off, desc_off, next;

		memcpy(&nh, buf + pos, sizeof(nh));
		name_off = pos + sizeof(nh);
		desc_off = name_off + (((uint64_t)nh.n_namesz + 3) & ~3ULL);
		next = desc_off + (((uint64_t)nh.n_descsz + 3) & ~3ULL);
		if (desc_off > end || next > end)
			return pvm_error_set(
			    err, EINVAL, "PVH ELF: truncated note at file offset 0x%" PRIx64, pos);
		if (nh.n_namesz == 4 && memcmp(buf + name_off, "Xen", 4) == 0 &&
		    nh.n_type == XEN_ELFNOTE_PHYS32_ENTRY) {
			if (nh.n_descsz != 4 && nh.n_descsz != 8)
				return pvm_error_set(
				    err, EINVAL,
				    "PVH ELF: PHYS32_ENTRY note has %u bytes, expected 4 or 8",
				    nh.n_descsz);
			memcpy(ret_entry, buf + desc_off, sizeof(*ret_entry));
			return 1;
		}
		pos = next;
	}
	return 0;
}

static int x86_plan_pvh(const pvm_boot_input *in, pvm_boot_plan *plan, uint32_t *ret_entry,
			pvm_error *err)
{
	const uint8_t *buf = in->kernel;
	size_t len = in->kernel_len;
	unsigned char ident[EI_NIDENT];
	bool is64, found = false;
	x86_ehdr eh;
	int r;

	r = x86_elf_read(buf, len, 0, sizeof(ident), ident, "ELF identification", err);
	if (r < 0)
		return r;
	if (memcmp(ident, ELFMAG, SELFMAG) != 0)
		return pvm_error_set(err, EINVAL, "payload is not an ELF file (no \\177ELF magic)");
	if (ident[EI_CLASS] != ELFCLASS32 && ident[EI_CLASS] != ELFCLASS64)
		return pvm_error_set(err, EINVAL, "PVH ELF: unknown ELF class %u", ident[EI_CLASS]);
	if (ident[EI_DATA] != ELFDATA2LSB)
		return pvm_error_set(err, EINVAL, "PVH ELF: not little-endian");
	is64 = ident[EI_CLASS] == ELFCLASS64;

	r = x86_elf_header(buf, len, is64, &eh, err);
	if (r < 0)
		return r;
	if (eh.type != ET_EXEC)
		return pvm_error_set(err, EINVAL, "PVH ELF: type %u is not ET_EXEC", eh.type);
	if (eh.machine != EM_386 && eh.machine != EM_X86_64)
		return pvm_error_set(err, EINVAL, "PVH ELF: machine %u is not x86", eh.machine);
	if (eh.phnum == 0 || eh.phnum > 64)
		return pvm_error_set(err, EINVAL, "PVH ELF: %u program headers (1..64 expected)",
				     eh.phnum);

	for (unsigned i = 0; i < eh.phnum; i++) {
		x86_phdr ph;
		r = x86_elf_phdr(buf, len, is64, eh.phoff, i, &ph, err);
		if (r < 0)
			return r;
		if (ph.type == PT_NOTE && !found) {
			r = x86_pvh_note(buf, len, &ph, ret_entry, err);
			if (r < 0)
				return r;
			found = r > 0;
		} else if (ph.type == PT_LOAD && ph.memsz > 0) {
			_cleanup_free_ uint8_t *seg = NULL;
			if (ph.filesz > ph.memsz || ph.offset > len || ph.filesz > len - ph.offset)
				return pvm_error_set(
				    err, EINVAL,
				    "PVH ELF: segment %u: file range 0x%" PRIx64 "+0x%" PRIx64
				    " invalid (file 0x%zx bytes, memsz 0x%" PRIx64 ")",
				    i, ph.offset, ph.filesz, len, ph.memsz);
			if (ph.memsz > in->map.ram_size)
				return pvm_error_set(err, ERANGE,
						     "PVH ELF: segment %u (0x%" PRIx64
						     " bytes) is larger than guest RAM",
						     i, ph.memsz);
			seg = calloc(1, ph.memsz);
			if (!seg)
				return pvm_error_set(err, ENOMEM, "PVH ELF: out of memory");
			memcpy(seg, buf + ph.offset, ph.filesz);
			r = pvm_boot_plan_add(plan, &in->map, "kernel", ph.paddr, seg, ph.memsz,
					      err);
			if (r < 0)
				return r;
		}
	}
	if (!found)
		return pvm_error_set(err, EINVAL,
				     "PVH ELF: no Xen PVH entry note (XEN_ELFNOTE_PHYS32_ENTRY)");
	return 0;
}

static int x86_plan_boot(const pvm_boot_input *in, pvm_boot_plan *plan, pvm_error *err)
{
	/* The payload lives below the shared window; the window is a reserved entry of the
	 * memory map, so a guest finds it there and never allocates from it. */
	pvm_memory_map ram = { .ram_base = in->map.ram_base,
			       .ram_size = in->map.ram_size - in->window_size };
	struct hvm_start_info si = {
		.magic = HVM_START_MAGIC,
		.version = 1,
		.memmap_paddr = X86_MEMMAP_GPA,
		.memmap_entries = in->window_size ? 2 : 1,
	};
	struct hvm_memmap_table_entry mm[2] = {
		{ .addr = ram.ram_base, .size = ram.ram_size, .type = HVM_MEMMAP_TYPE_RAM },
		{ .addr = ram.ram_base + ram.ram_size,
		  .size = in->window_size,
		  .type = HVM_MEMMAP_TYPE_RESERVED },
	};
	struct hvm_modlist_entry mod = { 0 };
	uint32_t entry = 0;
	int format = in->format, r;

	memset(plan, 0, sizeof(*plan));
	if (in->window_size > in->map.ram_size / 2 || (in->window_size & 0xfff))
		return pvm_error_set(err, EINVAL,
				     "shared window of %" PRIu64
				     " bytes: must be whole pages and at "
				     "most half of RAM (%" PRIu64 " bytes)",
				     in->window_size, in->map.ram_size);
	if (format == PVM_PAYLOAD_AUTO) {
		if (in->kernel_len >= SELFMAG && memcmp(in->kernel, ELFMAG, SELFMAG) == 0)
			format = PVM_PAYLOAD_PVH_ELF;
		else
			return pvm_error_set(err, EINVAL,
					     "payload format not recognised: x86_64 boots a PVH "
					     "ELF, or a raw binary when payload_format is \"raw\"");
	}

	r = x86_gdt_add(plan, &ram, err);
	if (r < 0)
		goto fail;

	switch (format) {
	case PVM_PAYLOAD_PVH_ELF:
		r = x86_plan_pvh(in, plan, &entry, err);
		snprintf(plan->format, sizeof(plan->format), "pvh-elf");
		break;
	case PVM_PAYLOAD_RAW:
		if (in->load_address > UINT32_MAX)
			r = pvm_error_set(err, ERANGE,
					  "raw payload: load_address 0x%" PRIx64
					  " is above 4 GiB (32-bit entry)",
					  in->load_address);
		else
			r = pvm_boot_plan_add(plan, &ram, "kernel", in->load_address, in->kernel,
					      in->kernel_len, err);
		entry = (uint32_t)in->load_address;
		snprintf(plan->format, sizeof(plan->format), "raw");
		break;
	default:
		r = pvm_error_set(err, EINVAL, "payload format %d cannot boot on x86_64", format);
	}
	if (r < 0)
		goto fail;
	if (entry < ram.ram_base || entry - ram.ram_base >= ram.ram_size) {
		r = pvm_error_set(err, ERANGE, "entry point 0x%x lies outside guest RAM", entry);
		goto fail;
	}

	if (in->params && in->params[0]) {
		size_t n = strlen(in->params) + 1;
		if (n > X86_CMDLINE_MAX) {
			r = pvm_error_set(err, E2BIG, "kernel command line: %zu bytes, at most %u",
					  n - 1, X86_CMDLINE_MAX - 1);
			goto fail;
		}
		r = pvm_boot_plan_add(plan, &ram, "cmdline", X86_CMDLINE_GPA, in->params, n, err);
		if (r < 0)
			goto fail;
		si.cmdline_paddr = X86_CMDLINE_GPA;
	}

	if (in->initrd && in->initrd_len > 0) {
		uint64_t top = ram.ram_base + ram.ram_size, gpa;
		if (top > 0x100000000ULL)
			top = 0x100000000ULL; /* reachable from 32-bit entry */
		if (in->initrd_len > top - ram.ram_base) {
			r = pvm_error_set(err, ERANGE,
					  "initrd (%zu bytes) does not fit in guest RAM",
					  in->initrd_len);
			goto fail;
		}
		gpa = (top - in->initrd_len) & ~0xfffULL;
		r = pvm_boot_plan_add(plan, &ram, "initrd", gpa, in->initrd, in->initrd_len, err);
		if (r < 0)
			goto fail;
		mod.paddr = gpa;
		mod.size = in->initrd_len;
		r = pvm_boot_plan_add(plan, &ram, "module list", X86_MODLIST_GPA, &mod, sizeof(mod),
				      err);
		if (r < 0)
			goto fail;
		si.nr_modules = 1;
		si.modlist_paddr = X86_MODLIST_GPA;
	}

	r = pvm_boot_plan_add(plan, &ram, "memory map", X86_MEMMAP_GPA, mm,
			      si.memmap_entries * sizeof(mm[0]), err);
	if (r < 0)
		goto fail;
	r = pvm_boot_plan_add(plan, &ram, "start info", X86_BOOT_INFO_GPA, &si, sizeof(si), err);
	if (r < 0)
		goto fail;

	plan->entry.pc = entry;
	plan->entry.arg[0] = X86_BOOT_INFO_GPA; /* EBX */
	return 0;
fail:
	pvm_boot_plan_clear(plan);
	return r;
}

int x86_64_plan_boot(const pvm_boot_input *in, pvm_boot_plan *ret, pvm_error *err)
{
	if (in->firmware)
		return pvm_error_set(err, EOPNOTSUPP,
				     "x86_64 has no pvm-fw: \"firmware\" boots arm64 VMs only");
	return x86_plan_boot(in, ret, err);
}
