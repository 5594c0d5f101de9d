/* One VM on the bus: the org.pvm1.VM object at /org/pvm1/vm/<escaped name>, its properties and
 * PropertiesChanged, the lifecycle actions (start, stop, kill, console) that both this object
 * and org.pvm1.Manager's by-name methods land in, and its record in the runtime directory. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <systemd/sd-login.h>

#include "bus-client.h"
#include "caller-fd.h"
#include "firmware.h"
#include "arch/arm64/arm64-layout.h"
#include "pvmd.h"
#include "vm-props.h"
#include "worker.h"

static void payload_wait_abandon(pvmd_vm *vm);

struct pvmd_console_client {
	pvmd_vm *vm;
	int fd;
	sd_event_source *source;
};

enum pvm_vm_state pvmd_vm_state(const pvmd_vm *vm)
{
	if (vm->recovered || !vm->inst)
		return vm->rec_state;
	return vm_instance_state(vm->inst);
}

enum pvm_death_reason pvmd_vm_death_reason(const pvmd_vm *vm)
{
	if (vm->recovered || !vm->inst)
		return vm->rec_reason;
	return vm_instance_death_reason(vm->inst);
}

const char *pvmd_vm_message(const pvmd_vm *vm)
{
	if (vm->recovered || !vm->inst)
		return vm->rec_message ?: "";
	if (vm->end_note && !pvmd_vm_is_active(vm))
		return vm->end_note;
	return vm_instance_message(vm->inst) ?: "";
}

static bool state_is_active(enum pvm_vm_state s)
{
	return s == PVM_VM_STARTING || s == PVM_VM_RUNNING || s == PVM_VM_READY ||
	       s == PVM_VM_STOPPING;
}

bool pvmd_vm_is_active(const pvmd_vm *vm)
{
	return state_is_active(pvmd_vm_state(vm));
}

static pid_t vm_runner_pid(const pvmd_vm *vm)
{
	return vm->inst && !vm->recovered ? vm_instance_runner_pid(vm->inst) : 0;
}

static uint64_t vm_start_time(const pvmd_vm *vm)
{
	return vm->inst && !vm->recovered ? vm_instance_start_time_usec(vm->inst) : 0;
}

static int vm_firmware_result(const pvmd_vm *vm)
{
	if (!vm->cfg->firmware)
		return PVM_FIRMWARE_NONE;
	if (!vm->inst || vm->recovered)
		return PVM_FIRMWARE_PENDING;
	return vm_instance_firmware_result(vm->inst);
}

/* "" until pvmd has read the firmware (a VM recovered after a restart, before it runs again) */
static const char *vm_firmware_identity(const pvmd_vm *vm)
{
	static char hex[65];

	if (!vm->cfg->has_firmware_identity)
		return "";
	firmware_identity_hex(vm->cfg->firmware_identity, hex);
	return hex;
}

static void vm_memory(const pvmd_vm *vm, pvm_memory_report *ret)
{
	if (!vm->inst || vm->recovered || vm_instance_memory_report(vm->inst, ret) < 0) {
		*ret = (pvm_memory_report){
			.unswappable = PVM_UNKNOWN,
			.unmigratable = PVM_UNKNOWN,
			.host_mapped = PVM_UNKNOWN,
		};
		snprintf(ret->backing, sizeof(ret->backing), "none");
		snprintf(ret->unswappable_how, sizeof(ret->unswappable_how), "no guest memory");
		snprintf(ret->unmigratable_how, sizeof(ret->unmigratable_how), "no guest memory");
		snprintf(ret->host_mapped_how, sizeof(ret->host_mapped_how), "no guest memory");
	}
}

/* ---- properties ---- */

/* Each property is a row: name, D-Bus type, whether it reads the memory report (which looks at
 * /proc, so only those rows pay for it), and a one-line getter. */
typedef union prop_value {
	const char *s;
	uint32_t u;
	int b;
	uint64_t t;
} prop_value;

typedef prop_value (*prop_getter)(const pvmd_vm *vm, const pvm_memory_report *mem);

#define GETTER(fn, member, expr)                                                                   \
	static prop_value fn(const pvmd_vm *vm, const pvm_memory_report *mem)                      \
	{                                                                                          \
		(void)vm;                                                                          \
		(void)mem;                                                                         \
		return (prop_value){ .member = (expr) };                                           \
	}
GETTER(get_name, s, vm->name)
GETTER(get_state, s, pvm_vm_state_to_string(pvmd_vm_state(vm)))
GETTER(get_death_reason, s, pvm_death_reason_to_string(pvmd_vm_death_reason(vm)))
GETTER(get_message, s, pvmd_vm_message(vm))
GETTER(get_protected_vm, b, vm->cfg->protected_vm)
GETTER(get_memory_mib, u, vm->cfg->memory_mib)
/* guest_memfd or memfd-mlock while guest memory exists, else "none" */
GETTER(get_memory_backing, s, mem->backing[0] ? mem->backing : "none")
GETTER(get_unswappable, s, pvm_tristate_to_string(mem->unswappable))
GETTER(get_unswappable_how, s, mem->unswappable_how)
GETTER(get_unmigratable, s, pvm_tristate_to_string(mem->unmigratable))
GETTER(get_unmigratable_how, s, mem->unmigratable_how)
GETTER(get_host_mapped, s, pvm_tristate_to_string(mem->host_mapped))
GETTER(get_host_mapped_how, s, mem->host_mapped_how)
GETTER(get_vcpus, u, vm->cfg->cpus)
GETTER(get_runner_pid, u, (uint32_t)vm_runner_pid(vm))
GETTER(get_start_time_usec, t, vm_start_time(vm))
GETTER(get_owner_uid, u, vm->owner)
GETTER(get_tied, b, vm->track != NULL)
GETTER(get_vsock_cid, u, vm->vsock_cid)
GETTER(get_vsock_socket, s, vm->vsock_socket)
GETTER(get_firmware, s, vm->cfg->firmware ?: "")
GETTER(get_firmware_identity, s, vm_firmware_identity(vm))
GETTER(get_firmware_result, s, pvm_firmware_result_to_string(vm_firmware_result(vm)) ?: "unknown")
GETTER(get_net_interface, s, vm->inst ? vm_instance_net_interface(vm->inst) : "")
#undef GETTER

typedef struct vm_prop {
	const char *name;
	char type;
	bool needs_memory;
	prop_getter get;
	bool constant; /* never changes (SD_BUS_VTABLE_PROPERTY_CONST below) */
} vm_prop;

