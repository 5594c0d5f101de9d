/* pvmctl's command table: each verb is one row {verb, arguments, min/max args, handler, help} in
 * pvmctl.c; handlers live in files by topic (check-verbs.c for the offline checks, vm-verbs.c
 * for the verbs that talk to pvmd) and are declared here. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "error.h"

/* Global options, parsed once in pvmctl.c before the handler runs. */
typedef struct pvmctl_context {
	bool json;		  /* --json: machine-readable output on stdout */
	bool no_file_check;	  /* --no-file-check: config check skips payload files */
	const char **policy_dirs; /* --policy-dir DIR (repeatable), in increasing priority */
	size_t n_policy_dirs;
} pvmctl_context;

/* A handler gets the arguments after the verb words (argc within the row's min/max), the
 * global options (accepted before or after the verb) in ctx. It prints its result and returns
 * >= 0, or returns a negative errno with `err` filled; pvmctl.c prints that error once (as text
 * on stderr, or as JSON on stdout with --json) and exits 1. */
typedef int (*pvmctl_handler)(int argc, char **argv, pvmctl_context *ctx, pvm_error *err);

/* A handler that parses its own options (the online verbs of vm-verbs.c): argv[0] is the verb,
 * it checks its own arguments and returns a pvmctl exit code (vm-verbs.h). ctx carries the
 * global options given before the verb (`pvmctl --json list`). */
typedef int (*pvmctl_raw_handler)(int argc, char **argv, pvmctl_context *ctx);

typedef struct pvmctl_verb {
	const char *verb;	    /* one or two words: "start", "config check" */
	const char *args;	    /* synopsis of the arguments for --help: "FILE", "[DIR...]" */
	int min_args;		    /* checked for `run` only */
	int max_args;		    /* -1: no limit */
	pvmctl_handler run;	    /* either this ... */
	pvmctl_raw_handler run_raw; /* ... or this */
	const char *help;
} pvmctl_verb;

/* Print a JSON value built with json-c to stdout (with --json), pretty and with a newline. */
struct json_object;
void pvmctl_print_json(struct json_object *v);

/* check-verbs.c: offline validation */
int verb_config_check(int argc, char **argv, pvmctl_context *ctx, pvm_error *err);
int verb_policy_check(int argc, char **argv, pvmctl_context *ctx, pvm_error *err);

/* vm-verbs.h declares the online verbs (run_raw handlers) and the exit codes. */
