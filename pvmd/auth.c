/* Who is calling and may they: the caller's credentials come from the bus (never from the
 * message body), the policy files decide, and polkit, when it runs, is asked in addition for
 * destructive actions on other people's VMs. Denials name the rule so a person can act. */
#include <errno.h>
#include <string.h>

#include "bus-client.h"
#include "pvmd.h"

#define CALLER_CREDS                                                                               \
	(SD_BUS_CREDS_UID | SD_BUS_CREDS_EUID | SD_BUS_CREDS_GID | SD_BUS_CREDS_EGID |             \
	 SD_BUS_CREDS_SUPPLEMENTARY_GIDS | SD_BUS_CREDS_PID | SD_BUS_CREDS_UNIT |                  \
	 SD_BUS_CREDS_AUGMENT)

int auth_get_caller(sd_bus_message *msg, pvmd_caller *ret, sd_bus_error *error)
{
	sd_bus_creds *creds = NULL;
	pvmd_caller c = { 0 };
	const gid_t *gids = NULL;
	int r, n;

	r = sd_bus_query_sender_creds(msg, CALLER_CREDS, &creds);
	if (r < 0)
		return sd_bus_error_set_errnof(error, r, "Cannot get the caller's credentials: %m");
	c.creds = creds;
	c.sender = sd_bus_message_get_sender(msg);
	/* The uid the bus saw at connect time is authoritative; the effective ids from /proc
	 * only refine it when they are available. */
	r = sd_bus_creds_get_euid(creds, &c.caller.uid);
	if (r < 0)
		r = sd_bus_creds_get_uid(creds, &c.caller.uid);
	if (r < 0) {
		auth_caller_done(&c);
		return sd_bus_error_set_errnof(error, r, "Cannot get the caller's user id: %m");
	}
	r = sd_bus_creds_get_egid(creds, &c.caller.gid);
	if (r < 0)
		r = sd_bus_creds_get_gid(creds, &c.caller.gid);
	if (r < 0)
		c.caller.gid = (gid_t)-1; /* unknown: matches no group rule */
	n = sd_bus_creds_get_supplementary_gids(creds, &gids);
	if (n > 0) {
		c.caller.groups = gids;
		c.caller.n_groups = (size_t)n;
	}
	if (sd_bus_creds_get_pid(creds, &c.caller.pid) < 0)
		c.caller.pid = 0;
	if (sd_bus_creds_get_unit(creds, &c.caller.unit) < 0)
		c.caller.unit = NULL;
	*ret = c;
	return 0;
}

void auth_caller_done(pvmd_caller *c)
{
	sd_bus_creds_unref(c->creds);
	*c = (pvmd_caller){ 0 };
}

static int check_caller(manager *m, const pvmd_caller *c, enum pvm_action action, const pvmd_vm *vm,
			sd_bus_error *error)
{
	pvm_decision d = { 0 };
	int r;

	r = pvm_policy_check_action(m->policy, &c->caller, action, vm->name, vm->owner, &d);
	if (r < 0)
		return sd_bus_error_set_errnof(error, r, "Policy evaluation failed: %m");
	if (!d.allowed) {
		if (error) /* quiet checks (listing) do not log every VM they skip */
			log_notice("Denied %s of VM '%s' to uid %u (pid %d): %s",
				   pvm_action_to_string(action), vm->name, (unsigned)c->caller.uid,
				   (int)c->caller.pid, d.reason);
		return sd_bus_error_setf(
		    error, PVM_BUS_ERROR_POLICY_DENIED, "Not allowed to %s VM '%s' as uid %u: %s",
		    pvm_action_to_string(action), vm->name, (unsigned)c->caller.uid, d.reason);
	}
	return 0;
}

int auth_check_action(manager *m, sd_bus_message *msg, enum pvm_action action, const pvmd_vm *vm,
		      sd_bus_error *error)
{
	_cleanup_(auth_caller_done) pvmd_caller c = { 0 };
	int r;

	r = auth_get_caller(msg, &c, error);
	if (r < 0)
		return r;
	return check_caller(m, &c, action, vm, error);
}

bool auth_caller_may_inspect(manager *m, const pvmd_caller *c, const pvmd_vm *vm)
{
	if (!c)
		return true; /* our own enumeration (signals, ObjectManager bookkeeping) */
	return check_caller(m, c, PVM_ACTION_INSPECT, vm, NULL) >= 0;
}

