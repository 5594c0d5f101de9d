/* Offline checks: `pvmctl config check FILE` and `pvmctl policy check [DIR...]` run the same
 * parsers as pvmd, so a file that passes here loads there (payload files aside, which pvmd opens
 * again). An invalid file exits 5, like a config pvmd refuses. */
#include <json-c/json.h>
#include <errno.h>
#include <stdio.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>

#include "config.h"
#include "json-strict.h"
#include "policy.h"
#include "pvmctl.h"

int verb_config_check(int argc, char **argv, pvmctl_context *ctx)
{
	_cleanup_(pvm_config_freep) pvm_config *cfg = NULL;
	_cleanup_free_ char *text = NULL;
	const char *file = argv[0];
	pvm_error err = { 0 };
	int r = pvm_config_load_file(file, !ctx->no_file_check, &cfg, &err);

	if (r < 0)
		return pvmctl_report(ctx, r, err.message, PVMCTL_EXIT_INVALID);
	if (!ctx->json) {
		printf("%s: valid: VM '%s', %u MiB, %u vCPU%s, %s\n", file, cfg->name,
		       cfg->memory_mib, cfg->cpus, cfg->cpus == 1 ? "" : "s",
		       cfg->protected_vm ? "protected" : "not protected");
		return PVMCTL_EXIT_OK;
	}

	/* the config as pvmd reads it, defaults filled in */
	r = pvm_config_to_json(cfg, &text);
	if (r < 0)
		return pvmctl_report(ctx, r, "cannot format the config", PVMCTL_EXIT_FAILURE);
	_cleanup_json_ json_object *out = json_object_new_object();
	json_object *parsed = json_tokener_parse(text);
	if (!out || !parsed) {
		json_object_put(parsed);
		return pvmctl_report(ctx, -ENOMEM, "out of memory", PVMCTL_EXIT_FAILURE);
	}
	json_object_object_add(out, "file", json_object_new_string(file));
	json_object_object_add(out, "valid", json_object_new_boolean(true));
	json_object_object_add(out, "config", parsed);
	pvmctl_print_json(out);
	return PVMCTL_EXIT_OK;
}

/* Directories named on the command line must exist: a typo would otherwise check nothing and
 * pass. Only the standard directories may be missing (pvmd treats them so). */
static int check_explicit_dirs(const pvmctl_context *ctx, const char *const *dirs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		char msg[PATH_MAX + 128];
		struct stat st;
		int e = stat(dirs[i], &st) < 0 ? errno : S_ISDIR(st.st_mode) ? 0 : ENOTDIR;

		if (e == 0)
			continue;
		snprintf(msg, sizeof(msg),
			 "%s: %s (a policy directory named on the command line "
			 "must exist)",
			 dirs[i], strerror(e));
		return pvmctl_report(ctx, -e, msg, PVMCTL_EXIT_INVALID);
	}
	return 0;
}

int verb_policy_check(int argc, char **argv, pvmctl_context *ctx)
{
	static const char *const standard[] = { PVM_POLICY_DIR_VENDOR, PVM_POLICY_DIR_ETC };
	_cleanup_(pvm_policy_freep) pvm_policy *p = NULL;
	const char *const *dirs;
	pvm_error err = { 0 };
	bool denies_all;
	size_t n_dirs;
	int r;

	/* arguments first, then --policy-dir, then the standard directories */
	if (argc > 0) {
		dirs = (const char *const *)argv;
		n_dirs = (size_t)argc;
	} else if (ctx->n_policy_dirs > 0) {
		dirs = ctx->policy_dirs;
		n_dirs = ctx->n_policy_dirs;
	} else {
		dirs = standard;
		n_dirs = ELEMENTSOF(standard);
	}
	if (dirs != standard) {
		r = check_explicit_dirs(ctx, dirs, n_dirs);
		if (r)
			return r;
	}
	r = pvm_policy_load(dirs, n_dirs, &p, &err);
	if (r < 0)
		return pvmctl_report(ctx, r, err.message, PVMCTL_EXIT_INVALID);
	/* valid, but worth saying: no rule allows anything, so pvmd refuses every call */
	denies_all = pvm_policy_n_allow_rules(p) == 0;

	if (!ctx->json) {
		for (size_t i = 0; i < pvm_policy_n_warnings(p); i++)
			printf("warning: %s\n", pvm_policy_warning(p, i));
		printf("valid: %zu file%s, %zu rule%s\n", pvm_policy_n_files(p),
		       pvm_policy_n_files(p) == 1 ? "" : "s", pvm_policy_n_rules(p),
		       pvm_policy_n_rules(p) == 1 ? "" : "s");
		for (size_t i = 0; i < pvm_policy_n_files(p); i++)
			printf("  %s\n", pvm_policy_file(p, i));
		if (denies_all)
			printf("note: no rule allows anything: pvmd denies every action to every "
			       "caller, root included\n");
		return PVMCTL_EXIT_OK;
	}

	_cleanup_json_ json_object *out = json_object_new_object();
	json_object *files = json_object_new_array(), *warnings = json_object_new_array(),
		    *searched = json_object_new_array();
	if (!out || !files || !warnings || !searched) {
		json_object_put(files);
		json_object_put(warnings);
		json_object_put(searched);
		return pvmctl_report(ctx, -ENOMEM, "out of memory", PVMCTL_EXIT_FAILURE);
	}
	for (size_t i = 0; i < n_dirs; i++)
		json_object_array_add(searched, json_object_new_string(dirs[i]));
	for (size_t i = 0; i < pvm_policy_n_files(p); i++)
		json_object_array_add(files, json_object_new_string(pvm_policy_file(p, i)));
	for (size_t i = 0; i < pvm_policy_n_warnings(p); i++)
		json_object_array_add(warnings, json_object_new_string(pvm_policy_warning(p, i)));
	json_object_object_add(out, "valid", json_object_new_boolean(true));
	json_object_object_add(out, "directories", searched);
	json_object_object_add(out, "files", files);
	json_object_object_add(out, "rules", json_object_new_int64((int64_t)pvm_policy_n_rules(p)));
	json_object_object_add(out, "warnings", warnings);
	json_object_object_add(out, "denies_everything", json_object_new_boolean(denies_all));
	pvmctl_print_json(out);
	return PVMCTL_EXIT_OK;
}
