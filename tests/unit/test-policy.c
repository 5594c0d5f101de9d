/* pvm-policy(5) contract as tables: who may do which action to which VM (last matching rule
 * decides, deny by default), the create checks (debug, memory backing, payload prefixes and
 * digests, per-caller and global limits), parse errors naming file and JSON path, drop-in
 * directory merging and masking, and the shipped default and example policies. */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "policy.h"

#define DIGEST_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"

/* Rule numbers in the reasons below are positions in this list. */
static const char policy_text[] =
    "{ \"rules\": ["
    /* 0 */ " {\"who\": {\"users\": [0]}, \"actions\": [\"create\", \"stop\", \"inspect\","
    " \"attach\"], \"vms\": [\"*\"], \"debug\": true},"
    /* 1 */ " {\"who\": {\"groups\": [100]}, \"actions\": [\"create\", \"stop\", \"inspect\","
    " \"attach\"], \"vms\": [\"@own\"], \"limits\": {\"vms\": 2, \"vcpus\": 4, \"memory_mib\": "
    "1024},"
    " \"payloads\": {\"path_prefixes\": [\"/srv/guests\", \"/opt/pvm/\"]}},"
    /* 2 */ " {\"who\": {\"groups\": [100]}, \"actions\": [\"inspect\"], \"vms\": [\"shared-*\"]},"
    /* 3 */ " {\"who\": {\"groups\": [100]}, \"actions\": [\"inspect\"], \"vms\": "
    "[\"shared-secret\"],"
    " \"effect\": \"deny\"},"
    /* 4 */ " {\"who\": {\"units\": [\"monitor@*.service\"]}, \"actions\": [\"inspect\"], \"vms\": "
    "[\"*\"]},"
    /* 5 */ " {\"who\": {\"users\": [2000], \"units\": [\"build.service\"]}, \"actions\": "
    "[\"create\"],"
    " \"vms\": [\"ci-*\"], \"payloads\": {\"sha256\": [\"" DIGEST_A "\"]}},"
    /* 6 */ " {\"who\": {\"everyone\": true}, \"actions\": [\"inspect\"], \"vms\": [\"public\"]},"
    /* 7 */ " {\"who\": {\"users\": [\"daemon\"]}, \"actions\": [\"stop\"], \"vms\": [\"*\"]},"
    /* 8 */ " {\"who\": {\"groups\": [\"adm\"]}, \"actions\": [\"attach\"], \"vms\": "
    "[\"console-*\"]},"
    /* 9 */ " {\"who\": {\"users\": [3000]}, \"actions\": [\"create\"], \"vms\": [\"*\"], "
    "\"debug\": false},"
    /* 10 */ " {\"who\": {\"users\": [0]}, \"actions\": [\"stop\"], \"vms\": [\"pinned\"], "
    "\"effect\": \"deny\"},"
    /* 11 */ " {\"who\": {\"users\": [4000]}, \"actions\": [\"create\"], \"vms\": [\"*\"],"
    " \"payloads\": {\"path_prefixes\": [\"/\"]}}"
    " ],"
    " \"limits\": {\"global\": {\"vms\": 10, \"vcpus\": 16, \"memory_mib\": 4096},"
    " \"per_caller\": {\"vms\": 5}},"
    " \"memory\": {\"protected_requires_guest_memfd\": true} }";

static const gid_t groups_100[] = { 50, 100 };

struct caller_spec {
	uid_t uid;
	gid_t gid;
	bool in_100; /* supplementary group 100 */
	const char *unit;
};

static pvm_caller make_caller(const struct caller_spec *c)
{
	return (pvm_caller){
		.uid = c->uid,
		.gid = c->gid,
		.groups = c->in_100 ? groups_100 : NULL,
		.n_groups = c->in_100 ? ELEMENTSOF(groups_100) : 0,
		.unit = c->unit,
		.pid = 1234,
	};
}

static const struct action_case {
	const char *what;
	struct caller_spec caller;
	enum pvm_action action;
	const char *vm;
	uid_t owner;
	bool allowed;
	const char *reason;
} action_cases[] = {
	{ "root may do everything",
	  { 0, 0, false, NULL },
	  PVM_ACTION_CREATE,
	  "x",
	  0,
	  true,
	  "uid 0 may create VM 'x': allowed by p.json rule 0" },
	{ "root attach", { 0, 0, false, NULL }, PVM_ACTION_ATTACH, "y", 1000, true, "rule 0" },
	{ "a later deny rule overrides root's allow",
	  { 0, 0, false, NULL },
	  PVM_ACTION_STOP,
	  "pinned",
	  0,
	  false,
	  "uid 0 may not stop VM 'pinned': denied by p.json rule 10" },
	{ "deny by default",
	  { 1000, 1000, false, NULL },
	  PVM_ACTION_STOP,
	  "x",
	  1000,
	  false,
	  "no policy rule lets uid 1000 stop VM 'x' (denied by default)" },
	{ "supplementary group, own VM",
	  { 1000, 1000, true, NULL },
	  PVM_ACTION_STOP,
	  "x",
	  1000,
	  true,
	  "allowed by p.json rule 1" },
	{ "group, another user's VM",
	  { 1000, 1000, true, NULL },
	  PVM_ACTION_STOP,
	  "x",
	  1001,
	  false,
	  "denied by default" },
	{ "primary group, name pattern",
	  { 1000, 100, false, NULL },
	  PVM_ACTION_INSPECT,
	  "shared-a",
	  0,
	  true,
	  "allowed by p.json rule 2" },
	{ "pattern does not match",
	  { 1000, 100, false, NULL },
	  PVM_ACTION_INSPECT,
	  "sharedx",
	  0,
	  false,
	  "denied by default" },
	{ "last match wins: deny after allow",
	  { 1000, 100, false, NULL },
	  PVM_ACTION_INSPECT,
	  "shared-secret",
	  0,
	  false,
	  "denied by p.json rule 3" },
	{ "last match wins over own",
	  { 1000, 1000, true, NULL },
	  PVM_ACTION_INSPECT,
	  "shared-secret",
	  1000,
	  false,
	  "denied by p.json rule 3" },
	{ "unit pattern",
	  { 500, 500, false, "monitor@1.service" },
	  PVM_ACTION_INSPECT,
	  "any",
	  0,
	  true,
	  "allowed by p.json rule 4" },
	{ "unit pattern, other action",
	  { 500, 500, false, "monitor@1.service" },
	  PVM_ACTION_STOP,
	  "any",
	  0,
	  false,
	  "denied by default" },
	{ "no unit",
	  { 500, 500, false, NULL },
	  PVM_ACTION_INSPECT,
	  "any",
	  0,
	  false,
	  "denied by default" },
	{ "unit pattern mismatch",
	  { 500, 500, false, "monitor.service" },
	  PVM_ACTION_INSPECT,
	  "any",
	  0,
	  false,
	  "denied by default" },
	{ "uid and unit both match",
	  { 2000, 2000, false, "build.service" },
	  PVM_ACTION_CREATE,
	  "ci-1",
	  2000,
	  true,
	  "allowed by p.json rule 5" },
	{ "uid without the unit",
	  { 2000, 2000, false, NULL },
	  PVM_ACTION_CREATE,
	  "ci-1",
	  2000,
	  false,
	  "denied by default" },
	{ "unit without the uid",
	  { 2001, 2000, false, "build.service" },
	  PVM_ACTION_CREATE,
	  "ci-1",
	  2001,
	  false,
	  "denied by default" },
	{ "everyone",
	  { 4242, 4242, false, NULL },
	  PVM_ACTION_INSPECT,
	  "public",
	  0,
	  true,
	  "allowed by p.json rule 6" },
	{ "everyone, other action",
	  { 4242, 4242, false, NULL },
	  PVM_ACTION_STOP,
	  "public",
	  0,
	  false,
	  "denied by default" },
	{ "user by name (daemon = uid 1)",
	  { 1, 1, false, NULL },
	  PVM_ACTION_STOP,
	  "v",
	  0,
	  true,
	  "allowed by p.json rule 7" },
	{ "group by name (adm = gid 4)",
	  { 77, 4, false, NULL },
	  PVM_ACTION_ATTACH,
	  "console-1",
	  0,
	  true,
	  "allowed by p.json rule 8" },
	{ "group by name, pattern mismatch",
	  { 77, 4, false, NULL },
	  PVM_ACTION_ATTACH,
	  "other",
	  0,
	  false,
	  "denied by default" },
};

