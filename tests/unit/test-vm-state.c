/* vm-state contract: every state and death reason has a unique string that parses back to
 * itself (the D-Bus vocabulary), and unknown strings are refused. */
#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "vm-state.h"

int main(void)
{
	for (int s = 0; s < _PVM_VM_STATE_MAX; s++) {
		const char *name = pvm_vm_state_to_string(s);
		assert(name);
		assert(pvm_vm_state_from_string(name) == s);
	}
	for (int r = 0; r < _PVM_DEATH_REASON_MAX; r++) {
		const char *name = pvm_death_reason_to_string(r);
		assert(name);
		assert(pvm_death_reason_from_string(name) == r);
	}
	assert(strcmp(pvm_vm_state_to_string(PVM_VM_READY), "ready") == 0);
	assert(strcmp(pvm_death_reason_to_string(PVM_DEATH_EMULATION_FAILURE),
		      "emulation-failure") == 0);
	assert(pvm_vm_state_to_string(_PVM_VM_STATE_MAX) == NULL);
	assert(pvm_vm_state_from_string("Ready") == -EINVAL);
	assert(pvm_death_reason_from_string(NULL) == -EINVAL);
	assert(strcmp(pvm_tristate_to_string(PVM_UNKNOWN), "unknown") == 0);
	assert(strcmp(pvm_tristate_to_string(PVM_NO), "no") == 0);
	printf("test-vm-state: ok\n");
	return 0;
}
