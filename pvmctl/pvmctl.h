/* pvmctl's command table: each verb is one row {verb, arguments, min/max args, options, handler,
 * help} in pvmctl.c, which parses every option in one pass, checks that the verb takes them,
 * and reports errors once; handlers live in files by topic (check-verbs.c for the offline
 * checks, vm-verbs.c for the verbs that talk to pvmd) and are declared here. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"

/* Exit codes of every verb (pvmctl(1), EXIT STATUS). Stable. */
enum {
	PVMCTL_EXIT_OK = 0,
	PVMCTL_EXIT_FAILURE = 1,    /* anything not below */
	PVMCTL_EXIT_USAGE = 2,	    /* bad command line */
	PVMCTL_EXIT_NO_SUCH_VM = 3, /* org.pvm1.Error.NoSuchVM */
	PVMCTL_EXIT_DENIED = 4,	    /* PolicyDenied, or the bus refused the call */
	PVMCTL_EXIT_INVALID = 5,    /* InvalidConfig / InvalidArgument; an invalid file offline */
	PVMCTL_EXIT_CONFLICT = 6,   /* Busy, AlreadyExists, NotRunning, ShuttingDown */
	PVMCTL_EXIT_LIMIT = 7,	    /* LimitExceeded */
	PVMCTL_EXIT_VM_FAILED = 8,  /* StartFailed, or the VM ended while we waited for it */
	PVMCTL_EXIT_NO_DAEMON = 9,  /* no system bus, or pvmd is not running */
	PVMCTL_EXIT_TIMEOUT = 10,   /* --wait-ready / stop waited longer than allowed */
};

/* Every option, parsed once in pvmctl.c wherever it is written on the command line. */
typedef struct pvmctl_context {
	const char *verb;	  /* the verb being run, for messages: "start", "config check" */
	bool json;		  /* --json: machine-readable output (and errors) on stdout */
	bool no_ask_password;	  /* --no-ask-password: no interactive polkit authorization */
	bool no_file_check;	  /* --no-file-check: config check skips payload files */
	const char **policy_dirs; /* --policy-dir DIR (repeatable), in increasing priority */
	size_t n_policy_dirs;
	const char *name;      /* start --name */
	bool wait_ready;       /* start --wait-ready */
	bool tie;	       /* start --tie */
	uint64_t timeout_usec; /* --timeout, when timeout_set */
	bool timeout_set;
	bool force;	/* stop --force, remove --force */
	bool no_wait;	/* stop/kill --no-wait */
	bool raw;	/* logs/console --raw: guest bytes unescaped even on a terminal */
	bool no_legend; /* list --no-legend */
	bool no_pager;	/* list --no-pager (pvmctl never pages; accepted for scripts) */
	bool verbose;	/* inspect --verbose */
	/* start --disk / --disk-rw FILE, in order: the config's disks */
	const char *disks[4]; /* PVM_DISKS_MAX */
	bool disk_writable[4];
	size_t n_disks;
	/* payload sign --key, --kernel, --initrd, --cmdline, --output */
	const char *key, *kernel, *initrd, *cmdline, *output;
} pvmctl_context;

/* A handler gets the arguments after the verb words (argc within the row's min/max) and the
 * parsed options in ctx, prints its result and returns a pvmctl exit code; failures are
 * reported with pvmctl_fail() / pvmctl_report(). */
typedef int (*pvmctl_handler)(int argc, char **argv, pvmctl_context *ctx);

typedef struct pvmctl_verb {
	const char *verb;	/* one or two words: "start", "config check" */
	const char *args;	/* synopsis of the arguments: "FILE", "[DIR...]" */
	int min_args, max_args; /* max -1: no limit */
	unsigned options;	/* PVMCTL_OPT_* bits of the options the verb takes */
	pvmctl_handler run;
	const char *help;
} pvmctl_verb;

/* Print a JSON value built with json-c to stdout (with --json), pretty and with a newline. */
struct json_object;
void pvmctl_print_json(struct json_object *v);

/* The one place a failure is reported: as "pvmctl VERB: message" on stderr, or with --json as
 * {"error", "errno", "errno_name", "exit_code"} on stdout. Returns `code`. */
int pvmctl_report(const pvmctl_context *ctx, int negative_errno, const char *message, int code);

/* Report err (or strerror(r) when err carries no message) with the exit code of r. */
int pvmctl_fail(const pvmctl_context *ctx, int negative_errno, const pvm_error *err);

/* Map an errno (libpvm/bus-client.h maps pvmd's D-Bus errors to them) to the exit codes above
 * (pure; unit-tested). */
int pvmctl_exit_code_from_errno(int negative_errno);

/* The closest of `n` candidates to `word` (a small edit distance, or a unique prefix), or NULL:
 * the "did you mean" of a mistyped verb or option (pure; unit-tested). */
const char *pvmctl_closest(const char *word, const char *const *candidates, size_t n);

/* payload-verbs.c: offline, for pvm-fw */
int verb_payload_sign(int argc, char **argv, pvmctl_context *ctx);

/* check-verbs.c: offline validation */
int verb_config_check(int argc, char **argv, pvmctl_context *ctx);
int verb_policy_check(int argc, char **argv, pvmctl_context *ctx);
