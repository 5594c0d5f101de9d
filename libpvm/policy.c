/* pvm-policy(5): loading drop-in directories into one ordered rule list plus limits and memory
 * rules, and the pure evaluation pvmd asks before every action. The last matching rule decides
 * (later files and later rules refine earlier ones); nothing matching means deny. */
#include <dirent.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <grp.h>
#include <inttypes.h>
#include <limits.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "json-strict.h"
#include "policy.h"

#define PATTERN_MAX 128
#define OWN_TOKEN "@own"

struct limit_set {
	bool has_vms, has_vcpus, has_memory_mib;
	uint64_t vms, vcpus, memory_mib;
};

struct str_list {
	char **items;
	size_t n;
};

struct id_list {
	uint32_t *ids;
	size_t n;
};

struct rule {
	size_t file;  /* index into pvm_policy.files */
	size_t index; /* position in its file's "rules", for messages */
	/* who: every category present must match; within one, any entry */
	bool everyone;
	bool has_users, has_groups, has_units;
	struct id_list users, groups;
	struct str_list units;
	unsigned actions;    /* 1 << enum pvm_action */
	struct str_list vms; /* fnmatch patterns on VM names */
	bool vms_own;	     /* "@own": VMs whose owner is the caller */
	bool deny;
	/* consulted only when this rule is the one that allows a create */
	bool debug;
	bool has_path_prefixes, has_digests;
	struct str_list path_prefixes;
	uint8_t (*digests)[32];
	size_t n_digests;
	struct limit_set limits;
};

struct pvm_policy {
	struct str_list files;
	struct rule *rules;
	size_t n_rules;
	struct limit_set global, per_caller;
	bool protected_requires_guest_memfd;
	struct str_list warnings;
};

static const char *const action_names[] = {
	[PVM_ACTION_CREATE] = "create",
	[PVM_ACTION_STOP] = "stop",
	[PVM_ACTION_INSPECT] = "inspect",
	[PVM_ACTION_ATTACH] = "attach",
};

const char *pvm_action_to_string(enum pvm_action a)
{
	return (unsigned)a < ELEMENTSOF(action_names) ? action_names[a] : NULL;
}

static void str_list_done(struct str_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->items[i]);
	free(l->items);
	*l = (struct str_list){ 0 };
}

static int str_list_add(struct str_list *l, const char *s)
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

static int id_list_add(struct id_list *l, uint32_t id)
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
	free(p);
	return NULL;
}

static pvm_policy *policy_new(void)
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

size_t pvm_policy_n_warnings(const pvm_policy *p)
{
	return p->warnings.n;
}

const char *pvm_policy_warning(const pvm_policy *p, size_t i)
{
	return i < p->warnings.n ? p->warnings.items[i] : NULL;
}

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
	return str_list_add(&p->warnings, msg);
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
			if (id_list_add(out, (uint32_t)id) < 0)
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
		if (id_list_add(out, (uint32_t)id) < 0)
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
		if (str_list_add(out, s) < 0)
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
		r = pvm_json_get_enum(json_object_array_get_idx(v, i), action_names,
				      ELEMENTSOF(action_names), origin, child, &a, err);
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

