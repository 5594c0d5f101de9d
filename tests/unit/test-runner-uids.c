/* Runner uid range contract: the default range and any range pvmd accepts stay clear of every
 * uid Linux or systemd gives a meaning to (DynamicUser's 61184-65519 above all), the shipped
 * sysusers.d file declares the default range's first uid, and the allocator hands out each uid
 * of the range once (far more than 256 at a time), says EUSERS when all are taken and reuses
 * a released one. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "runner-uids.h"

static const struct {
	const char *text;
	bool valid;
	const char *why; /* in the error, when refused */
} parse_cases[] = {
	{ "1879048192-1879113727", true, NULL },
	{ "70000-70999", true, NULL },
	{ "1879048192-1879048192", true, NULL },
	{ "61184-61439", false, "DynamicUser" },
	{ "65000-66000", false, "DynamicUser" },
	{ "65534-65535", false, "nobody" },
	{ "0-10", false, "root" },
	{ "1-10", false, "system users" },
	{ "900-1100", false, "system users" },
	{ "5000-5100", false, "regular users" },
	{ "60706-61183", true, NULL },
	{ "60500-60600", false, "homed" },
	{ "524288-530000", false, "container" },
	{ "1879048000-1879048300", false, "container" },
	{ "2147352576-2147352600", false, "foreign" },
	{ "2147483648-2147483700", false, "2^31" },
	{ "70000-200000", false, "at most" },
	{ "70010-70000", false, "FIRST <= LAST" },
	{ "70000", false, "FIRST-LAST" },
	{ "-70000", false, "FIRST-LAST" },
	{ "70000-", false, "FIRST-LAST" },
	{ "+70000-70010", false, "FIRST-LAST" },
	{ "70000-0x70010", false, "FIRST-LAST" },
	{ "70000-99999999999", false, "FIRST-LAST" },
};

static void test_parse(void)
{
	for (size_t i = 0; i < sizeof(parse_cases) / sizeof(parse_cases[0]); i++) {
		pvm_error err = { 0 };
		uid_t first = 0;
		uint32_t count = 0;
		int r = runner_uids_parse(parse_cases[i].text, &first, &count, &err);

		CHECK((r == 0) == parse_cases[i].valid, "'%s': %d (%s)", parse_cases[i].text, r,
		      err.message);
		if (!parse_cases[i].valid)
			CHECK(r == -EINVAL && strstr(err.message, parse_cases[i].why),
			      "'%s': error '%s' lacks '%s'", parse_cases[i].text, err.message,
			      parse_cases[i].why);
	}
	CHECK(runner_uids_check(RUNNER_UIDS_FIRST_DEFAULT, RUNNER_UIDS_COUNT_DEFAULT, NULL) == 0,
	      "the default range must pass its own check");
}

static void test_alloc(void)
{
	static runner_uids u;
	static bool seen[RUNNER_UIDS_COUNT_MAX];
	pvm_error err = { 0 };
	uid_t uid;
	int r;

	/* the default range: every uid of it, once; none inside systemd's dynamic range */
	CHECK(runner_uids_init(&u, RUNNER_UIDS_FIRST_DEFAULT, RUNNER_UIDS_COUNT_DEFAULT, &err) == 0,
	      "%s", err.message);
	for (uint32_t i = 0; i < RUNNER_UIDS_COUNT_DEFAULT; i++) {
		r = runner_uids_alloc(&u, &uid);
		if (r < 0 || !runner_uids_contains(&u, uid) || seen[uid - u.first] ||
		    (uid >= 61184 && uid <= 65519)) {
			CHECK(false, "allocation %u: r %d uid %u", i, r, (unsigned)uid);
			return;
		}
		seen[uid - u.first] = true;
		if (i == 256)
			CHECK(uid == RUNNER_UIDS_FIRST_DEFAULT + 256, "the 257th uid is %u",
			      (unsigned)uid);
	}
	CHECK(runner_uids_alloc(&u, &uid) == -EUSERS, "a full range must say EUSERS");
	runner_uids_release(&u, RUNNER_UIDS_FIRST_DEFAULT + 1000);
	runner_uids_release(&u, RUNNER_UIDS_FIRST_DEFAULT + 1000); /* twice: no effect */
	runner_uids_release(&u, 4242);				   /* not ours: ignored */
	CHECK(u.in_use == RUNNER_UIDS_COUNT_DEFAULT - 1, "in use %u", u.in_use);
	CHECK(runner_uids_alloc(&u, &uid) == 0 && uid == RUNNER_UIDS_FIRST_DEFAULT + 1000,
	      "a released uid comes back: %u", (unsigned)uid);
	CHECK(runner_uids_alloc(&u, &uid) == -EUSERS, "full again");

	/* a small configured range */
	CHECK(runner_uids_init(&u, 70000, 3, &err) == 0, "%s", err.message);
	for (unsigned i = 0; i < 3; i++)
		CHECK(runner_uids_alloc(&u, &uid) == 0 && uid == 70000 + i, "uid %u",
		      (unsigned)uid);
	CHECK(runner_uids_alloc(&u, &uid) == -EUSERS, "3 of 3 in use");

	/* a runner taken over after a restart keeps its uid: claimed, it is not handed out */
	CHECK(runner_uids_init(&u, 70000, 3, &err) == 0, "%s", err.message);
	CHECK(runner_uids_claim(&u, 70001) == 0, "claiming a free uid");
	CHECK(runner_uids_claim(&u, 70001) == -EBUSY, "claiming it twice");
	CHECK(runner_uids_claim(&u, 70003) == -ERANGE, "claiming a uid outside the range");
	CHECK(runner_uids_alloc(&u, &uid) == 0 && uid == 70000, "first free uid %u", (unsigned)uid);
	CHECK(runner_uids_alloc(&u, &uid) == 0 && uid == 70002,
	      "the claimed uid was handed out: %u", (unsigned)uid);
	CHECK(runner_uids_init(&u, 61184, 256, &err) == -EINVAL, "DynamicUser range accepted");
}

/* The shipped sysusers.d file names the default range's first uid as user pvm-runner. */
static void test_sysusers(const char *srcdir)
{
	char path[4096], line[512];
	unsigned long long uid = 0;
	bool found = false;
	FILE *f;

	snprintf(path, sizeof(path), "%s/systemd/pvm.sysusers", srcdir);
	f = fopen(path, "re");
	CHECK(f, "%s: %m", path);
	if (!f)
		return;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "u pvm-runner %llu ", &uid) == 1)
			found = true;
	fclose(f);
	CHECK(found && uid == RUNNER_UIDS_FIRST_DEFAULT, "%s declares pvm-runner as uid %llu", path,
	      uid);
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: test-runner-uids SOURCE_ROOT\n");
		return EXIT_FAILURE;
	}
	test_parse();
	test_alloc();
	test_sysusers(argv[1]);
	return check_exit("test-runner-uids");
}