static void test_actions(const pvm_policy *p)
{
	for (size_t i = 0; i < ELEMENTSOF(action_cases); i++) {
		const struct action_case *c = &action_cases[i];
		pvm_caller caller = make_caller(&c->caller);
		pvm_decision d = { 0 };

		CHECK(pvm_policy_check_action(p, &caller, c->action, c->vm, c->owner, &d) == 0,
		      "case %zu", i);
		CHECK(d.allowed == c->allowed, "%s: allowed=%d (%s)", c->what, d.allowed, d.reason);
		CHECK(strstr(d.reason, c->reason) != NULL, "%s:\n   got: %s\n  want: ...%s...",
		      c->what, d.reason, c->reason);
	}
	pvm_caller root = { 0 };
	pvm_decision d;
	CHECK(pvm_policy_check_action(p, &root, _PVM_ACTION_MAX, "x", 0, &d) == -EINVAL,
	      "unknown action");
	CHECK(pvm_policy_check_action(p, &root, PVM_ACTION_STOP, NULL, 0, &d) == -EINVAL,
	      "no name");
}

struct cfg_spec {
	const char *name;
	const char *kernel;
	const char *initrd;
	uint32_t cpus, memory_mib;
	bool protected_vm, prefer, debug;
	const char *expected_sha; /* the config's payload_sha256 */
};

static const struct create_case {
	const char *what;
	struct caller_spec caller;
	struct cfg_spec cfg;
	const char *computed_sha; /* what pvmd computed; NULL: not given */
	pvm_usage mine, all;
	bool allowed;
	const char *reason;
} create_cases[] = {
	{ "root, debug allowed",
	  { 0, 0, false, NULL },
	  { "r", "/anything", NULL, 1, 64, true, false, true, NULL },
	  NULL,
	  { 0 },
	  { 0 },
	  true,
	  "uid 0 may create VM 'r': allowed by p.json rule 0" },
	{ "debug not allowed by the deciding rule",
	  { 3000, 3000, false, NULL },
	  { "d", "/k", NULL, 1, 64, true, false, true, NULL },
	  NULL,
	  { 0 },
	  { 0 },
	  false,
	  "VM 'd' asks for debug features, which p.json rule 9 does not allow" },
	{ "without debug",
	  { 3000, 3000, false, NULL },
	  { "d", "/k", NULL, 1, 64, true, false, false, NULL },
	  NULL,
	  { 0 },
	  { 0 },
	  true,
	  "allowed by p.json rule 9" },
	{ "protected VMs need guest_memfd",
	  { 3000, 3000, false, NULL },
	  { "m", "/k", NULL, 1, 64, true, true, false, NULL },
	  NULL,
	  { 0 },
	  { 0 },
	  false,
	  "VM 'm' is protected and asks for \"prefer_guest_memfd\" memory, but policy requires "
	  "guest_memfd" },
	{ "unprotected VMs may prefer guest_memfd",
	  { 3000, 3000, false, NULL },
	  { "m", "/k", NULL, 1, 64, false, true, false, NULL },
	  NULL,
	  { 0 },
	  { 0 },
	  true,
	  "allowed" },
	{ "payload under a prefix",
	  { 1000, 1000, true, NULL },
	  { "g", "/srv/guests/a.elf", NULL, 1, 64, true, false, false, NULL },
	  NULL,
	  { 0 },
	  { 0 },
	  true,
	  "allowed by p.json rule 1" },
	{ "prefix with a trailing slash",
	  { 1000, 1000, true, NULL },
	  { "g", "/opt/pvm/x/a.elf", "/srv/guests/initrd", 1, 64, true, false, false, NULL },
	  NULL,
	  { 0 },
	  { 0 },
	  true,
	  "allowed by p.json rule 1" },
	{ "prefix is a whole path component",
	  { 1000, 1000, true, NULL },
	  { "g", "/srv/guests-evil/a.elf", NULL, 1, 64, true, false, false, NULL },
	  NULL,
	  { 0 },
	  { 0 },
	  false,
	  "payload /srv/guests-evil/a.elf is not under a path prefix allowed by "
	  "p.json rule 1" },
	{ "initrd outside the prefixes",
	  { 1000, 1000, true, NULL },
	  { "g", "/srv/guests/a.elf", "/tmp/initrd", 1, 64, true, false, false, NULL },
	  NULL,
	  { 0 },
	  { 0 },
	  false,
	  "initrd /tmp/initrd is not under a path prefix" },
	{ "per-caller VM limit of the rule",
	  { 1000, 1000, true, NULL },
	  { "g", "/srv/guests/a", NULL, 1, 64, true, false, false, NULL },
	  NULL,
	  { 2, 2, 128 },
	  { 2, 2, 128 },
	  false,
	  "per-caller limit of 2 VMs reached (2 exist, running or not; p.json rule 1)" },
	{ "per-caller vCPU limit",
	  { 1000, 1000, true, NULL },
	  { "g", "/srv/guests/a", NULL, 2, 64, true, false, false, NULL },
	  NULL,
	  { 1, 3, 64 },
	  { 1, 3, 64 },
	  false,
	  "per-caller limit of 4 vCPUs: 3 in use plus 2 requested" },
	{ "per-caller vCPU limit reached exactly",
	  { 1000, 1000, true, NULL },
	  { "g", "/srv/guests/a", NULL, 1, 64, true, false, false, NULL },
	  NULL,
	  { 1, 3, 64 },
	  { 1, 3, 64 },
	  true,
	  "allowed" },
	{ "per-caller memory limit",
	  { 1000, 1000, true, NULL },
	  { "g", "/srv/guests/a", NULL, 1, 64, true, false, false, NULL },
	  NULL,
	  { 1, 1, 1000 },
	  { 1, 1, 1000 },
	  false,
	  "per-caller limit of 1024 MiB guest memory: 1000 MiB in use plus 64 MiB requested" },
	{ "policy-wide per-caller limit when the rule sets none",
	  { 0, 0, false, NULL },
	  { "r", "/k", NULL, 1, 64, true, false, false, NULL },
	  NULL,
	  { 5, 5, 5 },
	  { 5, 5, 5 },
	  false,
	  "per-caller limit of 5 VMs reached (5 exist, running or not; limits.per_caller)" },
	{ "global VM limit",
	  { 0, 0, false, NULL },
	  { "r", "/k", NULL, 1, 64, true, false, false, NULL },
	  NULL,
	  { 0 },
	  { 10, 10, 640 },
	  false,
	  "global limit of 10 VMs reached" },
	{ "global vCPU limit",
	  { 0, 0, false, NULL },
	  { "r", "/k", NULL, 4, 64, true, false, false, NULL },
	  NULL,
	  { 0 },
	  { 3, 13, 192 },
	  false,
	  "global limit of 16 vCPUs: 13 in use plus 4 requested" },
	{ "global memory limit without overflow",
	  { 0, 0, false, NULL },
	  { "r", "/k", NULL, 1, 64, true, false, false, NULL },
	  NULL,
	  { 0 },
	  { 1, 1, UINT64_MAX - 10 },
	  false,
	  "global limit of 4096 MiB guest memory" },
	{ "payload digest allowed",
	  { 2000, 2000, false, "build.service" },
	  { "ci-1", "/k", NULL, 1, 64, true, false, false, NULL },
	  DIGEST_A,
	  { 0 },
	  { 0 },
	  true,
	  "allowed by p.json rule 5" },
	{ "payload digest not allowed",
	  { 2000, 2000, false, "build.service" },
	  { "ci-1", "/k", NULL, 1, 64, true, false, false, NULL },
	  "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb",
	  { 0 },
	  { 0 },
	  false,
	  "payload /k has no SHA-256 digest allowed by p.json rule 5" },
	{ "payload digest unknown",
	  { 2000, 2000, false, "build.service" },
	  { "ci-1", "/k", NULL, 1, 64, true, false, false, NULL },
	  NULL,
	  { 0 },
	  { 0 },
	  false,
	  "has no SHA-256 digest allowed" },
	{ "config's expected digest differs from the payload's",
	  { 0, 0, false, NULL },
	  { "r", "/k", NULL, 1, 64, true, false, false,
	    "cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc" },
	  DIGEST_A,
	  { 0 },
	  { 0 },
	  false,
	  "payload /k does not have the SHA-256 the config expects" },
	{ "prefix \"/\" covers every path",
	  { 4000, 4000, false, NULL },
	  { "s", "/any/where", NULL, 1, 64, true, false, false, NULL },
	  NULL,
	  { 0 },
	  { 0 },
	  true,
	  "allowed by p.json rule 11" },
	{ "create denied outright",
	  { 1000, 1000, false, NULL },
	  { "n", "/k", NULL, 1, 64, true, false, false, NULL },
	  NULL,
	  { 0 },
	  { 0 },
	  false,
	  "no policy rule lets uid 1000 create VM 'n' (denied by default)" },
};

