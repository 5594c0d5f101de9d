/* pvm-policy(5): the policy model and the pure evaluation pvmd asks before every action. The
 * last matching rule decides (later files and later rules refine earlier ones); nothing
 * matching means deny. Parsing is in policy-parse.c, loading directories in policy-load.c. */
#include <fnmatch.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy-internal.h"

const char *const policy_action_names[_PVM_ACTION_MAX] = {
	[PVM_ACTION_CREATE] = "create",
	[PVM_ACTION_STOP] = "stop",
	[PVM_ACTION_INSPECT] = "inspect",
	[PVM_ACTION_ATTACH] = "attach",
};

const char *pvm_action_to_string(enum pvm_action a)
{
	return (unsigned)a < ELEMENTSOF(policy_action_names) ? policy_action_names[a] : NULL;
}

static void str_list_done(struct str_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->items[i]);
	free(l->items);
	*l = (struct str_list){ 0 };
}

int policy_str_list_add(struct str_list *l, const char *s)
{
	char *copy = strdup(s);
	char **n;

	if (!copy)
		return -ENOMEM;
	n = realloc(l->items, (l->n + 1) * sizeof(*l->items));
	if (!n) {
		free(copy);
		return -ENOMEM;
	}
	l->items = n;
	l->items[l->n++] = copy;
	return 0;
}

int policy_id_list_add(struct id_list *l, uint32_t id)
{
	uint32_t *n = realloc(l->ids, (l->n + 1) * sizeof(*l->ids));

	if (!n)
		return -ENOMEM;
	l->ids = n;
	l->ids[l->n++] = id;
	return 0;
}

static void rule_done(struct rule *r)
{
	free(r->users.ids);
	free(r->groups.ids);
	str_list_done(&r->units);
	str_list_done(&r->vms);
	str_list_done(&r->path_prefixes);
	free(r->digests);
}

pvm_policy *pvm_policy_free(pvm_policy *p)
{
	if (!p)
		return NULL;
	for (size_t i = 0; i < p->n_rules; i++)
		rule_done(&p->rules[i]);
	free(p->rules);
	str_list_done(&p->files);
	str_list_done(&p->warnings);
	free(p->firmware_identities);
	free(p);
	return NULL;
}

pvm_policy *policy_new(void)
{
	pvm_policy *p = calloc(1, sizeof(*p));

	if (p)
		p->protected_requires_guest_memfd = true;
	return p;
}

size_t pvm_policy_n_files(const pvm_policy *p)
{
	return p->files.n;
}

const char *pvm_policy_file(const pvm_policy *p, size_t i)
{
	return i < p->files.n ? p->files.items[i] : NULL;
}

size_t pvm_policy_n_rules(const pvm_policy *p)
{
	return p->n_rules;
}

size_t pvm_policy_n_allow_rules(const pvm_policy *p)
{
	size_t n = 0;

	for (size_t i = 0; i < p->n_rules; i++)
		n += !p->rules[i].deny && p->rules[i].actions != 0;
	return n;
}

size_t pvm_policy_n_warnings(const pvm_policy *p)
{
	return p->warnings.n;
}

const char *pvm_policy_warning(const pvm_policy *p, size_t i)
{
	return i < p->warnings.n ? p->warnings.items[i] : NULL;
}
/* --- evaluation: pure functions of their arguments ------------------------------------------ */

static bool id_list_has(const struct id_list *l, uint32_t id)
{
	for (size_t i = 0; i < l->n; i++)
		if (l->ids[i] == id)
			return true;
	return false;
}

static bool who_matches(const struct rule *rule, const pvm_caller *c)
{
	if (rule->everyone)
		return true;
	if (rule->has_users && !id_list_has(&rule->users, c->uid))
		return false;
	if (rule->has_groups) {
		bool in = id_list_has(&rule->groups, c->gid);
		for (size_t i = 0; i < c->n_groups && !in; i++)
			in = id_list_has(&rule->groups, c->groups[i]);
		if (!in)
			return false;
	}
	if (rule->has_units) {
		bool in = false;
		for (size_t i = 0; c->unit && i < rule->units.n && !in; i++)
			in = fnmatch(rule->units.items[i], c->unit, 0) == 0;
		if (!in)
			return false;
	}
	return true;
}

