/* Who hears about which VM. A client subscribes (org.pvm1.Manager.Subscribe, as systemd's Manager
 * has it); every signal about a VM then goes as a unicast to each subscriber allowed to inspect
 * that VM, so a VM hidden from a caller is absent from its signals as from its calls. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "bus-client.h"
#include "pvmd.h"

/* A user's own monitors and waiting pvmctls; beyond that a user could only crowd out others. */
#define SUBSCRIBERS_PER_UID_MAX 64
#define SUBSCRIBERS_MAX 1024

struct pvmd_subscriber {
	pvmd_manager *manager;
	pvmd_subscriber *next;
	char *name; /* the unique bus name signals go to */
	/* as the bus vouched for it at Subscribe: a connection's credentials never change, so the
	 * policy (as it is when a signal goes out) is applied to these without asking again */
	pvmd_caller caller;
	sd_bus_track *track; /* ends the subscription when the name leaves the bus */
};

static void subscriber_free(pvmd_subscriber *s)
{
	pvmd_manager *m = s->manager;

	for (pvmd_subscriber **p = &m->subscribers; *p; p = &(*p)->next)
		if (*p == s) {
			*p = s->next;
			m->n_subscribers--;
			break;
		}
	sd_bus_track_unref(s->track);
	auth_caller_done(&s->caller);
	free(s->name);
	free(s);
}

void subscribers_free(pvmd_manager *m)
{
	while (m->subscribers)
		subscriber_free(m->subscribers);
}

static pvmd_subscriber *subscriber_find(pvmd_manager *m, const char *name)
{
	for (pvmd_subscriber *s = m->subscribers; s; s = s->next)
		if (strcmp(s->name, name) == 0)
			return s;
	return NULL;
}

/* Subscriptions made on a connection to a bus pvmd has since lost (and reconnected to another)
 * cannot be delivered to any more: their subscribers subscribe again on the new bus. */
static void subscribers_prune(pvmd_manager *m)
{
	for (pvmd_subscriber *s = m->subscribers, *next; s; s = next) {
		next = s->next;
		if (sd_bus_track_get_bus(s->track) != m->bus)
			subscriber_free(s);
	}
}

static int subscriber_gone(sd_bus_track *track, void *userdata)
{
	subscriber_free(userdata);
	return 0;
}

int method_subscribe(sd_bus_message *msg, void *userdata, sd_bus_error *error)
{
	pvmd_manager *m = userdata;
	_cleanup_(auth_caller_done) pvmd_caller c = { 0 };
	pvmd_subscriber *s;
	unsigned mine = 0;
	int r;

	r = auth_get_caller(msg, &c, error);
	if (r < 0)
		return r;
	subscribers_prune(m);
	if (subscriber_find(m, c.sender))
		return sd_bus_reply_method_return(msg, NULL); /* once per connection is enough */
	for (s = m->subscribers; s; s = s->next)
		mine += s->caller.caller.uid == c.caller.uid;
	if (mine >= SUBSCRIBERS_PER_UID_MAX || m->n_subscribers >= SUBSCRIBERS_MAX)
		return sd_bus_error_setf(error, PVM_BUS_ERROR_BUSY,
					 "Too many subscriptions (%u of uid %u, %u in all; at most "
					 "%d per user, %d in all): close other monitors first",
					 mine, (unsigned)c.caller.uid, m->n_subscribers,
					 SUBSCRIBERS_PER_UID_MAX, SUBSCRIBERS_MAX);

	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	*s = (pvmd_subscriber){ .manager = m, .next = m->subscribers };
	m->subscribers = s;
	m->n_subscribers++;
	s->name = strdup(c.sender);
	r = s->name ? 0 : -ENOMEM;
	if (r >= 0)
		r = sd_bus_track_new(m->bus, &s->track, subscriber_gone, s);
	if (r >= 0)
		r = sd_bus_track_add_sender(s->track, msg);
	if (r < 0) {
		subscriber_free(s);
		return sd_bus_error_set_errnof(error, r, "Cannot track the subscriber: %m");
	}
	s->caller = c;
	s->caller.sender = s->name; /* c.sender points into the message, which goes away */
	c = (pvmd_caller){ 0 };
	return sd_bus_reply_method_return(msg, NULL);
}

int method_unsubscribe(sd_bus_message *msg, void *userdata, sd_bus_error *error)
{
	pvmd_manager *m = userdata;
	const char *sender = sd_bus_message_get_sender(msg);
	pvmd_subscriber *s = sender ? subscriber_find(m, sender) : NULL;

	if (s)
		subscriber_free(s);
	return sd_bus_reply_method_return(msg, NULL);
}

/* One signal, built once per subscriber that may inspect the VM: a unicast cannot be re-sent to
 * another destination. */
typedef int (*signal_fill)(sd_bus_message *signal, const pvmd_vm *vm, const void *userdata);

