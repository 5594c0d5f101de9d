/* pvmctl's online verbs: each talks to pvmd on the system bus through libpvm/bus-client.h.
 * Every verb takes the arguments after the verb and the parsed options, and returns a pvmctl
 * exit code (pvmctl.h). */
#pragma once

#include "pvmctl.h"

int verb_start(int argc, char **argv, pvmctl_context *ctx);
int verb_restart(int argc, char **argv, pvmctl_context *ctx);
int verb_stop(int argc, char **argv, pvmctl_context *ctx);
int verb_kill(int argc, char **argv, pvmctl_context *ctx);
int verb_remove(int argc, char **argv, pvmctl_context *ctx);
int verb_inspect(int argc, char **argv, pvmctl_context *ctx);
int verb_list(int argc, char **argv, pvmctl_context *ctx);
int verb_connect(int argc, char **argv, pvmctl_context *ctx);
int verb_listen(int argc, char **argv, pvmctl_context *ctx);
int verb_console(int argc, char **argv, pvmctl_context *ctx);
int verb_logs(int argc, char **argv, pvmctl_context *ctx);
int verb_monitor(int argc, char **argv, pvmctl_context *ctx);
