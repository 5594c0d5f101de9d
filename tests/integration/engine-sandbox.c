/* Contract: once guest code runs, the runner is locked down. From outside (/proc/<pid>): no
 * capabilities (effective, permitted, inheritable, ambient, bounding), seccomp filter mode,
 * no_new_privs, its own non-root uid/gid, no supplementary groups, no guest_memfd among its
 * fds, no /dev/kvm fd; guest memory mappings only where the memory report says the host's KVM
 * needs one. From inside: the runner's own attempts at KVM_CREATE_GUEST_MEMFD, new memslots
 * (v1 and v2), an executable mapping and opening /dev/kvm are refused with EPERM, on a VM fd
 * that is really open. Its jail, seen from outside: its root (/proc/<pid>/root) is an empty
 * directory, its mount table holds that one read-only tmpfs and nothing of the host, its mount,
 * IPC, network and UTS namespaces are not pvmd's, and its environment holds none of pvmd's
 * variables (NOTIFY_SOCKET, WATCHDOG_*, ...), only the sanitizer settings pvmd passes on. A
 * runner that cannot build its jail fails the start, saying why. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <linux/capability.h>

#include "engine-harness.h"
#include "runner-protocol.h"

static int count_maps(pid_t pid, const char *needle)
{
	char path[64], line[512];
	int count = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
	f = fopen(path, "re");
	CHECK(f);
	while (fgets(line, sizeof(line), f))
		if (strstr(line, needle))
			count++;
	fclose(f);
	return count;
}

/* Its mount table: one line, a read-only tmpfs at / (mountinfo fields: id, parent, dev, root,
 * mount point, options, optional fields, "-", type, source, super options). */
static void expect_only_new_root(pid_t pid)
{
	char path[64], line[1024], point[256], opts[256], type[64];
	int lines = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/mountinfo", (int)pid);
	f = fopen(path, "re");
	CHECK(f);
	while (fgets(line, sizeof(line), f)) {
		const char *sep = strstr(line, " - ");
		fprintf(stderr, "runner mountinfo: %s", line);
		lines++;
		CHECK(sep && sscanf(line, "%*s %*s %*s %*s %255s %255s", point, opts) == 2);
		CHECK(sscanf(sep, " - %63s", type) == 1);
		CHECK(strcmp(point, "/") == 0);
		CHECK(strcmp(type, "tmpfs") == 0);
		CHECK(strncmp(opts, "ro,", 3) == 0 || strcmp(opts, "ro") == 0);
	}
	fclose(f);
	CHECK(lines == 1);
}

static void expect_own_namespaces(pid_t pid)
{
	static const char *const kinds[] = { "mnt", "ipc", "net", "uts" };

	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (engine_same_namespace(0, pid, kinds[i])) {
			fprintf(stderr, "runner shares pvmd's %s namespace\n", kinds[i]);
			exit(EXIT_FAILURE);
		}
}

/* Every variable of the runner's environment is one pvmd passes on. */
static void expect_environment(pid_t pid)
{
	static const char *const allowed[] = { "ASAN_OPTIONS=", "UBSAN_OPTIONS=", "LSAN_OPTIONS=" };
	char path[64], buf[8192];
	size_t len = 0;
	ssize_t n;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/environ", (int)pid);
	f = fopen(path, "re");
	CHECK(f);
	n = (ssize_t)fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	CHECK(n >= 0);
	len = (size_t)n;
	buf[len] = '\0';
	for (size_t at = 0; at < len; at += strlen(buf + at) + 1) {
		bool ok = false;
		for (size_t i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++)
			ok = ok || strncmp(buf + at, allowed[i], strlen(allowed[i])) == 0;
		if (!ok) {
			fprintf(stderr, "runner's environment holds '%s'\n", buf + at);
			exit(EXIT_FAILURE);
		}
	}
}

