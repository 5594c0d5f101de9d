/* Error context carried from where a failure is found to the one place that reports it.
 * Libraries fill a pvm_error and return -errno; programs print error.message once. */
#pragma once

#include "macro.h"

#define PVM_ERROR_MESSAGE_MAX 1024

typedef struct pvm_error {
	int code;                            /* positive errno, 0 when unset */
	char message[PVM_ERROR_MESSAGE_MAX]; /* a sentence for people: what failed, on what input */
} pvm_error;

/* Record an error (when err is not NULL) and return -code, so callers can write
 * `return pvm_error_set(err, EINVAL, "...")`. The first error recorded wins. */
int pvm_error_set(pvm_error *err, int code, const char *fmt, ...) _printf_(3, 4);

/* Prefix the existing message with more context ("file.json: " + message). */
void pvm_error_prefix(pvm_error *err, const char *fmt, ...) _printf_(2, 3);

static inline void pvm_error_clear(pvm_error *err)
{
	if (err) {
		err->code = 0;
		err->message[0] = '\0';
	}
}
