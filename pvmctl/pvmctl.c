/* pvmctl: the command-line front end of pvm. main() parses the global options, finds the verb
 * in the one command table below, checks its argument count, runs it and reports its error
 * once. Handlers are in check-verbs.c (offline) and vm-verbs.c (talking to pvmd). */
#include <getopt.h>
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>

#include "pvmctl.h"

static const pvmctl_verb verbs[] = {
	/* offline checks (check-verbs.c) */
	{ "config check", "FILE", 1, 1, verb_config_check,
	  "Validate a VM config file (pvm-config(5)) without a daemon" },
	{ "policy check", "[DIR...]", 0, -1, verb_policy_check,
	  "Validate policy directories (pvm-policy(5)) without a daemon" },
	/* verbs that talk to pvmd (vm-verbs.c): start, stop, kill, inspect, list, console, logs,
	 * monitor */
};

static void print_help(FILE *f)
{
	fprintf(f, "Usage: pvmctl [OPTIONS] COMMAND [ARGS...]\n\n"
		   "Manage protected VMs run by pvmd.\n\nCommands:\n");
	for (size_t i = 0; i < ELEMENTSOF(verbs); i++) {
		char synopsis[64];
		snprintf(synopsis, sizeof(synopsis), "%s %s", verbs[i].verb, verbs[i].args);
		fprintf(f, "  %-24s %s\n", synopsis, verbs[i].help);
	}
	fprintf(f, "\nOptions:\n"
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

int main(int argc, char **argv)
{
	enum { OPT_JSON = 0x100, OPT_POLICY_DIR, OPT_NO_FILE_CHECK, OPT_VERSION };
	static const struct option options[] = {
		{ "json", no_argument, NULL, OPT_JSON },
		{ "policy-dir", required_argument, NULL, OPT_POLICY_DIR },
		{ "no-file-check", no_argument, NULL, OPT_NO_FILE_CHECK },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, OPT_VERSION },
		{ 0 },
	};
	_cleanup_free_ const char **policy_dirs = calloc((size_t)argc + 1, sizeof(char *));
	pvmctl_context ctx = { .policy_dirs = policy_dirs };
	pvm_error err = { 0 };
	int c, r;

	if (!policy_dirs) {
		fprintf(stderr, "pvmctl: out of memory\n");
		return PVMCTL_EXIT_FAILURE;
	}
	while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0) {
		switch (c) {
		case OPT_JSON:
			ctx.json = true;
			break;
		case OPT_POLICY_DIR:
			policy_dirs[ctx.n_policy_dirs++] = optarg;
			break;
		case OPT_NO_FILE_CHECK:
			ctx.no_file_check = true;
			break;
		case 'h':
			print_help(stdout);
			return 0;
		case OPT_VERSION:
			printf("pvmctl %s\n", PVM_VERSION);
			return 0;
		default:
			fprintf(stderr, "Try 'pvmctl --help'.\n");
			return PVMCTL_EXIT_USAGE;
		}
	}
	argc -= optind;
	argv += optind;
	if (argc == 0) {
		print_help(stderr);
		return PVMCTL_EXIT_USAGE;
	}

	for (size_t i = 0; i < ELEMENTSOF(verbs); i++) {
		const pvmctl_verb *v = &verbs[i];
		int words = verb_matches(v->verb, argc, argv);
		int n;

		if (words == 0)
			continue;
		n = argc - words;
		if (n < v->min_args || (v->max_args >= 0 && n > v->max_args)) {
			fprintf(stderr, "pvmctl: wrong number of arguments.\nUsage: pvmctl %s %s\n",
				v->verb, v->args);
			return PVMCTL_EXIT_USAGE;
		}
		r = v->run(n, argv + words, &ctx, &err);
		if (r < 0) {
			if (err.code == 0)
				pvm_error_set(&err, r, "pvmctl %s: %s", v->verb, strerror(-r));
			report_error(&ctx, &err);
			return PVMCTL_EXIT_FAILURE;
		}
		return 0;
	}
	fprintf(stderr, "pvmctl: unknown command '%s'. Try 'pvmctl --help'.\n", argv[0]);
	return PVMCTL_EXIT_USAGE;
}