/* The getters above are named after the fields of vm-props.h, which lists every property */
#define VM_PROP_ROW(bus, sig, field, key, flags)                                                   \
	{ bus, sig[0], PVM_VM_PROP_MEMORY & flags, get_##field, PVM_VM_PROP_CONST & flags },
static const vm_prop vm_props[] = { PVM_VM_PROPERTIES(VM_PROP_ROW) };
#undef VM_PROP_ROW

static int append_prop(sd_bus_message *reply, const vm_prop *p, const pvmd_vm *vm,
		       const pvm_memory_report *mem)
{
	prop_value v = p->get(vm, mem);

	switch (p->type) {
	case 's':
		return sd_bus_message_append_basic(reply, 's', v.s ?: "");
	case 'u':
		return sd_bus_message_append_basic(reply, 'u', &v.u);
	case 'b':
		return sd_bus_message_append_basic(reply, 'b', &v.b);
	default:
		return sd_bus_message_append_basic(reply, 't', &v.t);
	}
}

static int prop_get(sd_bus *bus, const char *path, const char *interface, const char *property,
		    sd_bus_message *reply, void *userdata, sd_bus_error *error)
{
	const pvmd_vm *vm = userdata;
	pvm_memory_report mem = { 0 };

	for (size_t i = 0; i < ELEMENTSOF(vm_props); i++) {
		const vm_prop *p = &vm_props[i];
		if (strcmp(p->name, property) != 0)
			continue;
		if (p->needs_memory)
			vm_memory(vm, &mem);
		return append_prop(reply, p, vm, &mem);
	}
	return sd_bus_error_setf(error, SD_BUS_ERROR_UNKNOWN_PROPERTY, "No property %s", property);
}

static bool strv_has(char *const *l, const char *s)
{
	for (; l && *l; l++)
		if (strcmp(*l, s) == 0)
			return true;
	return false;
}

int pvmd_vm_append_properties(sd_bus_message *m, const pvmd_vm *vm, char *const *only)
{
	pvm_memory_report mem;
	int r;

	vm_memory(vm, &mem);
	r = sd_bus_message_open_container(m, 'a', "{sv}");
	for (size_t i = 0; r >= 0 && i < ELEMENTSOF(vm_props); i++) {
		const vm_prop *p = &vm_props[i];
		char sig[2] = { p->type, 0 };

		if (only && !strv_has(only, p->name))
			continue;
		r = sd_bus_message_open_container(m, 'e', "sv");
		if (r >= 0)
			r = sd_bus_message_append_basic(m, 's', p->name);
		if (r >= 0)
			r = sd_bus_message_open_container(m, 'v', sig);
		if (r >= 0)
			r = append_prop(m, p, vm, &mem);
		if (r >= 0)
			r = sd_bus_message_close_container(m);
		if (r >= 0)
			r = sd_bus_message_close_container(m);
	}
	if (r < 0)
		return r;
	return sd_bus_message_close_container(m);
}

/* ---- lifecycle ---- */

static void console_client_free(pvmd_console_client *c)
{
	sd_event_source_disable_unref(c->source);
	c->source = NULL;
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
}

static void console_client_remove(pvmd_vm *vm, size_t i)
{
	console_client_free(&vm->consoles[i]);
	vm->consoles[i] = vm->consoles[--vm->n_consoles];
	/* the last client moved into slot i: its event source must follow it */
	if (i < vm->n_consoles)
		sd_event_source_set_userdata(vm->consoles[i].source, &vm->consoles[i]);
}

void pvmd_vm_close_consoles(pvmd_vm *vm)
{
	while (vm->n_consoles > 0)
		console_client_remove(vm, vm->n_consoles - 1);
}

/* systemd-machined: each running VM is a machine of class "vm" led by its runner, in a scope of
 * its own. Calls are asynchronous; registering starts machined where it is bus-activatable (as
 * systemd ships it), unregistering never does (a machined not running holds nothing of ours).
 * Without machined they fail and nothing else changes. */
static int machine_call(pvmd_manager *m, const char *member, sd_bus_message **ret)
{
	sd_bus_message *call = NULL;
	int r;

	r = sd_bus_message_new_method_call(m->bus, &call, "org.freedesktop.machine1",
					   "/org/freedesktop/machine1",
					   "org.freedesktop.machine1.Manager", member);
	if (r >= 0)
		r = sd_bus_message_set_auto_start(call, strcmp(member, "CreateMachine") == 0);
	if (r < 0) {
		sd_bus_message_unref(call);
		return r;
	}
	*ret = call;
	return 0;
}

static void vm_unregister_machine(pvmd_vm *vm)
{
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *call = NULL;

	if (!vm->machine_registered)
		return;
	vm->machine_registered = false;
	vm->machine_slot = sd_bus_slot_unref(vm->machine_slot);
	/* machined also notices the leader's exit; this covers a runner that lingers */
	if (machine_call(vm->manager, "UnregisterMachine", &call) >= 0 &&
	    sd_bus_message_append(call, "s", vm->name) >= 0)
		sd_bus_send(vm->manager->bus, call, NULL);
}

static int machine_registered_cb(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error)
{
	pvmd_vm *vm = userdata;
	const sd_bus_error *e = sd_bus_message_get_error(reply);

	vm->machine_slot = sd_bus_slot_unref(vm->machine_slot);
	/* a runner taken over after a restart of pvmd may still be registered from before */
	if (!e || sd_bus_error_has_name(e, "org.freedesktop.machine1.MachineExists"))
		return 0;
	vm->machine_registered = false;
	if (sd_bus_error_has_names(e, SD_BUS_ERROR_SERVICE_UNKNOWN, SD_BUS_ERROR_NAME_HAS_NO_OWNER))
		log_debug("No systemd-machined on the bus; VM '%s' not registered", vm->name);
	else
		log_warning("Registering VM '%s' with systemd-machined failed: %s", vm->name,
			    e->message ?: e->name);
	return 0;
}

/* The runner's own scope, machine-<name>.scope in machine.slice, with limits from the config:
 * guest memory plus room for the runner itself, and its threads (one per vCPU, the main one)
 * plus a few. Guest memory is charged where it is first touched: mostly by the vCPUs, so here. */
#define VM_SCOPE_MEMORY_HEADROOM_MIB 64
#define VM_SCOPE_TASKS_HEADROOM 4

static int vm_append_scope_properties(sd_bus_message *call, const pvmd_vm *vm)
{
	uint64_t memory_max = ((uint64_t)vm->cfg->memory_mib + VM_SCOPE_MEMORY_HEADROOM_MIB) << 20;
	uint64_t tasks_max = (uint64_t)vm->cfg->cpus + VM_SCOPE_TASKS_HEADROOM;
	_cleanup_free_ char *description = NULL, *unit = NULL;
	int r;

	if (asprintf(&description, "pvm VM %s", vm->name) < 0)
		return -ENOMEM;
	r = sd_bus_message_open_container(call, 'a', "(sv)");
	if (r >= 0)
		r = sd_bus_message_append(call, "(sv)(sv)(sv)", "Description", "s", description,
					  "MemoryMax", "t", memory_max, "TasksMax", "t", tasks_max);
	/* at shutdown pvmd stops its VMs gracefully first: ordered before pvmd's unit, the scope
	 * is stopped after it */
	if (r >= 0 && sd_pid_get_unit(0, &unit) >= 0)
		r = sd_bus_message_append(call, "(sv)", "Before", "as", 1, unit);
	if (r >= 0)
		r = sd_bus_message_close_container(call);
	return r;
}

/* The first VM's registration bus-activates systemd-machined; on a loaded or emulated machine
 * its start takes longer than sd-bus's default 25 s, and a registration that timed out is not
 * made again. The call is asynchronous: nothing waits for it. */
#define MACHINED_CALL_TIMEOUT_USEC (120 * 1000 * 1000ULL)

static void vm_register_machine(pvmd_vm *vm)
{
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *call = NULL;
	pvmd_manager *m = vm->manager;
	pid_t pid = vm_runner_pid(vm);
	uint8_t id[16] = { 0 }; /* none of its own: machined then makes one up */
	int r;

	if (!m->use_machined || vm->machine_registered || pid <= 0)
		return;
	r = machine_call(m, "CreateMachine", &call);
	if (r >= 0)
		r = sd_bus_message_append(call, "s", vm->name);
	if (r >= 0)
		r = sd_bus_message_append_array(call, 'y', id, sizeof(id));
	if (r >= 0)
		r = sd_bus_message_append(call, "ssus", "pvm", "vm", (uint32_t)pid, "");
	if (r >= 0)
		r = vm_append_scope_properties(call, vm);
	if (r >= 0)
		r = sd_bus_call_async(m->bus, &vm->machine_slot, call, machine_registered_cb, vm,
				      MACHINED_CALL_TIMEOUT_USEC);
	if (r < 0)
		log_warning("Cannot register VM '%s' with systemd-machined: %s", vm->name,
			    strerror(-r));
	else
		vm->machine_registered = true;
}

void pvmd_vm_save(pvmd_vm *vm)
{
	_cleanup_free_ char *config_json = NULL, *exe = NULL;
	pvmd_state_record rec = {
		.name = vm->name,
		.owner = vm->owner,
		.state = pvmd_vm_state(vm),
		.reason = pvmd_vm_death_reason(vm),
		.message = (char *)pvmd_vm_message(vm),
		.runner_pid = vm_runner_pid(vm),
		.start_time_usec = vm_start_time(vm),
		.tied = vm->track != NULL,
	};
	vm_instance_handover h;
	pvm_error err = { 0 };

	if (rec.runner_pid > 0) {
		char link[64], buf[4096];
		ssize_t n;
		snprintf(link, sizeof(link), "/proc/%d/exe", (int)rec.runner_pid);
		n = readlink(link, buf, sizeof(buf) - 1);
		if (n > 0) {
			buf[n] = '\0';
			exe = strdup(buf);
		}
		if (pvmd_proc_start_ticks(rec.runner_pid, &rec.runner_start_ticks) < 0)
			rec.runner_start_ticks = 0;
	}
	rec.runner_exe = exe;
	if (vm->inst && !vm->recovered && vm_instance_get_handover(vm->inst, &h) >= 0) {
		rec.runner_uid = h.uid;
		rec.runner_namespaces = h.namespaces;
		rec.memory_flags = h.mem_flags;
		rec.runner_maps = h.runner_maps;
		rec.vsock_cid = vm->cfg->vsock ? vm->vsock_cid : 0;
	}
	if (pvm_config_to_json(vm->cfg, &config_json) < 0) {
		log_error("Cannot record VM '%s': config does not serialize", vm->name);
		return;
	}
	rec.config_json = config_json;
	memcpy(rec.vsock_ports, vm->vsock_ports, sizeof(rec.vsock_ports));
	rec.n_vsock_ports = vm->n_vsock_ports;
	if (pvmd_state_save(vm->manager->state_dir, &rec, &err) < 0)
		log_error("Cannot record VM '%s' in the runtime directory: %s", vm->name,
			  err.message);
}

/* A running guest's fds go to systemd's store as soon as it runs (a kill -9 of pvmd gives no
 * chance later), and leave it when the VM ends. Without a service manager this does nothing. */
static void vm_sync_fdstore(pvmd_vm *vm)
{
	pvmd_fdstore *s = &vm->manager->fdstore;
	vm_instance_handover h;
	int r = 0;

	if (vm->inst && !vm->recovered && vm_instance_get_handover(vm->inst, &h) >= 0) {
		if (vm->stored_pid == h.pid)
			return;
		if (vm->stored_pid)
			pvmd_fdstore_forget(s, vm->name); /* a previous run's */
		vm->stored_pid = h.pid;
		if ((r = pvmd_fdstore_put(s, vm->name, PVMD_FDSTORE_CONTROL, h.sock)) < 0 ||
		    (r = pvmd_fdstore_put(s, vm->name, PVMD_FDSTORE_PIDFD, h.pidfd)) < 0 ||
		    (r = pvmd_fdstore_put(s, vm->name, PVMD_FDSTORE_MEMORY, h.mem_fd)) < 0)
			log_warning(
			    "VM '%s': cannot hand its fds to the service manager's store (%s); "
			    "it will not survive a restart of pvmd",
			    vm->name, strerror(-r));
	} else if (vm->stored_pid) {
		pvmd_fdstore_forget(s, vm->name);
		vm->stored_pid = 0;
	}
}

/* A property's current value as text, to compare with what was published. */
static char *prop_text(const vm_prop *p, const pvmd_vm *vm, const pvm_memory_report *mem)
{
	prop_value v = p->get(vm, mem);
	char *text = NULL;
	int r;

	switch (p->type) {
	case 's':
		return strdup(v.s ?: "");
	case 'u':
		r = asprintf(&text, "%" PRIu32, v.u);
		break;
	case 'b':
		r = asprintf(&text, "%d", v.b);
		break;
	default:
		r = asprintf(&text, "%" PRIu64, v.t);
		break;
	}
	return r < 0 ? NULL : text;
}

void pvmd_vm_changed(pvmd_vm *vm)
{
	pvmd_manager *m = vm->manager;
	enum pvm_vm_state state = pvmd_vm_state(vm);
	enum pvm_death_reason reason = pvmd_vm_death_reason(vm);
	const char *changed[ELEMENTSOF(vm_props) + 1];
	pvm_memory_report mem;
	size_t n = 0;
	bool state_changed, record;

	_Static_assert(ELEMENTSOF(vm_props) <= PVMD_VM_PROPS_MAX, "grow PVMD_VM_PROPS_MAX");
	vm_memory(vm, &mem);
	for (size_t i = 0; i < ELEMENTSOF(vm_props); i++) {
		char *text;

		if (vm_props[i].constant)
			continue;
		text = prop_text(&vm_props[i], vm, &mem);
		if (!text)
			continue; /* out of memory: announce it next time */
		if (vm->published[i] && strcmp(vm->published[i], text) == 0) {
			free(text);
			continue;
		}
		free(vm->published[i]);
		vm->published[i] = text;
		changed[n++] = vm_props[i].name;
	}
	/* the first values go out with InterfacesAdded; PropertiesChanged is for changes. The
	 * record is written on the first publish and on every change. */
	record = n > 0;
	if (!vm->published_once)
		n = 0;
	changed[n] = NULL;
	state_changed =
	    !vm->published_once || state != vm->published_state || reason != vm->published_reason;
	vm->published_state = state;
	vm->published_reason = reason;
	vm->published_once = true;

	if (n > 0)
		signal_properties_changed(vm, (char *const *)changed);
	if (state_changed) {
		/* an end with a reason says what happened, as the VM's Message does (a device
		 * access the guest made outside its window, a withheld page, ...) */
		const char *msg = reason != PVM_DEATH_NONE ? pvmd_vm_message(vm) : "";
		log_vm_info(vm->name, "VM '%s' is %s%s%s%s%s", vm->name,
			    pvm_vm_state_to_string(state),
			    reason != PVM_DEATH_NONE ? ", reason " : "",
			    reason != PVM_DEATH_NONE ? pvm_death_reason_to_string(reason) : "",
			    *msg ? ": " : "", msg);
		signal_state_changed(vm);
	}
	/* from the runner's spawn on: its own allocations go to its scope from the start, and
	 * the listeners for the guest's connections are its runner's before the guest runs */
	if (state_is_active(state)) {
		vm_register_machine(vm);
		pvmd_vm_vsock_listeners_grant(vm);
	}
	if (!state_is_active(state) && state != PVM_VM_CREATED) {
		pvmd_vm_close_consoles(vm);
		vm_unregister_machine(vm);
	}
	if (record)
		pvmd_vm_save(vm);
	vm_sync_fdstore(vm);
	manager_update_status(m);
}

static void instance_changed(vm_instance *inst, void *userdata)
{
	pvmd_vm_changed(userdata);
}

static void instance_console(vm_instance *inst, const void *data, size_t len, void *userdata)
{
	pvmd_vm *vm = userdata;

	for (size_t i = 0; i < vm->n_consoles;) {
		ssize_t w = send(vm->consoles[i].fd, data, len, MSG_DONTWAIT | MSG_NOSIGNAL);
		/* a client too slow to take the bytes loses them rather than stall every VM */
		if (w < 0 && errno != EAGAIN && errno != EINTR) {
			console_client_remove(vm, i);
			continue;
		}
		i++;
	}
}

static const vm_instance_callbacks instance_callbacks = {
	.changed = instance_changed,
	.console = instance_console,
};

/* The lowest CID above the host's (2) that no other VM of pvmd's holds. */
static uint32_t vsock_cid_pick(const pvmd_manager *m, const pvmd_vm *self)
{
	for (uint32_t cid = 3;; cid++) {
		bool used = false;
		for (const pvmd_vm *v = m->vms; v && !used; v = v->next)
			used = v != self && v->vsock_cid == cid;
		if (!used)
			return cid;
	}
}

static vm_instance_options vm_instance_options_for(const pvmd_vm *vm, bool allow_fallback)
{
	pvmd_manager *m = vm->manager; /* not const: the first runner fills in its host facts */

	return (vm_instance_options){
		.runner_path = m->runner_path,
		.runtime_dir = m->runtime_dir,
		.log_dir = m->log_dir,
		.runner_uid = m->runner_uid,
		.runner_gid = m->runner_gid,
		.runner_uid_base = m->runner_uid_first,
		.runner_uid_count = m->runner_uid_count,
		.allow_memory_fallback = allow_fallback,
		.console_ring_size = m->console_ring_size,
		.disk_fds = vm->disk_fds,
		.n_disk_fds = vm->n_disk_fds,
		.vsock_cid = vm->vsock_cid,
		.vsock_dir = m->runtime_dir,
		.vsock_uid = vm->owner,
		.vsock_gid = (gid_t)-1,
		.host_facts = &m->host_facts,
		.pool = m->pool,
	};
}

int pvmd_vm_take_disks(pvmd_vm *vm, const int *fds, size_t n, sd_bus_error *error)
{
	if (n != vm->cfg->n_disks)
		return sd_bus_error_setf(error, PVM_BUS_ERROR_INVALID_ARGUMENT,
					 "The config names %zu disks but %zu descriptors came in "
					 "disk_fds: pass one per disk, in order",
					 vm->cfg->n_disks, n);
	for (; vm->n_disk_fds < n; vm->n_disk_fds++) {
		pvm_error err = { 0 };
		/* a kind no disk can be is refused now, not at the first start */
		if (vm_instance_check_disk(&vm->cfg->disks[vm->n_disk_fds], vm->n_disk_fds,
					   fds[vm->n_disk_fds], &err) < 0)
			return sd_bus_error_setf(error, PVM_BUS_ERROR_INVALID_ARGUMENT,
						 "Option disk_fds: %s", err.message);
		int fd = fcntl(fds[vm->n_disk_fds], F_DUPFD_CLOEXEC, 3);
		if (fd < 0)
			return sd_bus_error_set_errnof(error, errno, "Cannot keep disk %zu: %m",
						       vm->n_disk_fds);
		vm->disk_fds[vm->n_disk_fds] = fd;
	}
	return 0;
}

/* The guest's CID (kept across runs; picked on the first) and the path of <name>.vsock. */
static int vm_vsock_setup(pvmd_vm *vm, vm_instance_options *opts, pvm_error *err)
{
	if (!vm->cfg->vsock)
		return 0;
	if (!vm->vsock_cid)
		vm->vsock_cid = vsock_cid_pick(vm->manager, vm);
	free(vm->vsock_socket);
	if (asprintf(&vm->vsock_socket, "%s/%s.vsock", vm->manager->runtime_dir, vm->name) < 0) {
		vm->vsock_socket = NULL;
		return pvm_error_set(err, ENOMEM, "out of memory");
	}
	opts->vsock_cid = vm->vsock_cid;
	return 0;
}

int pvmd_vm_instantiate(pvmd_vm *vm, bool allow_fallback, pvm_error *err)
{
	vm_instance_options opts = vm_instance_options_for(vm, allow_fallback);
	vm_instance *inst = NULL;
	int r;

	r = vm_vsock_setup(vm, &opts, err);
	if (r < 0)
		return r;

	r = vm_instance_new(vm->manager->event, vm->cfg, &opts, &instance_callbacks, vm, &inst,
			    err);
	if (r < 0)
		return r;
	r = vm_instance_set_payload(inst, vm->kernel.memfd, vm->initrd.memfd, err);
	if (r >= 0 && vm->cfg->firmware)
		r = vm_instance_set_firmware(inst, vm->firmware.memfd, vm->descriptor.memfd, err);
	if (r < 0) {
		vm_instance_free(inst);
		return r;
	}
	vm_instance_free(vm->inst);
	vm->inst = inst;
	return 0;
}

int pvmd_vm_adopt(pvmd_vm *vm, const vm_instance_handover *h, pvm_error *err)
{
	/* the memory exists already: its backing is checked, not chosen; the runner holds the
	 * disks, and the guest keeps the CID the record names */
	vm_instance_options opts = vm_instance_options_for(vm, false);
	vm_instance *inst = NULL;
	int r;

	if (vm->cfg->vsock && vm->vsock_cid <= 2)
		return pvm_error_set(err, ENOENT, "its record names no vsock CID for the guest");
	r = vm_vsock_setup(vm, &opts, err);
	if (r < 0)
		return r;
	opts.disk_fds = NULL;
	opts.n_disk_fds = 0;
	r = vm_instance_adopt(vm->manager->event, vm->cfg, &opts, &instance_callbacks, vm, h, &inst,
			      err);
	if (r < 0)
		return r;
	vm_instance_free(vm->inst);
	vm->inst = inst;
	vm->recovered = false;
	vm->stored_pid = h->pid; /* its fds are in the store already */
	return 0;
}

int pvmd_vm_new(pvmd_manager *m, pvm_config *cfg, uid_t owner, pvmd_vm **ret)
{
	pvmd_vm *vm = calloc(1, sizeof(*vm));
	int r;

	if (!vm)
		return -ENOMEM;
	vm->manager = m;
	vm->owner = owner;
	vm->kernel = vm->initrd = vm->descriptor = vm->firmware = CALLER_PAYLOAD_NULL;
	vm->rec_state = PVM_VM_CREATED;
	vm->name = strdup(cfg->name);
	if (!vm->name) {
		free(vm);
		return -ENOMEM;
	}
	r = sd_bus_path_encode(PVM_BUS_VM_PREFIX, vm->name, &vm->path);
	if (r < 0) {
		free(vm->name);
		free(vm);
		return r;
	}
	vm->cfg = cfg;
	*ret = vm;
	return 0;
}

pvmd_vm *pvmd_vm_free(pvmd_vm *vm)
{
	if (!vm)
		return NULL;
	payload_wait_abandon(vm);
	pvmd_vm_close_consoles(vm);
	free(vm->consoles);
	caller_payload_done(&vm->kernel);
	caller_payload_done(&vm->initrd);
	caller_payload_done(&vm->descriptor);
	caller_payload_done(&vm->firmware);
	vm->track = sd_bus_track_unref(vm->track);
	vm->machine_slot = sd_bus_slot_unref(vm->machine_slot);
	if (vm->manager->keep_vms && vm->stored_pid)
		vm_instance_abandon(vm->inst); /* the runner and its stored fds stay for the next */
	else
		vm_instance_free(vm->inst);
	pvm_config_free(vm->cfg);
	for (size_t i = 0; i < ELEMENTSOF(vm->published); i++)
		free(vm->published[i]);
	free(vm->rec_message);
	free(vm->end_note);
	free(vm->vsock_socket);
	for (size_t i = 0; i < vm->n_disk_fds; i++)
		close(vm->disk_fds[i]);
	free(vm->path);
	free(vm->name);
	free(vm);
	return NULL;
}

/* ---- payload ----
 * pvmd holds each VM's payload as a sealed copy (caller-fd.h): made once, from the descriptors
 * the caller opened (options kernel_fd, initrd_fd), or for root alone from the config's paths,
 * on a worker thread. Policy judges where the files really are and the digests of the copies;
 * every start loads those copies. */

#define PAYLOAD_LOAD_TIMEOUT_USEC (30 * 1000 * 1000ULL)
/* where a file is when /proc/self/fd does not lead back to it: under no path prefix */
#define PAYLOAD_UNLOCATED "(a file pvmd cannot locate by path)"

/* The firmware is pvmd's own file, opened by pvmd for every caller; the others come from the
 * caller's descriptors (root's paths aside). */
enum { PAYLOAD_KERNEL, PAYLOAD_INITRD, PAYLOAD_DESCRIPTOR, PAYLOAD_FIRMWARE, PAYLOAD_N };
static const char *const payload_names[PAYLOAD_N] = { "kernel", "initrd", "descriptor",
						      "firmware" };

typedef struct payload_load {
	int fd[PAYLOAD_N];     /* the caller's descriptors (our duplicates), or -1 */
	char *path[PAYLOAD_N]; /* paths without a descriptor (root's, the firmware): opened here */
	uint64_t max[PAYLOAD_N];
	caller_payload out[PAYLOAD_N];
	bool has_identity; /* the firmware's, read from its copy */
	uint8_t identity[32];
	pvm_error err;
} payload_load;

struct pvmd_payload_wait {
	worker_job *job;
	sd_bus_message *msg;
	pvmd_payload_done_fn done;
};

static void payload_load_free(void *data)
{
	payload_load *d = data;

	for (size_t i = 0; i < PAYLOAD_N; i++) {
		if (d->fd[i] >= 0)
			close(d->fd[i]);
		free(d->path[i]);
		caller_payload_done(&d->out[i]);
	}
	free(d);
}

static int payload_load_work(void *data, uint64_t deadline_usec)
{
	payload_load *d = data;
	int r;

	for (size_t i = 0; i < PAYLOAD_N; i++) {
		if (d->fd[i] < 0 && d->path[i]) {
			/* a path of root's own config: O_NONBLOCK so a FIFO cannot hold the
			 * open, and the copy refuses anything but a regular file */
			d->fd[i] = open(d->path[i], O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
			if (d->fd[i] < 0)
				return pvm_error_set(&d->err, errno, "%s %s: %m", payload_names[i],
						     d->path[i]);
		}
		if (d->fd[i] < 0)
			continue;
		r = caller_payload_copy(d->fd[i], payload_names[i], d->max[i], deadline_usec,
					&d->out[i], &d->err);
		if (r < 0)
			return r;
	}
	if (d->out[PAYLOAD_FIRMWARE].memfd >= 0) {
		r = firmware_identity(d->out[PAYLOAD_FIRMWARE].memfd, d->identity, &d->err);
		if (r < 0)
			return pvm_error_set(&d->err, -r, "%s: %s", d->path[PAYLOAD_FIRMWARE],
					     d->err.message);
		d->has_identity = true;
	}
	return 0;
}

static int payload_take(pvmd_vm *vm, payload_load *d)
{
	/* the firmware keeps its name: the config names it so */
	char **label[PAYLOAD_N] = { &vm->cfg->kernel, &vm->cfg->initrd, &vm->cfg->descriptor,
				    NULL };
	caller_payload *held[PAYLOAD_N] = { &vm->kernel, &vm->initrd, &vm->descriptor,
					    &vm->firmware };

	if (d->has_identity) {
		memcpy(vm->cfg->firmware_identity, d->identity, 32);
		vm->cfg->has_firmware_identity = true;
	}
	for (size_t i = 0; i < PAYLOAD_N; i++) {
		if (d->out[i].memfd < 0)
			continue;
		/* the config then names the file that was really loaded, where that is known */
		if (label[i] && d->out[i].path) {
			char *copy = strdup(d->out[i].path);
			if (!copy)
				return -ENOMEM;
			free(*label[i]);
			*label[i] = copy;
		}
		caller_payload_done(held[i]);
		*held[i] = d->out[i];
		d->out[i] = CALLER_PAYLOAD_NULL;
	}
	return 0;
}

static void payload_loaded(int r, void *data, void *userdata)
{
	_cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *msg = NULL;
	pvmd_vm *vm = userdata;
	payload_load *d = data;
	pvmd_payload_done_fn done = vm->loading->done;

	msg = TAKE_PTR(vm->loading->msg);
	free(TAKE_PTR(vm->loading));
	if (!d || r == -ETIMEDOUT)
		r = sd_bus_error_setf(&e, PVM_BUS_ERROR_INVALID_CONFIG,
				      "VM '%s': the payload could not be read within %llu s",
				      vm->name, PAYLOAD_LOAD_TIMEOUT_USEC / 1000000);
	else if (r < 0)
		r = sd_bus_error_setf(&e, PVM_BUS_ERROR_INVALID_CONFIG, "VM '%s': %s", vm->name,
				      d->err.message);
	else
		r = payload_take(vm, d);
	r = done(vm, msg, r, &e);
	if (r < 0) {
		if (sd_bus_error_is_set(&e))
			sd_bus_reply_method_error(msg, &e);
		else
			sd_bus_reply_method_errno(msg, r, NULL);
	}
}

static void payload_wait_abandon(pvmd_vm *vm)
{
	_cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;

	if (!vm->loading)
		return;
	worker_cancel(vm->loading->job);
	sd_bus_error_setf(&e, PVM_BUS_ERROR_NO_SUCH_VM,
			  "VM '%s' went away while its payload was read", vm->name);
	sd_bus_reply_method_error(vm->loading->msg, &e);
	sd_bus_message_unref(vm->loading->msg);
	free(TAKE_PTR(vm->loading));
}

bool pvmd_vm_has_payload(const pvmd_vm *vm)
{
	return vm->kernel.memfd >= 0;
}

int pvmd_vm_load_payload(pvmd_vm *vm, sd_bus_message *msg, const pvmd_payload_fds *fds_in,
			 pvmd_payload_done_fn done, sd_bus_error *error)
{
	_cleanup_(auth_caller_done) pvmd_caller c = { 0 };
	_cleanup_free_ char *firmware_path = NULL;
	int fds[PAYLOAD_N] = { fds_in ? fds_in->kernel : -1, fds_in ? fds_in->initrd : -1,
			       fds_in ? fds_in->descriptor : -1, -1 };
	const char *paths[PAYLOAD_N] = { vm->cfg->kernel, vm->cfg->initrd, vm->cfg->descriptor,
					 NULL };
	payload_load *d;
	int r;

	if (vm->cfg->firmware) {
		if (firmware_image_path(vm->manager->firmware_dir, vm->cfg->firmware,
					&firmware_path) < 0)
			return -ENOMEM;
		paths[PAYLOAD_FIRMWARE] = firmware_path;
	}

	if (vm->loading)
		return sd_bus_error_setf(error, PVM_BUS_ERROR_BUSY,
					 "VM '%s': its payload is being read already", vm->name);
	r = auth_get_caller(msg, &c, error);
	if (r < 0)
		return r;
	d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	for (size_t i = 0; i < PAYLOAD_N; i++) {
		d->out[i] = CALLER_PAYLOAD_NULL;
		d->fd[i] = -1;
		d->max[i] = (uint64_t)vm->cfg->memory_mib << 20;
	}
	d->max[PAYLOAD_DESCRIPTOR] = PVM_ARM64_FW_DESCRIPTOR_SIZE;
	d->max[PAYLOAD_FIRMWARE] = PVM_ARM64_FW_IMAGE_MAX;
	for (size_t i = 0; i < PAYLOAD_N; i++) {
		r = 0;
		if (fds[i] >= 0) {
			d->fd[i] = fcntl(fds[i], F_DUPFD_CLOEXEC, 3);
			if (d->fd[i] < 0)
				r = sd_bus_error_setf(
				    error, PVM_BUS_ERROR_BUSY,
				    "pvmd cannot hold the %s descriptor now (%m); "
				    "try again",
				    payload_names[i]);
		} else if (paths[i] && (c.caller.uid == 0 || i == PAYLOAD_FIRMWARE)) {
			/* root's own files: opening them as root grants nothing more; the
			 * firmware is pvmd's, under its directory, chosen by name only */
			d->path[i] = strdup(paths[i]);
			r = d->path[i] ? 0 : -ENOMEM;
		} else if (paths[i]) {
			r = sd_bus_error_setf(
			    error, PVM_BUS_ERROR_INVALID_ARGUMENT,
			    "VM '%s': the config names %s %s but the call passes no %s_fd: pvmd "
			    "opens payload paths for root only; open the file and pass it as "
			    "option %s_fd (pvmctl start does)",
			    vm->name, payload_names[i], paths[i], payload_names[i],
			    payload_names[i]);
		}
		if (r < 0) {
			payload_load_free(d);
			return r;
		}
	}
	vm->loading = calloc(1, sizeof(*vm->loading));
	if (!vm->loading) {
		payload_load_free(d);
		return -ENOMEM;
	}
	r = worker_start(vm->manager->event, PAYLOAD_LOAD_TIMEOUT_USEC, payload_load_work, d,
			 payload_load_free, payload_loaded, vm, &vm->loading->job);
	if (r < 0) {
		free(TAKE_PTR(vm->loading));
		if (r == -EBUSY)
			return sd_bus_error_setf(error, PVM_BUS_ERROR_BUSY,
						 "%d descriptors are being read already; try again",
						 WORKER_JOBS_MAX);
		return r;
	}
	vm->loading->msg = sd_bus_message_ref(msg);
	vm->loading->done = done;
	return 1;
}

int pvmd_vm_check_create(pvmd_vm *vm, sd_bus_message *msg, bool *ret_allow_fallback,
			 sd_bus_error *error)
{
	char *kernel = vm->cfg->kernel, *initrd = vm->cfg->initrd;
	int r;

	/* where the files handed over really are (payload_take named them in the config); a
	 * file that no path leads back to is under no prefix. The config itself is what is
	 * checked, as the usage count knows a VM by its config. */
	vm->cfg->kernel = vm->kernel.path ? kernel : (char *)PAYLOAD_UNLOCATED;
	if (initrd)
		vm->cfg->initrd = vm->initrd.path ? initrd : (char *)PAYLOAD_UNLOCATED;
	r = auth_check_create(vm->manager, msg, vm->cfg, vm->kernel.sha256,
			      vm->initrd.memfd >= 0 ? vm->initrd.sha256 : NULL, ret_allow_fallback,
			      error);
	vm->cfg->kernel = kernel;
	vm->cfg->initrd = initrd;
	return r;
}

/* StartVM of a VM whose payload pvmd no longer holds (recovered after a restart): once root's
 * paths are read, the call is dispatched again and finds the payload. */
static int start_payload_loaded(pvmd_vm *vm, sd_bus_message *msg, int r, sd_bus_error *error)
{
	if (r < 0)
		return r;
	r = sd_bus_enqueue_for_read(vm->manager->bus, msg);
	if (r < 0)
		return sd_bus_error_set_errnof(error, r, "Cannot resume StartVM: %m");
	return 0;
}

int pvmd_vm_start(pvmd_vm *vm, sd_bus_message *msg, sd_bus_error *error)
{
	pvmd_manager *m = vm->manager;
	enum pvm_vm_state s = pvmd_vm_state(vm);
	bool fallback = false;
	pvm_error err = { 0 };
	int r;

	if (m->shutting_down)
		return sd_bus_error_setf(error, PVM_BUS_ERROR_SHUTTING_DOWN,
					 "pvmd is shutting down; VM '%s' was not started",
					 vm->name);
	/* authorization first: a caller who may not start this VM learns nothing of its state, and
	 * the payload is read only for callers who may create VMs at all */
	r = auth_check_action(m, msg, PVM_ACTION_CREATE, vm, error);
	if (r < 0)
		return r;
	if (state_is_active(s))
		return sd_bus_error_setf(error, PVM_BUS_ERROR_BUSY, "VM '%s' is already %s",
					 vm->name, pvm_vm_state_to_string(s));
	r = auth_check_create(m, msg, vm->cfg, NULL, NULL, NULL, error);
	if (r < 0)
		return r;
	if (!pvmd_vm_has_payload(vm)) {
		_cleanup_(auth_caller_done) pvmd_caller c = { 0 };
		r = auth_get_caller(msg, &c, error);
		if (r < 0)
			return r;
		if (c.caller.uid != 0)
			return sd_bus_error_setf(
			    error, PVM_BUS_ERROR_START_FAILED,
			    "VM '%s' no longer holds its payload (pvmd restarted since it was "
			    "created): remove it and create it again ('pvmctl start CONFIG')",
			    vm->name);
		return pvmd_vm_load_payload(vm, msg, NULL, start_payload_loaded, error);
	}
	/* starting consumes resources: the create rules and limits apply to whoever starts it */
	r = pvmd_vm_check_create(vm, msg, &fallback, error);
	if (r < 0)
		return r;
	if (!vm->inst) {
		/* a VM recovered after a restart has no disk descriptors: one with disks must be
		 * created again (vm_instance_new says so) */
		r = pvmd_vm_instantiate(vm, fallback, &err);
		if (r < 0)
			return sd_bus_error_setf(error, PVM_BUS_ERROR_START_FAILED,
						 "VM '%s' cannot be set up: %s", vm->name,
						 err.message);
	}
	vm->recovered = false;
	free(vm->end_note);
	vm->end_note = NULL;
	r = vm_instance_start(vm->inst, &err);
	pvmd_vm_changed(vm);
	if (r < 0)
		return sd_bus_error_setf(error, PVM_BUS_ERROR_START_FAILED,
					 "VM '%s' failed to start: %s", vm->name, err.message);
	return 0;
}

static int require_active(pvmd_vm *vm, sd_bus_error *error)
{
	enum pvm_vm_state s = pvmd_vm_state(vm);

	if (!state_is_active(s))
		return sd_bus_error_setf(error, PVM_BUS_ERROR_NOT_RUNNING,
					 "VM '%s' is not running (state: %s)", vm->name,
					 pvm_vm_state_to_string(s));
	return 0;
}

/* Stop (graceful, forced at the timeout) or kill: the same checks, one polkit action each. */
static int vm_end(pvmd_vm *vm, sd_bus_message *msg, bool kill_now, uint64_t timeout_usec,
		  sd_bus_error *error)
{
	const char *verb = kill_now ? "kill" : "stop";
	pvm_error err = { 0 };
	int r;

	/* authorization first: a caller who may not stop this VM learns nothing of its state */
	if (msg) { /* NULL: pvmd's own decision (tied client gone, shutdown) */
		r = auth_check_action_as(vm->manager, msg, PVM_ACTION_STOP, verb, vm, error);
		if (r < 0)
			return r;
	}
	r = require_active(vm, error);
	if (r < 0)
		return r;
	if (msg) {
		r = auth_check_polkit(vm->manager, msg,
				      kill_now ? "org.pvm1.kill-vm" : "org.pvm1.stop-vm", vm,
				      error);
		if (r <= 0)
			return r < 0 ? r : 1; /* polkit is being asked; the call comes back */
	}
	if (kill_now)
		r = vm_instance_kill(vm->inst, &err);
	else
		r = vm_instance_stop(vm->inst, timeout_usec ?: vm->manager->stop_timeout_usec,
				     &err);
	pvmd_vm_changed(vm);
	if (r < 0)
		return sd_bus_error_setf(error, PVM_BUS_ERROR_BUSY, "Cannot %s VM '%s': %s", verb,
					 vm->name, err.message);
	return 0;
}

int pvmd_vm_stop(pvmd_vm *vm, sd_bus_message *msg, uint64_t timeout_usec, sd_bus_error *error)
{
	return vm_end(vm, msg, false, timeout_usec, error);
}

int pvmd_vm_kill(pvmd_vm *vm, sd_bus_message *msg, sd_bus_error *error)
{
	return vm_end(vm, msg, true, 0, error);
}

static int console_input(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	pvmd_console_client *c = userdata;
	pvmd_vm *vm = c->vm;
	char buf[4096];
	ssize_t n;

	n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return 0;
	/* end of input only (pvmctl console </dev/null shuts down its sending side): the client
	 * still reads the output, so stop watching for input; its close then comes as EPOLLHUP */
	if (n == 0 && !(revents & (EPOLLHUP | EPOLLERR)) &&
	    sd_event_source_set_io_events(s, 0) >= 0)
		return 0;
	if (n <= 0) {
		/* the client detached */
		for (size_t i = 0; i < vm->n_consoles; i++)
			if (&vm->consoles[i] == c) {
				console_client_remove(vm, i);
				break;
			}
		return 0;
	}
	if (vm->inst && vm->cfg->console_input)
		vm_instance_console_write(vm->inst, buf, (size_t)n);
	return 0;
}

int pvmd_vm_open_console(pvmd_vm *vm, sd_bus_message *msg, sd_bus_error *error)
{
	_cleanup_close_ int ours = -1, theirs = -1;
	_cleanup_free_ char *ring = NULL;
	size_t ring_len = 0;
	pvmd_console_client *c;
	int fds[2], r;

	r = auth_check_action(vm->manager, msg, PVM_ACTION_ATTACH, vm, error);
	if (r < 0)
		return r;
	r = require_active(vm, error);
	if (r < 0)
		return r;
	if (vm->cfg->console_output == PVM_CONSOLE_NONE)
		return sd_bus_error_setf(
		    error, PVM_BUS_ERROR_NO_CONSOLE,
		    "VM '%s' has no console (console output is \"none\" in its "
		    "config)",
		    vm->name);
	if (vm->n_consoles >= PVMD_CONSOLE_CLIENTS_MAX)
		return sd_bus_error_setf(error, PVM_BUS_ERROR_BUSY,
					 "VM '%s' already has %d consoles attached", vm->name,
					 PVMD_CONSOLE_CLIENTS_MAX);
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) < 0)
		return sd_bus_error_set_errnof(error, errno, "Cannot create a console socket: %m");
	ours = fds[0];
	theirs = fds[1];
	if (fcntl(ours, F_SETFL, O_NONBLOCK) < 0)
		return sd_bus_error_set_errnof(error, errno,
					       "Cannot set up the console socket: %m");
	if (!vm->consoles) {
		vm->consoles = calloc(PVMD_CONSOLE_CLIENTS_MAX, sizeof(*vm->consoles));
		if (!vm->consoles)
			return -ENOMEM;
	}
	c = &vm->consoles[vm->n_consoles];
	*c = (pvmd_console_client){ .vm = vm, .fd = -1 };
	r = sd_event_add_io(vm->manager->event, &c->source, ours, EPOLLIN, console_input, c);
	if (r < 0)
		return sd_bus_error_set_errnof(error, r, "Cannot watch the console socket: %m");
	c->fd = TAKE_FD(ours);
	vm->n_consoles++;
	/* replay what the guest printed so far, so an attach shows the current screen */
	if (vm_instance_console_snapshot(vm->inst, &ring, &ring_len) >= 0 && ring_len > 0)
		(void)!send(c->fd, ring, ring_len, MSG_DONTWAIT | MSG_NOSIGNAL);
	return sd_bus_reply_method_return(msg, "h", theirs);
}

