/* pvmd's one place to report: the journal's native protocol when its socket exists (so VM
 * events carry the field PVM_VM=<name>), else stderr, with a priority prefix that the journal
 * reads when stderr is a journal stream. */
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <systemd/sd-journal.h>

#include "pvmd.h"

static bool use_journal;
static bool use_prefix;
static int max_prio = 6;

void log_setup(void)
{
	const char *level = getenv("PVMD_LOG_LEVEL");

	/* one copy of each line: natively when the journal's socket is there, else on stderr */
	use_journal = access("/run/systemd/journal/socket", W_OK) == 0;
	use_prefix = !use_journal && getenv("JOURNAL_STREAM") != NULL;
	if (level && level[0] >= '0' && level[0] <= '7' && !level[1])
		max_prio = level[0] - '0';
}

static void log_stderr(int prio, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
static void log_stderr(int prio, const char *fmt, va_list ap)
{
	/* "<N>" is the sd-daemon(3) prefix: the journal maps it to a priority */
	if (use_prefix)
		fprintf(stderr, "<%d>", prio);
	else
		fputs("pvmd: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

void pvmd_log_msg(int prio, const char *fmt, ...)
{
	va_list ap;

	if (prio > max_prio)
		return;
	va_start(ap, fmt);
	if (use_journal)
		sd_journal_printv(prio, fmt, ap);
	else
		log_stderr(prio, fmt, ap);
	va_end(ap);
}

void pvmd_log_vm_msg(int prio, const char *vm, const char *fmt, ...)
{
	char *text = NULL;
	va_list ap;

	if (prio > max_prio)
		return;
	va_start(ap, fmt);
	if (!use_journal)
		log_stderr(prio, fmt, ap);
	else if (vasprintf(&text, fmt, ap) < 0)
		sd_journal_print(prio, "(out of memory logging an event of VM '%s')", vm);
	else
		sd_journal_send("MESSAGE=%s", text, "PRIORITY=%i", prio, "PVM_VM=%s", vm,
				"SYSLOG_IDENTIFIER=pvmd", NULL);
	va_end(ap);
	free(text);
}