static void hex_to_bytes(const char *hex, uint8_t out[32])
{
	for (size_t i = 0; i < 32; i++)
		sscanf(hex + 2 * i, "%2hhx", &out[i]);
}

static void fill_config(pvm_config *cfg, const struct cfg_spec *s)
{
	snprintf(cfg->name, sizeof(cfg->name), "%s", s->name);
	cfg->kernel = (char *)s->kernel;
	cfg->initrd = (char *)s->initrd;
	cfg->cpus = s->cpus;
	cfg->memory_mib = s->memory_mib;
	cfg->protected_vm = s->protected_vm;
	cfg->memory_backing =
	    s->prefer ? PVM_MEMORY_BACKING_PREFER_GUEST_MEMFD : PVM_MEMORY_BACKING_GUEST_MEMFD;
	cfg->debug = s->debug;
	cfg->has_payload_sha256 = s->expected_sha != NULL;
	if (s->expected_sha)
		hex_to_bytes(s->expected_sha, cfg->payload_sha256);
}

static void test_create(const pvm_policy *p)
{
	for (size_t i = 0; i < ELEMENTSOF(create_cases); i++) {
		const struct create_case *c = &create_cases[i];
		pvm_caller caller = make_caller(&c->caller);
		pvm_config cfg = { 0 };
		uint8_t digest[32];
		pvm_decision d = { 0 };

		fill_config(&cfg, &c->cfg);
		if (c->computed_sha)
			hex_to_bytes(c->computed_sha, digest);
		CHECK(pvm_policy_check_create(p, &caller, &cfg, c->computed_sha ? digest : NULL,
					      NULL, &c->mine, &c->all, &d) == 0,
		      "case %zu", i);
		/* the limit denials, and only they, are flagged for LimitExceeded */
		CHECK(d.limit_exceeded == (strstr(c->reason, " limit of ") != NULL),
		      "%s: limit_exceeded=%d", c->what, d.limit_exceeded);
		CHECK(d.allowed == c->allowed, "%s: allowed=%d (%s)", c->what, d.allowed, d.reason);
		CHECK(strstr(d.reason, c->reason) != NULL, "%s:\n   got: %s\n  want: ...%s...",
		      c->what, d.reason, c->reason);

		/* before the payload is read: the same answer, except that the payload rules
		 * (digests and path prefixes, and only they) wait for the full check */
		bool digest_rule = strstr(c->reason, "SHA-256") != NULL ||
				   strstr(c->reason, "path prefix") != NULL;
		pvm_decision early = { 0 };
		CHECK(pvm_policy_check_create_before_payload(p, &caller, &cfg, &c->mine, &c->all,
							     &early) == 0,
		      "case %zu before the payload", i);
		CHECK(early.allowed == (c->allowed || digest_rule),
		      "%s before the payload: allowed=%d (%s)", c->what, early.allowed,
		      early.reason);
		if (!digest_rule)
			CHECK(strcmp(early.reason, d.reason) == 0, "%s before the payload: %s",
			      c->what, early.reason);
	}
}

/* The network: only a deciding rule with "network" lets a VM have one, and only the bridges its
 * patterns name; nothing else about the create changes. */
