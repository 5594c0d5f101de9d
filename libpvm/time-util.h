/* Time helpers every program shares: the monotonic or wall clock in microseconds, and the one
 * parser of "seconds" command-line values (pvmd's timeouts, pvmctl's --timeout). */
#pragma once

#include <stdint.h>
#include <time.h>

#include "error.h"

/* The clock `clock` (CLOCK_MONOTONIC, CLOCK_REALTIME, ...) in microseconds. */
uint64_t pvm_now_usec(clockid_t clock);

/* Parse a non-negative decimal number of seconds ("5", "0.5") of at most max_sec into
 * microseconds. On failure err names the option, the value and the range; -EINVAL. */
int pvm_parse_seconds(const char *option, const char *s, uint64_t max_sec, uint64_t *ret_usec,
		      pvm_error *err);
