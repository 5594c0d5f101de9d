/* Contract: whether KVM needs a mapping of guest_memfd memory is probed once per pvmd. The first
 * runner probes and pvmd keeps the answer (vm_host_facts); a later runner takes pvmd's answer
 * instead of probing again, which shows when it is told the opposite of the host's answer: told
 * to map, it maps (the memory report sees it); told not to map on a host that needs the mapping,
 * its guest cannot run. An answer for other guest_memfd flags is not used. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine-harness.h"

enum outcome { READY_UNMAPPED, READY_MAPPED, ENDED };

/* Start a halt-idle VM with these facts: did it get READY, and does its runner map its memory? */
static enum outcome start_with(vm_host_facts *facts)
{
	vm_instance_options o = { .host_facts = facts };
	pvm_memory_report rep;
	enum outcome out;
	engine_vm t;

	engine_vm_init(&t, "halt-idle", 16);
	engine_vm_create(&t, &o);
	engine_vm_start(&t);
	if (!engine_wait_state(&t, PVM_VM_READY, 20000)) {
		CHECK(engine_wait_ended(&t, 20000));
		engine_vm_done(&t);
		return ENDED;
	}
	CHECK(vm_instance_memory_report(t.vm, &rep) == 0);
	if (rep.host_mapped == PVM_UNKNOWN) {
		fprintf(stderr, "memory report: %s\n", rep.host_mapped_how);
		exit(EXIT_FAILURE);
	}
	out = rep.host_mapped == PVM_YES ? READY_MAPPED : READY_UNMAPPED;
	engine_vm_done(&t);
	return out;
}

int main(void)
{
	vm_host_facts facts = { 0 }, told;
	enum outcome first;
	bool host_answer;

	engine_require_kvm();

	/* the first runner probes; pvmd keeps its answer, which is what the runner did */
	first = start_with(&facts);
	CHECK(first != ENDED);
	host_answer = first == READY_MAPPED;
	CHECK(facts.mapping_known);
	CHECK(facts.needs_mapping == host_answer);
	CHECK(facts.mapping_guest_memfd_flags != 0);

	/* a later runner does as pvmd says, without a probe of its own */
	told = facts;
	told.needs_mapping = !host_answer;
	CHECK(start_with(&told) == (host_answer ? ENDED : READY_MAPPED));
	CHECK(told.mapping_known && told.needs_mapping == !host_answer); /* no probe reported */

	/* an answer for other flags is not this VM's: the runner probes, pvmd learns again */
	told = facts;
	told.needs_mapping = !host_answer;
	told.mapping_guest_memfd_flags = ~facts.mapping_guest_memfd_flags;
	CHECK(start_with(&told) == first);
	CHECK(told.needs_mapping == host_answer &&
	      told.mapping_guest_memfd_flags == facts.mapping_guest_memfd_flags);

	printf("engine-host-facts: ok (this host %s a mapping)\n",
	       host_answer ? "needs" : "does not need");
	return 0;
}