static void emit(pvmd_vm *vm, const char *path, const char *interface, const char *member,
		 signal_fill fill, const void *userdata)
{
	pvmd_manager *m = vm->manager;

	if (!m->bus)
		return;
	subscribers_prune(m);
	for (pvmd_subscriber *s = m->subscribers; s; s = s->next) {
		_cleanup_(sd_bus_message_unrefp) sd_bus_message *sig = NULL;
		int r;

		if (!auth_caller_may_inspect(m, &s->caller, vm))
			continue;
		r = sd_bus_message_new_signal(m->bus, &sig, path, interface, member);
		if (r >= 0)
			r = sd_bus_message_set_destination(sig, s->name);
		if (r >= 0)
			r = fill(sig, vm, userdata);
		if (r >= 0)
			r = sd_bus_send(m->bus, sig, NULL);
		if (r < 0)
			log_warning("Cannot send %s about VM '%s' to %s: %s", member, vm->name,
				    s->name, strerror(-r));
	}
}

/* The interfaces of a VM object, as GetManagedObjects lists them. */
static const char *const vm_interfaces[] = {
	"org.freedesktop.DBus.Peer",
	"org.freedesktop.DBus.Introspectable",
	"org.freedesktop.DBus.Properties",
	PVM_BUS_VM_IFACE,
};

static int fill_name_path(sd_bus_message *sig, const pvmd_vm *vm, const void *userdata)
{
	return sd_bus_message_append(sig, "so", vm->name, vm->path);
}

static int fill_interfaces_added(sd_bus_message *sig, const pvmd_vm *vm, const void *userdata)
{
	int r;

	r = sd_bus_message_append(sig, "o", vm->path);
	if (r >= 0)
		r = sd_bus_message_open_container(sig, 'a', "{sa{sv}}");
	for (size_t i = 0; r >= 0 && i < ELEMENTSOF(vm_interfaces); i++) {
		bool ours = strcmp(vm_interfaces[i], PVM_BUS_VM_IFACE) == 0;

		r = sd_bus_message_open_container(sig, 'e', "sa{sv}");
		if (r >= 0)
			r = sd_bus_message_append(sig, "s", vm_interfaces[i]);
		if (r >= 0)
			r = ours ? pvmd_vm_append_properties(sig, vm, NULL)
				 : sd_bus_message_append(sig, "a{sv}", 0);
		if (r >= 0)
			r = sd_bus_message_close_container(sig);
	}
	if (r < 0)
		return r;
	return sd_bus_message_close_container(sig);
}

static int fill_interfaces_removed(sd_bus_message *sig, const pvmd_vm *vm, const void *userdata)
{
	int r;

	r = sd_bus_message_append(sig, "o", vm->path);
	if (r >= 0)
		r = sd_bus_message_open_container(sig, 'a', "s");
	for (size_t i = 0; r >= 0 && i < ELEMENTSOF(vm_interfaces); i++)
		r = sd_bus_message_append(sig, "s", vm_interfaces[i]);
	if (r < 0)
		return r;
	return sd_bus_message_close_container(sig);
}

static int fill_properties_changed(sd_bus_message *sig, const pvmd_vm *vm, const void *userdata)
{
	int r;

	r = sd_bus_message_append(sig, "s", PVM_BUS_VM_IFACE);
	if (r >= 0)
		r = pvmd_vm_append_properties(sig, vm, userdata);
	if (r >= 0)
		r = sd_bus_message_append(sig, "as", 0);
	return r;
}

static int fill_state_changed(sd_bus_message *sig, const pvmd_vm *vm, const void *userdata)
{
	return sd_bus_message_append(
	    sig, "sosss", vm->name, vm->path, pvm_vm_state_to_string(pvmd_vm_state(vm)),
	    pvm_death_reason_to_string(pvmd_vm_death_reason(vm)), pvmd_vm_message(vm));
}

#define OBJECT_MANAGER_IFACE "org.freedesktop.DBus.ObjectManager"

void signal_vm_added(pvmd_vm *vm)
{
	emit(vm, PVM_BUS_PATH, OBJECT_MANAGER_IFACE, "InterfacesAdded", fill_interfaces_added,
	     NULL);
	emit(vm, PVM_BUS_PATH, PVM_BUS_MANAGER_IFACE, "VMAdded", fill_name_path, NULL);
}

void signal_vm_removed(pvmd_vm *vm)
{
	emit(vm, PVM_BUS_PATH, OBJECT_MANAGER_IFACE, "InterfacesRemoved", fill_interfaces_removed,
	     NULL);
	emit(vm, PVM_BUS_PATH, PVM_BUS_MANAGER_IFACE, "VMRemoved", fill_name_path, NULL);
}

void signal_properties_changed(pvmd_vm *vm, char *const *changed)
{
	emit(vm, vm->path, "org.freedesktop.DBus.Properties", "PropertiesChanged",
	     fill_properties_changed, changed);
}

void signal_state_changed(pvmd_vm *vm)
{
	emit(vm, PVM_BUS_PATH, PVM_BUS_MANAGER_IFACE, "VMStateChanged", fill_state_changed, NULL);
}