static bool vm_matches(const struct rule *rule, const pvm_caller *c, const char *vm_name,
		       uid_t owner_uid)
{
	if (rule->vms_own && owner_uid == c->uid)
		return true;
	for (size_t i = 0; i < rule->vms.n; i++)
		if (fnmatch(rule->vms.items[i], vm_name, 0) == 0)
			return true;
	return false;
}

/* The last rule matching (caller, action, VM), or NULL. */
static const struct rule *policy_decide(const pvm_policy *p, const pvm_caller *c,
					enum pvm_action action, const char *vm_name,
					uid_t owner_uid)
{
	const struct rule *last = NULL;

	for (size_t i = 0; i < p->n_rules; i++) {
		const struct rule *rule = &p->rules[i];
		if ((rule->actions & (1u << action)) && who_matches(rule, c) &&
		    vm_matches(rule, c, vm_name, owner_uid))
			last = rule;
	}
	return last;
}

static int decide(pvm_decision *ret, bool allowed, const char *fmt, ...) _printf_(3, 4);
static int decide(pvm_decision *ret, bool allowed, const char *fmt, ...)
{
	va_list ap;

	ret->allowed = allowed;
	ret->limit_exceeded = false;
	va_start(ap, fmt);
	vsnprintf(ret->reason, sizeof(ret->reason), fmt, ap);
	va_end(ap);
	return 0;
}

#define RULE_FMT "%s rule %zu"
#define RULE_ARGS(p, rule) (p)->files.items[(rule)->file], (rule)->index

int pvm_policy_check_action(const pvm_policy *p, const pvm_caller *caller, enum pvm_action action,
			    const char *vm_name, uid_t owner_uid, pvm_decision *ret)
{
	const struct rule *rule;

	if (!p || !caller || !vm_name || !ret || !pvm_action_to_string(action))
		return -EINVAL;
	rule = policy_decide(p, caller, action, vm_name, owner_uid);
	if (!rule)
		return decide(ret, false,
			      "no policy rule lets uid %u %s VM '%s' (denied by default)",
			      (unsigned)caller->uid, pvm_action_to_string(action), vm_name);
	if (rule->deny)
		return decide(ret, false, "uid %u may not %s VM '%s': denied by " RULE_FMT,
			      (unsigned)caller->uid, pvm_action_to_string(action), vm_name,
			      RULE_ARGS(p, rule));
	return decide(ret, true, "uid %u may %s VM '%s': allowed by " RULE_FMT,
		      (unsigned)caller->uid, pvm_action_to_string(action), vm_name,
		      RULE_ARGS(p, rule));
}

static bool path_under(const char *path, const char *prefix)
{
	size_t n = strlen(prefix);

	/* "/a/b" and "/a/b/" both cover "/a/b/x" but not "/a/bc" */
	while (n > 1 && prefix[n - 1] == '/')
		n--;
	if (n == 1)
		return path[0] == '/';
	return strncmp(path, prefix, n) == 0 && (path[n] == '/' || path[n] == '\0');
}

static bool path_allowed(const struct rule *rule, const char *path)
{
	for (size_t i = 0; i < rule->path_prefixes.n; i++)
		if (path_under(path, rule->path_prefixes.items[i]))
			return true;
	return false;
}

/* Would `used + add` exceed `limit`? Without overflow for any inputs. */
static bool over(uint64_t used, uint64_t add, uint64_t limit)
{
	return used > limit || limit - used < add;
}

