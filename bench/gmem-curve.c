/* gmem-curve: what guest memory costs KVM as a guest grows: for each size, create a VM with a
 * guest_memfd of that size and map it as a memslot, populate every page (fallocate, which
 * guest_memfd takes only with FALLOC_FL_KEEP_SIZE), tear it all down; each timed, REPS times.
 * Prints one JSON object. A size that does not fit in the host's available memory (with 4 GiB to
 * spare for everyone else) is reported as skipped, not run. Usage: gmem-curve REPS SIZE-GIB... */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kvm-bare.h"

#define GIB (1ULL << 30)

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static unsigned long long mem_available(void)
{
	unsigned long long kib = 0;
	char line[256];
	FILE *f = fopen("/proc/meminfo", "re");

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "MemAvailable: %llu kB", &kib) == 1)
			break;
	fclose(f);
	return kib << 10;
}

/* One create/populate/teardown; the three times in ret_ms. */
static int measure(size_t size, double ret_ms[3])
{
	bare_vm vm;
	double t0 = now_ms(), t1, t2;
	int r;

	if ((r = bare_vm_create(size, &vm)) < 0)
		return r;
	if ((r = bare_vm_map(&vm)) < 0) {
		bare_vm_destroy(&vm);
		return r;
	}
	t1 = now_ms();
	if (fallocate(vm.gmem_fd, FALLOC_FL_KEEP_SIZE, 0, (off_t)size) < 0) {
		r = -errno;
		bare_vm_destroy(&vm);
		return r;
	}
	t2 = now_ms();
	bare_vm_destroy(&vm);
	ret_ms[0] = t1 - t0;
	ret_ms[1] = t2 - t1;
	ret_ms[2] = now_ms() - t2;
	return 0;
}

int main(int argc, char **argv)
{
	static const char *const phases[] = { "create_ms", "populate_ms", "teardown_ms" };
	int reps = argc > 1 ? atoi(argv[1]) : 0;

	if (argc < 3 || reps < 1) {
		fprintf(stderr, "usage: gmem-curve REPS SIZE-GIB...\n");
		return 2;
	}
	printf("{\"sizes\":[");
	for (int a = 2; a < argc; a++) {
		unsigned long gib = strtoul(argv[a], NULL, 10);
		size_t size = (size_t)gib * GIB;
		unsigned long long avail = mem_available();
		double ms[64][3];

		printf("%s{\"size_gib\":%lu", a > 2 ? "," : "", gib);
		if (avail < size + 4 * GIB) {
			printf(
			    ",\"skipped\":\"needs %lu GiB plus 4 GiB spare, %.1f GiB available\"}",
			    gib, (double)avail / GIB);
			continue;
		}
		if (reps > 64)
			reps = 64;
		for (int i = 0; i < reps; i++) {
			int r = measure(size, ms[i]);
			if (r < 0) {
				fprintf(stderr, "gmem-curve: %lu GiB: %s\n", gib, strerror(-r));
				return 1;
			}
		}
		for (size_t p = 0; p < 3; p++) {
			printf(",\"%s\":[", phases[p]);
			for (int i = 0; i < reps; i++)
				printf("%s%.3f", i ? "," : "", ms[i][p]);
			printf("]");
		}
		printf("}");
	}
	printf("]}\n");
	return fflush(stdout) == 0 ? 0 : 1;
}
