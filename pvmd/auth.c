/* Who is calling and may they: the caller's credentials come from the bus (never from the
 * message body), the policy files decide, and polkit, when it runs, is asked in addition for
 * destructive actions on other people's VMs. Denials name the rule so a person can act. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "bus-client.h"
#include "pvmd.h"

/* Only what the bus vouches for decides: no SD_BUS_CREDS_AUGMENT, whose fields sd-bus reads from
 * /proc/PID after the fact and which so race with pid reuse and with a setgid exec. dbus-daemon
 * vouches for the effective uid and the pid (SO_PEERCRED when the caller connected) and, in
 * GetConnectionCredentials, for the group list (UnixGroupIDs: the effective gid and the
 * supplementary groups, SO_PEERGROUPS); nothing vouches for the primary gid alone or the unit. */
#define CALLER_CREDS                                                                               \
	(SD_BUS_CREDS_UID | SD_BUS_CREDS_EUID | SD_BUS_CREDS_GID | SD_BUS_CREDS_EGID |             \
	 SD_BUS_CREDS_SUPPLEMENTARY_GIDS | SD_BUS_CREDS_PID | SD_BUS_CREDS_UNIT)

int auth_caller_from_creds(sd_bus_creds *creds, pvm_caller *ret)
{
	uint64_t vouched = sd_bus_creds_get_mask(creds) & ~sd_bus_creds_get_augmented_mask(creds);
	pvm_caller c = { .gid = (gid_t)-1 }; /* unknown: matches no group rule */
	const gid_t *gids = NULL;
	int r = -ENODATA, n;

	if (vouched & SD_BUS_CREDS_EUID)
		r = sd_bus_creds_get_euid(creds, &c.uid);
	else if (vouched & SD_BUS_CREDS_UID)
		r = sd_bus_creds_get_uid(creds, &c.uid);
	if (r < 0)
		return r; /* no uid the bus stands behind: nothing can be decided */
	if (!(vouched & SD_BUS_CREDS_EGID) || sd_bus_creds_get_egid(creds, &c.gid) < 0)
		if (!(vouched & SD_BUS_CREDS_GID) || sd_bus_creds_get_gid(creds, &c.gid) < 0)
			c.gid = (gid_t)-1;
	if (vouched & SD_BUS_CREDS_SUPPLEMENTARY_GIDS) {
		n = sd_bus_creds_get_supplementary_gids(creds, &gids);
		if (n > 0) {
			c.groups = gids;
			c.n_groups = (size_t)n;
		}
	}
	if (!(vouched & SD_BUS_CREDS_PID) || sd_bus_creds_get_pid(creds, &c.pid) < 0)
		c.pid = 0;
	if (!(vouched & SD_BUS_CREDS_UNIT) || sd_bus_creds_get_unit(creds, &c.unit) < 0)
		c.unit = NULL;
	*ret = c;
	return 0;
}

/* The caller's groups as dbus-daemon itself reports them (UnixGroupIDs), for an sd-bus that
 * does not read that field. Absent (an older bus): no groups, so no group rule matches. */
