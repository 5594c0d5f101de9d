/* The policy model shared by the parts of libpvm's policy: policy-parse.c builds it from JSON,
 * policy-load.c from drop-in directories, policy.c owns it and evaluates it. Not installed, not
 * for pvmd: pvmd sees only policy.h. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"
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
	/* "firmware": protected VMs must boot through pvm-fw; and, when identities are listed,
	 * every firmware must be one of them */
	bool protected_requires_signed_payload;
	bool has_firmware_identities;
	uint8_t (*firmware_identities)[32];
	size_t n_firmware_identities;
	struct str_list warnings;
};

/* "create", "stop", ... indexed by enum pvm_action */
extern const char *const policy_action_names[_PVM_ACTION_MAX];

pvm_policy *policy_new(void);
int policy_str_list_add(struct str_list *l, const char *s);
int policy_id_list_add(struct id_list *l, uint32_t id);
/* Parse one file's text into p (rules appended, limits and memory rules merged); `origin`
 * names the file in errors and in the decisions of its rules. */
int policy_add_text(pvm_policy *p, const char *text, size_t len, const char *origin,
		    pvm_error *err);