static int payloads_sha256(json_object *v, const char *origin, const char *path, void *u,
			   pvm_error *err)
{
	struct rule *rule = ((struct parse_ctx *)u)->rule;
	size_t n;
	int r = pvm_json_get_array(v, 0, PVM_POLICY_LIST_MAX, origin, path, &n, err);

	if (r < 0)
		return r;
	rule->has_digests = true;
	rule->digests = calloc(n ? n : 1, sizeof(*rule->digests));
	if (!rule->digests)
		return OOM(origin);
	for (size_t i = 0; i < n; i++) {
		char child[PVM_JSON_PATH_MAX];
		pvm_json_path_index(child, path, i);
		r = pvm_json_get_hex(json_object_array_get_idx(v, i), rule->digests[i], 32, origin,
				     child, err);
		if (r < 0)
			return r;
		rule->n_digests++;
	}
	return 0;
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

/* pvm-policy(5) documents these in this order. Top-level settings from a later file replace
 * those of an earlier file key by key; rules accumulate. */
static const pvm_json_member top_members[] = {
	{ "rules", top_rules },
	{ "limits", top_limits },
	{ "memory", top_memory },
};

/* Add one file's text to `p`: its rules go after those already there. */
static int policy_add_text(pvm_policy *p, const char *text, size_t len, const char *origin,
			   pvm_error *err)
{
	_cleanup_json_ json_object *root = NULL;
	struct parse_ctx ctx = { .policy = p };
	int r = pvm_json_parse(text, len, PVM_POLICY_FILE_MAX, PVM_POLICY_DEPTH_MAX, origin, &root,
			       err);

	if (r < 0)
		return r;
	if (str_list_add(&p->files, origin) < 0)
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

/* --- directories --------------------------------------------------------------------------- */

struct entry {
	char *name;
	char *path;
};

static int entry_compare(const void *a, const void *b)
{
	return strcmp(((const struct entry *)a)->name, ((const struct entry *)b)->name);
}

static void entries_free(struct entry *e, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(e[i].name);
		free(e[i].path);
	}
	free(e);
}

static bool is_policy_file_name(const char *name)
{
	size_t n = strlen(name);
	return name[0] != '.' && n > 5 && strcmp(name + n - 5, ".json") == 0;
}

/* Add a directory's *.json files to the entry set, replacing entries of the same name. */
static int collect_dir(const char *dir, struct entry **entries, size_t *n, pvm_error *err)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	size_t added = 0;
	int r = 0;

	if (!d) {
		if (errno == ENOENT)
			return 0;
		return pvm_error_set(err, errno, "%s: cannot open policy directory: %s", dir,
				     strerror(errno));
	}
	while ((errno = 0, de = readdir(d))) {
		char *path;
		size_t i;

		if (!is_policy_file_name(de->d_name))
			continue;
		if (++added > PVM_POLICY_FILES_MAX) {
			r = pvm_error_set(err, E2BIG, "%s: more than %d policy files", dir,
					  PVM_POLICY_FILES_MAX);
			break;
		}
		if (asprintf(&path, "%s/%s", dir, de->d_name) < 0) {
			r = pvm_error_set(err, ENOMEM, "%s: out of memory", dir);
			break;
		}
		for (i = 0; i < *n; i++)
			if (strcmp((*entries)[i].name, de->d_name) == 0)
				break;
		if (i < *n) {
			free((*entries)[i].path);
			(*entries)[i].path = path;
			continue;
		}
		struct entry *grown = realloc(*entries, (*n + 1) * sizeof(**entries));
		char *name = strdup(de->d_name);
		if (!grown || !name) {
			free(name);
			free(path);
			if (grown)
				*entries = grown;
			r = pvm_error_set(err, ENOMEM, "%s: out of memory", dir);
			break;
		}
		*entries = grown;
		(*entries)[(*n)++] = (struct entry){ .name = name, .path = path };
	}
	if (r == 0 && errno != 0)
		r = pvm_error_set(err, errno, "%s: cannot read policy directory: %s", dir,
				  strerror(errno));
	closedir(d);
	return r;
}

/* A file that is empty or a symlink to /dev/null masks the same name in an earlier directory
 * (systemd's drop-in convention). Files everyone may write are refused. */
static int file_is_mask(const char *path, bool *ret, pvm_error *err)
{
	struct stat st;

	if (stat(path, &st) < 0)
		return pvm_error_set(err, errno, "%s: cannot stat: %s", path, strerror(errno));
	if (S_ISCHR(st.st_mode) && major(st.st_rdev) == 1 && minor(st.st_rdev) == 3) {
		*ret = true;
		return 0;
	}
	if (!S_ISREG(st.st_mode))
		return pvm_error_set(err, EINVAL, "%s: not a regular file", path);
	/* whoever can write a policy file decides who runs VMs */
	if (st.st_mode & S_IWOTH)
		return pvm_error_set(err, EPERM,
				     "%s: writable by everyone (mode %04o); refusing it", path,
				     (unsigned)(st.st_mode & 07777));
	*ret = st.st_size == 0;
	return 0;
}

