/* pvmctl: the command-line front end of pvm. main() parses every option in one pass (wherever
 * it is written), finds the verb in the one command table below, checks that the verb takes the
 * options and the number of arguments given, and runs it. Help is one table away from anywhere:
 * `--help` after any verb, `pvmctl help [VERB]`, a verb group alone (`pvmctl config`). */
#include <errno.h>
#include <getopt.h>
#include <json-c/json.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pvmctl.h"
#include "time-util.h"
#include "vm-verbs.h"

/* Every option: one bit each, so a verb row says which ones it takes. */
enum {
	O_JSON = 1u << 0,
	O_POLICY_DIR = 1u << 1,
	O_NO_FILE_CHECK = 1u << 2,
	O_NAME = 1u << 3,
	O_WAIT_READY = 1u << 4,
	O_TIE = 1u << 5,
	O_TIMEOUT = 1u << 6,
	O_FORCE = 1u << 7,
	O_NO_WAIT = 1u << 8,
	O_RAW = 1u << 9,
	O_NO_LEGEND = 1u << 10,
	O_NO_PAGER = 1u << 11,
	O_VERBOSE = 1u << 12,
	O_HELP = 1u << 13,
	O_VERSION = 1u << 14,
	O_DISK = 1u << 15,
	O_DISK_RW = 1u << 16,
	O_KEY = 1u << 17,
	O_KERNEL = 1u << 18,
	O_INITRD = 1u << 19,
	O_CMDLINE = 1u << 20,
	O_OUTPUT = 1u << 21,
	O_NO_ASK_PASSWORD = 1u << 22,
	/* every verb: --json also makes errors JSON; --no-ask-password only matters to the verbs
	 * that call pvmd, and scripts pass it to every verb alike */
	O_ANY = O_HELP | O_VERSION | O_JSON | O_NO_ASK_PASSWORD,
};

/* --timeout is at most a year: longer is a typo, not a wish */
#define TIMEOUT_MAX_SEC (365ULL * 24 * 3600)

typedef struct pvmctl_option {
	const char *name; /* long name, without "--" */
	char short_name;  /* or 0 */
	const char *arg;  /* metavariable of the value, NULL for a flag */
	unsigned bit;
	const char *help;
} pvmctl_option;

static const pvmctl_option options[] = {
	{ "json", 0, NULL, O_JSON, "machine-readable output on stdout (errors too)" },
	{ "policy-dir", 0, "DIR", O_POLICY_DIR,
	  "policy directory instead of the standard ones; repeat for several" },
	{ "no-file-check", 0, NULL, O_NO_FILE_CHECK, "do not open the payload files" },
	{ "name", 'n', "NAME", O_NAME, "name the VM NAME instead of the config's name" },
	{ "wait-ready", 0, NULL, O_WAIT_READY, "wait until the guest reports ready" },
	{ "tie", 0, NULL, O_TIE, "the VM stops when this pvmctl exits" },
	{ "timeout", 0, "SEC", O_TIMEOUT, "seconds to wait (start: 60, stop: 10)" },
	{ "force", 'f', NULL, O_FORCE, "stop: kill at once; remove: kill a running VM first" },
	{ "no-wait", 0, NULL, O_NO_WAIT, "return once pvmd accepted the request" },
	{ "raw", 0, NULL, O_RAW, "write the guest's bytes unescaped, even to a terminal" },
	{ "no-legend", 0, NULL, O_NO_LEGEND, "no header line" },
	{ "no-pager", 0, NULL, O_NO_PAGER, "accepted for scripts: pvmctl never pages" },
	{ "verbose", 0, NULL, O_VERBOSE, "also show how each memory property was found" },
	{ "disk", 0, "FILE", O_DISK, "a disk of the config, opened read-only (repeat, in order)" },
	{ "disk-rw", 0, "FILE", O_DISK_RW, "a disk of the config, opened for writing too" },
	{ "key", 0, "KEY.pem", O_KEY, "the signer's ECDSA P-256 private key" },
	{ "kernel", 0, "FILE", O_KERNEL, "the kernel to sign" },
	{ "initrd", 0, "FILE", O_INITRD, "the initrd to sign (default: none)" },
	{ "cmdline", 0, "TEXT", O_CMDLINE, "the kernel command line to sign (default: empty)" },
	{ "output", 'o', "FILE", O_OUTPUT, "where to write the result" },
	{ "no-ask-password", 0, NULL, O_NO_ASK_PASSWORD,
	  "never let polkit ask for a password (the default when stdin is no terminal)" },
	{ "help", 'h', NULL, O_HELP, "show this help" },
	{ "version", 0, NULL, O_VERSION, "show the version" },
};

