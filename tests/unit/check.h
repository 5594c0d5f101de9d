/* A tiny check harness for table-driven unit tests: every failed CHECK prints where and why, the
 * test keeps going so one run shows all failures, and check_exit() turns them into the status. */
#pragma once

#include <stdio.h>
#include <stdlib.h>

static unsigned check_failures;
static unsigned check_count;

#define CHECK(cond, ...)                                                                           \
	do {                                                                                       \
		check_count++;                                                                     \
		if (!(cond)) {                                                                     \
			check_failures++;                                                          \
			fprintf(stderr, "%s:%d: CHECK(%s) failed: ", __FILE__, __LINE__, #cond);   \
			fprintf(stderr, __VA_ARGS__);                                              \
			fputc('\n', stderr);                                                       \
		}                                                                                  \
	} while (0)

static inline int check_exit(const char *name)
{
	printf("%s: %u checks, %u failed\n", name, check_count, check_failures);
	return check_failures ? EXIT_FAILURE : EXIT_SUCCESS;
}
