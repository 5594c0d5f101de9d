/* pvmctl's online verbs: each talks to pvmd on the system bus through libpvm/bus-client.h.
 * Every verb takes (argc, argv) with argv[0] the verb name, plus the global options, and returns
 * a pvmctl exit code. */
#pragma once

#include "pvmctl.h"

/* Exit codes of the online verbs (pvmctl(1), EXIT STATUS). Stable. */
enum {
	PVMCTL_EXIT_OK = 0,
	PVMCTL_EXIT_FAILURE = 1,    /* anything not below */
	PVMCTL_EXIT_USAGE = 2,	    /* bad command line */
	PVMCTL_EXIT_NO_SUCH_VM = 3, /* org.pvm1.Error.NoSuchVM */
	PVMCTL_EXIT_DENIED = 4,	    /* PolicyDenied, or the bus refused the call */
	PVMCTL_EXIT_INVALID = 5,    /* InvalidConfig / InvalidArgument */
	PVMCTL_EXIT_CONFLICT = 6,   /* Busy, AlreadyExists, NotRunning, ShuttingDown */
	PVMCTL_EXIT_LIMIT = 7,	    /* LimitExceeded */
	PVMCTL_EXIT_VM_FAILED = 8,  /* StartFailed, or the VM ended while we waited for it */
	PVMCTL_EXIT_NO_DAEMON = 9,  /* no system bus, or pvmd is not running */
	PVMCTL_EXIT_TIMEOUT = 10,   /* --wait-ready / stop waited longer than allowed */
};

int verb_start(int argc, char **argv, pvmctl_context *ctx);
int verb_stop(int argc, char **argv, pvmctl_context *ctx);
int verb_kill(int argc, char **argv, pvmctl_context *ctx);
int verb_remove(int argc, char **argv, pvmctl_context *ctx);
int verb_inspect(int argc, char **argv, pvmctl_context *ctx);
int verb_list(int argc, char **argv, pvmctl_context *ctx);
int verb_connect(int argc, char **argv, pvmctl_context *ctx);
int verb_console(int argc, char **argv, pvmctl_context *ctx);
int verb_logs(int argc, char **argv, pvmctl_context *ctx);
int verb_monitor(int argc, char **argv, pvmctl_context *ctx);

/* Map an errno from libpvm/bus-client.h to the exit codes above (pure; unit-tested). */
int pvmctl_exit_code_from_errno(int negative_errno);
