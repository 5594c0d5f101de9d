/* pvmd's records under <runtime_dir>/state: one JSON file per VM, rewritten atomically (never
 * flushed: the directory is volatile) on every change, so that a pvmd restarted after a crash
 * can find each runner it left (pid + start time + executable), end it, and account for every
 * VM. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "pvmd.h"

#define STATE_FILE_MAX (2 << 20)

static inline void json_object_putp(json_object **o)
{
	if (*o)
		json_object_put(*o);
}

void pvmd_state_record_done(pvmd_state_record *r)
{
	free(r->name);
	free(r->message);
	free(r->runner_exe);
	free(r->config_json);
	*r = (pvmd_state_record){ 0 };
}

int pvmd_state_record_to_json(const pvmd_state_record *r, char **ret)
{
	_cleanup_(json_object_putp) json_object *o = json_object_new_object();
	json_object *cfg = NULL;
	char *text;

	if (!o)
		return -ENOMEM;
	if (r->config_json) {
		cfg = json_tokener_parse(r->config_json);
		if (!cfg)
			return -EINVAL;
	}
	json_object_object_add(o, "name", json_object_new_string(r->name));
	json_object_object_add(o, "owner", json_object_new_int64(r->owner));
	json_object_object_add(o, "state",
			       json_object_new_string(pvm_vm_state_to_string(r->state)));
	json_object_object_add(o, "death_reason",
			       json_object_new_string(pvm_death_reason_to_string(r->reason)));
	json_object_object_add(o, "message", json_object_new_string(r->message ?: ""));
	json_object_object_add(o, "runner_pid", json_object_new_int64(r->runner_pid));
	json_object_object_add(o, "runner_start_ticks",
			       json_object_new_uint64(r->runner_start_ticks));
	json_object_object_add(o, "runner_exe", json_object_new_string(r->runner_exe ?: ""));
	json_object_object_add(o, "start_time_usec", json_object_new_uint64(r->start_time_usec));
	json_object_object_add(o, "tied", json_object_new_boolean(r->tied));
	if (r->runner_pid > 0) {
		/* what the next pvmd needs to adopt the runner (with the fds systemd keeps) */
		json_object_object_add(o, "runner_uid", json_object_new_int64(r->runner_uid));
		json_object_object_add(o, "runner_namespaces",
				       json_object_new_int64(r->runner_namespaces));
		json_object_object_add(o, "memory_flags", json_object_new_uint64(r->memory_flags));
		json_object_object_add(o, "runner_maps", json_object_new_boolean(r->runner_maps));
		if (r->vsock_cid)
			json_object_object_add(o, "vsock_cid", json_object_new_int64(r->vsock_cid));
	}
	if (r->n_vsock_ports) {
		json_object *ports = json_object_new_array();
		for (size_t i = 0; i < r->n_vsock_ports; i++)
			json_object_array_add(ports, json_object_new_int64(r->vsock_ports[i]));
		json_object_object_add(o, "vsock_listeners", ports);
	}
	json_object_object_add(o, "config", cfg);
	text = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY |
							    JSON_C_TO_STRING_NOSLASHESCAPE));
	if (!text)
		return -ENOMEM;
	*ret = text;
	return 0;
}

static int get_field(json_object *o, const char *key, json_type type, json_object **ret,
		     pvm_error *err)
{
	json_object *v;

	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, type))
		return pvm_error_set(err, EINVAL, "field '%s' missing or not a %s", key,
				     json_type_to_name(type));
	*ret = v;
	return 0;
}

static int dup_string(json_object *o, const char *key, char **ret, pvm_error *err)
{
	/* get_field() sets v whenever it returns 0, but at -O3 GCC cannot see that
	 * pvm_error_set() only returns negative values. */
	json_object *v = NULL;
	int r = get_field(o, key, json_type_string, &v, err);

	if (r < 0)
		return r;
	*ret = strdup(json_object_get_string(v));
	return *ret ? 0 : pvm_error_set(err, ENOMEM, "out of memory");
}