static int bus_group_ids(sd_bus *bus, const char *sender, gid_t **ret, size_t *ret_n)
{
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
	_cleanup_free_ gid_t *gids = NULL;
	size_t n = 0;
	int r;

	r = sd_bus_call_method(bus, "org.freedesktop.DBus", "/org/freedesktop/DBus",
			       "org.freedesktop.DBus", "GetConnectionCredentials", NULL, &reply,
			       "s", sender);
	if (r < 0)
		return r;
	r = sd_bus_message_enter_container(reply, 'a', "{sv}");
	while (r >= 0 && (r = sd_bus_message_enter_container(reply, 'e', "sv")) > 0) {
		const char *key;
		const uint32_t *ids;
		size_t size;

		r = sd_bus_message_read(reply, "s", &key);
		if (r >= 0 && strcmp(key, "UnixGroupIDs") == 0 && !gids) {
			r = sd_bus_message_enter_container(reply, 'v', "au");
			if (r >= 0)
				r = sd_bus_message_read_array(reply, 'u', (const void **)&ids,
							      &size);
			if (r >= 0 && size > 0) {
				n = size / sizeof(uint32_t);
				gids = malloc(n * sizeof(gid_t));
				if (!gids)
					return -ENOMEM;
				for (size_t i = 0; i < n; i++)
					gids[i] = ids[i];
			}
			if (r >= 0)
				r = sd_bus_message_exit_container(reply);
		} else if (r >= 0)
			r = sd_bus_message_skip(reply, "v");
		if (r >= 0)
			r = sd_bus_message_exit_container(reply);
	}
	if (r < 0)
		return r;
	*ret = TAKE_PTR(gids);
	*ret_n = n;
	return 0;
}

/* The last call's caller. One method call asks who its caller is at every check it makes
 * (CreateVM with start: the create, start and limit checks, before and after the payload copy),
 * and each question was up to two bus round trips; the answer cannot change during the call
 * (the bus vouches for what it saw when the caller connected), so it is asked once per call.
 * Keyed by the message itself, held by a reference so that its address is not reused: pvmd
 * serves calls on one thread. */
static struct {
	sd_bus_message *msg;
	pvmd_caller caller;
} last_call;

void auth_caller_cache_clear(void)
{
	last_call.msg = sd_bus_message_unref(last_call.msg);
	auth_caller_done(&last_call.caller);
}

static int caller_copy(const pvmd_caller *from, pvmd_caller *ret)
{
	pvmd_caller c = *from;

	if (from->own_groups) {
		c.own_groups = malloc(from->caller.n_groups * sizeof(gid_t));
		if (!c.own_groups)
			return -ENOMEM;
		memcpy(c.own_groups, from->own_groups, from->caller.n_groups * sizeof(gid_t));
		c.caller.groups = c.own_groups;
	}
	c.creds = sd_bus_creds_ref(from->creds);
	*ret = c;
	return 0;
}

static int caller_lookup(sd_bus_message *msg, pvmd_caller *ret, sd_bus_error *error)
{
	_cleanup_(auth_caller_done) pvmd_caller c = { 0 };
	int r;

	c.sender = sd_bus_message_get_sender(msg);
	if (!c.sender)
		return sd_bus_error_setf(error, SD_BUS_ERROR_ACCESS_DENIED,
					 "The call has no sender: cannot tell who is calling");
	r = sd_bus_query_sender_creds(msg, CALLER_CREDS, &c.creds);
	if (r < 0)
		return sd_bus_error_set_errnof(error, r, "Cannot get the caller's credentials: %m");
	r = auth_caller_from_creds(c.creds, &c.caller);
	if (r < 0)
		return sd_bus_error_setf(error, SD_BUS_ERROR_ACCESS_DENIED,
					 "The bus does not vouch for the caller's user id");
	if (c.caller.n_groups == 0) {
		r = bus_group_ids(sd_bus_message_get_bus(msg), c.sender, &c.own_groups,
				  &c.caller.n_groups);
		if (r < 0)
			return sd_bus_error_set_errnof(error, r,
						       "Cannot get the caller's groups from the "
						       "bus: %m");
		c.caller.groups = c.own_groups;
	}
	*ret = c;
	c = (pvmd_caller){ 0 };
	return 0;
}

int auth_get_caller(sd_bus_message *msg, pvmd_caller *ret, sd_bus_error *error)
{
	pvmd_caller c = { 0 };
	int r;

	if (msg != last_call.msg) {
		r = caller_lookup(msg, &c, error);
		if (r < 0)
			return r;
		auth_caller_cache_clear();
		last_call.msg = sd_bus_message_ref(msg);
		last_call.caller = c;
	}
	r = caller_copy(&last_call.caller, ret);
	if (r < 0)
		return sd_bus_error_set_errno(error, r);
	return 0;
}