static int verb_help(int argc, char **argv, pvmctl_context *ctx);

static const pvmctl_verb verbs[] = {
	/* offline checks (check-verbs.c) */
	{ "config check", "FILE", 1, 1, O_NO_FILE_CHECK, verb_config_check,
	  "Validate a VM config file (pvm-config(5)) without a daemon" },
	{ "policy check", "[DIR...]", 0, -1, O_POLICY_DIR, verb_policy_check,
	  "Validate policy directories (pvm-policy(5)) without a daemon" },
	/* verbs that talk to pvmd (vm-verbs.c) */
	{ "start", "CONFIG|-|NAME", 1, 1,
	  O_NAME | O_WAIT_READY | O_TIE | O_TIMEOUT | O_DISK | O_DISK_RW, verb_start,
	  "Create and start a VM from a config file, or start the existing VM NAME again" },
	{ "restart", "NAME", 1, 1, O_WAIT_READY | O_TIMEOUT, verb_restart,
	  "Stop a VM if it runs, then start it again" },
	{ "stop", "NAME", 1, 1, O_TIMEOUT | O_FORCE | O_NO_WAIT, verb_stop,
	  "Ask a VM to stop (a VM that is not running is left as it is)" },
	{ "kill", "NAME", 1, 1, O_NO_WAIT, verb_kill, "Stop a VM at once" },
	{ "remove", "NAME", 1, 1, O_FORCE, verb_remove, "Forget a VM that is not running" },
	{ "inspect", "NAME", 1, 1, O_VERBOSE, verb_inspect, "Show a VM's state and config" },
	{ "list", "", 0, 0, O_NO_LEGEND | O_NO_PAGER, verb_list, "List the VMs" },
	{ "console", "NAME", 1, 1, O_RAW, verb_console, "Attach to a VM's console" },
	{ "connect", "NAME PORT", 2, 2, 0, verb_connect,
	  "Join standard input and output to a guest vsock port" },
	{ "listen", "NAME PORT", 2, 2, 0, verb_listen,
	  "Wait for the guest to connect to host vsock port PORT, then join stdin and stdout to "
	  "it" },
	{ "logs", "NAME", 1, 1, O_RAW, verb_logs, "Show a VM's console log" },
	{ "monitor", "", 0, 0, 0, verb_monitor, "Follow VM state changes" },
	/* offline, for pvm-fw (payload-verbs.c) */
	{ "payload sign", "", 0, 0, O_KEY | O_KERNEL | O_INITRD | O_CMDLINE | O_OUTPUT,
	  verb_payload_sign, "Sign a kernel, initrd and command line for pvm-fw (docs/pvm-fw.md)" },
	{ "help", "[COMMAND]", 0, 2, 0, verb_help, "Show this help, or a command's" },
};

static void print_synopsis(FILE *f, const pvmctl_verb *v)
{
	fprintf(f, "pvmctl %s%s%s%s\n", v->verb, v->args[0] ? " " : "", v->args,
		(v->options & ~O_ANY) || v->run != verb_help ? " [OPTIONS]" : "");
}

static void print_options(FILE *f, unsigned mask)
{
	for (size_t i = 0; i < ELEMENTSOF(options); i++) {
		const pvmctl_option *o = &options[i];
		char left[64];

		if (!(o->bit & mask))
			continue;
		snprintf(left, sizeof(left), "%s%c%s--%s%s%s", o->short_name ? "-" : "",
			 o->short_name ? o->short_name : ' ', o->short_name ? ", " : " ", o->name,
			 o->arg ? " " : "", o->arg ?: "");
		fprintf(f, "  %-24s %s\n", o->short_name ? left : left + 2, o->help);
	}
}

static void print_help(FILE *f)
{
	fprintf(f, "Usage: pvmctl COMMAND [ARGS...] [OPTIONS]\n\n"
		   "Manage protected VMs run by pvmd.\n\nCommands:\n");
	for (size_t i = 0; i < ELEMENTSOF(verbs); i++) {
		fprintf(f, "  ");
		print_synopsis(f, &verbs[i]);
		fprintf(f, "      %s\n", verbs[i].help);
	}
	fprintf(f, "\nOptions (each command's own: pvmctl help COMMAND):\n");
	print_options(f, O_ANY);
}