int pvmd_state_record_from_json(const char *text, pvmd_state_record *ret, pvm_error *err)
{
	_cleanup_(json_object_putp) json_object *o = NULL;
	pvmd_state_record rec = { 0 };
	json_object *v;
	int r;

	o = json_tokener_parse(text);
	if (!o || !json_object_is_type(o, json_type_object))
		return pvm_error_set(err, EINVAL, "not a JSON object");

	if ((r = dup_string(o, "name", &rec.name, err)) < 0 ||
	    (r = dup_string(o, "message", &rec.message, err)) < 0 ||
	    (r = dup_string(o, "runner_exe", &rec.runner_exe, err)) < 0)
		goto fail;
	if (!pvm_name_is_valid(rec.name)) {
		r = pvm_error_set(err, EINVAL, "field 'name': '%s' is not a valid VM name",
				  rec.name);
		goto fail;
	}
	if ((r = get_field(o, "state", json_type_string, &v, err)) < 0)
		goto fail;
	r = pvm_vm_state_from_string(json_object_get_string(v));
	if (r < 0) {
		r = pvm_error_set(err, EINVAL, "field 'state': unknown state '%s'",
				  json_object_get_string(v));
		goto fail;
	}
	rec.state = r;
	if ((r = get_field(o, "death_reason", json_type_string, &v, err)) < 0)
		goto fail;
	r = pvm_death_reason_from_string(json_object_get_string(v));
	if (r < 0) {
		r = pvm_error_set(err, EINVAL, "field 'death_reason': unknown reason '%s'",
				  json_object_get_string(v));
		goto fail;
	}
	rec.reason = r;
	if ((r = get_field(o, "owner", json_type_int, &v, err)) < 0)
		goto fail;
	rec.owner = (uid_t)json_object_get_int64(v);
	if ((r = get_field(o, "runner_pid", json_type_int, &v, err)) < 0)
		goto fail;
	if (json_object_get_int64(v) < 0 || json_object_get_int64(v) > INT_MAX) {
		r = pvm_error_set(err, EINVAL, "field 'runner_pid' out of range");
		goto fail;
	}
	rec.runner_pid = (pid_t)json_object_get_int64(v);
	if ((r = get_field(o, "runner_start_ticks", json_type_int, &v, err)) < 0)
		goto fail;
	rec.runner_start_ticks = json_object_get_uint64(v);
	if ((r = get_field(o, "start_time_usec", json_type_int, &v, err)) < 0)
		goto fail;
	rec.start_time_usec = json_object_get_uint64(v);
	if ((r = get_field(o, "tied", json_type_boolean, &v, err)) < 0)
		goto fail;
	rec.tied = json_object_get_boolean(v);
	/* adoption fields: absent for a VM without a running runner */
	if (json_object_object_get_ex(o, "runner_uid", &v) && json_object_is_type(v, json_type_int))
		rec.runner_uid = (uid_t)json_object_get_int64(v);
	if (json_object_object_get_ex(o, "runner_namespaces", &v) &&
	    json_object_is_type(v, json_type_int))
		rec.runner_namespaces = (unsigned)json_object_get_int64(v);
	if (json_object_object_get_ex(o, "memory_flags", &v) &&
	    json_object_is_type(v, json_type_int))
		rec.memory_flags = json_object_get_uint64(v);
	if (json_object_object_get_ex(o, "runner_maps", &v) &&
	    json_object_is_type(v, json_type_boolean))
		rec.runner_maps = json_object_get_boolean(v);
	if (json_object_object_get_ex(o, "vsock_cid", &v) && json_object_is_type(v, json_type_int))
		rec.vsock_cid = (uint32_t)json_object_get_int64(v);
	if (json_object_object_get_ex(o, "vsock_listeners", &v) &&
	    json_object_is_type(v, json_type_array))
		for (size_t i = 0; i < json_object_array_length(v) &&
				   rec.n_vsock_ports < PVMD_VSOCK_LISTENERS_MAX;
		     i++) {
			json_object *p = json_object_array_get_idx(v, i);
			int64_t port = json_object_get_int64(p);
			if (json_object_is_type(p, json_type_int) && port >= 0 &&
			    port <= UINT32_MAX)
				rec.vsock_ports[rec.n_vsock_ports++] = (uint32_t)port;
		}
	if ((r = get_field(o, "config", json_type_object, &v, err)) < 0)
		goto fail;
	rec.config_json = strdup(json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN));
	if (!rec.config_json) {
		r = pvm_error_set(err, ENOMEM, "out of memory");
		goto fail;
	}
	*ret = rec;
	return 0;
fail:
	pvmd_state_record_done(&rec);
	return r;
}