static int check_limits(const struct limit_set *l, const char *scope, const char *where,
			const pvm_config *cfg, const pvm_usage *usage, pvm_decision *ret)
{
	/* no usage given counts as nothing in use, never as "no limits" */
	static const pvm_usage nothing = { 0 };
	const pvm_usage *u = usage ? usage : &nothing;
	int r = 1;

	if (l->has_vms && over(u->vms, 1, l->vms))
		r = decide(ret, false,
			   "%s limit of %" PRIu64 " VMs reached (%u exist, running or not; %s)",
			   scope, l->vms, u->vms, where);
	else if (l->has_vcpus && over(u->vcpus, cfg->cpus, l->vcpus))
		r = decide(ret, false,
			   "%s limit of %" PRIu64 " vCPUs: %u in use plus %u requested (%s)", scope,
			   l->vcpus, u->vcpus, cfg->cpus, where);
	else if (l->has_memory_mib && over(u->memory_mib, cfg->memory_mib, l->memory_mib))
		r = decide(ret, false,
			   "%s limit of %" PRIu64 " MiB guest memory: %" PRIu64
			   " MiB in use plus %u MiB requested (%s)",
			   scope, l->memory_mib, u->memory_mib, cfg->memory_mib, where);
	if (r == 0)
		ret->limit_exceeded = true;
	return r;
}

static bool digest_in(const uint8_t (*list)[32], size_t n, const uint8_t digest[32])
{
	for (size_t i = 0; digest && i < n; i++)
		if (memcmp(list[i], digest, 32) == 0)
			return true;
	return false;
}

static bool digest_listed(const struct rule *rule, const uint8_t digest[32])
{
	return digest_in(rule->digests, rule->n_digests, digest);
}

/* Protected VMs through pvm-fw only, and only through trusted firmware, where policy says so.
 * The identity is known once pvmd has read the firmware (check_payload). */