int pvm_policy_load(const char *const *dirs, size_t n_dirs, pvm_policy **ret, pvm_error *err)
{
	_cleanup_(pvm_policy_freep) pvm_policy *p = policy_new();
	struct entry *entries = NULL;
	size_t n = 0;
	int r = 0;

	if (!p)
		return pvm_error_set(err, ENOMEM, "out of memory");
	for (size_t i = 0; i < n_dirs && r >= 0; i++)
		r = collect_dir(dirs[i], &entries, &n, err);
	if (r >= 0 && n > 0)
		qsort(entries, n, sizeof(*entries), entry_compare);
	for (size_t i = 0; i < n && r >= 0; i++) {
		_cleanup_free_ char *text = NULL;
		bool mask = false;
		size_t len;

		r = file_is_mask(entries[i].path, &mask, err);
		if (r < 0 || mask)
			continue;
		r = pvm_json_read_file(entries[i].path, PVM_POLICY_FILE_MAX, &text, &len, err);
		if (r >= 0)
			r = policy_add_text(p, text, len, entries[i].path, err);
	}
	entries_free(entries, n);
	if (r < 0)
		return r;
	*ret = TAKE_PTR(p);
	return 0;
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

/* check_digests false: the payload has not been read yet, so the digest rules wait for the
 * full check; everything else is decided now. */
static int check_create(const pvm_policy *p, const pvm_caller *caller, const pvm_config *cfg,
			bool check_digests, const uint8_t payload_sha256[32],
			const pvm_usage *caller_usage, const pvm_usage *global_usage,
			pvm_decision *ret)
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
	if (rule->has_path_prefixes) {
		if (!cfg->kernel || !path_allowed(rule, cfg->kernel))
			return decide(ret, false,
				      "payload %s is not under a path prefix allowed by %s",
				      cfg->kernel ? cfg->kernel : "(none)", where);
		if (cfg->initrd && !path_allowed(rule, cfg->initrd))
			return decide(ret, false,
				      "initrd %s is not under a path prefix allowed by %s",
				      cfg->initrd, where);
	}
	if (check_digests && cfg->has_payload_sha256 && payload_sha256 &&
	    memcmp(cfg->payload_sha256, payload_sha256, 32) != 0)
		return decide(ret, false, "payload %s does not have the SHA-256 the config expects",
			      cfg->kernel);
	if (check_digests && rule->has_digests) {
		bool found = false;
		for (size_t i = 0; payload_sha256 && i < rule->n_digests && !found; i++)
			found = memcmp(rule->digests[i], payload_sha256, 32) == 0;
		if (!found)
			return decide(ret, false, "payload %s has no SHA-256 digest allowed by %s",
				      cfg->kernel, where);
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
			    const uint8_t payload_sha256[32], const pvm_usage *caller_usage,
			    const pvm_usage *global_usage, pvm_decision *ret)
{
	return check_create(p, caller, cfg, true, payload_sha256, caller_usage, global_usage, ret);
}

int pvm_policy_check_create_before_payload(const pvm_policy *p, const pvm_caller *caller,
					   const pvm_config *cfg, const pvm_usage *caller_usage,
					   const pvm_usage *global_usage, pvm_decision *ret)
{
	return check_create(p, caller, cfg, false, NULL, caller_usage, global_usage, ret);
}

bool pvm_policy_allows_memory_fallback(const pvm_policy *p, const pvm_caller *caller,
				       const pvm_config *cfg)
{
	if (!p || !cfg || cfg->memory_backing != PVM_MEMORY_BACKING_PREFER_GUEST_MEMFD)
		return false;
	return !(cfg->protected_vm && p->protected_requires_guest_memfd);
}
