/* The daemon's policy model (pvm-policy(5)): who may do what to which VMs, limits, memory
 * backing and payload rules, read from drop-in directories. Evaluation is a pure function of
 * (policy, caller, request, current usage) so it is unit-tested as a table. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "config.h"
#include "error.h"

#define PVM_POLICY_DIR_ETC "/etc/pvm/policy.d"
/* Where meson installs the shipped defaults: /usr/share/pvm/policy.d for a /usr build,
 * PREFIX/share/pvm/policy.d otherwise (the build defines PVM_PKGDATADIR). */
#ifdef PVM_PKGDATADIR
#define PVM_POLICY_DIR_VENDOR PVM_PKGDATADIR "/policy.d"
#else
#define PVM_POLICY_DIR_VENDOR "/usr/share/pvm/policy.d"
#endif

#define PVM_POLICY_FILE_MAX (1 << 20) /* bytes per policy file */
#define PVM_POLICY_DEPTH_MAX 8
#define PVM_POLICY_FILES_MAX 1024 /* files per directory */
#define PVM_POLICY_RULES_MAX 1024 /* rules per file */
#define PVM_POLICY_LIST_MAX 256	  /* entries in one list (users, patterns, digests...) */

enum pvm_action {
	PVM_ACTION_CREATE,  /* CreateVM / StartVM of a new config */
	PVM_ACTION_STOP,    /* StopVM, KillVM */
	PVM_ACTION_INSPECT, /* GetVM, ListVMs entries, logs */
	PVM_ACTION_ATTACH,  /* console */
	_PVM_ACTION_MAX,
};

typedef struct pvm_caller {
	uid_t uid;
	gid_t gid;
	const gid_t *groups; /* supplementary groups */
	size_t n_groups;
	const char *unit; /* systemd unit of the caller, or NULL */
	pid_t pid;
} pvm_caller;

typedef struct pvm_usage {
	uint32_t vms;
	uint32_t vcpus;
	uint64_t memory_mib;
} pvm_usage;

typedef struct pvm_policy pvm_policy;

typedef struct pvm_decision {
	bool allowed;
	char reason[512];    /* why, naming the rule's file, for denials and for logs */
	bool limit_exceeded; /* denied by a VM count, vCPU or memory limit (LimitExceeded) */
} pvm_decision;

/* Load policy from directories in increasing priority (e.g. vendor, then /etc): *.json files,
 * a file name in a later directory replaces the same name in an earlier one; the merged set is
 * applied in lexical order of file names. A missing directory is empty, an invalid file is an
 * error naming the file and JSON path. */
int pvm_policy_load(const char *const *dirs, size_t n_dirs, pvm_policy **ret, pvm_error *err);
/* The policy of one file's text (as if it were the only file), user and group names resolved
 * as pvm_policy_load() does. `origin` names the file in errors and decisions. */
int pvm_policy_parse_text(const char *text, size_t len, const char *origin, pvm_policy **ret,
			  pvm_error *err);

/* What was loaded, for `pvmctl policy check`: the files applied in order, the number of rules,
 * and warnings (e.g. a user or group name that does not resolve and so matches nobody). */
size_t pvm_policy_n_files(const pvm_policy *p);
const char *pvm_policy_file(const pvm_policy *p, size_t i);
size_t pvm_policy_n_rules(const pvm_policy *p);
/* Rules that allow something: none means the policy denies every action to every caller. */
size_t pvm_policy_n_allow_rules(const pvm_policy *p);
size_t pvm_policy_n_warnings(const pvm_policy *p);
const char *pvm_policy_warning(const pvm_policy *p, size_t i);
pvm_policy *pvm_policy_free(pvm_policy *p);
DEFINE_TRIVIAL_CLEANUP_FUNC(pvm_policy *, pvm_policy_free)

/* May `caller` do `action` on the VM `vm_name` owned by `owner_uid`? */
int pvm_policy_check_action(const pvm_policy *p, const pvm_caller *caller, enum pvm_action action,
			    const char *vm_name, uid_t owner_uid, pvm_decision *ret);

/* May `caller` create this VM, given what the caller and everyone already run? Checks the
 * create permission, limits, memory backing rules, payload rules (path prefix and digest, for the
 * kernel and for the initrd) and debug. `payload_sha256` and `initrd_sha256` are the digests pvmd
 * computed of the bytes it holds (initrd_sha256 NULL when cfg has no initrd). The path prefixes
 * are compared with cfg->kernel and cfg->initrd, which pvmd sets to where the files it was handed
 * really are. */
int pvm_policy_check_create(const pvm_policy *p, const pvm_caller *caller, const pvm_config *cfg,
			    const uint8_t payload_sha256[32], const uint8_t initrd_sha256[32],
			    const pvm_usage *caller_usage, const pvm_usage *global_usage,
			    pvm_decision *ret);

/* The same check without the payload rules (path prefixes, digests), for before the payload is
 * read: pvmd copies and hashes a payload only for a caller whose create (limits, debug, backing)
 * the policy already allows. The full check above follows once pvmd knows where the files it
 * was handed are and what their digests are. */
int pvm_policy_check_create_before_payload(const pvm_policy *p, const pvm_caller *caller,
					   const pvm_config *cfg, const pvm_usage *caller_usage,
					   const pvm_usage *global_usage, pvm_decision *ret);

/* Whether the memfd+mlock fallback is allowed for this caller/config (protected VMs normally
 * never). */
bool pvm_policy_allows_memory_fallback(const pvm_policy *p, const pvm_caller *caller,
				       const pvm_config *cfg);

const char *pvm_action_to_string(enum pvm_action a);