static void test_network(void)
{
	static const char text[] =
	    "{ \"rules\": ["
	    /* 0 */ " {\"who\": {\"users\": [0]}, \"actions\": [\"create\"], \"vms\": [\"*\"],"
	    " \"network\": {\"bridges\": [\"br-*\", \"lan0\"]}},"
	    /* 1 */ " {\"who\": {\"users\": [1000]}, \"actions\": [\"create\"], \"vms\": [\"*\"]},"
	    /* 2 */ " {\"who\": {\"users\": [2000]}, \"actions\": [\"create\"], \"vms\": [\"*\"],"
	    " \"network\": {}}"
	    " ] }";
	static const struct {
		uid_t uid;
		bool net;
		const char *bridge;
		bool allowed;
		const char *reason;
	} cases[] = {
		{ 0, true, "", true, "allowed by n.json rule 0" },
		{ 0, true, "br-guests", true, "allowed by n.json rule 0" },
		{ 0, true, "lan0", true, "allowed by n.json rule 0" },
		{ 0, true, "lan1", false,
		  "VM 'v' asks to join bridge 'lan1', which n.json rule 0 does not list in "
		  "network.bridges" },
		{ 1000, false, "", true, "allowed by n.json rule 1" },
		{ 1000, true, "", false,
		  "VM 'v' asks for a network (\"net\"), which n.json rule 1 does not allow" },
		{ 2000, true, "", true, "allowed by n.json rule 2" },
		{ 2000, true, "br-guests", false, "does not list in network.bridges" },
		{ 3000, true, "", false, "no policy rule lets uid 3000 create" },
	};
	_cleanup_(pvm_policy_freep) pvm_policy *p = NULL;
	pvm_error err = { 0 };

	CHECK(pvm_policy_parse_text(text, strlen(text), "n.json", &p, &err) == 0, "%s",
	      err.message);
	if (!p)
		return;
	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		pvm_caller c = { .uid = cases[i].uid, .gid = cases[i].uid };
		pvm_config cfg = {
			.name = "v", .kernel = (char *)"/k", .cpus = 1, .memory_mib = 64
		};
		pvm_usage none = { 0 };
		pvm_decision d = { 0 }, early = { 0 };

		cfg.net.enabled = cases[i].net;
		snprintf(cfg.net.bridge, sizeof(cfg.net.bridge), "%s", cases[i].bridge);
		CHECK(pvm_policy_check_create(p, &c, &cfg, NULL, NULL, &none, &none, &d) == 0,
		      "case %zu", i);
		CHECK(d.allowed == cases[i].allowed && strstr(d.reason, cases[i].reason),
		      "case %zu (uid %u, bridge '%s'): %d %s", i, (unsigned)cases[i].uid,
		      cases[i].bridge, d.allowed, d.reason);
		/* decided before the payload is read */
		CHECK(pvm_policy_check_create_before_payload(p, &c, &cfg, &none, &none, &early) ==
			      0 &&
			  early.allowed == d.allowed,
		      "case %zu before the payload", i);
	}
}

/* A digest rule covers the initrd too: guest code comes in through it as much as through the
 * kernel. Rule 5 allows DIGEST_A only. */
static void test_initrd_digest(const pvm_policy *p)
{
	pvm_caller caller =
	    make_caller(&(struct caller_spec){ 2000, 2000, false, "build.service" });
	pvm_config cfg = { 0 };
	uint8_t a[32], b[32];
	pvm_decision d = { 0 };

	fill_config(&cfg,
		    &(struct cfg_spec){ "ci-1", "/k", "/i", 1, 64, true, false, false, NULL });
	hex_to_bytes(DIGEST_A, a);
	memset(b, 0xbb, sizeof(b));
	CHECK(pvm_policy_check_create(p, &caller, &cfg, a, a, NULL, NULL, &d) == 0 && d.allowed,
	      "kernel and initrd listed: %s", d.reason);
	CHECK(pvm_policy_check_create(p, &caller, &cfg, a, b, NULL, NULL, &d) == 0 && !d.allowed &&
		  strstr(d.reason, "initrd /i has no SHA-256 digest allowed by p.json rule 5"),
	      "initrd not listed: %s", d.reason);
	CHECK(pvm_policy_check_create(p, &caller, &cfg, a, NULL, NULL, NULL, &d) == 0 && !d.allowed,
	      "initrd digest unknown: %s", d.reason);
}

static void test_memory_fallback(const pvm_policy *strict)
{
	static const char lax_text[] = "{\"memory\": {\"protected_requires_guest_memfd\": false},"
				       " \"rules\": [{\"who\": {\"users\": [0]}, \"actions\": "
				       "[\"create\"], \"vms\": [\"*\"]}]}";
	_cleanup_(pvm_policy_freep) pvm_policy *lax = NULL;
	pvm_caller root = { 0 };
	pvm_config cfg = { .name = "m", .kernel = (char *)"/k", .cpus = 1, .memory_mib = 1 };
	pvm_error err = { 0 };
	pvm_decision d;

	CHECK(pvm_policy_parse_text(lax_text, strlen(lax_text), "lax.json", &lax, &err) == 0, "%s",
	      err.message);
	if (!lax)
		return;
	/* a config that demands guest_memfd never falls back */
	cfg.memory_backing = PVM_MEMORY_BACKING_GUEST_MEMFD;
	cfg.protected_vm = false;
	CHECK(!pvm_policy_allows_memory_fallback(strict, &root, &cfg), "guest_memfd: no fallback");
	CHECK(!pvm_policy_allows_memory_fallback(lax, &root, &cfg), "guest_memfd: no fallback");
	cfg.memory_backing = PVM_MEMORY_BACKING_PREFER_GUEST_MEMFD;
	CHECK(pvm_policy_allows_memory_fallback(strict, &root, &cfg), "unprotected may fall back");
	cfg.protected_vm = true;
	CHECK(!pvm_policy_allows_memory_fallback(strict, &root, &cfg), "protected: strict refuses");
	CHECK(pvm_policy_allows_memory_fallback(lax, &root, &cfg), "protected: lax allows");
	CHECK(pvm_policy_check_create(lax, &root, &cfg, NULL, NULL, NULL, NULL, &d) == 0 &&
		  d.allowed,
	      "lax create: %s", d.reason);
	CHECK(pvm_policy_check_create(strict, &root, &cfg, NULL, NULL, NULL, NULL, &d) == 0 &&
		  !d.allowed,
	      "strict create");

	/* usage not given counts as nothing in use: limits still apply to the VM itself */
	cfg.memory_backing = PVM_MEMORY_BACKING_GUEST_MEMFD;
	cfg.memory_mib = 4097;
	CHECK(pvm_policy_check_create(strict, &root, &cfg, NULL, NULL, NULL, NULL, &d) == 0 &&
		  !d.allowed,
	      "no usage: %s", d.reason);
	CHECK(strstr(d.reason,
		     "global limit of 4096 MiB guest memory: 0 MiB in use plus 4097 MiB") != NULL,
	      "%s", d.reason);
}

/* firmware.protected_requires_signed_payload: a protected VM must name pvm-fw, decided before
 * the payload is read; firmware.identities: its identity, known once pvmd read the image, must
 * be listed. Unprotected VMs and policies without the key are not concerned. */
