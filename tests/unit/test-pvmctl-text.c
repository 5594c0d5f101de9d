/* pvmctl's pure text helpers: which typos "did you mean" finds (and which it leaves alone), and
 * how guest bytes are escaped for a terminal (control characters, malformed UTF-8 and C1
 * controls become \xNN; text, newlines, tabs and whole UTF-8 characters pass, also split
 * between two reads). */
#include <string.h>

#include "check.h"
#include "escape.h"
#include "macro.h"
#include "pvmctl.h"

static const char *const verbs[] = { "config check", "policy check", "start",  "restart",
				     "stop",	     "kill",	     "remove", "inspect",
				     "list",	     "console",	     "logs",   "monitor" };

static void test_closest(void)
{
	static const struct {
		const char *word, *want;
	} cases[] = {
		{ "stpo", "stop" },
		{ "lsit", "list" },
		{ "inspcet", "inspect" },
		{ "star", "start" },
		{ "logz", "logs" },
		{ "remvoe", "remove" },
		{ "mon", "monitor" },
		{ "config", "config check" },
		{ "x", NULL },
		{ "frobnicate", NULL },
		{ "", NULL },
		{ "zzzz", NULL },
	};

	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		const char *got = pvmctl_closest(cases[i].word, verbs, ELEMENTSOF(verbs));
		CHECK(cases[i].want ? got && strcmp(got, cases[i].want) == 0 : got == NULL,
		      "'%s' -> '%s', want '%s'", cases[i].word, got ?: "(none)",
		      cases[i].want ?: "(none)");
	}
}

static void test_escape(void)
{
	static const struct {
		const char *in;
		bool keep_cr;
		const char *want;
	} cases[] = {
		{ "hello\n\tworld", false, "hello\n\tworld" },
		/* an escape sequence that would retitle the terminal */
		{ "\033]0;owned\007", false, "\\x1b]0;owned\\x07" },
		{ "a\rb", false, "a\\x0db" },
		{ "a\rb", true, "a\rb" },
		{ "del\177", false, "del\\x7f" },
		{ "caf\xc3\xa9 \xe2\x82\xac", false, "caf\xc3\xa9 \xe2\x82\xac" },
		/* C1 CSI as raw byte and as UTF-8 U+009B */
		{ "\x9b"
		  "31m",
		  false, "\\x9b31m" },
		{ "\xc2\x9b"
		  "31m",
		  false, "\\xc2\\x9b31m" },
		/* overlong '/' and a lone continuation byte */
		{ "\xc0\xaf\x80", false, "\\xc0\\xaf\\x80" },
	};
	char out[256];
	size_t out_len, used;

	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		used = pvmctl_escape(cases[i].in, strlen(cases[i].in), cases[i].keep_cr, true, out,
				     &out_len);
		CHECK(used == strlen(cases[i].in) && out_len == strlen(cases[i].want) &&
			  memcmp(out, cases[i].want, out_len) == 0,
		      "case %zu: got '%.*s'", i, (int)out_len, out);
	}

	/* a character split between two reads is held back, not escaped */
	used = pvmctl_escape("ok\xe2\x82", 4, false, false, out, &out_len);
	CHECK(used == 2 && out_len == 2 && memcmp(out, "ok", 2) == 0, "split: used %zu", used);
	/* ... unless the input ends there */
	used = pvmctl_escape("ok\xe2\x82", 4, false, true, out, &out_len);
	CHECK(used == 4 && out_len == 10 && memcmp(out, "ok\\xe2\\x82", 10) == 0,
	      "split at the end: '%.*s'", (int)out_len, out);
}

int main(void)
{
	test_closest();
	test_escape();
	return check_exit("test-pvmctl-text");
}
