/* The shared window's fault guard (window-guard.h): sigsetjmp before the device work, a
 * SIGSEGV/SIGBUS handler that jumps back when the faulting address lies in the window of the
 * guarded call running on its thread. */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stddef.h>

#include "window-guard.h"

typedef struct window_guard {
	sigjmp_buf back;
	const pvm_window *window;
	volatile uint64_t gpa; /* written by the handler, read after the jump */
} window_guard;

/* static TLS in the executable: safe to read in a signal handler */
static _Thread_local window_guard *current;

static void window_fault(int sig, siginfo_t *si, void *uc)
{
	window_guard *g = current;
	const uint8_t *a = si->si_addr;

	(void)uc;
	if (g && g->window->host && a >= g->window->host &&
	    (uint64_t)(a - g->window->host) < g->window->size) {
		g->gpa = g->window->gpa + (uint64_t)(a - g->window->host);
		current = NULL;
		siglongjmp(g->back, 1);
	}
	/* not the window's: the access repeats when the handler returns, now with the default
	 * action */
	signal(sig, SIG_DFL);
}

int runner_window_guard_install(pvm_error *err)
{
	static const int sigs[] = { SIGSEGV, SIGBUS };
	struct sigaction sa = { .sa_sigaction = window_fault, .sa_flags = SA_SIGINFO };

	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		if (sigaction(sigs[i], &sa, NULL) < 0)
			return pvm_error_set(err, errno,
					     "installing the shared window's guard "
					     "(sigaction %d): %m",
					     sigs[i]);
	return 0;
}

int runner_window_guarded(const pvm_window *w, void (*fn)(void *arg), void *arg, uint64_t *ret_gpa)
{
	window_guard g = { .window = w };

	if (sigsetjmp(g.back, 1)) {
		*ret_gpa = g.gpa;
		return -EFAULT;
	}
	current = &g;
	fn(arg);
	current = NULL;
	return 0;
}
