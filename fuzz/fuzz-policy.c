/* libFuzzer target for one policy file's text (pvm_policy_parse_text) and the evaluation of
 * what it parsed: any input fails with an error message or gives a policy that answers every
 * question with a reason. */
#include <stdint.h>
#include <string.h>

#include "policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const gid_t groups[] = { 100, 4 };
	static const uint8_t digest[32] = { 0xaa };
	_cleanup_(pvm_policy_freep) pvm_policy *p = NULL;
	pvm_caller callers[] = {
		{ .uid = 0, .gid = 0 },
		{ .uid = 1000, .gid = 1000, .groups = groups, .n_groups = 2, .unit = "a.service" },
	};
	pvm_config cfg = { .name = "vm-1",
			   .kernel = (char *)"/srv/guests/a.elf",
			   .cpus = 2,
			   .memory_mib = 64,
			   .protected_vm = true,
			   .memory_backing = PVM_MEMORY_BACKING_PREFER_GUEST_MEMFD,
			   .debug = true };
	pvm_usage usage = { .vms = 1, .vcpus = 2, .memory_mib = 128 };
	pvm_error err = { 0 };
	pvm_decision d;

	if (pvm_policy_parse_text((const char *)data, size, "fuzz.json", &p, &err) < 0) {
		if (err.code == 0 || err.message[0] == '\0')
			__builtin_trap();
		return 0;
	}
	for (size_t c = 0; c < ELEMENTSOF(callers); c++) {
		for (int a = 0; a < _PVM_ACTION_MAX; a++) {
			if (pvm_policy_check_action(p, &callers[c], (enum pvm_action)a, "vm-1",
						    1000, &d) < 0 ||
			    d.reason[0] == '\0')
				__builtin_trap();
		}
		if (pvm_policy_check_create(p, &callers[c], &cfg, digest, digest, &usage, &usage,
					    &d) < 0 ||
		    d.reason[0] == '\0')
			__builtin_trap();
		(void)pvm_policy_allows_memory_fallback(p, &callers[c], &cfg);
	}
	return 0;
}
