/* pvmd's use of systemd's file-descriptor store: what a running VM needs to outlive pvmd (the
 * runner's control socket, a pidfd of the runner, the guest memory fd) is handed to the service
 * manager as "<vm>-<kind>" (sd_pid_notify_with_fds, FDSTORE=1) and comes back on the next start
 * through sd_listen_fds_with_names(). Without a service manager every call here is a no-op. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#include "pvmd.h"

static const char *const fdstore_kind_names[_PVMD_FDSTORE_KIND_MAX] = {
	[PVMD_FDSTORE_CONTROL] = "control",
	[PVMD_FDSTORE_PIDFD] = "pidfd",
	[PVMD_FDSTORE_MEMORY] = "memory",
};

/* "<vm>-<kind>": VM names may hold '-', kinds do not, so the last '-' separates them. */
static int fdstore_parse_name(const char *fdname, char **ret_vm, enum pvmd_fdstore_kind *ret_kind)
{
	const char *dash = strrchr(fdname, '-');
	char *vm;

	if (!dash || dash == fdname)
		return -EINVAL;
	for (int k = 0; k < _PVMD_FDSTORE_KIND_MAX; k++) {
		if (strcmp(dash + 1, fdstore_kind_names[k]) != 0)
			continue;
		vm = strndup(fdname, (size_t)(dash - fdname));
		if (!vm)
			return -ENOMEM;
		if (!pvm_name_is_valid(vm)) {
			free(vm);
			return -EINVAL;
		}
		*ret_vm = vm;
		*ret_kind = (enum pvmd_fdstore_kind)k;
		return 0;
	}
	return -EINVAL;
}

static void fdstore_remove_name(const char *fdname)
{
	/* FDNAME is limited to printable ASCII without ':'; VM names are [A-Za-z0-9._-] */
	sd_notifyf(false, "FDSTOREREMOVE=1\nFDNAME=%s", fdname);
}

int pvmd_fdstore_open(pvmd_fdstore *s)
{
	char **names = NULL;
	int n;

	*s = (pvmd_fdstore){ .enabled = getenv("NOTIFY_SOCKET") != NULL };
	n = sd_listen_fds_with_names(true, &names);
	if (n <= 0) {
		free(names);
		return n;
	}
	s->entries = calloc((size_t)n, sizeof(*s->entries));
	if (!s->entries) {
		for (int i = 0; i < n; i++)
			close(SD_LISTEN_FDS_START + i), free(names[i]);
		free(names);
		return -ENOMEM;
	}
	for (int i = 0; i < n; i++) {
		pvmd_fdstore_entry *e = &s->entries[s->n];
		int fd = SD_LISTEN_FDS_START + i;

		if (fdstore_parse_name(names[i], &e->vm, &e->kind) < 0) {
			/* not ours (or damaged): never keep what cannot be given back to a VM */
			log_warning("Service manager passed fd %d named '%s', which pvmd does not "
				    "know; closing it and removing it from the store",
				    fd, names[i]);
			fdstore_remove_name(names[i]);
			close(fd);
		} else {
			e->fd = fd;
			s->n++;
		}
		free(names[i]);
	}
	free(names);
	log_info("Service manager passed %zu stored file descriptors", s->n);
	return (int)s->n;
}

int pvmd_fdstore_take(pvmd_fdstore *s, const char *vm, enum pvmd_fdstore_kind kind)
{
	for (size_t i = 0; i < s->n; i++) {
		pvmd_fdstore_entry *e = &s->entries[i];
		if (e->fd >= 0 && e->kind == kind && strcmp(e->vm, vm) == 0)
			return TAKE_FD(e->fd);
	}
	return -ENOENT;
}

int pvmd_fdstore_put(pvmd_fdstore *s, const char *vm, enum pvmd_fdstore_kind kind, int fd)
{
	_cleanup_free_ char *msg = NULL;
	int r;

	if (!s->enabled)
		return 0;
	if (asprintf(&msg, "FDSTORE=1\nFDNAME=%s-%s", vm, fdstore_kind_names[kind]) < 0)
		return -ENOMEM;
	r = sd_pid_notify_with_fds(0, false, msg, &fd, 1);
	if (r < 0)
		return r;
	return r > 0 ? 0 : -ENOTCONN;
}

void pvmd_fdstore_forget(pvmd_fdstore *s, const char *vm)
{
	if (!s->enabled)
		return;
	for (int k = 0; k < _PVMD_FDSTORE_KIND_MAX; k++) {
		_cleanup_free_ char *fdname = NULL;
		if (asprintf(&fdname, "%s-%s", vm, fdstore_kind_names[k]) >= 0)
			fdstore_remove_name(fdname);
	}
}

void pvmd_fdstore_release_unclaimed(pvmd_fdstore *s)
{
	for (size_t i = 0; i < s->n; i++) {
		pvmd_fdstore_entry *e = &s->entries[i];
		if (e->fd >= 0) {
			/* no record claimed it: a VM that ended while pvmd was away */
			log_info("Stored %s fd of VM '%s' is not needed; closing it",
				 fdstore_kind_names[e->kind], e->vm);
			close(TAKE_FD(e->fd));
			pvmd_fdstore_forget(s, e->vm);
		}
		free(e->vm);
	}
	free(s->entries);
	s->entries = NULL;
	s->n = 0;
}