static void print_verb_help(FILE *f, const pvmctl_verb *v)
{
	fprintf(f, "Usage: ");
	print_synopsis(f, v);
	fprintf(f, "\n%s.\n\nOptions:\n", v->help);
	print_options(f, v->options | O_ANY);
	fprintf(f, "\nSee pvmctl(1).\n");
}

void pvmctl_print_json(struct json_object *v)
{
	puts(json_object_to_json_string_ext(v, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |
						   JSON_C_TO_STRING_NOSLASHESCAPE));
}

int pvmctl_report(const pvmctl_context *ctx, int negative_errno, const char *message, int code)
{
	int e = negative_errno < 0 ? -negative_errno : negative_errno;

	if (ctx->json) {
		json_object *o = json_object_new_object();
		json_object_object_add(o, "error", json_object_new_string(message));
		json_object_object_add(o, "errno", json_object_new_int(e));
		json_object_object_add(o, "errno_name",
				       json_object_new_string(strerrorname_np(e) ?: ""));
		json_object_object_add(o, "exit_code", json_object_new_int(code));
		pvmctl_print_json(o);
		json_object_put(o);
	} else if (ctx->verb) {
		fprintf(stderr, "pvmctl %s: %s\n", ctx->verb, message);
	} else {
		fprintf(stderr, "pvmctl: %s\n", message);
	}
	return code;
}

int pvmctl_fail(const pvmctl_context *ctx, int negative_errno, const pvm_error *err)
{
	return pvmctl_report(ctx, negative_errno,
			     err && err->message[0] ? err->message : strerror(abs(negative_errno)),
			     pvmctl_exit_code_from_errno(negative_errno));
}

/* A usage error: said once, with the way to the help. */
_printf_(2, 3) static int usage_error(const pvmctl_context *ctx, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (ctx->json)
		return pvmctl_report(ctx, EINVAL, msg, PVMCTL_EXIT_USAGE);
	fprintf(stderr, "pvmctl%s%s: %s\nTry 'pvmctl %s%s--help'.\n", ctx->verb ? " " : "",
		ctx->verb ?: "", msg, ctx->verb ?: "", ctx->verb ? " " : "");
	return PVMCTL_EXIT_USAGE;
}

/* How many of argv's leading words spell `verb` ("config check" is two); 0 if they do not. */
static int verb_matches(const char *verb, int argc, char **argv)
{
	int words = 0;
	const char *p = verb;

	while (*p) {
		size_t n = strcspn(p, " ");
		if (words >= argc || strlen(argv[words]) != n || strncmp(argv[words], p, n) != 0)
			return 0;
		words++;
		p += n;
		p += strspn(p, " ");
	}
	return words;
}

static const pvmctl_verb *find_verb(int argc, char **argv, int *ret_words)
{
	for (size_t i = 0; i < ELEMENTSOF(verbs); i++) {
		int words = verb_matches(verbs[i].verb, argc, argv);
		if (words > 0) {
			*ret_words = words;
			return &verbs[i];
		}
	}
	return NULL;
}

/* argv[0] is no verb: a group without its second word ("config"), or a typo. */
static int unknown_verb(pvmctl_context *ctx, int argc, char **argv)
{
	const char *firsts[ELEMENTSOF(verbs)], *seconds[ELEMENTSOF(verbs)], *hint;
	size_t n_firsts = 0, n_seconds = 0, len = strcspn(argv[0], " ");
	bool group = false;

	for (size_t i = 0; i < ELEMENTSOF(verbs); i++) {
		const char *v = verbs[i].verb, *space = strchr(v, ' ');
		if (space && (size_t)(space - v) == len && strncmp(v, argv[0], len) == 0) {
			group = true;
			seconds[n_seconds++] = space + 1;
		}
		firsts[n_firsts++] = v; /* "config check" is a candidate as a whole */
	}
	if (group) {
		if (argc < 2) {
			fprintf(stderr, "pvmctl %s: which one?\n", argv[0]);
			for (size_t i = 0; i < ELEMENTSOF(verbs); i++)
				if (strncmp(verbs[i].verb, argv[0], len) == 0 &&
				    verbs[i].verb[len] == ' ') {
					fprintf(stderr, "  ");
					print_synopsis(stderr, &verbs[i]);
					fprintf(stderr, "      %s\n", verbs[i].help);
				}
			return PVMCTL_EXIT_USAGE;
		}
		hint = pvmctl_closest(argv[1], seconds, n_seconds);
		if (hint)
			return usage_error(ctx, "unknown command '%s %s'; did you mean '%s %s'?",
					   argv[0], argv[1], argv[0], hint);
		return usage_error(ctx, "unknown command '%s %s'", argv[0], argv[1]);
	}
	hint = pvmctl_closest(argv[0], firsts, n_firsts);
	if (hint)
		return usage_error(ctx, "unknown command '%s'; did you mean '%s'?", argv[0], hint);
	return usage_error(ctx, "unknown command '%s'", argv[0]);
}