int main(void)
{
	vm_instance_options o = { .runner_uid = 61999, .runner_gid = 61998 };
	vm_instance_sandbox_report sb;
	pvm_memory_report rep;
	pvm_error err = { 0 };
	engine_vm t;
	pid_t pid;

	engine_require_kvm();
	/* what a pvmd under systemd has in its environment */
	CHECK(setenv("NOTIFY_SOCKET", "/run/systemd/notify", 1) == 0);
	CHECK(setenv("WATCHDOG_USEC", "30000000", 1) == 0);
	CHECK(setenv("WATCHDOG_PID", "1", 1) == 0);
	engine_vm_init(&t, "wait-stop", 16);
	engine_vm_create(&t, &o);
	engine_vm_start(&t);
	CHECK(engine_wait_state(&t, PVM_VM_READY, 10000));
	pid = vm_instance_runner_pid(t.vm);
	CHECK(pid > 0);

	/* from outside */
	engine_expect_status(pid, "Uid", "61999\t61999\t61999\t61999");
	engine_expect_status(pid, "Gid", "61998\t61998\t61998\t61998");
	engine_expect_status(pid, "Groups", "");
	engine_expect_status(pid, "CapInh", "0000000000000000");
	engine_expect_status(pid, "CapPrm", "0000000000000000");
	engine_expect_status(pid, "CapEff", "0000000000000000");
	engine_expect_status(pid, "CapBnd", "0000000000000000");
	engine_expect_status(pid, "CapAmb", "0000000000000000");
	engine_expect_status(pid, "NoNewPrivs", "1");
	engine_expect_status(pid, "Seccomp", "2");
	CHECK(engine_proc_dumpable(pid) == 0);
	CHECK(engine_count_fds(pid, "kvm-gmem") == 0);
	CHECK(engine_count_fds(pid, "memfd:") == 0);
	CHECK(engine_count_fds(pid, "/dev/kvm") == 0);
	CHECK(engine_count_fds(pid, "kvm-vcpu") == 1);
	{ /* at the number the seccomp filter names */
		char path[64], target[64] = "";
		snprintf(path, sizeof(path), "/proc/%d/fd/%d", (int)pid, RUNNER_VCPU_FD_FIRST);
		CHECK(readlink(path, target, sizeof(target) - 1) > 0 && strstr(target, "kvm-vcpu"));
	}
	engine_expect_only_loopback(pid);
	engine_expect_empty_root(pid);
	expect_only_new_root(pid);
	expect_own_namespaces(pid);
	expect_environment(pid);
	/* a mapping of guest memory in the runner exactly when the report says KVM needs it */
	CHECK(vm_instance_memory_report(t.vm, &rep) == 0);
	CHECK(count_maps(getpid(), "kvm-gmem") == 0); /* never in pvmd (this process) */
	if (strstr(rep.host_mapped_how, "the runner maps it because"))
		CHECK(count_maps(pid, "kvm-gmem") == 1 && rep.host_mapped == PVM_YES);
	else
		CHECK(count_maps(pid, "kvm-gmem") == 0 && rep.host_mapped == PVM_NO);
	printf("runner %d: uid 61999, no capabilities, seccomp filter, no_new_privs, no memory fd, "
	       "empty read-only root, own namespaces, no inherited environment; %s\n",
	       (int)pid, rep.host_mapped_how);

	/* from inside */
	CHECK(vm_instance_request_sandbox_check(t.vm, &err) == 0);
	for (int i = 0; i < 200 && !vm_instance_sandbox_report_get(t.vm, &sb); i++)
		CHECK(sd_event_run(t.event, 50 * 1000) >= 0);
	CHECK(vm_instance_sandbox_report_get(t.vm, &sb));
	printf("self-check: create_guest_memfd %s, memslot v2 %s, memslot v1 %s, exec mapping %s, "
	       "open /dev/kvm %s; seccomp %d nnp %d uid %u namespaces 0x%x\n",
	       strerror(sb.create_guest_memfd), strerror(sb.set_user_memory_region2),
	       strerror(sb.set_user_memory_region), strerror(sb.mmap_exec),
	       strerror(sb.open_dev_kvm), sb.seccomp_mode, sb.no_new_privs, (unsigned)sb.uid,
	       sb.namespaces);
	CHECK(sb.vm_fd_valid);
	/* the seccomp filter names the vCPU fds by range: no other fd can be put there */
	CHECK(sb.dup_to_vcpu_range == EINVAL);
	CHECK(sb.create_guest_memfd == EPERM);
	CHECK(sb.set_user_memory_region2 == EPERM);
	CHECK(sb.set_user_memory_region == EPERM);
	CHECK(sb.mmap_exec == EPERM);
	CHECK(sb.open_dev_kvm == EPERM);
	CHECK(sb.seccomp_mode == 2 && sb.no_new_privs == 1);
	CHECK(sb.uid == 61999 && sb.gid == 61998);
	CHECK(sb.namespaces == 0xf); /* as root: mount, ipc, net, uts */

	/* the VM still runs after the attempts, and stops gracefully */
	CHECK(vm_instance_state(t.vm) == PVM_VM_READY);
	CHECK(vm_instance_stop(t.vm, 10 * 1000000ULL, &err) == 0);
	CHECK(engine_wait_ended(&t, 15000));
	engine_expect_end(&t, PVM_VM_STOPPED, PVM_DEATH_STOPPED);

	/* default uids come from the per-VM range (runner-uids.h), never root */
	engine_vm_done(&t);
	engine_vm_init(&t, "wait-stop", 16);
	engine_vm_create(&t, NULL);
	engine_vm_start(&t);
	CHECK(engine_wait_state(&t, PVM_VM_READY, 10000));
	engine_expect_status(vm_instance_runner_pid(t.vm), "Uid",
			     "1879048192\t1879048192\t1879048192\t1879048192");
	CHECK(vm_instance_kill(t.vm, &err) == 0);
	CHECK(engine_wait_ended(&t, 10000));
	engine_vm_done(&t);

	/* A runner that cannot build its jail does not run the guest. Without CAP_SYS_ADMIN
	 * (dropped from this process's bounding set, so the root runner it spawns lacks it too)
	 * no namespace can be entered: the start fails and says so. Last: it is irreversible. */
	CHECK(prctl(PR_CAPBSET_DROP, CAP_SYS_ADMIN, 0, 0, 0) == 0);
	engine_vm_init(&t, "wait-stop", 16);
	engine_vm_create(&t, &o);
	engine_vm_start(&t);
	CHECK(engine_wait_ended(&t, 10000));
	engine_expect_end(&t, PVM_VM_FAILED, PVM_DEATH_START_FAILED);
	printf("without CAP_SYS_ADMIN: %s\n", vm_instance_message(t.vm));
	CHECK(strstr(vm_instance_message(t.vm), "unshare"));
	CHECK(!engine_saw_state(&t, PVM_VM_READY));
	engine_vm_done(&t);
	printf("engine-sandbox: ok\n");
	return 0;
}