static void test_firmware(void)
{
	static const char text[] =
	    "{\"rules\": [{\"who\": {\"everyone\": true}, \"actions\": [\"create\"], "
	    "\"vms\": [\"*\"]}], \"memory\": {\"protected_requires_guest_memfd\": false}, "
	    "\"firmware\": {\"protected_requires_signed_payload\": true, \"identities\": "
	    "[\"f58cca3466e84be857cde20eeaf135ae8fd51e82882e9962a0caa89c6ec4b319\"]}}";
	static const char loose_text[] = "{\"rules\": [{\"who\": {\"everyone\": true}, "
					 "\"actions\": [\"create\"], \"vms\": [\"*\"]}], "
					 "\"memory\": {\"protected_requires_guest_memfd\": false}}";
	_cleanup_(pvm_policy_freep) pvm_policy *p = NULL, *loose = NULL;
	pvm_caller root = { 0 };
	pvm_config cfg = { .name = "fw",
			   .kernel = (char *)"/k",
			   .cpus = 1,
			   .memory_mib = 64,
			   .protected_vm = true };
	pvm_error err = { 0 };
	uint8_t digest[32] = { 0 };
	pvm_decision d;

	CHECK(pvm_policy_parse_text(text, strlen(text), "fw.json", &p, &err) == 0, "%s",
	      err.message);
	CHECK(pvm_policy_parse_text(loose_text, strlen(loose_text), "loose.json", &loose, &err) ==
		  0,
	      "%s", err.message);
	if (!p || !loose)
		return;
	CHECK(pvm_policy_check_create_before_payload(p, &root, &cfg, NULL, NULL, &d) == 0 &&
		  !d.allowed && strstr(d.reason, "firmware.protected_requires_signed_payload"),
	      "protected without firmware: %s", d.reason);
	CHECK(pvm_policy_check_create(loose, &root, &cfg, digest, NULL, NULL, NULL, &d) == 0 &&
		  d.allowed,
	      "no firmware key: %s", d.reason);
	cfg.protected_vm = false;
	CHECK(pvm_policy_check_create(p, &root, &cfg, digest, NULL, NULL, NULL, &d) == 0 &&
		  d.allowed,
	      "unprotected without firmware: %s", d.reason);
	cfg.protected_vm = true;
	cfg.firmware = (char *)"pvm-fw";
	cfg.descriptor = (char *)"/d";
	/* before the image is read its identity is unknown: only the requirement is decided */
	CHECK(pvm_policy_check_create_before_payload(p, &root, &cfg, NULL, NULL, &d) == 0 &&
		  d.allowed,
	      "before payload: %s", d.reason);
	CHECK(pvm_policy_check_create(p, &root, &cfg, digest, NULL, NULL, NULL, &d) == 0 &&
		  !d.allowed && strstr(d.reason, "no identity"),
	      "identity unknown: %s", d.reason);
	cfg.has_firmware_identity = true;
	memset(cfg.firmware_identity, 0xab, 32);
	CHECK(pvm_policy_check_create(p, &root, &cfg, digest, NULL, NULL, NULL, &d) == 0 &&
		  !d.allowed && strstr(d.reason, "abababab") &&
		  strstr(d.reason, "firmware.identities"),
	      "untrusted identity: %s", d.reason);
	hex_to_bytes("f58cca3466e84be857cde20eeaf135ae8fd51e82882e9962a0caa89c6ec4b319",
		     cfg.firmware_identity);
	CHECK(pvm_policy_check_create(p, &root, &cfg, digest, NULL, NULL, NULL, &d) == 0 &&
		  d.allowed,
	      "trusted identity: %s", d.reason);
	CHECK(pvm_policy_check_create(loose, &root, &cfg, digest, NULL, NULL, NULL, &d) == 0 &&
		  d.allowed,
	      "no identities listed: %s", d.reason);
}

struct bad_policy {
	const char *json;
	const char *message; /* after "p.json: " */
};

#define WHO "\"who\": {\"users\": [0]}"
#define ACT "\"actions\": [\"create\"]"
#define VMS "\"vms\": [\"*\"]"
#define RULE(extra) "{\"rules\": [{" WHO ", " ACT ", " VMS extra "}]}"