static int verb_help(int argc, char **argv, pvmctl_context *ctx)
{
	const pvmctl_verb *v;
	int words;

	if (argc == 0) {
		print_help(stdout);
		return PVMCTL_EXIT_OK;
	}
	v = find_verb(argc, argv, &words);
	if (v && words == argc) {
		print_verb_help(stdout, v);
		return PVMCTL_EXIT_OK;
	}
	if (argc == 1) { /* a group: `pvmctl help config` */
		size_t len = strlen(argv[0]);
		bool found = false;
		for (size_t i = 0; i < ELEMENTSOF(verbs); i++)
			if (strncmp(verbs[i].verb, argv[0], len) == 0 &&
			    verbs[i].verb[len] == ' ') {
				if (found)
					fprintf(stdout, "\n");
				print_verb_help(stdout, &verbs[i]);
				found = true;
			}
		if (found)
			return PVMCTL_EXIT_OK;
	}
	ctx->verb = NULL;
	return unknown_verb(ctx, argc, argv);
}

/* Suggest the option meant by an unknown "--word[=value]". */
static int unknown_option(pvmctl_context *ctx, const char *word)
{
	const char *names[ELEMENTSOF(options)], *hint;
	char bare[64];

	if (strncmp(word, "--", 2) != 0)
		return usage_error(ctx, "unknown option '%s'", word);
	snprintf(bare, sizeof(bare), "%.*s", (int)strcspn(word + 2, "="), word + 2);
	for (size_t i = 0; i < ELEMENTSOF(options); i++)
		names[i] = options[i].name;
	hint = pvmctl_closest(bare, names, ELEMENTSOF(options));
	if (hint)
		return usage_error(ctx, "unknown option '--%s'; did you mean '--%s'?", bare, hint);
	return usage_error(ctx, "unknown option '--%s'", bare);
}

/* The one options pass: every option, before or after the verb and its arguments, into ctx;
 * the bits of those given into *ret_given, the first invalid value into *ret_bad_value; the
 * arguments left in argv[optind..]. Returns -1 to go on, else an exit status. */
