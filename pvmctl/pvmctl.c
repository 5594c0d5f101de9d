/* pvmctl: the command-line front end of pvm. main() parses the global options, finds the verb
 * in the one command table below, checks its argument count, runs it and reports its error
 * once. Handlers are in check-verbs.c (offline) and vm-verbs.c (talking to pvmd). */
#include <getopt.h>
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>

#include "pvmctl.h"
#include "vm-verbs.h"

static const pvmctl_verb verbs[] = {
	/* offline checks (check-verbs.c) */
	{ "config check", "FILE", 1, 1, verb_config_check, NULL,
	  "Validate a VM config file (pvm-config(5)) without a daemon" },
	{ "policy check", "[DIR...]", 0, -1, verb_policy_check, NULL,
	  "Validate policy directories (pvm-policy(5)) without a daemon" },
	/* verbs that talk to pvmd (vm-verbs.c); they take their options after the verb */
	{ "start",
	  "CONFIG|- [--name NAME] [--disk FILE|--disk-rw FILE]... [--wait-ready] [--tie] "
	  "[--timeout SEC] [--json]",
	  0, -1, NULL, verb_start, "Create and start a VM from a config file" },
	{ "stop", "NAME [--timeout SEC] [--force] [--no-wait]", 0, -1, NULL, verb_stop,
	  "Ask a VM to stop" },
	{ "kill", "NAME [--no-wait]", 0, -1, NULL, verb_kill, "Stop a VM at once" },
	{ "remove", "NAME", 0, -1, NULL, verb_remove, "Forget a stopped VM" },
	{ "inspect", "NAME [--json]", 0, -1, NULL, verb_inspect, "Show a VM's state and config" },
	{ "list", "[--json]", 0, -1, NULL, verb_list, "List the VMs" },
	{ "console", "NAME", 0, -1, NULL, verb_console, "Attach to a VM's console" },
	{ "connect", "NAME PORT", 0, -1, NULL, verb_connect,
	  "Join stdin and stdout to a guest vsock port" },
	{ "logs", "NAME", 0, -1, NULL, verb_logs, "Show a VM's console log" },
	{ "monitor", "[--json]", 0, -1, NULL, verb_monitor, "Follow VM state changes" },
};

static void print_help(FILE *f)
{
	fprintf(f, "Usage: pvmctl [OPTIONS] COMMAND [ARGS...]\n\n"
		   "Manage protected VMs run by pvmd.\n\nCommands:\n");
	for (size_t i = 0; i < ELEMENTSOF(verbs); i++) {
		char synopsis[128];
		snprintf(synopsis, sizeof(synopsis), "%s %s", verbs[i].verb, verbs[i].args);
		fprintf(f, "  %s\n      %s\n", synopsis, verbs[i].help);
	}
	fprintf(f,
		"\nOptions:\n"
		"  --json                   machine-readable output (JSON on stdout)\n"
		"  --policy-dir DIR         policy directory to use instead of the standard ones;\n"
		"                           repeat for several, in increasing priority\n"
		"  --no-file-check          config check: do not open the payload files\n"
		"  -h, --help               show this help\n"
		"  --version                show the version\n");
}

void pvmctl_print_json(struct json_object *v)
{
	puts(json_object_to_json_string_ext(v, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |
						   JSON_C_TO_STRING_NOSLASHESCAPE));
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

static void report_error(const pvmctl_context *ctx, const pvm_error *err)
{
	if (ctx->json) {
		json_object *o = json_object_new_object();
		json_object_object_add(o, "error", json_object_new_string(err->message));
		json_object_object_add(o, "errno", json_object_new_int(err->code));
		json_object_object_add(o, "errno_name",
				       json_object_new_string(strerrorname_np(err->code) ?: ""));
		pvmctl_print_json(o);
		json_object_put(o);
	} else
		fprintf(stderr, "%s\n", err->message);
}

enum { OPT_JSON = 0x100, OPT_POLICY_DIR, OPT_NO_FILE_CHECK, OPT_VERSION };

static const struct option options[] = {
	{ "json", no_argument, NULL, OPT_JSON },
	{ "policy-dir", required_argument, NULL, OPT_POLICY_DIR },
	{ "no-file-check", no_argument, NULL, OPT_NO_FILE_CHECK },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, OPT_VERSION },
	{ 0 },
};