int pvmd_state_save(const char *state_dir, const pvmd_state_record *r, pvm_error *err)
{
	_cleanup_free_ char *text = NULL, *path = NULL, *tmp = NULL;
	_cleanup_close_ int fd = -1;
	size_t len, done = 0;
	int q;

	q = pvmd_state_record_to_json(r, &text);
	if (q < 0)
		return pvm_error_set(err, -q, "cannot serialize the record of VM '%s'", r->name);
	if (asprintf(&path, "%s/%s.json", state_dir, r->name) < 0 ||
	    asprintf(&tmp, "%s/.%s.json.tmp", state_dir, r->name) < 0)
		return pvm_error_set(err, ENOMEM, "out of memory");
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return pvm_error_set(err, errno, "cannot write %s: %m", tmp);
	len = strlen(text);
	while (done < len) {
		ssize_t n = write(fd, text + done, len - done);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			q = pvm_error_set(err, errno, "cannot write %s: %m", tmp);
			unlink(tmp);
			return q;
		}
		done += (size_t)n;
	}
	/* rename is the commit: a pvmd crash leaves the old record or the new one, never half.
	 * No fsync: the records live in volatile state (/run), and the runners they name die with
	 * the host, so a flush would only slow every start and buy nothing a reboot keeps. */
	if (rename(tmp, path) < 0) {
		q = pvm_error_set(err, errno, "cannot commit %s: %m", path);
		unlink(tmp);
		return q;
	}
	return 0;
}

int pvmd_state_remove(const char *state_dir, const char *name)
{
	_cleanup_free_ char *path = NULL;

	if (asprintf(&path, "%s/%s.json", state_dir, name) < 0)
		return -ENOMEM;
	if (unlink(path) < 0 && errno != ENOENT)
		return -errno;
	return 0;
}

static int read_small_file(int dirfd, const char *name, char **ret)
{
	_cleanup_close_ int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	_cleanup_free_ char *buf = NULL;
	struct stat st;
	size_t done = 0;

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode) || st.st_size > STATE_FILE_MAX)
		return -EFBIG;
	buf = malloc((size_t)st.st_size + 1);
	if (!buf)
		return -ENOMEM;
	while (done < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + done, (size_t)st.st_size - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		done += (size_t)n;
	}
	buf[done] = '\0';
	*ret = TAKE_PTR(buf);
	return 0;
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int pvmd_state_load_all(const char *state_dir, int (*cb)(pvmd_state_record *r, void *userdata),
			void *userdata)
{
	DIR *d = opendir(state_dir);
	char **names = NULL;
	size_t n = 0;
	struct dirent *de;
	int r = 0;

	if (!d)
		return errno == ENOENT ? 0 : -errno;
	while ((de = readdir(d))) {
		size_t len = strlen(de->d_name);
		char **grown;

		if (de->d_name[0] == '.' || len < 6 || strcmp(de->d_name + len - 5, ".json") != 0)
			continue;
		grown = realloc(names, (n + 1) * sizeof(*names));
		if (!grown || !(grown[n] = strdup(de->d_name))) {
			names = grown ?: names;
			r = -ENOMEM;
			goto out;
		}
		names = grown;
		n++;
	}
	if (n > 1)
		qsort(names, n, sizeof(*names), name_cmp);
	for (size_t i = 0; i < n; i++) {
		_cleanup_free_ char *text = NULL;
		pvmd_state_record rec = { 0 };
		pvm_error err = { 0 };
		int q;

		q = read_small_file(dirfd(d), names[i], &text);
		if (q >= 0)
			q = pvmd_state_record_from_json(text, &rec, &err);
		else
			pvm_error_set(&err, -q, "cannot read it: %s", strerror(-q));
		if (q >= 0 && strlen(rec.name) + 5 != strlen(names[i]))
			q = pvm_error_set(&err, EINVAL, "it names VM '%s'", rec.name);
		if (q < 0) {
			_cleanup_free_ char *aside = NULL;
			log_error("State record %s/%s is unusable (%s); moved aside as .broken",
				  state_dir, names[i], err.message);
			if (asprintf(&aside, "%s.broken", names[i]) >= 0)
				renameat(dirfd(d), names[i], dirfd(d), aside);
			pvmd_state_record_done(&rec);
			continue;
		}
		q = cb(&rec, userdata);
		pvmd_state_record_done(&rec);
		if (q < 0 && r == 0)
			r = q;
	}
out:
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	closedir(d);
	return r;
}

