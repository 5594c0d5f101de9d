/* pvm_error: a code plus a message written once where the failure is found. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "error.h"

int pvm_error_set(pvm_error *err, int code, const char *fmt, ...)
{
	if (code < 0)
		code = -code;
	if (code == 0)
		code = EINVAL;
	if (err && err->code == 0) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err->message, sizeof(err->message), fmt, ap);
		va_end(ap);
		err->code = code;
	}
	return -code;
}

void pvm_error_prefix(pvm_error *err, const char *fmt, ...)
{
	char joined[PVM_ERROR_MESSAGE_MAX];
	size_t n;
	va_list ap;

	if (!err)
		return;
	va_start(ap, fmt);
	vsnprintf(joined, sizeof(joined), fmt, ap);
	va_end(ap);
	/* append the old message after the prefix, truncating the tail if it does not fit */
	n = strlen(joined);
	if (n < sizeof(joined) - 1) {
		size_t rest = strnlen(err->message, sizeof(err->message));
		if (rest > sizeof(joined) - 1 - n)
			rest = sizeof(joined) - 1 - n;
		memcpy(joined + n, err->message, rest);
		joined[n + rest] = '\0';
	}
	memcpy(err->message, joined, sizeof(joined));
}