static int parse_options(int argc, char **argv, pvmctl_context *ctx, unsigned *ret_given,
			 pvm_error *ret_bad_value)
{
	struct option longopts[ELEMENTSOF(options) + 1] = {};
	char shorts[2 * ELEMENTSOF(options) + 2] = ":";
	unsigned given = 0;
	int c;

	for (size_t i = 0; i < ELEMENTSOF(options); i++) {
		longopts[i] = (struct option){ options[i].name,
					       options[i].arg ? required_argument : no_argument,
					       NULL, 0x100 + (int)i };
		if (options[i].short_name) {
			size_t n = strlen(shorts);
			shorts[n] = options[i].short_name;
			shorts[n + 1] = options[i].arg ? ':' : '\0';
		}
	}
	opterr = 0;
	optind = 0; /* a fresh, permuting getopt */
	while ((c = getopt_long(argc, argv, shorts, longopts, NULL)) >= 0) {
		const pvmctl_option *o = NULL;

		if (c == '?')
			return optopt ? usage_error(ctx, "unknown option '-%c'", optopt)
				      : unknown_option(ctx, argv[optind - 1]);
		if (c == ':')
			return usage_error(ctx, "option '%s' needs a value", argv[optind - 1]);
		if (c >= 0x100)
			o = &options[c - 0x100];
		else
			for (size_t i = 0; i < ELEMENTSOF(options); i++)
				if (options[i].short_name == c)
					o = &options[i];
		if (!o)
			return usage_error(ctx, "unknown option '-%c'", c);
		given |= o->bit;
		switch (o->bit) {
		case O_JSON:
			ctx->json = true;
			break;
		case O_NO_ASK_PASSWORD:
			ctx->no_ask_password = true;
			break;
		case O_POLICY_DIR:
			ctx->policy_dirs[ctx->n_policy_dirs++] = optarg;
			break;
		case O_NO_FILE_CHECK:
			ctx->no_file_check = true;
			break;
		case O_NAME:
			ctx->name = optarg;
			break;
		case O_WAIT_READY:
			ctx->wait_ready = true;
			break;
		case O_TIE:
			ctx->tie = true;
			break;
		case O_TIMEOUT:
			/* a bad value is reported after the verb is known, and not at all with
			 * --help */
			if (pvm_parse_seconds("--timeout", optarg, TIMEOUT_MAX_SEC,
					      &ctx->timeout_usec, ret_bad_value) >= 0)
				ctx->timeout_set = true;
			break;
		case O_FORCE:
			ctx->force = true;
			break;
		case O_NO_WAIT:
			ctx->no_wait = true;
			break;
		case O_RAW:
			ctx->raw = true;
			break;
		case O_NO_LEGEND:
			ctx->no_legend = true;
			break;
		case O_NO_PAGER:
			ctx->no_pager = true;
			break;
		case O_VERBOSE:
			ctx->verbose = true;
			break;
		case O_DISK:
		case O_DISK_RW:
			if (ctx->n_disks == ELEMENTSOF(ctx->disks))
				return usage_error(ctx, "at most %zu disks",
						   ELEMENTSOF(ctx->disks));
			ctx->disk_writable[ctx->n_disks] = o->bit == O_DISK_RW;
			ctx->disks[ctx->n_disks++] = optarg;
			break;
		case O_KEY:
			ctx->key = optarg;
			break;
		case O_KERNEL:
			ctx->kernel = optarg;
			break;
		case O_INITRD:
			ctx->initrd = optarg;
			break;
		case O_CMDLINE:
			ctx->cmdline = optarg;
			break;
		case O_OUTPUT:
			ctx->output = optarg;
			break;
		default: /* --help and --version act once the verb is known */
			break;
		}
	}
	*ret_given = given;
	return -1;
}

static const char *option_name(unsigned bit)
{
	for (size_t i = 0; i < ELEMENTSOF(options); i++)
		if (options[i].bit == bit)
			return options[i].name;
	return "?";
}

int main(int argc, char **argv)
{
	_cleanup_free_ const char **policy_dirs = calloc((size_t)argc + 1, sizeof(char *));
	pvmctl_context ctx = { .policy_dirs = policy_dirs };
	const pvmctl_verb *v;
	unsigned given = 0, stray;
	pvm_error bad_value = { 0 };
	int words, n, r;

	if (!policy_dirs) {
		fprintf(stderr, "pvmctl: out of memory\n");
		return PVMCTL_EXIT_FAILURE;
	}
	r = parse_options(argc, argv, &ctx, &given, &bad_value);
	if (r >= 0)
		return r;
	argc -= optind;
	argv += optind;
	if (given & O_VERSION) {
		printf("pvmctl %s\n", PVM_VERSION);
		return PVMCTL_EXIT_OK;
	}
	if (argc == 0) {
		print_help(given & O_HELP ? stdout : stderr);
		return given & O_HELP ? PVMCTL_EXIT_OK : PVMCTL_EXIT_USAGE;
	}
	v = find_verb(argc, argv, &words);
	if (!v) {
		if (given & O_HELP) /* `pvmctl config --help`: help on what the word starts */
			return verb_help(argc, argv, &ctx);
		return unknown_verb(&ctx, argc, argv);
	}
	ctx.verb = v->verb;
	if (given & O_HELP) {
		print_verb_help(stdout, v);
		return PVMCTL_EXIT_OK;
	}
	if (bad_value.code)
		return usage_error(&ctx, "%s", bad_value.message);
	stray = given & ~(v->options | O_ANY);
	if (stray)
		return usage_error(&ctx, "option '--%s' does not apply to %s",
				   option_name(stray & -stray), v->verb);
	n = argc - words;
	if (n < v->min_args || (v->max_args >= 0 && n > v->max_args))
		return usage_error(&ctx, "%s (usage: pvmctl %s %s)",
				   n < v->min_args ? "missing argument" : "too many arguments",
				   v->verb, v->args);
	return v->run(n, argv + words, &ctx);
}