int pvmd_proc_parse_start_ticks(const char *line, uint64_t *ret)
{
	/* comm (field 2) may hold spaces and parentheses: fields restart after the last ')' */
	const char *p = strrchr(line, ')');
	unsigned long long v;
	char *end;

	if (!p)
		return -EINVAL;
	p++;
	for (int field = 3; field < 22; field++) { /* skip fields 3..21 */
		while (*p == ' ')
			p++;
		if (!*p)
			return -EINVAL;
		while (*p && *p != ' ')
			p++;
	}
	while (*p == ' ')
		p++;
	if (*p < '0' || *p > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(p, &end, 10);
	if (errno || (*end && *end != ' ' && *end != '\n'))
		return -EINVAL;
	*ret = v;
	return 0;
}

int pvmd_proc_start_ticks(pid_t pid, uint64_t *ret)
{
	char path[64], line[1024];
	_cleanup_close_ int fd = -1;
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, line, sizeof(line) - 1);
	if (n < 0)
		return -errno;
	line[n] = '\0';
	return pvmd_proc_parse_start_ticks(line, ret);
}

static int wait_pidfd(int pidfd, uint64_t timeout_usec)
{
	struct pollfd p = { .fd = pidfd, .events = POLLIN };
	uint64_t end = pvm_now_usec(CLOCK_MONOTONIC) + timeout_usec;

	for (;;) {
		uint64_t now = pvm_now_usec(CLOCK_MONOTONIC);
		long ms;
		int r;

		if (now >= end)
			return -ETIMEDOUT;
		ms = (long)MIN((end - now + 999) / 1000, (uint64_t)INT_MAX);
		r = poll(&p, 1, (int)ms);
		if (r > 0)
			return 0;
		if (r < 0 && errno != EINTR)
			return -errno;
	}
}

int pvmd_state_runner_matches(const pvmd_state_record *r, const char *runner_path, pvm_error *err)
{
	char exe_link[64], exe[PATH_MAX];
	uint64_t ticks;
	ssize_t n;
	int q;

	if (r->runner_pid <= 0)
		return 0;
	q = pvmd_proc_start_ticks(r->runner_pid, &ticks);
	if (q == -ENOENT || q == -ESRCH)
		return 0;
	if (q < 0)
		return pvm_error_set(err, -q, "cannot read /proc/%d/stat: %s", (int)r->runner_pid,
				     strerror(-q));
	if (ticks != r->runner_start_ticks)
		return 0; /* the pid was reused by another process */
	snprintf(exe_link, sizeof(exe_link), "/proc/%d/exe", (int)r->runner_pid);
	n = readlink(exe_link, exe, sizeof(exe) - 1);
	if (n >= 0) {
		const char *want = r->runner_exe && r->runner_exe[0] ? r->runner_exe : runner_path;
		exe[n] = '\0';
		/* an executable replaced by an upgrade reads "<path> (deleted)" */
		if (strncmp(exe, want, strlen(want)) != 0)
			return 0;
	} else if (errno == ENOENT || errno == ESRCH) {
		return 0;
	}
	/* exe unreadable for other reasons (EACCES under hardening): pid + start time suffice */
	return 1;
}

int pvmd_state_reap_runner(const pvmd_state_record *r, const char *runner_path,
			   uint64_t timeout_usec, pvm_error *err)
{
	_cleanup_close_ int pidfd = -1;
	int q;

	if (r->runner_pid <= 0)
		return 0;
	/* Pin the process first, then check it is ours: a pidfd cannot come to mean another
	 * process, so the checks below and the kill name the same one. */
	pidfd = (int)syscall(SYS_pidfd_open, r->runner_pid, 0);
	if (pidfd < 0) {
		if (errno == ESRCH)
			return 0;
		return pvm_error_set(err, errno, "pidfd_open(%d): %m", (int)r->runner_pid);
	}
	q = pvmd_state_runner_matches(r, runner_path, err);
	if (q <= 0)
		return q;
	if (syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, NULL, 0) < 0) {
		if (errno == ESRCH)
			return 0;
		return pvm_error_set(err, errno, "cannot kill runner %d: %m", (int)r->runner_pid);
	}
	q = wait_pidfd(pidfd, timeout_usec);
	if (q < 0)
		return pvm_error_set(err, -q, "runner %d did not exit after SIGKILL: %s",
				     (int)r->runner_pid, strerror(-q));
	return 1;
}
