/* Generic half of the architecture interface: picking the native backend, and the boot plan
 * bookkeeping every backend shares (segments checked against RAM and against each other). */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "arch.h"
#include "kvm-compat.h"

const pvm_arch *pvm_arch_native(void)
{
#if defined(__x86_64__)
	return &pvm_arch_x86_64;
#elif defined(__aarch64__)
	return &pvm_arch_arm64;
#else
	return NULL;
#endif
}

int pvm_arch_shared_guest_memfd_flags(const char *arch, const pvm_host_caps *caps, uint64_t *ret,
				      pvm_error *err)
{
	const uint64_t want = GUEST_MEMFD_FLAG_MMAP | GUEST_MEMFD_FLAG_INIT_SHARED;

	if (!caps->guest_memfd)
		return pvm_error_set(err, EOPNOTSUPP,
				     "%s: KVM has no guest_memfd (KVM_CAP_GUEST_MEMFD)", arch);
	if ((caps->guest_memfd_flags & want) != want)
		return pvm_error_set(err, EOPNOTSUPP,
				     "%s: guest_memfd lacks MMAP|INIT_SHARED "
				     "(KVM_CAP_GUEST_MEMFD_FLAGS 0x%" PRIx64 ")",
				     arch, caps->guest_memfd_flags);
	*ret = want;
	return 0;
}

int pvm_arch_window_place(const pvm_arch *arch, const pvm_memory_map *map, uint64_t size,
			  uint64_t *ret_gpa, pvm_error *err)
{
	if (size == 0 || size & 0xfff)
		return pvm_error_set(err, EINVAL,
				     "window_mib: 0x%" PRIx64 " bytes is not whole pages", size);
	if (!arch->window_base) {
		if (size > map->ram_size / 2)
			return pvm_error_set(err, EINVAL,
					     "window_mib: %" PRIu64 " MiB is more than half of RAM",
					     size >> 20);
		*ret_gpa = map->ram_base + map->ram_size - size;
		return 0;
	}
	if (size > arch->window_max)
		return pvm_error_set(err, EINVAL,
				     "window_mib: %s takes at most %" PRIu64 " MiB, got %" PRIu64,
				     arch->name, arch->window_max >> 20, size >> 20);
	*ret_gpa = arch->window_base;
	return 0;
}

void pvm_boot_plan_clear(pvm_boot_plan *plan)
{
	for (size_t i = 0; i < plan->n_segments; i++)
		free(plan->segments[i].data);
	memset(plan, 0, sizeof(*plan));
}

static bool ranges_overlap(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
	return a < b + blen && b < a + alen;
}

int pvm_boot_plan_add(pvm_boot_plan *plan, const pvm_memory_map *map, const char *what,
		      uint64_t gpa, const void *data, size_t len, pvm_error *err)
{
	pvm_boot_segment *seg;

	if (plan->n_segments >= PVM_BOOT_SEGMENTS_MAX)
		return pvm_error_set(err, E2BIG, "%s: more than %d pieces to load", what,
				     PVM_BOOT_SEGMENTS_MAX);
	if (len == 0)
		return 0;
	/* overflow-safe: gpa >= base and len <= size - (gpa - base) */
	if (gpa < map->ram_base || gpa - map->ram_base > map->ram_size ||
	    len > map->ram_size - (gpa - map->ram_base))
		return pvm_error_set(err, ERANGE,
				     "%s: 0x%" PRIx64 "+0x%zx lies outside guest RAM 0x%" PRIx64
				     "+0x%" PRIx64,
				     what, gpa, len, map->ram_base, map->ram_size);
	for (size_t i = 0; i < plan->n_segments; i++) {
		const pvm_boot_segment *o = &plan->segments[i];
		if (ranges_overlap(gpa, len, o->gpa, o->len))
			return pvm_error_set(err, EINVAL,
					     "%s at 0x%" PRIx64 "+0x%zx overlaps %s at 0x%" PRIx64
					     "+0x%zx",
					     what, gpa, len, o->what, o->gpa, o->len);
	}

	seg = &plan->segments[plan->n_segments];
	seg->data = calloc(1, len);
	if (!seg->data)
		return pvm_error_set(err, ENOMEM, "%s: out of memory for 0x%zx bytes", what, len);
	if (data)
		memcpy(seg->data, data, len);
	seg->gpa = gpa;
	seg->len = len;
	strncpy(seg->what, what, sizeof(seg->what) - 1);
	plan->n_segments++;
	return 0;
}
