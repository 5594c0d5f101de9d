/* pvm-policy(5) text into the policy model: strict JSON (json-strict.h), one handler per key,
 * user and group names resolved once, every error naming the file, the JSON path and what was
 * expected. */
#include <errno.h>
#include <grp.h>
#include <inttypes.h>
#include <limits.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json-strict.h"
#include "policy-internal.h"

/* --- parsing ------------------------------------------------------------------------------
 * Each handler gets a parse context: the policy being built and the rule being filled. */

struct parse_ctx {
	pvm_policy *policy;
	struct rule *rule;
	struct limit_set *limits;
};

#define OOM(origin) pvm_error_set(err, ENOMEM, "%s: out of memory", origin)

static int policy_warn(pvm_policy *p, const char *fmt, ...) _printf_(2, 3);
static int policy_warn(pvm_policy *p, const char *fmt, ...)
{
	char msg[PVM_ERROR_MESSAGE_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return policy_str_list_add(&p->warnings, msg);
}

static bool all_digits(const char *s)
{
	for (; *s; s++)
		if (*s < '0' || *s > '9')
			return false;
	return true;
}

/* A user or group name to its id through NSS, growing the buffer for large groups. Returns
 * -ENOENT for a name that does not exist. */
static int resolve_name(const char *name, bool group, uint64_t *ret_id)
{
	size_t size = 4096;

	for (;;) {
		_cleanup_free_ char *buf = malloc(size);
		int e;

		if (!buf)
			return -ENOMEM;
		if (group) {
			struct group gr, *res = NULL;
			e = getgrnam_r(name, &gr, buf, size, &res);
			if (e == 0 && res) {
				*ret_id = res->gr_gid;
				return 0;
			}
		} else {
			struct passwd pw, *res = NULL;
			e = getpwnam_r(name, &pw, buf, size, &res);
			if (e == 0 && res) {
				*ret_id = res->pw_uid;
				return 0;
			}
		}
		if (e == 0)
			return -ENOENT;
		if (e != ERANGE || size >= (1u << 24))
			return -e;
		size *= 4;
	}
}

/* A user or group is a number (an id) or a name resolved now, at load: a name that does not
 * resolve is kept out of the rule (it matches nobody) and reported as a warning. */
static int parse_id_list(json_object *v, bool group, const char *origin, const char *path,
			 struct parse_ctx *ctx, struct id_list *out, pvm_error *err)
{
	const char *kind = group ? "group" : "user";
	size_t n;
	int r = pvm_json_get_array(v, 0, PVM_POLICY_LIST_MAX, origin, path, &n, err);

	if (r < 0)
		return r;
	for (size_t i = 0; i < n; i++) {
		json_object *e = json_object_array_get_idx(v, i);
		char child[PVM_JSON_PATH_MAX], why[512];
		const char *name;
		uint64_t id;

		pvm_json_path_index(child, path, i);
		if (json_object_is_type(e, json_type_int)) {
			r = pvm_json_get_uint(e, 0, UINT32_MAX - 1, origin, child, &id, err);
			if (r < 0)
				return r;
			if (policy_id_list_add(out, (uint32_t)id) < 0)
				return OOM(origin);
			continue;
		}
		if (!json_object_is_type(e, json_type_string))
			return pvm_json_error(err, EINVAL, origin, child,
					      "expected a %s name or a numeric %s, got %s", kind,
					      group ? "gid" : "uid", pvm_json_describe(e, why, 64));
		r = pvm_json_get_string(e, 1, 256, origin, child, &name, err);
		if (r < 0)
			return r;
		if (all_digits(name))
			return pvm_json_error(
			    err, EINVAL, origin, child,
			    "expected a %s name, got \"%s\" (write numeric ids as "
			    "JSON numbers)",
			    kind, name);
		r = resolve_name(name, group, &id);
		if (r == -ENOMEM)
			return OOM(origin);
		if (r < 0) {
			if (r == -ENOENT)
				snprintf(why, sizeof(why), "no %s \"%s\" on this system", kind,
					 name);
			else
				snprintf(why, sizeof(why), "cannot look up %s \"%s\": %s", kind,
					 name, strerror(-r));
			if (policy_warn(ctx->policy, "%s: %s: %s; the entry matches nobody", origin,
					child, why) < 0)
				return OOM(origin);
			continue;
		}
		if (policy_id_list_add(out, (uint32_t)id) < 0)
			return OOM(origin);
	}
	return 0;
}

/* A list of strings, each checked by `check` (may be NULL). */
static int parse_str_list(json_object *v, size_t max_len, const char *origin, const char *path,
			  int (*check)(const char *s, const char *origin, const char *path,
				       struct parse_ctx *ctx, pvm_error *err),
			  struct parse_ctx *ctx, struct str_list *out, pvm_error *err)
{
	size_t n;
	int r = pvm_json_get_array(v, 0, PVM_POLICY_LIST_MAX, origin, path, &n, err);

	if (r < 0)
		return r;
	for (size_t i = 0; i < n; i++) {
		char child[PVM_JSON_PATH_MAX];
		const char *s;

		pvm_json_path_index(child, path, i);
		r = pvm_json_get_string(json_object_array_get_idx(v, i), 1, max_len, origin, child,
					&s, err);
		if (r < 0)
			return r;
		if (check) {
			r = check(s, origin, child, ctx, err);
			if (r < 0)
				return r;
			if (r > 0) /* consumed by the check */
				continue;
		}
		if (policy_str_list_add(out, s) < 0)
			return OOM(origin);
	}
	return 0;
}

static int who_users(json_object *v, const char *origin, const char *path, void *u, pvm_error *err)
{
	struct parse_ctx *ctx = u;
	ctx->rule->has_users = true;
	return parse_id_list(v, false, origin, path, ctx, &ctx->rule->users, err);
}

static int who_groups(json_object *v, const char *origin, const char *path, void *u, pvm_error *err)
{
	struct parse_ctx *ctx = u;
	ctx->rule->has_groups = true;
	return parse_id_list(v, true, origin, path, ctx, &ctx->rule->groups, err);
}

static int who_units(json_object *v, const char *origin, const char *path, void *u, pvm_error *err)
{
	struct parse_ctx *ctx = u;
	ctx->rule->has_units = true;
	return parse_str_list(v, PATTERN_MAX, origin, path, NULL, ctx, &ctx->rule->units, err);
}

static int who_everyone(json_object *v, const char *origin, const char *path, void *u,
			pvm_error *err)
{
	struct parse_ctx *ctx = u;
	int r = pvm_json_get_bool(v, origin, path, &ctx->rule->everyone, err);

	if (r >= 0 && !ctx->rule->everyone)
		return pvm_json_error(err, EINVAL, origin, path,
				      "expected true (leave \"everyone\" out otherwise)");
	return r;
}

static const pvm_json_member who_members[] = {
	{ "users", who_users },
	{ "groups", who_groups },
	{ "units", who_units },
	{ "everyone", who_everyone },
};

static int rule_who(json_object *v, const char *origin, const char *path, void *u, pvm_error *err)
{
	struct parse_ctx *ctx = u;
	struct rule *rule = ctx->rule;
	int r =
	    pvm_json_parse_members(v, who_members, ELEMENTSOF(who_members), origin, path, u, err);

	if (r < 0)
		return r;
	if (rule->everyone && (rule->has_users || rule->has_groups || rule->has_units))
		return pvm_json_error(
		    err, EINVAL, origin, path,
		    "\"everyone\" cannot be combined with users, groups or units");
	if (!rule->everyone && !rule->has_users && !rule->has_groups && !rule->has_units)
		return pvm_json_error(err, EINVAL, origin, path,
				      "expected at least one of users, groups, units, everyone");
	return 0;
}

static int rule_actions(json_object *v, const char *origin, const char *path, void *u,
			pvm_error *err)
{
	struct parse_ctx *ctx = u;
	size_t n;
	int r = pvm_json_get_array(v, 1, PVM_POLICY_LIST_MAX, origin, path, &n, err);

	if (r < 0)
		return r;
	for (size_t i = 0; i < n; i++) {
		char child[PVM_JSON_PATH_MAX];
		unsigned a;

		pvm_json_path_index(child, path, i);
		r = pvm_json_get_enum(json_object_array_get_idx(v, i), policy_action_names,
				      ELEMENTSOF(policy_action_names), origin, child, &a, err);
		if (r < 0)
			return r;
		ctx->rule->actions |= 1u << a;
	}
	return 0;
}

static int check_vm_pattern(const char *s, const char *origin, const char *path,
			    struct parse_ctx *ctx, pvm_error *err)
{
	if (strcmp(s, OWN_TOKEN) == 0) {
		ctx->rule->vms_own = true;
		return 1;
	}
	if (s[0] == '@')
		return pvm_json_error(err, EINVAL, origin, path,
				      "expected a VM name pattern or \"" OWN_TOKEN "\", got \"%s\"",
				      s);
	return 0;
}

static int rule_vms(json_object *v, const char *origin, const char *path, void *u, pvm_error *err)
{
	struct parse_ctx *ctx = u;
	size_t n;
	int r = pvm_json_get_array(v, 1, PVM_POLICY_LIST_MAX, origin, path, &n, err);

	if (r < 0)
		return r;
	return parse_str_list(v, PATTERN_MAX, origin, path, check_vm_pattern, ctx, &ctx->rule->vms,
			      err);
}

static int rule_effect(json_object *v, const char *origin, const char *path, void *u,
		       pvm_error *err)
{
	static const char *const effects[] = { "allow", "deny" };
	struct parse_ctx *ctx = u;
	unsigned e;
	int r = pvm_json_get_enum(v, effects, ELEMENTSOF(effects), origin, path, &e, err);

	if (r >= 0)
		ctx->rule->deny = e == 1;
	return r;
}

static int rule_debug(json_object *v, const char *origin, const char *path, void *u, pvm_error *err)
{
	return pvm_json_get_bool(v, origin, path, &((struct parse_ctx *)u)->rule->debug, err);
}

static int check_prefix(const char *s, const char *origin, const char *path, struct parse_ctx *ctx,
			pvm_error *err)
{
	size_t n = strlen(s);

	if (s[0] != '/' || strstr(s, "/./") || strstr(s, "/../") || strstr(s, "//") ||
	    (n >= 2 && strcmp(s + n - 2, "/.") == 0) || (n >= 3 && strcmp(s + n - 3, "/..") == 0))
		return pvm_json_error(err, EINVAL, origin, path,
				      "expected a normalized absolute directory, got \"%s\"", s);
	return 0;
}

static int payloads_prefixes(json_object *v, const char *origin, const char *path, void *u,
			     pvm_error *err)
{
	struct parse_ctx *ctx = u;
	ctx->rule->has_path_prefixes = true;
	return parse_str_list(v, PATH_MAX - 1, origin, path, check_prefix, ctx,
			      &ctx->rule->path_prefixes, err);
}

/* A list of SHA-256 digests in hex into a fresh array (replacing one a previous file set). */
static int parse_digest_list(json_object *v, const char *origin, const char *path,
			     uint8_t (**digests)[32], size_t *n_digests, pvm_error *err)
{
	size_t n;
	int r = pvm_json_get_array(v, 0, PVM_POLICY_LIST_MAX, origin, path, &n, err);

	if (r < 0)
		return r;
	free(*digests);
	*n_digests = 0;
	*digests = calloc(n ? n : 1, sizeof(**digests));
	if (!*digests)
		return OOM(origin);
	for (size_t i = 0; i < n; i++) {
		char child[PVM_JSON_PATH_MAX];
		pvm_json_path_index(child, path, i);
		r = pvm_json_get_hex(json_object_array_get_idx(v, i), (*digests)[i], 32, origin,
				     child, err);
		if (r < 0)
			return r;
		(*n_digests)++;
	}
	return 0;
}

static int payloads_sha256(json_object *v, const char *origin, const char *path, void *u,
			   pvm_error *err)
{
	struct rule *rule = ((struct parse_ctx *)u)->rule;

	rule->has_digests = true;
	return parse_digest_list(v, origin, path, &rule->digests, &rule->n_digests, err);
}

static const pvm_json_member payloads_members[] = {
	{ "path_prefixes", payloads_prefixes },
	{ "sha256", payloads_sha256 },
};

static int rule_payloads(json_object *v, const char *origin, const char *path, void *u,
			 pvm_error *err)
{
	return pvm_json_parse_members(v, payloads_members, ELEMENTSOF(payloads_members), origin,
				      path, u, err);
}

static int limit_field(json_object *v, const char *origin, const char *path, uint64_t max,
		       bool *has, uint64_t *value, pvm_error *err)
{
	int r = pvm_json_get_uint(v, 0, max, origin, path, value, err);

	if (r >= 0)
		*has = true;
	return r;
}

static int limit_vms(json_object *v, const char *origin, const char *path, void *u, pvm_error *err)
{
	struct limit_set *l = ((struct parse_ctx *)u)->limits;
	return limit_field(v, origin, path, UINT32_MAX, &l->has_vms, &l->vms, err);
}

static int limit_vcpus(json_object *v, const char *origin, const char *path, void *u,
		       pvm_error *err)
{
	struct limit_set *l = ((struct parse_ctx *)u)->limits;
	return limit_field(v, origin, path, UINT32_MAX, &l->has_vcpus, &l->vcpus, err);
}

static int limit_memory(json_object *v, const char *origin, const char *path, void *u,
			pvm_error *err)
{
	struct limit_set *l = ((struct parse_ctx *)u)->limits;
	return limit_field(v, origin, path, UINT32_MAX, &l->has_memory_mib, &l->memory_mib, err);
}

static const pvm_json_member limit_members[] = {
	{ "vms", limit_vms },
	{ "vcpus", limit_vcpus },
	{ "memory_mib", limit_memory },
};

static int parse_limit_set(json_object *v, const char *origin, const char *path,
			   struct parse_ctx *ctx, struct limit_set *into, pvm_error *err)
{
	ctx->limits = into;
	return pvm_json_parse_members(v, limit_members, ELEMENTSOF(limit_members), origin, path,
				      ctx, err);
}

static int rule_limits(json_object *v, const char *origin, const char *path, void *u,
		       pvm_error *err)
{
	struct parse_ctx *ctx = u;
	return parse_limit_set(v, origin, path, ctx, &ctx->rule->limits, err);
}

static const pvm_json_member rule_members[] = {
	{ "who", rule_who },	   { "actions", rule_actions }, { "vms", rule_vms },
	{ "effect", rule_effect }, { "debug", rule_debug },	{ "payloads", rule_payloads },
	{ "limits", rule_limits },
};

static int parse_rule(json_object *v, const char *origin, const char *path, struct parse_ctx *ctx,
		      pvm_error *err)
{
	struct rule *rule = ctx->rule;
	bool create_options;
	int r = pvm_json_parse_members(v, rule_members, ELEMENTSOF(rule_members), origin, path, ctx,
				       err);

	if (r < 0)
		return r;
	/* required keys, then keys that only mean something in some rules */
	if (!json_object_object_get_ex(v, "who", NULL))
		return pvm_json_error(err, EINVAL, origin, path, "missing key \"who\"");
	if (!json_object_object_get_ex(v, "actions", NULL))
		return pvm_json_error(err, EINVAL, origin, path, "missing key \"actions\"");
	if (!json_object_object_get_ex(v, "vms", NULL))
		return pvm_json_error(err, EINVAL, origin, path, "missing key \"vms\"");
	create_options = json_object_object_get_ex(v, "debug", NULL) ||
			 json_object_object_get_ex(v, "payloads", NULL) ||
			 json_object_object_get_ex(v, "limits", NULL);
	if (create_options && rule->deny)
		return pvm_json_error(err, EINVAL, origin, path,
				      "\"debug\", \"payloads\" and \"limits\" only belong in allow "
				      "rules");
	if (create_options && !(rule->actions & (1u << PVM_ACTION_CREATE)))
		return pvm_json_error(err, EINVAL, origin, path,
				      "\"debug\", \"payloads\" and \"limits\" only belong in rules "
				      "whose actions include \"create\"");
	return 0;
}

static int top_rules(json_object *v, const char *origin, const char *path, void *u, pvm_error *err)
{
	struct parse_ctx *ctx = u;
	pvm_policy *p = ctx->policy;
	struct rule *grown;
	size_t n;
	int r = pvm_json_get_array(v, 0, PVM_POLICY_RULES_MAX, origin, path, &n, err);

	if (r < 0)
		return r;
	grown = realloc(p->rules, (p->n_rules + n + 1) * sizeof(*p->rules));
	if (!grown)
		return OOM(origin);
	p->rules = grown;
	for (size_t i = 0; i < n; i++) {
		char child[PVM_JSON_PATH_MAX];

		pvm_json_path_index(child, path, i);
		/* the rule joins the list before parsing so pvm_policy_free() owns its parts */
		ctx->rule = &p->rules[p->n_rules++];
		*ctx->rule = (struct rule){ .file = p->files.n - 1, .index = i };
		r = parse_rule(json_object_array_get_idx(v, i), origin, child, ctx, err);
		if (r < 0)
			return r;
	}
	return 0;
}

static int limits_global(json_object *v, const char *origin, const char *path, void *u,
			 pvm_error *err)
{
	struct parse_ctx *ctx = u;
	return parse_limit_set(v, origin, path, ctx, &ctx->policy->global, err);
}

static int limits_per_caller(json_object *v, const char *origin, const char *path, void *u,
			     pvm_error *err)
{
	struct parse_ctx *ctx = u;
	return parse_limit_set(v, origin, path, ctx, &ctx->policy->per_caller, err);
}

static const pvm_json_member top_limits_members[] = {
	{ "global", limits_global },
	{ "per_caller", limits_per_caller },
};

static int top_limits(json_object *v, const char *origin, const char *path, void *u, pvm_error *err)
{
	return pvm_json_parse_members(v, top_limits_members, ELEMENTSOF(top_limits_members), origin,
				      path, u, err);
}

static int memory_protected_requires(json_object *v, const char *origin, const char *path, void *u,
				     pvm_error *err)
{
	return pvm_json_get_bool(
	    v, origin, path, &((struct parse_ctx *)u)->policy->protected_requires_guest_memfd, err);
}

static const pvm_json_member memory_members[] = {
	{ "protected_requires_guest_memfd", memory_protected_requires },
};

static int top_memory(json_object *v, const char *origin, const char *path, void *u, pvm_error *err)
{
	return pvm_json_parse_members(v, memory_members, ELEMENTSOF(memory_members), origin, path,
				      u, err);
}

static int firmware_protected_requires(json_object *v, const char *origin, const char *path,
				       void *u, pvm_error *err)
{
	return pvm_json_get_bool(
	    v, origin, path, &((struct parse_ctx *)u)->policy->protected_requires_signed_payload,
	    err);
}

static int firmware_identities(json_object *v, const char *origin, const char *path, void *u,
			       pvm_error *err)
{
	pvm_policy *p = ((struct parse_ctx *)u)->policy;

	p->has_firmware_identities = true;
	return parse_digest_list(v, origin, path, &p->firmware_identities,
				 &p->n_firmware_identities, err);
}

static const pvm_json_member firmware_members[] = {
	{ "protected_requires_signed_payload", firmware_protected_requires },
	{ "identities", firmware_identities },
};

static int top_firmware(json_object *v, const char *origin, const char *path, void *u,
			pvm_error *err)
{
	return pvm_json_parse_members(v, firmware_members, ELEMENTSOF(firmware_members), origin,
				      path, u, err);
}

/* pvm-policy(5) documents these in this order. Top-level settings from a later file replace
 * those of an earlier file key by key; rules accumulate. */
static const pvm_json_member top_members[] = {
	{ "rules", top_rules },
	{ "limits", top_limits },
	{ "memory", top_memory },
	{ "firmware", top_firmware },
};

/* Add one file's text to `p`: its rules go after those already there. */
int policy_add_text(pvm_policy *p, const char *text, size_t len, const char *origin, pvm_error *err)
{
	_cleanup_json_ json_object *root = NULL;
	struct parse_ctx ctx = { .policy = p };
	int r = pvm_json_parse(text, len, PVM_POLICY_FILE_MAX, PVM_POLICY_DEPTH_MAX, origin, &root,
			       err);

	if (r < 0)
		return r;
	if (policy_str_list_add(&p->files, origin) < 0)
		return OOM(origin);
	return pvm_json_parse_members(root, top_members, ELEMENTSOF(top_members), origin, "$", &ctx,
				      err);
}

int pvm_policy_parse_text(const char *text, size_t len, const char *origin, pvm_policy **ret,
			  pvm_error *err)
{
	_cleanup_(pvm_policy_freep) pvm_policy *p = policy_new();
	int r;

	if (!origin)
		origin = "<policy>";
	if (!p)
		return OOM(origin);
	r = policy_add_text(p, text, len, origin, err);
	if (r < 0)
		return r;
	*ret = TAKE_PTR(p);
	return 0;
}