int auth_check_create(manager *m, sd_bus_message *msg, const pvm_config *cfg,
		      const uint8_t digest[32], bool *ret_allow_fallback, sd_bus_error *error)
{
	_cleanup_(auth_caller_done) pvmd_caller c = { 0 };
	pvm_usage mine, all;
	pvm_decision d = { 0 };
	int r;

	r = auth_get_caller(msg, &c, error);
	if (r < 0)
		return r;
	manager_get_usage(m, c.caller.uid, &mine, &all);
	r = pvm_policy_check_create(m->policy, &c.caller, cfg, digest, &mine, &all, &d);
	if (r < 0)
		return sd_bus_error_set_errnof(error, r, "Policy evaluation failed: %m");
	if (!d.allowed) {
		/* a denial by a limit is LimitExceeded: the caller can act on it by stopping a VM
		 */
		bool limit = d.limit_exceeded;
		log_notice("Denied creating VM '%s' to uid %u (pid %d): %s", cfg->name,
			   (unsigned)c.caller.uid, (int)c.caller.pid, d.reason);
		if (limit)
			return sd_bus_error_setf(error, PVM_BUS_ERROR_LIMIT_EXCEEDED,
						 "Cannot run VM '%s' as uid %u: %s (stop or remove "
						 "a VM first, or raise the limit in the policy)",
						 cfg->name, (unsigned)c.caller.uid, d.reason);
		return sd_bus_error_setf(error, PVM_BUS_ERROR_POLICY_DENIED,
					 "Not allowed to run VM '%s' as uid %u: %s", cfg->name,
					 (unsigned)c.caller.uid, d.reason);
	}
	if (ret_allow_fallback)
		*ret_allow_fallback = pvm_policy_allows_memory_fallback(m->policy, &c.caller, cfg);
	return 0;
}

static int polkit_running(sd_bus *bus)
{
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
	int has, r;

	r = sd_bus_call_method(bus, "org.freedesktop.DBus", "/org/freedesktop/DBus",
			       "org.freedesktop.DBus", "NameHasOwner", NULL, &reply, "s",
			       "org.freedesktop.PolicyKit1");
	if (r < 0)
		return r;
	r = sd_bus_message_read(reply, "b", &has);
	return r < 0 ? r : has;
}

int auth_check_polkit(manager *m, sd_bus_message *msg, const char *action_id, const pvmd_vm *vm,
		      sd_bus_error *error)
{
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *call = NULL, *reply = NULL;
	_cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
	_cleanup_(auth_caller_done) pvmd_caller c = { 0 };
	int authorized = 0, challenge = 0, r;

	if (!m->use_polkit)
		return 0;
	r = auth_get_caller(msg, &c, error);
	if (r < 0)
		return r;
	/* root, and owners acting on their own VMs, are decided by the policy files alone */
	if (c.caller.uid == 0 || c.caller.uid == vm->owner)
		return 0;
	r = polkit_running(m->bus);
	if (r <= 0)
		return 0; /* no polkit on this bus: the policy files have decided */

	/* Without the interaction flag the call answers at once, so the event loop does not stall
	 * on a password prompt. */
	r = sd_bus_message_new_method_call(
	    m->bus, &call, "org.freedesktop.PolicyKit1", "/org/freedesktop/PolicyKit1/Authority",
	    "org.freedesktop.PolicyKit1.Authority", "CheckAuthorization");
	if (r >= 0)
		r = sd_bus_message_append(call, "(sa{sv})sa{ss}us", "system-bus-name", 1, "name",
					  "s", c.sender, action_id, 1, "vm", vm->name, 0, "");
	if (r < 0)
		return sd_bus_error_set_errnof(error, r, "Cannot ask polkit: %m");
	r = sd_bus_call(m->bus, call, 5 * 1000 * 1000, &e, &reply);
	if (r < 0) {
		log_warning("polkit CheckAuthorization(%s) failed: %s", action_id,
			    e.message ?: strerror(-r));
		return sd_bus_error_setf(error, PVM_BUS_ERROR_POLICY_DENIED,
					 "Not allowed: polkit could not be asked about %s (%s)",
					 action_id, e.message ?: strerror(-r));
	}
	r = sd_bus_message_enter_container(reply, 'r', "bba{ss}");
	if (r >= 0)
		r = sd_bus_message_read(reply, "bb", &authorized, &challenge);
	if (r < 0)
		return sd_bus_error_set_errnof(error, r, "Unexpected reply from polkit: %m");
	if (!authorized)
		return sd_bus_error_setf(error, PVM_BUS_ERROR_POLICY_DENIED,
					 "Not allowed to act on VM '%s' owned by uid %u: polkit "
					 "denied %s%s",
					 vm->name, (unsigned)vm->owner, action_id,
					 challenge ? " (authentication required: run pvmctl as an "
						     "administrator)"
						   : "");
	return 0;
}
