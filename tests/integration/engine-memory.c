/* Contract of the guest memory module on real KVM: a guest_memfd memslot made without a
 * mapping leaves none in the process (the maps scan says so, and sees one while pvmd-style
 * loading maps it); loading writes the plan's bytes at their guest addresses; the memfd+mlock
 * fallback is mapped, locked (VmLck), not inherited across fork and without THP (smaps VmFlags
 * lo, dc, nh) and kept out of core dumps (dd), which is what the memory report relies on when it
 * says "unswappable". */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine-harness.h"
#include "kvm-compat.h"
#include "kvm.h"
#include "memory.h"

#define SIZE (4u << 20)

/* The VmFlags line of the smaps entry that starts at addr. */
static void vm_flags(void *addr, char *ret, size_t len)
{
	char line[512], start[32];
	bool in = false;
	FILE *f = fopen("/proc/self/smaps", "re");

	CHECK(f);
	snprintf(start, sizeof(start), "%lx-", (unsigned long)addr);
	ret[0] = '\0';
	while (fgets(line, sizeof(line), f)) {
		if (strchr(line, '-') && strncmp(line, start, strlen(start)) == 0)
			in = true;
		else if (in && strncmp(line, "VmFlags:", 8) == 0) {
			snprintf(ret, len, "%s", line + 8);
			break;
		}
	}
	fclose(f);
}

static long status_kb(const char *field)
{
	char line[256];
	long kb = -1;
	FILE *f = fopen("/proc/self/status", "re");

	CHECK(f);
	while (fgets(line, sizeof(line), f))
		if (strncmp(line, field, strlen(field)) == 0)
			sscanf(line + strlen(field), ": %ld", &kb);
	fclose(f);
	return kb;
}

int main(void)
{
	pvm_error err = { 0 };
	pvm_guest_memory gm;
	pvm_boot_plan plan = { 0 };
	pvm_memory_map map = { .ram_base = 0, .ram_size = SIZE };
	struct stat st;
	char flags[512];
	int kvm_fd, vm_fd;
	uint8_t *m;

	engine_require_kvm();
	CHECK(pvm_kvm_open(&kvm_fd, &err) == 0);
	CHECK(pvm_kvm_create_vm(kvm_fd, 0, &vm_fd, &err) == 0);

	/* guest_memfd without a mapping */
	CHECK(pvm_guest_memfd_create(vm_fd, 0, SIZE,
				     GUEST_MEMFD_FLAG_MMAP | GUEST_MEMFD_FLAG_INIT_SHARED, false,
				     &gm, &err) == 0);
	CHECK(gm.kind == PVM_MEMORY_GUEST_MEMFD && gm.mapping == NULL && gm.size == SIZE);
	CHECK(fstat(gm.fd, &st) == 0 && (uint64_t)st.st_size == SIZE);
	CHECK(pvm_memory_mapped_by(getpid(), st.st_dev, st.st_ino) == 0);
	CHECK(pvm_memory_mapped_by(0, st.st_dev, st.st_ino) == 0);

	/* loading leaves no mapping behind and puts the bytes where the plan says */
	CHECK(pvm_boot_plan_add(&plan, &map, "a", 0x1000, "first", 5, &err) == 0);
	CHECK(pvm_boot_plan_add(&plan, &map, "b", SIZE - 6, "last!", 6, &err) == 0);
	CHECK(pvm_guest_memory_load(gm.fd, 0, SIZE, &plan, &err) == 0);
	CHECK(pvm_memory_mapped_by(0, st.st_dev, st.st_ino) == 0);
	m = mmap(NULL, SIZE, PROT_READ, MAP_SHARED, gm.fd, 0);
	CHECK(m != MAP_FAILED);
	CHECK(pvm_memory_mapped_by(0, st.st_dev, st.st_ino) == 1); /* the scan does see mappings */
	CHECK(memcmp(m + 0x1000, "first", 5) == 0 && memcmp(m + SIZE - 6, "last!", 6) == 0);
	CHECK(m[0] == 0 && m[0x1005] == 0);
	munmap(m, SIZE);
	/* a plan that does not fit is refused before anything is written */
	pvm_boot_plan_clear(&plan);
	plan.segments[0] =
	    (pvm_boot_segment){ .gpa = SIZE - 2, .data = (uint8_t *)"xyz", .len = 3, .what = "c" };
	plan.n_segments = 1;
	CHECK(pvm_guest_memory_load(gm.fd, 0, SIZE, &plan, &err) == -ERANGE);
	plan.n_segments = 0;
	close(gm.fd);
	close(vm_fd);

	/* the fallback: locked, no THP, not inherited */
	long before = status_kb("VmLck");
	CHECK(pvm_kvm_create_vm(kvm_fd, 0, &vm_fd, &err) == 0);
	CHECK(pvm_memfd_mlock_create(vm_fd, 0, SIZE, &gm, &err) == 0);
	CHECK(gm.kind == PVM_MEMORY_MEMFD_MLOCK && gm.mapping != NULL);
	CHECK(status_kb("VmLck") - before >= (long)(SIZE / 1024));
	vm_flags(gm.mapping, flags, sizeof(flags));
	printf("fallback mapping VmFlags:%s", flags);
	CHECK(strstr(flags, " lo") && strstr(flags, " dc") && strstr(flags, " nh") &&
	      strstr(flags, " dd"));
	CHECK(fstat(gm.fd, &st) == 0);
	CHECK(pvm_memory_mapped_by(0, st.st_dev, st.st_ino) == 1);
	munmap(gm.mapping, SIZE);
	close(gm.fd);
	close(vm_fd);
	close(kvm_fd);
	printf("engine-memory: ok\n");
	return 0;
}
