/* The reliability suite's call storm: random and malformed calls over every method and property
 * pvmd introspects, each answer checked against org.pvm1(5). */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include <json-c/json.h>

#define REL_POOL_MAX 64

typedef struct rel_storm_options {
	unsigned calls; /* random calls after the fd sweep */
	unsigned seed;
	const char *members_file; /* "iface member in-signature" lines, or "P iface name type" */
	const char *tmp_dir;	  /* where fd kinds put their files */
	const char *names[REL_POOL_MAX]; /* VM names to aim at */
	size_t n_names;
	char *configs[REL_POOL_MAX]; /* config texts */
	size_t n_configs;
	unsigned window; /* calls in flight */
	bool sweep;	 /* first one call per fd kind, with a probe after each */
} rel_storm_options;

/* Runs the storm; fills ret_report (counts, error names, failures). Returns 0 when every
 * answer kept the contract, -EPROTO when some did not, other negative errno when the storm
 * itself could not run. */
int rel_storm_run(const rel_storm_options *o, json_object **ret_report);

/* Writes the member table of both interfaces, from introspection of /org/pvm1 and vm_path. */
int rel_members_dump(const char *vm_path);