void auth_caller_done(pvmd_caller *c)
{
	sd_bus_creds_unref(c->creds);
	free(c->own_groups);
	*c = (pvmd_caller){ 0 };
}

int auth_decide_action(const pvm_policy *policy, const pvm_caller *caller, enum pvm_action action,
		       const char *verb, const char *vm_name, uid_t vm_owner, sd_bus_error *error)
{
	pvm_decision d = { 0 };
	int r;

	r = pvm_policy_check_action(policy, caller, action, vm_name, vm_owner, &d);
	if (r < 0)
		return sd_bus_error_set_errnof(error, r, "Policy evaluation failed: %m");
	if (d.allowed)
		return 0;
	return sd_bus_error_setf(
	    error, PVM_BUS_ERROR_POLICY_DENIED, "Not allowed to %s VM '%s' as uid %u: %s",
	    verb ?: pvm_action_to_string(action), vm_name, (unsigned)caller->uid, d.reason);
}

/* The decision for a caller of pvmd's, logged when it is a denial of a call (error set): quiet
 * checks (listing, signals) do not log every VM they skip. */
static int check_caller(pvmd_manager *m, const pvmd_caller *c, enum pvm_action action,
			const char *verb, const pvmd_vm *vm, sd_bus_error *error)
{
	_cleanup_(sd_bus_error_free) sd_bus_error denial = SD_BUS_ERROR_NULL;
	int r = auth_decide_action(m->policy, &c->caller, action, verb, vm->name, vm->owner,
				   error ? error : &denial);

	if (r < 0 && error)
		log_notice("Denied %s of VM '%s' to uid %u (pid %d): %s",
			   verb ?: pvm_action_to_string(action), vm->name, (unsigned)c->caller.uid,
			   (int)c->caller.pid, error->message);
	return r;
}

int auth_check_action_as(pvmd_manager *m, sd_bus_message *msg, enum pvm_action action,
			 const char *verb, const pvmd_vm *vm, sd_bus_error *error)
{
	_cleanup_(auth_caller_done) pvmd_caller c = { 0 };
	int r;

	r = auth_get_caller(msg, &c, error);
	if (r < 0)
		return r;
	return check_caller(m, &c, action, verb, vm, error);
}

int auth_check_action(pvmd_manager *m, sd_bus_message *msg, enum pvm_action action,
		      const pvmd_vm *vm, sd_bus_error *error)
{
	return auth_check_action_as(m, msg, action, NULL, vm, error);
}

bool auth_caller_may_inspect(pvmd_manager *m, const pvmd_caller *c, const pvmd_vm *vm)
{
	if (!c)
		return true; /* our own enumeration (signals, ObjectManager bookkeeping) */
	return check_caller(m, c, PVM_ACTION_INSPECT, NULL, vm, NULL) >= 0;
}

int auth_decide_create(const pvm_policy *policy, const pvm_caller *caller, const pvm_config *cfg,
		       const uint8_t digest[32], const uint8_t initrd_digest[32],
		       const pvm_usage *mine, const pvm_usage *all, bool *ret_allow_fallback,
		       sd_bus_error *error)
{
	pvm_decision d = { 0 };
	int r;

	r = digest
		? pvm_policy_check_create(policy, caller, cfg, digest, initrd_digest, mine, all, &d)
		: pvm_policy_check_create_before_payload(policy, caller, cfg, mine, all, &d);
	if (r < 0)
		return sd_bus_error_set_errnof(error, r, "Policy evaluation failed: %m");
	/* a denial by a limit is LimitExceeded: the caller can act on it by stopping a VM */
	if (!d.allowed && d.limit_exceeded)
		return sd_bus_error_setf(error, PVM_BUS_ERROR_LIMIT_EXCEEDED,
					 "Cannot run VM '%s' as uid %u: %s (remove a VM no longer "
					 "needed, stop one to free vCPUs and memory, or raise the "
					 "limit in the policy)",
					 cfg->name, (unsigned)caller->uid, d.reason);
	if (!d.allowed)
		return sd_bus_error_setf(error, PVM_BUS_ERROR_POLICY_DENIED,
					 "Not allowed to run VM '%s' as uid %u: %s", cfg->name,
					 (unsigned)caller->uid, d.reason);
	if (ret_allow_fallback)
		*ret_allow_fallback = pvm_policy_allows_memory_fallback(policy, caller, cfg);
	return 0;
}