/* Parse global options into ctx. `optstring` "+h" stops at the verb; "h" permutes, for the
 * options written after a verb. Returns -1 to go on, else an exit status. */
static int parse_options(int argc, char **argv, const char *optstring, pvmctl_context *ctx)
{
	int c;

	while ((c = getopt_long(argc, argv, optstring, options, NULL)) >= 0) {
		switch (c) {
		case OPT_JSON:
			ctx->json = true;
			break;
		case OPT_POLICY_DIR:
			ctx->policy_dirs[ctx->n_policy_dirs++] = optarg;
			break;
		case OPT_NO_FILE_CHECK:
			ctx->no_file_check = true;
			break;
		case 'h':
			print_help(stdout);
			return PVMCTL_EXIT_OK;
		case OPT_VERSION:
			printf("pvmctl %s\n", PVM_VERSION);
			return PVMCTL_EXIT_OK;
		default:
			fprintf(stderr, "Try 'pvmctl --help'.\n");
			return PVMCTL_EXIT_USAGE;
		}
	}
	return -1;
}

/* glibc keeps getopt's ordering mode from its first use ("+" above) until optind is 0; the
 * online verbs set optind = 1 and expect options after their arguments, so start them from a
 * freshly initialized, permuting getopt. */
static void getopt_reset(void)
{
	char *dummy[] = { (char *)"pvmctl", NULL };

	optind = 0;
	(void)getopt(1, dummy, "");
}

static int run_verb(const pvmctl_verb *v, int words, int argc, char **argv, pvmctl_context *ctx)
{
	pvm_error err = { 0 };
	int n, r;

	if (v->run_raw) {
		/* argv[0] is the verb's last word, as getopt expects a program name there */
		getopt_reset();
		return v->run_raw(argc - words + 1, argv + words - 1, ctx);
	}

	/* options may also follow the verb: `pvmctl config check FILE --json` */
	optind = 0;
	r = parse_options(argc - words + 1, argv + words - 1, "h", ctx);
	if (r >= 0)
		return r;
	argv += words - 1 + optind;
	n = argc - words + 1 - optind;
	if (n < v->min_args || (v->max_args >= 0 && n > v->max_args)) {
		fprintf(stderr, "pvmctl: wrong number of arguments.\nUsage: pvmctl %s %s\n",
			v->verb, v->args);
		return PVMCTL_EXIT_USAGE;
	}
	r = v->run(n, argv, ctx, &err);
	if (r < 0) {
		if (err.code == 0)
			pvm_error_set(&err, r, "pvmctl %s: %s", v->verb, strerror(-r));
		report_error(ctx, &err);
		return PVMCTL_EXIT_FAILURE;
	}
	return PVMCTL_EXIT_OK;
}

int main(int argc, char **argv)
{
	_cleanup_free_ const char **policy_dirs = calloc((size_t)argc + 1, sizeof(char *));
	pvmctl_context ctx = { .policy_dirs = policy_dirs };
	int r;

	if (!policy_dirs) {
		fprintf(stderr, "pvmctl: out of memory\n");
		return PVMCTL_EXIT_FAILURE;
	}
	r = parse_options(argc, argv, "+h", &ctx);
	if (r >= 0)
		return r;
	argc -= optind;
	argv += optind;
	if (argc == 0) {
		print_help(stderr);
		return PVMCTL_EXIT_USAGE;
	}
	for (size_t i = 0; i < ELEMENTSOF(verbs); i++) {
		int words = verb_matches(verbs[i].verb, argc, argv);
		if (words > 0)
			return run_verb(&verbs[i], words, argc, argv, &ctx);
	}
	fprintf(stderr, "pvmctl: unknown command '%s'. Try 'pvmctl --help'.\n", argv[0]);
	return PVMCTL_EXIT_USAGE;
}
