/* What a caller holds against its limits: every VM it created and has not removed counts as a
 * VM, running or not (so creating without starting cannot get past limits.vms), vCPUs and memory
 * only while a VM runs, and a VM being started is not counted against itself. */
#include <string.h>

#include "check.h"
#include "pvmd.h"

static pvmd_vm *add(pvmd_manager *m, const char *name, uid_t owner, enum pvm_vm_state state)
{
	char json[256];
	pvm_config *cfg = NULL;
	pvm_error err = { 0 };
	pvmd_vm *vm = NULL;

	snprintf(json, sizeof(json),
		 "{\"name\": \"%s\", \"kernel\": \"/k\", \"memory_mib\": 64, \"cpus\": 2}", name);
	if (pvm_config_parse(json, strlen(json), name, false, &cfg, &err) < 0 ||
	    pvmd_vm_new(m, cfg, owner, &vm) < 0) {
		CHECK(false, "cannot make VM %s: %s", name, err.message);
		pvm_config_free(cfg);
		return NULL;
	}
	vm->rec_state = state; /* no instance: the recorded state is the state */
	vm->next = m->vms;
	m->vms = vm;
	return vm;
}

int main(void)
{
	pvmd_manager *m = NULL;
	pvm_usage mine, all;
	pvmd_vm *created;

	CHECK(manager_new(&m) >= 0, "manager_new");
	created = add(m, "a-created", 1000, PVM_VM_CREATED);
	add(m, "a-stopped", 1000, PVM_VM_STOPPED);
	add(m, "a-running", 1000, PVM_VM_RUNNING);
	add(m, "b-ready", 2000, PVM_VM_READY);
	add(m, "b-failed", 2000, PVM_VM_FAILED);

	manager_get_usage(m, 1000, NULL, &mine, &all);
	CHECK(mine.vms == 3, "uid 1000 holds 3 VMs, counted %u", mine.vms);
	CHECK(mine.vcpus == 2 && mine.memory_mib == 64, "uid 1000 runs 2 vCPUs/64 MiB: %u/%llu",
	      mine.vcpus, (unsigned long long)mine.memory_mib);
	CHECK(all.vms == 5, "5 VMs in all, counted %u", all.vms);
	CHECK(all.vcpus == 4 && all.memory_mib == 128, "4 vCPUs/128 MiB run: %u/%llu", all.vcpus,
	      (unsigned long long)all.memory_mib);

	/* starting a-created: it is not counted against itself */
	manager_get_usage(m, 1000, created->cfg, &mine, &all);
	CHECK(mine.vms == 2 && all.vms == 4, "start: %u mine, %u in all", mine.vms, all.vms);

	manager_get_usage(m, 3000, NULL, &mine, &all);
	CHECK(mine.vms == 0 && mine.vcpus == 0, "uid 3000 holds nothing");
	CHECK(manager_count_vms(m) == 5, "manager_count_vms %zu", manager_count_vms(m));
	manager_free(m);
	return check_exit("test-pvmd-usage");
}