int pvmd_vm_get_console_log(pvmd_vm *vm, sd_bus_message *msg, sd_bus_error *error)
{
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
	_cleanup_free_ char *ring = NULL;
	size_t len = 0;
	int r;

	r = auth_check_action(vm->manager, msg, PVM_ACTION_INSPECT, vm, error);
	if (r < 0)
		return r;
	if (vm->inst && !vm->recovered) {
		r = vm_instance_console_snapshot(vm->inst, &ring, &len);
		if (r < 0)
			return sd_bus_error_set_errnof(error, r,
						       "Cannot read the console of VM "
						       "'%s': %m",
						       vm->name);
	}
	r = sd_bus_message_new_method_return(msg, &reply);
	if (r >= 0)
		r = sd_bus_message_append_array(reply, 'y', ring ?: "", len);
	if (r < 0)
		return r;
	return sd_bus_send(NULL, reply, NULL);
}

static int track_gone(sd_bus_track *track, void *userdata)
{
	pvmd_vm *vm = userdata;
	_cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;

	/* a tie also ends when the bus itself goes away: that client's connection is gone */
	if (sd_bus_is_open(sd_bus_track_get_bus(track)) <= 0) {
		log_info("VM '%s' was tied to a client whose connection ended with the bus; "
			 "stopping the VM",
			 vm->name);
		free(vm->end_note);
		vm->end_note = strdup(PVMD_NOTE_TIE_LOST_WITH_BUS);
	} else
		log_info("The client that VM '%s' is tied to left the bus; stopping the VM",
			 vm->name);
	vm->track = sd_bus_track_unref(vm->track);
	if (pvmd_vm_is_active(vm)) {
		if (pvmd_vm_stop(vm, NULL, vm->manager->stop_timeout_usec, &e) < 0)
			log_vm_warning(vm->name, "Stopping VM '%s' failed: %s", vm->name,
				       e.message);
	} else {
		pvmd_vm_changed(vm);
	}
	return 0;
}