int auth_check_create(pvmd_manager *m, sd_bus_message *msg, const pvm_config *cfg,
		      const uint8_t digest[32], const uint8_t initrd_digest[32],
		      bool *ret_allow_fallback, sd_bus_error *error)
{
	_cleanup_(auth_caller_done) pvmd_caller c = { 0 };
	pvm_usage mine, all;
	int r;

	r = auth_get_caller(msg, &c, error);
	if (r < 0)
		return r;
	manager_get_usage(m, c.caller.uid, cfg, &mine, &all);
	r = auth_decide_create(m->policy, &c.caller, cfg, digest, initrd_digest, &mine, &all,
			       ret_allow_fallback, error);
	if (r < 0 && sd_bus_error_is_set(error))
		log_notice("Denied creating VM '%s' to uid %u (pid %d): %s", cfg->name,
			   (unsigned)c.caller.uid, (int)c.caller.pid, error->message);
	return r;
}

/* polkit is asked without blocking, the way systemd asks it: the first pass of a method call
 * sends CheckAuthorization and leaves the call unanswered; polkit's answer is kept and the call
 * is queued for dispatch again (sd_bus_enqueue_for_read), and the second pass finds the answer.
 * Everything the handler checked before is checked again then, against the VM as it is. */
/* CheckAuthorization's flags (org.freedesktop.PolicyKit1.Authority): may ask the user */
#define POLKIT_ALLOW_USER_INTERACTION 1u
/* an answer without a prompt comes at once; one after a prompt waits for a person */
#define POLKIT_TIMEOUT_USEC (5 * 1000 * 1000ULL)
#define POLKIT_INTERACTIVE_TIMEOUT_USEC (120 * 1000 * 1000ULL)

struct polkit_query {
	pvmd_manager *manager;
	polkit_query *next;
	sd_bus_message *request; /* the method call waiting for the answer */
	char *action;
	sd_bus_slot *slot;
	bool done, authorized, challenge, absent;
	char *failure; /* polkit could not be asked: why */
};

void polkit_query_free(polkit_query *q)
{
	for (polkit_query **p = &q->manager->polkit_queries; *p; p = &(*p)->next)
		if (*p == q) {
			*p = q->next;
			break;
		}
	sd_bus_slot_unref(q->slot);
	sd_bus_message_unref(q->request);
	free(q->action);
	free(q->failure);
	free(q);
}

static int polkit_answered(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error)
{
	polkit_query *q = userdata;
	const sd_bus_error *e = sd_bus_message_get_error(reply);
	int authorized = 0, challenge = 0, r;

	q->slot = sd_bus_slot_unref(q->slot);
	q->done = true;
	if (e) {
		/* no polkit on this bus: the policy files have decided */
		q->absent = sd_bus_error_has_names(e, SD_BUS_ERROR_SERVICE_UNKNOWN,
						   SD_BUS_ERROR_NAME_HAS_NO_OWNER);
		if (!q->absent) {
			log_warning("polkit CheckAuthorization(%s) failed: %s", q->action,
				    e->message ?: e->name);
			q->failure = strdup(e->message ?: e->name);
		}
	} else {
		r = sd_bus_message_enter_container(reply, 'r', "bba{ss}");
		if (r >= 0)
			r = sd_bus_message_read(reply, "bb", &authorized, &challenge);
		if (r < 0)
			q->failure = strdup("unexpected reply from polkit");
		q->authorized = authorized;
		q->challenge = challenge;
	}
	r = sd_bus_enqueue_for_read(q->manager->bus, q->request);
	if (r < 0) {
		log_error("Cannot resume a call after polkit answered: %s", strerror(-r));
		sd_bus_reply_method_errno(q->request, r, NULL);
		polkit_query_free(q);
	}
	return 0;
}