static const struct bad_policy bad_policies[] = {
	{ "[]", "$: expected an object, got an array" },
	{ "{\"rule\": []}", "$.rule: unknown key (known keys: rules, limits, memory, firmware)" },
	{ "{\"rules\": {}}", "$.rules: expected an array, got an object" },
	{ "{\"rules\": [1]}", "$.rules[0]: expected an object, got 1" },
	{ "{\"rules\": [], \"rules\": []}", "$.rules: duplicate key in one object" },
	{ RULE(", \"why\": 1"), "$.rules[0].why: unknown key" },
	{ "{\"rules\": [{" ACT ", " VMS "}]}", "$.rules[0]: missing key \"who\"" },
	{ "{\"rules\": [{" WHO ", " VMS "}]}", "$.rules[0]: missing key \"actions\"" },
	{ "{\"rules\": [{" WHO ", " ACT "}]}", "$.rules[0]: missing key \"vms\"" },
	{ "{\"rules\": [{\"who\": {}, " ACT ", " VMS "}]}",
	  "$.rules[0].who: expected at least one of users, groups, units, everyone" },
	{ "{\"rules\": [{\"who\": {\"uid\": [0]}, " ACT ", " VMS "}]}",
	  "$.rules[0].who.uid: unknown key (known keys: users, groups, units, everyone)" },
	{ "{\"rules\": [{\"who\": {\"everyone\": false}, " ACT ", " VMS "}]}",
	  "$.rules[0].who.everyone: expected true" },
	{ "{\"rules\": [{\"who\": {\"everyone\": true, \"users\": [0]}, " ACT ", " VMS "}]}",
	  "$.rules[0].who: \"everyone\" cannot be combined" },
	{ "{\"rules\": [{\"who\": {\"users\": [\"1000\"]}, " ACT ", " VMS "}]}",
	  "$.rules[0].who.users[0]: expected a user name, got \"1000\" (write numeric ids as JSON "
	  "numbers)" },
	{ "{\"rules\": [{\"who\": {\"users\": [-1]}, " ACT ", " VMS "}]}",
	  "$.rules[0].who.users[0]: expected an integer from 0 to 4294967294, got -1" },
	{ "{\"rules\": [{\"who\": {\"users\": [4294967295]}, " ACT ", " VMS "}]}",
	  "$.rules[0].who.users[0]: expected an integer from 0 to 4294967294, got 4294967295" },
	{ "{\"rules\": [{\"who\": {\"groups\": [1.5]}, " ACT ", " VMS "}]}",
	  "$.rules[0].who.groups[0]: expected a group name or a numeric gid, got 1.5" },
	{ "{\"rules\": [{\"who\": {\"groups\": [\"\"]}, " ACT ", " VMS "}]}",
	  "$.rules[0].who.groups[0]: expected a string of 1 to 256 bytes, got 0" },
	{ "{\"rules\": [{\"who\": {\"units\": \"a.service\"}, " ACT ", " VMS "}]}",
	  "$.rules[0].who.units: expected an array, got \"a.service\"" },
	{ "{\"rules\": [{" WHO ", \"actions\": [], " VMS "}]}",
	  "$.rules[0].actions: expected at least one entry, got an empty array" },
	{ "{\"rules\": [{" WHO ", \"actions\": [\"reboot\"], " VMS "}]}",
	  "$.rules[0].actions[0]: expected \"create\", \"stop\", \"inspect\" or \"attach\", got "
	  "\"reboot\"" },
	{ "{\"rules\": [{" WHO ", " ACT ", \"vms\": []}]}",
	  "$.rules[0].vms: expected at least one entry, got an empty array" },
	{ "{\"rules\": [{" WHO ", " ACT ", \"vms\": [\"@all\"]}]}",
	  "$.rules[0].vms[0]: expected a VM name pattern or \"@own\", got \"@all\"" },
	{ "{\"rules\": [{" WHO ", " ACT ", \"vms\": [\"a\", \"\"]}]}",
	  "$.rules[0].vms[1]: expected a string of 1 to 128 bytes, got 0" },
	{ RULE(", \"effect\": \"maybe\""),
	  "$.rules[0].effect: expected \"allow\" or \"deny\", got \"maybe\"" },
	{ RULE(", \"effect\": \"deny\", \"debug\": true"),
	  "$.rules[0]: \"debug\", \"payloads\", \"limits\" and \"network\" only belong in allow "
	  "rules" },
	{ "{\"rules\": [{" WHO ", \"actions\": [\"stop\"], " VMS ", \"limits\": {}}]}",
	  "$.rules[0]: \"debug\", \"payloads\", \"limits\" and \"network\" only belong in rules "
	  "whose actions include \"create\"" },
	{ RULE(", \"effect\": \"deny\", \"network\": {}"),
	  "$.rules[0]: \"debug\", \"payloads\", \"limits\" and \"network\" only belong in allow "
	  "rules" },
	{ "{\"rules\": [{" WHO ", \"actions\": [\"inspect\"], " VMS ", \"network\": {}}]}",
	  "$.rules[0]: \"debug\", \"payloads\", \"limits\" and \"network\" only belong in rules "
	  "whose actions include \"create\"" },
	{ RULE(", \"network\": true"), "$.rules[0].network: expected an object" },
	{ RULE(", \"network\": {\"bridge\": []}"),
	  "$.rules[0].network.bridge: unknown key (known keys: bridges)" },
	{ RULE(", \"network\": {\"bridges\": [\"br/0\"]}"),
	  "$.rules[0].network.bridges[0]: expected a bridge name or pattern" },
	{ RULE(", \"network\": {\"bridges\": [\"br 0\"]}"),
	  "$.rules[0].network.bridges[0]: expected a bridge name or pattern" },
	{ RULE(", \"debug\": 1"), "$.rules[0].debug: expected true or false, got 1" },
	{ RULE(", \"payloads\": {\"paths\": []}"),
	  "$.rules[0].payloads.paths: unknown key (known keys: path_prefixes, sha256)" },
	{ RULE(", \"payloads\": {\"path_prefixes\": [\"srv\"]}"),
	  "$.rules[0].payloads.path_prefixes[0]: expected a normalized absolute directory, got "
	  "\"srv\"" },
	{ RULE(", \"payloads\": {\"path_prefixes\": [\"/srv/../etc\"]}"),
	  "$.rules[0].payloads.path_prefixes[0]: expected a normalized absolute directory" },
	{ RULE(", \"payloads\": {\"path_prefixes\": [\"/srv/..\"]}"),
	  "$.rules[0].payloads.path_prefixes[0]: expected a normalized absolute directory" },
	{ RULE(", \"payloads\": {\"sha256\": [\"" DIGEST_A "\", \"xyz\"]}"),
	  "$.rules[0].payloads.sha256[1]: expected 64 hexadecimal digits, got \"xyz\"" },
	{ RULE(", \"limits\": {\"vms\": -1}"),
	  "$.rules[0].limits.vms: expected an integer from 0 to 4294967295, got -1" },
	{ RULE(", \"limits\": {\"cpus\": 1}"),
	  "$.rules[0].limits.cpus: unknown key (known keys: vms, vcpus, memory_mib)" },
	{ "{\"limits\": {\"global\": {\"memory_mib\": 1e9}}}",
	  "$.limits.global.memory_mib: expected an integer from 0 to 4294967295, got " },
	{ "{\"limits\": {\"everyone\": {}}}",
	  "$.limits.everyone: unknown key (known keys: global, per_caller)" },
	{ "{\"memory\": {\"protected_requires_guest_memfd\": \"yes\"}}",
	  "$.memory.protected_requires_guest_memfd: expected true or false, got \"yes\"" },
	{ "{\"memory\": {\"fallback\": true}}", "$.memory.fallback: unknown key" },
	{ "{\"firmware\": {\"protected_requires_signed_payload\": 1}}",
	  "$.firmware.protected_requires_signed_payload: expected true or false, got 1" },
	{ "{\"firmware\": {\"identities\": [\"00\"]}}",
	  "$.firmware.identities[0]: expected 64 hexadecimal digits" },
	{ "{\"firmware\": {\"keys\": []}}", "$.firmware.keys: unknown key (known keys: "
					    "protected_requires_signed_payload, identities)" },
	{ "{\"rules\": [{\"who\": {\"users\": [0]}, " ACT ", " VMS "}] ", "line 1, column " },
};

static void test_bad_policies(void)
{
	for (size_t i = 0; i < ELEMENTSOF(bad_policies); i++) {
		const struct bad_policy *c = &bad_policies[i];
		pvm_policy *p = NULL;
		pvm_error err = { 0 };
		char want[PVM_ERROR_MESSAGE_MAX];
		int r = pvm_policy_parse_text(c->json, strlen(c->json), "p.json", &p, &err);

		snprintf(want, sizeof(want), "p.json: %s", c->message);
		CHECK(r < 0 && !p && r == -err.code, "case %zu (%s) accepted", i, c->json);
		CHECK(strncmp(err.message, want, strlen(want)) == 0,
		      "case %zu:\n   got: %s\n  want: %s", i, err.message, want);
		pvm_policy_free(p);
	}

	/* lists are bounded */
	char big[8192] = "{\"rules\": [{\"who\": {\"users\": [";
	for (int i = 0; i <= PVM_POLICY_LIST_MAX; i++)
		strcat(big, i ? ",0" : "0");
	strcat(big, "]}, " ACT ", " VMS "}]}");
	pvm_policy *p = NULL;
	pvm_error err = { 0 };
	CHECK(pvm_policy_parse_text(big, strlen(big), "p.json", &p, &err) == -E2BIG, "long list");
	CHECK(strcmp(err.message,
		     "p.json: $.rules[0].who.users: expected at most 256 entries, got 257") == 0,
	      "%s", err.message);
}

