/* kvm-floor: the least a VMM can do to start the test guest, as the floor pvm's start path is
 * compared with: create a VM whose memory is guest_memfd, load the PVH ELF, run the vCPU until
 * the guest's first console byte and its READY (pvm's control port), write each to a file, exit.
 * The first console byte is written at once; the rest of the line is kept until READY, so the
 * watcher timing us is woken once per event rather than once per byte.
 * Usage: kvm-floor GUEST.elf CONSOLE-FILE READY-FILE [MEMORY-MIB] */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kvm-bare.h"
#include "kvm-compat.h"

#define UART_DATA 0x3f8
#define UART_LSR 0x3fd
#define UART_LSR_IDLE 0x60 /* transmitter empty: the guest may send */
#define CONTROL_PORT 0x505
#define XEN_ELFNOTE_PHYS32_ENTRY 18
#define START_INFO_GPA 0x1000
#define HVM_START_MAGIC 0x336ec578u

static int fail(const char *what, int r)
{
	fprintf(stderr, "kvm-floor: %s: %s\n", what, strerror(r < 0 ? -r : r));
	return 1;
}

/* Copy the ELF's PT_LOAD segments into guest memory and find the PVH entry in its note. */
static int load_pvh(const uint8_t *img, size_t len, bare_vm *vm, uint32_t *ret_entry)
{
	const Elf32_Ehdr *eh = (const void *)img;
	uint32_t entry = 0;

	if (len < sizeof(*eh) || memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0 ||
	    eh->e_ident[EI_CLASS] != ELFCLASS32 || eh->e_phentsize != sizeof(Elf32_Phdr) ||
	    eh->e_phoff > len || (size_t)eh->e_phnum * sizeof(Elf32_Phdr) > len - eh->e_phoff)
		return -EINVAL;
	for (unsigned i = 0; i < eh->e_phnum; i++) {
		const Elf32_Phdr *ph = (const void *)(img + eh->e_phoff + i * sizeof(Elf32_Phdr));

		if (ph->p_offset > len || ph->p_filesz > len - ph->p_offset)
			return -EINVAL;
		if (ph->p_type == PT_LOAD) {
			if (ph->p_filesz > ph->p_memsz || ph->p_paddr > vm->size ||
			    ph->p_memsz > vm->size - ph->p_paddr)
				return -ERANGE;
			memcpy(vm->mem + ph->p_paddr, img + ph->p_offset, ph->p_filesz);
		} else if (ph->p_type == PT_NOTE) {
			for (size_t o = 0; o + 12 <= ph->p_filesz;) {
				const uint32_t *n = (const void *)(img + ph->p_offset + o);
				size_t name = (n[0] + 3) & ~3u, desc = (n[1] + 3) & ~3u;

				if (n[2] == XEN_ELFNOTE_PHYS32_ENTRY && n[1] >= 4 &&
				    o + 12 + name + 4 <= ph->p_filesz)
					memcpy(&entry, img + ph->p_offset + o + 12 + name, 4);
				o += 12 + name + desc;
			}
		}
	}
	if (!entry)
		return -ENOEXEC;
	*ret_entry = entry;
	return 0;
}

static struct kvm_segment flat(uint16_t selector, uint8_t type)
{
	return (struct kvm_segment){ .base = 0,
				     .limit = 0xffffffff,
				     .selector = selector,
				     .type = type,
				     .present = 1,
				     .db = 1,
				     .s = 1,
				     .g = 1 };
}

/* Create the vCPU in the PVH entry state: 32-bit protected mode, flat segments, paging off,
 * EBX = the start info, EIP = the entry. *ret_what names the step that failed. */