int pvmd_vm_tie(pvmd_vm *vm, sd_bus_message *msg)
{
	int r;

	if (!vm->track) {
		r = sd_bus_track_new(vm->manager->bus, &vm->track, track_gone, vm);
		if (r < 0)
			return r;
	}
	r = sd_bus_track_add_sender(vm->track, msg);
	if (r < 0)
		return r;
	pvmd_vm_changed(vm);
	return 0;
}

/* ---- methods on the VM object: the same actions as the Manager's by-name methods ---- */

static int method_start(sd_bus_message *msg, void *userdata, sd_bus_error *error)
{
	int r = pvmd_vm_start(userdata, msg, error);
	if (r != 0)
		return r; /* an error, or 1: the payload is being read */
	return sd_bus_reply_method_return(msg, NULL);
}

static int method_stop(sd_bus_message *msg, void *userdata, sd_bus_error *error)
{
	uint64_t timeout;
	int r;

	r = sd_bus_message_read(msg, "t", &timeout);
	if (r < 0)
		return r;
	r = pvmd_vm_stop(userdata, msg, timeout, error);
	if (r != 0)
		return r; /* an error, or 1: waiting for polkit */
	return sd_bus_reply_method_return(msg, NULL);
}

static int method_kill(sd_bus_message *msg, void *userdata, sd_bus_error *error)
{
	int r = pvmd_vm_kill(userdata, msg, error);
	if (r != 0)
		return r; /* an error, or 1: waiting for polkit */
	return sd_bus_reply_method_return(msg, NULL);
}