static void test_unresolved_names(void)
{
	static const char text[] = "{\"rules\": [{\"who\": {\"users\": [\"no-such-user-pvm\"],"
				   " \"groups\": [\"no-such-group-pvm\"]}, " ACT ", " VMS "}]}";
	_cleanup_(pvm_policy_freep) pvm_policy *p = NULL;
	pvm_error err = { 0 };
	pvm_caller anyone = { .uid = 0 };
	pvm_decision d;

	CHECK(pvm_policy_parse_text(text, strlen(text), "n.json", &p, &err) == 0, "%s",
	      err.message);
	if (!p)
		return;
	CHECK(pvm_policy_n_warnings(p) == 2, "%zu warnings", pvm_policy_n_warnings(p));
	CHECK(pvm_policy_warning(p, 0) &&
		  strcmp(pvm_policy_warning(p, 0),
			 "n.json: $.rules[0].who.users[0]: no user \"no-such-user-pvm\" on this "
			 "system; the entry matches nobody") == 0,
	      "%s", pvm_policy_warning(p, 0));
	CHECK(pvm_policy_warning(p, 1) && strstr(pvm_policy_warning(p, 1), "no group"), "group");
	/* the rule stays, matching nobody: not even uid 0 */
	CHECK(pvm_policy_check_action(p, &anyone, PVM_ACTION_CREATE, "x", 0, &d) == 0 && !d.allowed,
	      "%s", d.reason);
}

/* --- directories --------------------------------------------------------------------------- */

static void write_file(const char *dir, const char *name, const char *text)
{
	char path[4096];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	CHECK(fd >= 0 && write(fd, text, strlen(text)) == (ssize_t)strlen(text), "write %s", path);
	if (fd >= 0)
		close(fd);
}

static bool allowed(const pvm_policy *p, uid_t uid, enum pvm_action a, const char *vm)
{
	pvm_caller c = { .uid = uid, .gid = uid };
	pvm_decision d = { 0 };

	return pvm_policy_check_action(p, &c, a, vm, 0, &d) == 0 && d.allowed;
}

#define ALLOW_UID(uid, vm)                                                                         \
	"{\"rules\": [{\"who\": {\"users\": [" #uid                                                \
	"]}, \"actions\": [\"inspect\"], \"vms\": [\"" vm "\"]}]}"

static void test_dirs(void)
{
	char root[] = "/tmp/test-policy-XXXXXX";
	char vendor[64], etc[64], missing[64], path[128];
	const char *dirs[3];
	pvm_error err = { 0 };

	CHECK(mkdtemp(root) != NULL, "mkdtemp");
	snprintf(vendor, sizeof(vendor), "%s/vendor", root);
	snprintf(etc, sizeof(etc), "%s/etc", root);
	snprintf(missing, sizeof(missing), "%s/missing", root);
	mkdir(vendor, 0755);
	mkdir(etc, 0755);
	dirs[0] = vendor;
	dirs[1] = etc;
	dirs[2] = missing;

	write_file(vendor, "40-a.json", ALLOW_UID(1, "a"));
	write_file(vendor, "50-b.json", ALLOW_UID(2, "b"));
	write_file(etc, "50-b.json", ALLOW_UID(3, "b")); /* replaces the vendor file */
	write_file(vendor, "60-masked.json", ALLOW_UID(4, "m"));
	write_file(etc, "60-masked.json", ""); /* empty: masks */
	write_file(vendor, "70-devnull.json", ALLOW_UID(5, "n"));
	snprintf(path, sizeof(path), "%s/70-devnull.json", etc);
	CHECK(symlink("/dev/null", path) == 0, "symlink"); /* to /dev/null: masks */
	write_file(etc, "45-deny.json",
		   "{\"rules\": [{\"who\": {\"users\": [1]}, \"actions\": [\"inspect\"], "
		   "\"vms\": [\"a\"], \"effect\": \"deny\"}]}"); /* after 40-a in lexical order */
	write_file(etc, "README", "not json");			 /* ignored: not *.json */
	write_file(etc, ".hidden.json", "not json");		 /* ignored: hidden */

	{
		_cleanup_(pvm_policy_freep) pvm_policy *p = NULL;
		CHECK(pvm_policy_load(dirs, 3, &p, &err) == 0, "%s", err.message);
		if (p) {
			CHECK(pvm_policy_n_files(p) == 3, "%zu files", pvm_policy_n_files(p));
			CHECK(pvm_policy_n_rules(p) == 3, "%zu rules", pvm_policy_n_rules(p));
			CHECK(strstr(pvm_policy_file(p, 0), "/vendor/40-a.json") != NULL,
			      "order 0");
			CHECK(strstr(pvm_policy_file(p, 1), "/etc/45-deny.json") != NULL,
			      "order 1");
			CHECK(strstr(pvm_policy_file(p, 2), "/etc/50-b.json") != NULL, "order 2");
			CHECK(pvm_policy_file(p, 3) == NULL, "no 4th file");
			CHECK(!allowed(p, 1, PVM_ACTION_INSPECT, "a"), "45-deny comes after 40-a");
			CHECK(!allowed(p, 2, PVM_ACTION_INSPECT, "b"), "vendor 50-b replaced");
			CHECK(allowed(p, 3, PVM_ACTION_INSPECT, "b"), "etc 50-b applies");
			CHECK(!allowed(p, 4, PVM_ACTION_INSPECT, "m"), "masked by an empty file");
			CHECK(!allowed(p, 5, PVM_ACTION_INSPECT, "n"), "masked by /dev/null");
		}
	}
	{
		/* the same name in a later directory wins even when the later file is invalid */
		_cleanup_(pvm_policy_freep) pvm_policy *p = NULL;
		write_file(etc, "40-a.json", "{\"rules\": [{\"who\": {}}]}");
		pvm_error_clear(&err);
		CHECK(pvm_policy_load(dirs, 3, &p, &err) == -EINVAL && !p, "invalid file");
		snprintf(path, sizeof(path), "%s/40-a.json: $.rules[0].who: expected at least one",
			 etc);
		CHECK(strncmp(err.message, path, strlen(path)) == 0, "%s", err.message);
		snprintf(path, sizeof(path), "%s/40-a.json", etc);
		unlink(path);
	}
	{
		/* a directory named like a policy file is an error, not silently skipped */
		_cleanup_(pvm_policy_freep) pvm_policy *p = NULL;
		snprintf(path, sizeof(path), "%s/80-dir.json", etc);
		mkdir(path, 0755);
		pvm_error_clear(&err);
		CHECK(pvm_policy_load(dirs, 3, &p, &err) == -EINVAL, "directory");
		CHECK(strstr(err.message, "80-dir.json: not a regular file") != NULL, "%s",
		      err.message);
		rmdir(path);
	}
	{
		/* a policy file everyone may write is refused */
		_cleanup_(pvm_policy_freep) pvm_policy *p = NULL;
		snprintf(path, sizeof(path), "%s/50-b.json", etc);
		CHECK(chmod(path, 0646) == 0, "chmod");
		pvm_error_clear(&err);
		CHECK(pvm_policy_load(dirs, 3, &p, &err) == -EPERM && !p, "world-writable");
		CHECK(strstr(err.message,
			     "/etc/50-b.json: writable by everyone (mode 0646); refusing it") !=
			  NULL,
		      "%s", err.message);
		CHECK(chmod(path, 0644) == 0, "chmod back");
	}
	{
		/* no directories at all: an empty policy that denies everything */
		_cleanup_(pvm_policy_freep) pvm_policy *p = NULL;
		const char *none[] = { missing };
		pvm_error_clear(&err);
		CHECK(pvm_policy_load(none, 1, &p, &err) == 0 && p, "%s", err.message);
		if (p) {
			CHECK(pvm_policy_n_files(p) == 0 && pvm_policy_n_rules(p) == 0, "empty");
			CHECK(!allowed(p, 0, PVM_ACTION_INSPECT, "x"), "deny by default");
		}
	}
	{
		/* a path that is not a directory */
		_cleanup_(pvm_policy_freep) pvm_policy *p = NULL;
		snprintf(path, sizeof(path), "%s/50-b.json", etc);
		const char *file[] = { path };
		pvm_error_clear(&err);
		CHECK(pvm_policy_load(file, 1, &p, &err) == -ENOTDIR, "not a directory");
		CHECK(strstr(err.message, "cannot open policy directory: Not a directory") != NULL,
		      "%s", err.message);
	}

	{
		/* a directory holds at most PVM_POLICY_FILES_MAX policy files */
		_cleanup_(pvm_policy_freep) pvm_policy *p = NULL;
		char many[64], name[32];
		snprintf(many, sizeof(many), "%s/many", root);
		mkdir(many, 0755);
		for (int i = 0; i <= PVM_POLICY_FILES_MAX; i++) {
			snprintf(name, sizeof(name), "%04d.json", i);
			write_file(many, name, "{}");
		}
		const char *one[] = { many };
		pvm_error_clear(&err);
		CHECK(pvm_policy_load(one, 1, &p, &err) == -E2BIG, "too many files");
		CHECK(strstr(err.message, "/many: more than 1024 policy files") != NULL, "%s",
		      err.message);
		for (int i = 0; i <= PVM_POLICY_FILES_MAX; i++) {
			snprintf(path, sizeof(path), "%s/%04d.json", many, i);
			unlink(path);
		}
		rmdir(many);
	}

	const char *names[] = { "40-a.json",	  "45-deny.json", "50-b.json",
				"60-masked.json", "README",	  ".hidden.json" };
	for (size_t i = 0; i < ELEMENTSOF(names); i++) {
		snprintf(path, sizeof(path), "%s/%s", etc, names[i]);
		unlink(path);
		snprintf(path, sizeof(path), "%s/%s", vendor, names[i]);
		unlink(path);
	}
	snprintf(path, sizeof(path), "%s/70-devnull.json", etc);
	unlink(path);
	snprintf(path, sizeof(path), "%s/70-devnull.json", vendor);
	unlink(path);
	rmdir(vendor);
	rmdir(etc);
	rmdir(root);
}

