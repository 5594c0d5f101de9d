/* pvmd's one place to report: the journal when its socket exists (pvmd.service), else stderr
 * with a priority prefix that systemd and people both read. */
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

	/* JOURNAL_STREAM means stderr already goes to the journal: keep one copy of each line */
	use_prefix = getenv("JOURNAL_STREAM") != NULL;
	use_journal = !use_prefix && access("/run/systemd/journal/socket", W_OK) == 0;
	if (level && level[0] >= '0' && level[0] <= '7' && !level[1])
		max_prio = level[0] - '0';
}

void pvmd_log_msg(int prio, const char *fmt, ...)
{
	va_list ap;

	if (prio > max_prio)
		return;
	va_start(ap, fmt);
	if (use_journal) {
		sd_journal_printv(prio, fmt, ap);
	} else {
		/* "<N>" is the sd-daemon(3) prefix: the journal maps it to a priority */
		if (use_prefix)
			fprintf(stderr, "<%d>", prio);
		else
			fputs("pvmd: ", stderr);
		vfprintf(stderr, fmt, ap);
		fputc('\n', stderr);
	}
	va_end(ap);
}
