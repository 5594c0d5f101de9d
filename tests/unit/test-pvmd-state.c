/* pvmd's runtime-directory records: a record survives JSON and a file round trip unchanged,
 * is saved without any flush to disk (the start path waits on no fsync), broken or mismatched
 * files are moved aside rather than trusted, and the start time of a process is read from
 * /proc/<pid>/stat even when its name holds spaces and parentheses. */
#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <seccomp.h>

#include "pvmd.h"

static int count_cb(pvmd_state_record *r, void *userdata)
{
	pvmd_state_record *into = userdata;

	assert(strcmp(r->name, "vm-1") == 0);
	*into = *r;
	/* keep the strings: the loader frees the record after the callback */
	into->name = strdup(r->name);
	into->message = strdup(r->message);
	into->runner_exe = strdup(r->runner_exe);
	into->config_json = strdup(r->config_json);
	return 0;
}

static void test_round_trip(const char *dir)
{
	pvmd_state_record in = {
		.name = "vm-1",
		.owner = 1000,
		.state = PVM_VM_RUNNING,
		.reason = PVM_DEATH_NONE,
		.message = "",
		.runner_pid = 4242,
		.runner_start_ticks = 123456789,
		.runner_exe = "/usr/libexec/pvm-runner",
		.runner_uid = 61190,
		.runner_namespaces = 15,
		.memory_flags = 3,
		.runner_maps = true,
		.start_time_usec = 1700000000000000ULL,
		.tied = true,
		.config_json = "{\"name\":\"vm-1\",\"memory_mib\":16}",
	};
	pvmd_state_record out = { 0 };
	pvm_error err = { 0 };
	char *text = NULL;

	assert(pvmd_state_record_to_json(&in, &text) == 0);
	assert(pvmd_state_record_from_json(text, &out, &err) == 0);
	assert(strcmp(out.name, in.name) == 0);
	assert(out.owner == 1000 && out.state == PVM_VM_RUNNING && out.reason == PVM_DEATH_NONE);
	assert(out.runner_pid == 4242 && out.runner_start_ticks == 123456789);
	assert(strcmp(out.runner_exe, in.runner_exe) == 0);
	/* what the next pvmd needs to take the runner over */
	assert(out.runner_uid == 61190 && out.runner_namespaces == 15 && out.memory_flags == 3 &&
	       out.runner_maps);
	assert(out.start_time_usec == in.start_time_usec && out.tied);
	assert(strstr(out.config_json, "\"memory_mib\":16"));
	pvmd_state_record_done(&out);
	free(text);

	/* through a file, plus a broken file and a file named for another VM beside it */
	assert(pvmd_state_save(dir, &in, &err) == 0);
	char path[512];
	snprintf(path, sizeof(path), "%s/zz.json", dir);
	FILE *f = fopen(path, "w");
	assert(f);
	fputs("{ not json", f);
	fclose(f);
	in.name = "other";
	assert(pvmd_state_record_to_json(&in, &text) == 0);
	snprintf(path, sizeof(path), "%s/aa.json", dir);
	f = fopen(path, "w");
	assert(f);
	fputs(text, f);
	fclose(f);
	free(text);

	pvmd_state_record got = { 0 };
	assert(pvmd_state_load_all(dir, count_cb, &got) == 0);
	assert(got.runner_pid == 4242);
	pvmd_state_record_done(&got);
	snprintf(path, sizeof(path), "%s/zz.json.broken", dir);
	assert(access(path, F_OK) == 0);
	snprintf(path, sizeof(path), "%s/aa.json.broken", dir);
	assert(access(path, F_OK) == 0);
	assert(pvmd_state_remove(dir, "vm-1") == 0);
	assert(pvmd_state_remove(dir, "vm-1") == 0); /* already gone is fine */
}

static void test_rejects(void)
{
	static const char *bad[] = {
		"[]",
		"{\"name\":\"../x\",\"message\":\"\",\"runner_exe\":\"\"}",
		/* unknown state */
		"{\"name\":\"a\",\"message\":\"\",\"runner_exe\":\"\",\"state\":\"dancing\"}",
		/* negative pid */
		("{\"name\":\"a\",\"message\":\"\",\"runner_exe\":\"\",\"state\":\"running\","
		 "\"death_reason\":\"none\",\"owner\":0,\"runner_pid\":-1}"),
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		pvmd_state_record r = { 0 };
		pvm_error err = { 0 };
		assert(pvmd_state_record_from_json(bad[i], &r, &err) < 0);
		assert(err.message[0]);
	}
}