static int vcpu_enter_pvh(bare_vm *vm, uint32_t entry, int *ret_vcpu, struct kvm_run **ret_run,
			  const char **ret_what)
{
	struct kvm_regs regs = { .rflags = 2, .rbx = START_INFO_GPA, .rip = entry };
	struct kvm_sregs sregs;
	void *run;
	int vcpu, size;

	*ret_what = "KVM_CREATE_VCPU";
	if ((vcpu = ioctl(vm->vm_fd, KVM_CREATE_VCPU, 0)) < 0)
		return -errno;
	*ret_what = "KVM_GET_VCPU_MMAP_SIZE";
	if ((size = ioctl(vm->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0)) < 0)
		return -errno;
	*ret_what = "mapping kvm_run";
	run = mmap(NULL, (size_t)size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0);
	if (run == MAP_FAILED)
		return -errno;
	*ret_what = "setting the entry registers";
	if (ioctl(vcpu, KVM_GET_SREGS, &sregs) < 0)
		return -errno;
	sregs.cs = flat(0x08, 0xb);
	sregs.ds = sregs.es = sregs.fs = sregs.gs = sregs.ss = flat(0x10, 0x3);
	sregs.cr0 = 0x11; /* PE | ET */
	sregs.cr4 = 0;
	sregs.efer = 0;
	if (ioctl(vcpu, KVM_SET_SREGS, &sregs) < 0 || ioctl(vcpu, KVM_SET_REGS, &regs) < 0)
		return -errno;
	*ret_vcpu = vcpu;
	*ret_run = run;
	return 0;
}

/* Run until the guest writes READY to the control port: the UART says it may always send,
 * its first byte goes to the console file at once, the rest of the line at READY. */
static int run_to_ready(int vcpu, struct kvm_run *run, const char *console_path,
			const char *ready_path)
{
	uint8_t line[4096];
	size_t line_len = 0;
	int console = -1;

	for (;;) {
		uint8_t *data;

		if (ioctl(vcpu, KVM_RUN, 0) < 0 && errno != EINTR)
			return fail("KVM_RUN", errno);
		if (run->exit_reason != KVM_EXIT_IO) {
			fprintf(stderr, "kvm-floor: unexpected exit %u before READY\n",
				run->exit_reason);
			return 1;
		}
		data = (uint8_t *)run + run->io.data_offset;
		if (run->io.direction == KVM_EXIT_IO_IN) {
			memset(data, 0, run->io.size);
			if (run->io.port == UART_LSR)
				data[0] = UART_LSR_IDLE;
		} else if (run->io.port == UART_DATA) {
			if (console < 0) {
				console = open(console_path,
					       O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
				if (console < 0 || write(console, data, 1) != 1)
					return fail(console_path, errno);
			} else if (line_len < sizeof(line)) {
				line[line_len++] = data[0];
			}
		} else if (run->io.port == CONTROL_PORT) {
			int ready =
			    open(ready_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

			if (console >= 0 && write(console, line, line_len) != (ssize_t)line_len)
				return fail(console_path, errno);
			if (ready < 0 || write(ready, data, 1) != 1)
				return fail(ready_path, errno);
			return 0;
		}
	}
}

int main(int argc, char **argv)
{
	size_t mem = (argc > 4 ? strtoul(argv[4], NULL, 10) : 16) << 20;
	uint32_t entry, magic = HVM_START_MAGIC;
	struct kvm_run *run = NULL;
	const char *what;
	struct stat st;
	uint8_t *img;
	bare_vm vm;
	int fd, vcpu = -1, r;

	if (argc < 4) {
		fprintf(stderr,
			"usage: kvm-floor GUEST.elf CONSOLE-FILE READY-FILE [MEMORY-MIB]\n");
		return 2;
	}
	fd = open(argv[1], O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0)
		return fail(argv[1], errno);
	img = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	if (img == MAP_FAILED)
		return fail(argv[1], errno);
	if ((r = bare_vm_create(mem, &vm)) < 0)
		return fail("creating the VM and its guest_memfd", r);
	if ((r = bare_vm_map(&vm)) < 0)
		return fail("mapping the guest_memfd as memslot 0", r);
	if ((r = load_pvh(img, (size_t)st.st_size, &vm, &entry)) < 0)
		return fail("loading the PVH ELF", r);
	memcpy(vm.mem + START_INFO_GPA, &magic, sizeof(magic));
	if ((r = vcpu_enter_pvh(&vm, entry, &vcpu, &run, &what)) < 0)
		return fail(what, r);
	return run_to_ready(vcpu, run, argv[2], argv[3]);
}