int auth_check_polkit(pvmd_manager *m, sd_bus_message *msg, const char *action_id,
		      const pvmd_vm *vm, sd_bus_error *error)
{
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *call = NULL;
	_cleanup_(auth_caller_done) pvmd_caller c = { 0 };
	polkit_query *q;
	bool interactive;
	int r;

	if (!m->use_polkit)
		return 1;
	r = auth_get_caller(msg, &c, error);
	if (r < 0)
		return r;
	/* root, and owners acting on their own VMs, are decided by the policy files alone */
	if (c.caller.uid == 0 || c.caller.uid == vm->owner)
		return 1;

	for (q = m->polkit_queries; q; q = q->next)
		if (q->request == msg && strcmp(q->action, action_id) == 0)
			break;
	if (q && !q->done)
		return 0;
	if (q) {
		bool ok = q->absent || (q->authorized && !q->failure);
		_cleanup_free_ char *failure = q->failure ? strdup(q->failure) : NULL;
		bool challenge = q->challenge;

		polkit_query_free(q);
		if (ok)
			return 1;
		if (failure)
			return sd_bus_error_setf(error, PVM_BUS_ERROR_POLICY_DENIED,
						 "Not allowed: polkit could not be asked about %s "
						 "(%s)",
						 action_id, failure);
		return sd_bus_error_setf(error, PVM_BUS_ERROR_POLICY_DENIED,
					 "Not allowed to act on VM '%s' owned by uid %u: polkit "
					 "denied %s%s",
					 vm->name, (unsigned)vm->owner, action_id,
					 challenge ? " (authentication required: run pvmctl from a "
						     "terminal with a polkit agent, without "
						     "--no-ask-password, or as an administrator)"
						   : "");
	}

	/* A caller that allows interactive authorization (pvmctl at a terminal) lets polkit ask
	 * its agent for a password: the answer may then take as long as a person does. Without
	 * the flag polkit answers at once, never after a prompt. */
	interactive = sd_bus_message_get_allow_interactive_authorization(msg) > 0;
	q = calloc(1, sizeof(*q));
	if (!q)
		return -ENOMEM;
	*q = (polkit_query){ .manager = m, .next = m->polkit_queries };
	m->polkit_queries = q;
	q->request = sd_bus_message_ref(msg);
	q->action = strdup(action_id);
	r = q->action ? 0 : -ENOMEM;
	if (r >= 0)
		r = sd_bus_message_new_method_call(m->bus, &call, "org.freedesktop.PolicyKit1",
						   "/org/freedesktop/PolicyKit1/Authority",
						   "org.freedesktop.PolicyKit1.Authority",
						   "CheckAuthorization");
	if (r >= 0)
		r = sd_bus_message_append(call, "(sa{sv})sa{ss}us", "system-bus-name", 1, "name",
					  "s", c.sender, action_id, 1, "vm", vm->name,
					  interactive ? POLKIT_ALLOW_USER_INTERACTION : 0, "");
	if (r >= 0)
		r = sd_bus_call_async(m->bus, &q->slot, call, polkit_answered, q,
				      interactive ? POLKIT_INTERACTIVE_TIMEOUT_USEC
						  : POLKIT_TIMEOUT_USEC);
	if (r < 0) {
		polkit_query_free(q);
		return sd_bus_error_set_errnof(error, r, "Cannot ask polkit: %m");
	}
	return 0;
}