/* The shipped default and example must load, and mean what pvm-policy(5) says. */
static void test_shipped(const char *srcdir)
{
	char def[4096], ex[4096];
	const char *dirs[] = { def, ex };
	_cleanup_(pvm_policy_freep) pvm_policy *p = NULL, *both = NULL;
	pvm_error err = { 0 };
	pvm_config cfg = { .name = "vm",
			   .kernel = (char *)"/usr/share/pvm/guests/x.elf",
			   .cpus = 1,
			   .memory_mib = 64,
			   .protected_vm = true,
			   .debug = true };
	pvm_caller root = { .uid = 0 }, user = { .uid = 1000, .gid = 1000 };
	pvm_usage none = { 0 };
	pvm_decision d;

	snprintf(def, sizeof(def), "%s/policy/policy.d", srcdir);
	snprintf(ex, sizeof(ex), "%s/examples/policy.d", srcdir);
	CHECK(pvm_policy_load(dirs, 1, &p, &err) == 0, "%s", err.message);
	if (!p)
		return;
	CHECK(pvm_policy_n_files(p) >= 1 && pvm_policy_n_warnings(p) == 0, "default");
	for (int a = 0; a < _PVM_ACTION_MAX; a++) {
		CHECK(allowed(p, 0, (enum pvm_action)a, "any"), "root may %s",
		      pvm_action_to_string((enum pvm_action)a));
		CHECK(!allowed(p, 1000, (enum pvm_action)a, "any"), "others may not %s",
		      pvm_action_to_string((enum pvm_action)a));
		pvm_caller u = { .uid = 1000, .gid = 0 }; /* even in group root */
		CHECK(pvm_policy_check_action(p, &u, (enum pvm_action)a, "x", 1000, &d) == 0 &&
			  !d.allowed,
		      "own VM");
	}
	CHECK(pvm_policy_check_create(p, &root, &cfg, NULL, NULL, &none, &none, &d) == 0 &&
		  d.allowed,
	      "root creates a debug VM: %s", d.reason);
	CHECK(pvm_policy_check_create(p, &user, &cfg, NULL, NULL, &none, &none, &d) == 0 &&
		  !d.allowed,
	      "user cannot create");
	cfg.net.enabled = true; /* root may give a VM a network, on any bridge */
	snprintf(cfg.net.bridge, sizeof(cfg.net.bridge), "br0");
	CHECK(pvm_policy_check_create(p, &root, &cfg, NULL, NULL, &none, &none, &d) == 0 &&
		  d.allowed,
	      "root creates a VM on a bridge: %s", d.reason);
	cfg.net = (pvm_net){ 0 };
	cfg.memory_backing = PVM_MEMORY_BACKING_PREFER_GUEST_MEMFD;
	CHECK(pvm_policy_check_create(p, &root, &cfg, NULL, NULL, &none, &none, &d) == 0 &&
		  !d.allowed,
	      "protected VMs need guest_memfd by default");

	CHECK(pvm_policy_load(dirs, 2, &both, &err) == 0, "%s", err.message);
	if (both)
		CHECK(pvm_policy_n_files(both) >= 2 && pvm_policy_n_rules(both) >= 4,
		      "default + example");
}

int main(int argc, char **argv)
{
	_cleanup_(pvm_policy_freep) pvm_policy *p = NULL;
	pvm_error err = { 0 };

	CHECK(pvm_policy_parse_text(policy_text, strlen(policy_text), "p.json", &p, &err) == 0,
	      "%s", err.message);
	if (!p)
		return check_exit("test-policy");
	CHECK(pvm_policy_n_rules(p) == 12 && pvm_policy_n_files(p) == 1, "counts");
	CHECK(pvm_policy_n_warnings(p) == 0, "warnings: %s", pvm_policy_warning(p, 0));
	test_actions(p);
	test_create(p);
	test_network();
	test_initrd_digest(p);
	test_memory_fallback(p);
	test_firmware();
	test_bad_policies();
	test_unresolved_names();
	test_dirs();
	test_shipped(argc > 1 ? argv[1] : ".");
	return check_exit("test-policy");
}