static int check_firmware(const pvm_policy *p, const pvm_config *cfg, bool check_payload,
			  pvm_decision *ret)
{
	char hex[65];

	if (cfg->protected_vm && !cfg->firmware && p->protected_requires_signed_payload)
		return decide(
		    ret, false,
		    "VM '%s' is protected but boots its kernel without pvm-fw, and policy "
		    "requires signed payloads for protected VMs "
		    "(firmware.protected_requires_signed_payload): name an installed "
		    "\"firmware\" and a signed \"descriptor\" in the config "
		    "(pvm-config(5), pvmctl payload sign)",
		    cfg->name);
	if (!check_payload || !cfg->firmware || !p->has_firmware_identities)
		return 1;
	if (!cfg->has_firmware_identity)
		return decide(ret, false,
			      "firmware '%s' of VM '%s' has no identity pvmd could read, and "
			      "policy trusts listed identities only (firmware.identities)",
			      cfg->firmware, cfg->name);
	if (digest_in(p->firmware_identities, p->n_firmware_identities, cfg->firmware_identity))
		return 1;
	for (size_t i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", cfg->firmware_identity[i]);
	return decide(ret, false,
		      "firmware '%s' of VM '%s' has identity %s, which policy does not trust "
		      "(firmware.identities)",
		      cfg->firmware, cfg->name, hex);
}

/* check_payload false: the payload has not been read yet, so the payload rules (where the files
 * are, their digests) wait for the full check; everything else is decided now. */
static int check_create(const pvm_policy *p, const pvm_caller *caller, const pvm_config *cfg,
			bool check_payload, const uint8_t payload_sha256[32],
			const uint8_t initrd_sha256[32], const pvm_usage *caller_usage,
			const pvm_usage *global_usage, pvm_decision *ret)
{
	const struct rule *rule;
	struct limit_set fallback;
	char where[PVM_ERROR_MESSAGE_MAX];
	int r;

	if (!p || !caller || !cfg || !ret)
		return -EINVAL;
	r = pvm_policy_check_action(p, caller, PVM_ACTION_CREATE, cfg->name, caller->uid, ret);
	if (r < 0 || !ret->allowed)
		return r;
	rule = policy_decide(p, caller, PVM_ACTION_CREATE, cfg->name, caller->uid);
	snprintf(where, sizeof(where), RULE_FMT, RULE_ARGS(p, rule));

	if (cfg->debug && !rule->debug)
		return decide(ret, false,
			      "VM '%s' asks for debug features, which " RULE_FMT " does not allow",
			      cfg->name, RULE_ARGS(p, rule));
	if (cfg->protected_vm && cfg->memory_backing != PVM_MEMORY_BACKING_GUEST_MEMFD &&
	    p->protected_requires_guest_memfd)
		return decide(
		    ret, false,
		    "VM '%s' is protected and asks for \"%s\" memory, but policy requires "
		    "guest_memfd for protected VMs (memory.protected_requires_guest_memfd)",
		    cfg->name, pvm_memory_backing_to_string(cfg->memory_backing));
	r = check_firmware(p, cfg, check_payload, ret);
	if (r <= 0)
		return r;
	if (check_payload && rule->has_path_prefixes) {
		if (!cfg->kernel || !path_allowed(rule, cfg->kernel))
			return decide(ret, false,
				      "payload %s is not under a path prefix allowed by %s",
				      cfg->kernel ? cfg->kernel : "(none)", where);
		if (cfg->initrd && !path_allowed(rule, cfg->initrd))
			return decide(ret, false,
				      "initrd %s is not under a path prefix allowed by %s",
				      cfg->initrd, where);
	}
	if (check_payload && cfg->has_payload_sha256 && payload_sha256 &&
	    memcmp(cfg->payload_sha256, payload_sha256, 32) != 0)
		return decide(ret, false, "payload %s does not have the SHA-256 the config expects",
			      cfg->kernel);
	if (check_payload && rule->has_digests) {
		if (!digest_listed(rule, payload_sha256))
			return decide(ret, false, "payload %s has no SHA-256 digest allowed by %s",
				      cfg->kernel, where);
		/* the initrd is guest code and data as much as the kernel is */
		if (cfg->initrd && !digest_listed(rule, initrd_sha256))
			return decide(ret, false, "initrd %s has no SHA-256 digest allowed by %s",
				      cfg->initrd, where);
	}

	/* the deciding rule's limits, and the policy's per-caller ones where the rule sets none */
	fallback = p->per_caller;
	fallback.has_vms &= !rule->limits.has_vms;
	fallback.has_vcpus &= !rule->limits.has_vcpus;
	fallback.has_memory_mib &= !rule->limits.has_memory_mib;
	r = check_limits(&rule->limits, "per-caller", where, cfg, caller_usage, ret);
	if (r <= 0)
		return r;
	r = check_limits(&fallback, "per-caller", "limits.per_caller", cfg, caller_usage, ret);
	if (r <= 0)
		return r;
	r = check_limits(&p->global, "global", "limits.global", cfg, global_usage, ret);
	if (r <= 0)
		return r;
	return decide(ret, true, "uid %u may create VM '%s': allowed by %s", (unsigned)caller->uid,
		      cfg->name, where);
}

int pvm_policy_check_create(const pvm_policy *p, const pvm_caller *caller, const pvm_config *cfg,
			    const uint8_t payload_sha256[32], const uint8_t initrd_sha256[32],
			    const pvm_usage *caller_usage, const pvm_usage *global_usage,
			    pvm_decision *ret)
{
	return check_create(p, caller, cfg, true, payload_sha256, initrd_sha256, caller_usage,
			    global_usage, ret);
}

int pvm_policy_check_create_before_payload(const pvm_policy *p, const pvm_caller *caller,
					   const pvm_config *cfg, const pvm_usage *caller_usage,
					   const pvm_usage *global_usage, pvm_decision *ret)
{
	return check_create(p, caller, cfg, false, NULL, NULL, caller_usage, global_usage, ret);
}

bool pvm_policy_allows_memory_fallback(const pvm_policy *p, const pvm_caller *caller,
				       const pvm_config *cfg)
{
	if (!p || !cfg || cfg->memory_backing != PVM_MEMORY_BACKING_PREFER_GUEST_MEMFD)
		return false;
	return !(cfg->protected_vm && p->protected_requires_guest_memfd);
}
