/* Time helpers shared by pvmd and pvmctl (time-util.h): one clock reader, one seconds parser,
 * so the same option spelled for either program means the same thing. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "time-util.h"

uint64_t pvm_now_usec(clockid_t clock)
{
	struct timespec ts;

	clock_gettime(clock, &ts);
	return (uint64_t)ts.tv_sec * 1000000ULL + (uint64_t)ts.tv_nsec / 1000;
}

int pvm_parse_seconds(const char *option, const char *s, uint64_t max_sec, uint64_t *ret_usec,
		      pvm_error *err)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	/* strtod takes "inf", "nan" and hex floats: only plain decimal numbers are seconds */
	if (errno || end == s || *end || !isfinite(v) || v < 0 || v > (double)max_sec ||
	    s[strspn(s, "0123456789.")] != '\0')
		return pvm_error_set(
		    err, EINVAL,
		    "invalid %s '%s': expected a number of seconds from 0 to %" PRIu64
		    " (like 5 or 0.5)",
		    option, s, max_sec);
	*ret_usec = (uint64_t)(v * 1e6);
	return 0;
}