static void test_proc_stat(void)
{
	uint64_t t = 0;
	/* fields 3..21 then starttime = 987654 */
	const char *line = "42 (a (weird) name) S 1 42 42 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 "
			   "987654 1000 10 18446744073709551615\n";

	assert(pvmd_proc_parse_start_ticks(line, &t) == 0 && t == 987654);
	assert(pvmd_proc_parse_start_ticks("42 (x) S 1 2", &t) == -EINVAL);
	assert(pvmd_proc_parse_start_ticks("no paren", &t) == -EINVAL);
	/* our own process: start time is readable and stable */
	uint64_t a, b;
	assert(pvmd_proc_start_ticks(getpid(), &a) == 0);
	assert(pvmd_proc_start_ticks(getpid(), &b) == 0 && a == b);
}

/* A record names a process only by pid + start time + executable: any mismatch leaves the
 * process alone (a reused pid is never signalled); a match ends it. */
static void test_reap(void)
{
	char exe[4096];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	pid_t child;
	int status;

	assert(n > 0);
	exe[n] = '\0';
	child = fork();
	assert(child >= 0);
	if (child == 0) {
		for (;;)
			pause();
	}
	pvmd_state_record r = { .name = "vm-1", .runner_pid = child, .runner_exe = exe };
	pvm_error err = { 0 };
	uint64_t ticks;

	assert(pvmd_proc_start_ticks(child, &ticks) == 0);
	r.runner_start_ticks = ticks + 1; /* another process that had this pid */
	assert(pvmd_state_reap_runner(&r, exe, 1000000, &err) == 0);
	assert(kill(child, 0) == 0);
	r.runner_start_ticks = ticks;
	r.runner_exe = "/usr/libexec/not-the-runner";
	assert(pvmd_state_reap_runner(&r, exe, 1000000, &err) == 0);
	assert(kill(child, 0) == 0);
	r.runner_exe = exe;
	assert(pvmd_state_reap_runner(&r, exe, 5000000, &err) == 1);
	assert(waitpid(child, &status, 0) == child);
	assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	/* gone: nothing to do */
	assert(pvmd_state_reap_runner(&r, exe, 1000000, &err) == 0);
	r.runner_pid = 0;
	assert(pvmd_state_reap_runner(&r, exe, 1000000, &err) == 0);
}

/* In a child where every flush system call fails, a record is still saved and reads back:
 * saving it flushed nothing. */
static void test_save_without_flush(const char *dir)
{
	static const char *const flushes[] = { "fsync", "fdatasync",	   "syncfs",
					       "sync",	"sync_file_range", "msync" };
	pid_t pid = fork();
	int status;

	assert(pid >= 0);
	if (pid == 0) {
		scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
		pvmd_state_record in = {
			.name = "unflushed",
			.state = PVM_VM_STARTING,
			.message = "",
			.runner_exe = "",
			.config_json = "{\"name\":\"unflushed\"}",
		};
		pvm_error err = { 0 };
		char path[512];
		struct stat st;

		if (!ctx)
			_exit(2);
		for (size_t i = 0; i < sizeof(flushes) / sizeof(flushes[0]); i++)
			if (seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EIO),
					     seccomp_syscall_resolve_name(flushes[i]), 0) < 0)
				_exit(3);
		if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 || seccomp_load(ctx) < 0)
			_exit(4);
		if (pvmd_state_save(dir, &in, &err) < 0) {
			fprintf(stderr, "save with flushes failing: %s\n", err.message);
			_exit(5);
		}
		snprintf(path, sizeof(path), "%s/unflushed.json", dir);
		_exit(stat(path, &st) == 0 && st.st_size > 0 ? 0 : 6);
	}
	assert(waitpid(pid, &status, 0) == pid);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		fprintf(stderr, "test_save_without_flush: child status %d\n", status);
		abort();
	}
	char path[512];
	snprintf(path, sizeof(path), "%s/unflushed.json", dir);
	assert(unlink(path) == 0);
}

int main(void)
{
	char dir[] = "/tmp/test-pvmd-state.XXXXXX";

	assert(mkdtemp(dir));
	test_round_trip(dir);
	test_save_without_flush(dir);
	test_rejects();
	test_proc_stat();
	test_reap();
	char cmd[600];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert(system(cmd) == 0);
	printf("test-pvmd-state: ok\n");
	return 0;
}
