/* pvm-policy(5) drop-in directories into one policy: files ordered by name across directories,
 * a later directory's file replacing an earlier one of the same name, masks (links to
 * /dev/null), each file parsed by policy-parse.c. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "json-strict.h"
#include "policy-internal.h"

/* --- directories --------------------------------------------------------------------------- */

struct entry {
	char *name;
	char *path;
};

static int entry_compare(const void *a, const void *b)
{
	return strcmp(((const struct entry *)a)->name, ((const struct entry *)b)->name);
}

static void entries_free(struct entry *e, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(e[i].name);
		free(e[i].path);
	}
	free(e);
}

static bool is_policy_file_name(const char *name)
{
	size_t n = strlen(name);
	return name[0] != '.' && n > 5 && strcmp(name + n - 5, ".json") == 0;
}

/* Add a directory's *.json files to the entry set, replacing entries of the same name. */
static int collect_dir(const char *dir, struct entry **entries, size_t *n, pvm_error *err)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	size_t added = 0;
	int r = 0;

	if (!d) {
		if (errno == ENOENT)
			return 0;
		return pvm_error_set(err, errno, "%s: cannot open policy directory: %s", dir,
				     strerror(errno));
	}
	while ((errno = 0, de = readdir(d))) {
		char *path;
		size_t i;

		if (!is_policy_file_name(de->d_name))
			continue;
		if (++added > PVM_POLICY_FILES_MAX) {
			r = pvm_error_set(err, E2BIG, "%s: more than %d policy files", dir,
					  PVM_POLICY_FILES_MAX);
			break;
		}
		if (asprintf(&path, "%s/%s", dir, de->d_name) < 0) {
			r = pvm_error_set(err, ENOMEM, "%s: out of memory", dir);
			break;
		}
		for (i = 0; i < *n; i++)
			if (strcmp((*entries)[i].name, de->d_name) == 0)
				break;
		if (i < *n) {
			free((*entries)[i].path);
			(*entries)[i].path = path;
			continue;
		}
		struct entry *grown = realloc(*entries, (*n + 1) * sizeof(**entries));
		char *name = strdup(de->d_name);
		if (!grown || !name) {
			free(name);
			free(path);
			if (grown)
				*entries = grown;
			r = pvm_error_set(err, ENOMEM, "%s: out of memory", dir);
			break;
		}
		*entries = grown;
		(*entries)[(*n)++] = (struct entry){ .name = name, .path = path };
	}
	if (r == 0 && errno != 0)
		r = pvm_error_set(err, errno, "%s: cannot read policy directory: %s", dir,
				  strerror(errno));
	closedir(d);
	return r;
}

/* A file that is empty or a symlink to /dev/null masks the same name in an earlier directory
 * (systemd's drop-in convention). Files everyone may write are refused. */
static int file_is_mask(const char *path, bool *ret, pvm_error *err)
{
	struct stat st;

	if (stat(path, &st) < 0)
		return pvm_error_set(err, errno, "%s: cannot stat: %s", path, strerror(errno));
	if (S_ISCHR(st.st_mode) && major(st.st_rdev) == 1 && minor(st.st_rdev) == 3) {
		*ret = true;
		return 0;
	}
	if (!S_ISREG(st.st_mode))
		return pvm_error_set(err, EINVAL, "%s: not a regular file", path);
	/* whoever can write a policy file decides who runs VMs */
	if (st.st_mode & S_IWOTH)
		return pvm_error_set(err, EPERM,
				     "%s: writable by everyone (mode %04o); refusing it", path,
				     (unsigned)(st.st_mode & 07777));
	*ret = st.st_size == 0;
	return 0;
}

int pvm_policy_load(const char *const *dirs, size_t n_dirs, pvm_policy **ret, pvm_error *err)
{
	_cleanup_(pvm_policy_freep) pvm_policy *p = policy_new();
	struct entry *entries = NULL;
	size_t n = 0;
	int r = 0;

	if (!p)
		return pvm_error_set(err, ENOMEM, "out of memory");
	for (size_t i = 0; i < n_dirs && r >= 0; i++)
		r = collect_dir(dirs[i], &entries, &n, err);
	if (r >= 0 && n > 0)
		qsort(entries, n, sizeof(*entries), entry_compare);
	for (size_t i = 0; i < n && r >= 0; i++) {
		_cleanup_free_ char *text = NULL;
		bool mask = false;
		size_t len;

		r = file_is_mask(entries[i].path, &mask, err);
		if (r < 0 || mask)
			continue;
		r = pvm_json_read_file(entries[i].path, PVM_POLICY_FILE_MAX, &text, &len, err);
		if (r >= 0)
			r = policy_add_text(p, text, len, entries[i].path, err);
	}
	entries_free(entries, n);
	if (r < 0)
		return r;
	*ret = TAKE_PTR(p);
	return 0;
}