static int method_open_console(sd_bus_message *msg, void *userdata, sd_bus_error *error)
{
	return pvmd_vm_open_console(userdata, msg, error);
}

static int method_get_console_log(sd_bus_message *msg, void *userdata, sd_bus_error *error)
{
	return pvmd_vm_get_console_log(userdata, msg, error);
}

#define VM_PROP_VTABLE(bus, sig, field, key, flags)                                                \
	SD_BUS_PROPERTY(bus, sig, prop_get, 0,                                                     \
			(PVM_VM_PROP_CONST & flags) ? SD_BUS_VTABLE_PROPERTY_CONST                 \
						    : SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
const sd_bus_vtable vm_vtable[] = {
	SD_BUS_VTABLE_START(0),
	/* clang-format off: the expansion ends in a comma clang-format cannot see */
	PVM_VM_PROPERTIES(VM_PROP_VTABLE)
	/* clang-format on */
	SD_BUS_METHOD_WITH_ARGS("Start", SD_BUS_NO_ARGS, SD_BUS_NO_RESULT, method_start,
				SD_BUS_VTABLE_UNPRIVILEGED),
	SD_BUS_METHOD_WITH_ARGS("Stop", SD_BUS_ARGS("t", timeout_usec), SD_BUS_NO_RESULT,
				method_stop, SD_BUS_VTABLE_UNPRIVILEGED),
	SD_BUS_METHOD_WITH_ARGS("Kill", SD_BUS_NO_ARGS, SD_BUS_NO_RESULT, method_kill,
				SD_BUS_VTABLE_UNPRIVILEGED),
	SD_BUS_METHOD_WITH_ARGS("OpenConsole", SD_BUS_NO_ARGS, SD_BUS_RESULT("h", console),
				method_open_console, SD_BUS_VTABLE_UNPRIVILEGED),
	SD_BUS_METHOD_WITH_ARGS("GetConsoleLog", SD_BUS_NO_ARGS, SD_BUS_RESULT("ay", log),
				method_get_console_log, SD_BUS_VTABLE_UNPRIVILEGED),
	SD_BUS_VTABLE_END,
};
#undef VM_PROP_VTABLE

/* ---- object lookup ---- */

int vm_object_find(sd_bus *bus, const char *path, const char *interface, void *userdata,
		   void **found, sd_bus_error *error)
{
	pvmd_manager *m = userdata;
	_cleanup_free_ char *name = NULL;
	sd_bus_message *msg;
	pvmd_vm *vm;
	int r;

	r = sd_bus_path_decode(path, PVM_BUS_VM_PREFIX, &name);
	if (r <= 0)
		return r;
	vm = manager_find_vm(m, name);
	/* only the one escaping pvmd publishes: "_2D" for "_2d", or a trailing "_00" (decoded to a
	 * NUL that ends the name early), would otherwise be second paths to the same VM */
	if (!vm || strcmp(path, vm->path) != 0)
		return 0;
	/* a VM the caller may not inspect does not exist for them */
	msg = sd_bus_get_current_message(bus);
	if (msg) {
		_cleanup_(auth_caller_done) pvmd_caller c = { 0 };
		if (auth_get_caller(msg, &c, NULL) < 0 || !auth_caller_may_inspect(m, &c, vm))
			return 0;
	}
	*found = vm;
	return 1;
}

int vm_object_enumerate(sd_bus *bus, const char *path, void *userdata, char ***nodes,
			sd_bus_error *error)
{
	pvmd_manager *m = userdata;
	sd_bus_message *msg = sd_bus_get_current_message(bus);
	_cleanup_(auth_caller_done) pvmd_caller c = { 0 };
	char **list;
	size_t n = 0, k = 0;

	if (msg && auth_get_caller(msg, &c, NULL) < 0)
		return 0; /* unknown caller: sees no VMs */

	for (pvmd_vm *vm = m->vms; vm; vm = vm->next)
		n++;
	list = calloc(n + 1, sizeof(char *));
	if (!list)
		return -ENOMEM;
	for (pvmd_vm *vm = m->vms; vm; vm = vm->next) {
		if (!auth_caller_may_inspect(m, msg ? &c : NULL, vm))
			continue;
		list[k] = strdup(vm->path);
		if (!list[k]) {
			for (size_t i = 0; i < k; i++)
				free(list[i]);
			free(list);
			return -ENOMEM;
		}
		k++;
	}
	*nodes = list;
	return 1;
}
