/* The runner's seccomp allow-list as one BPF program, built once per pvmd: the syscalls its
 * loop and vCPU threads make, ioctl only on the vCPU fds' fixed numbers and only for KVM_RUN and
 * the requests the arch needs. The virtio devices' KVM_IRQFD and KVM_IOEVENTFD registrations
 * happen before lock-down, so neither is on the list: afterwards their eventfds are only read
 * and written. The memory and VM-building ioctls and opens fail with EPERM, so
 * the runner's self-check can observe the refusal; anything else outside the list kills the
 * runner (SIGSYS), which pvmd reports as a protection violation. */
#include <errno.h>
#include <linux/filter.h>
#include <linux/sched.h>
#include <seccomp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kvm-compat.h"
#include "macro.h"
#include "runner-filter.h"
#include "runner-protocol.h"

static const int filter_allowed[] = {
	SCMP_SYS(read),
	SCMP_SYS(write),
	SCMP_SYS(sendmsg),
	SCMP_SYS(recvmsg),
	SCMP_SYS(ppoll),
	SCMP_SYS(poll),
	SCMP_SYS(close),
	SCMP_SYS(futex),
	SCMP_SYS(exit),
	SCMP_SYS(exit_group),
	SCMP_SYS(rt_sigreturn),
	SCMP_SYS(rt_sigprocmask),
	SCMP_SYS(rt_sigaction),
	SCMP_SYS(clock_gettime),
	SCMP_SYS(clock_nanosleep),
	SCMP_SYS(nanosleep),
	SCMP_SYS(munmap),
	SCMP_SYS(madvise),
	SCMP_SYS(brk),
	SCMP_SYS(set_robust_list),
	SCMP_SYS(rseq),
	SCMP_SYS(gettid),
	SCMP_SYS(getpid),
	SCMP_SYS(sched_yield),
	SCMP_SYS(getuid),
	SCMP_SYS(getgid),
	SCMP_SYS(geteuid),
	SCMP_SYS(getegid),
	SCMP_SYS(fstat),
	SCMP_SYS(newfstatat),
	SCMP_SYS(fcntl),
	SCMP_SYS(getrandom),
	SCMP_SYS(sigaltstack),
	/* virtio devices: disk I/O on the fds pvmd passed; vsock's host sockets (accept on the
	 * listening socket pvmd passed, connect to host programs' sockets, half-close, the
	 * "OK" line); new sockets are AF_UNIX only (below) */
	SCMP_SYS(pread64),
	SCMP_SYS(pwrite64),
	SCMP_SYS(fdatasync),
	SCMP_SYS(accept4),
	SCMP_SYS(connect),
	SCMP_SYS(shutdown),
	SCMP_SYS(sendto),
	SCMP_SYS(recvfrom),
};

#if defined(__SANITIZE_ADDRESS__)
/* The ASan/UBSan runtime (test builds only) inspects the process from its thread and
 * allocation hooks: allow what it calls so sanitizer runs test the same filter otherwise. */
static const int filter_allowed_sanitizer[] = {
	SCMP_SYS(sched_getaffinity), SCMP_SYS(prlimit64),  SCMP_SYS(getrlimit), SCMP_SYS(mincore),
	SCMP_SYS(readlink),	     SCMP_SYS(getppid),	   SCMP_SYS(lseek),	SCMP_SYS(uname),
	SCMP_SYS(sched_getparam),    SCMP_SYS(getdents64),
};
#endif

static const unsigned long filter_refused_ioctls[] = {
	KVM_SET_USER_MEMORY_REGION,
	KVM_SET_USER_MEMORY_REGION2,
	KVM_CREATE_GUEST_MEMFD,
	KVM_CREATE_VCPU,
	KVM_CREATE_VM,
	KVM_SET_MEMORY_ATTRIBUTES,
};

/* The rules; libseccomp's own errors (negative errno) come back as they are. */
static int filter_rules(scmp_filter_ctx ctx, const pvm_arch *arch)
{
	/* ioctl on a vCPU fd: RUNNER_VCPU_FD_FIRST is a multiple of RUNNER_VCPUS_MAX, so the
	 * range is one masked compare */
	const scmp_datum_t vcpu_mask = 0xffffffffu & ~(scmp_datum_t)(RUNNER_VCPUS_MAX - 1);
	int r = 0;

	for (size_t i = 0; i < ELEMENTSOF(filter_allowed) && r == 0; i++)
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, filter_allowed[i], 0);
#if defined(__SANITIZE_ADDRESS__)
	for (size_t i = 0; i < ELEMENTSOF(filter_allowed_sanitizer) && r == 0; i++)
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, filter_allowed_sanitizer[i], 0);
#endif

	/* ioctl: (vCPU fd, allowed request) pairs only; everything else is refused. The fd is an
	 * int (the kernel reads the low 32 bits; the upper half of the register is undefined); the
	 * request must match all 64 bits, so stray upper bits can only lead to a refusal. The
	 * runner keeps every other fd below RUNNER_VCPU_FD_FIRST (its open-file limit). */
	if (r == 0)
		r = seccomp_rule_add(
		    ctx, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 2,
		    SCMP_A0(SCMP_CMP_MASKED_EQ, vcpu_mask, (scmp_datum_t)RUNNER_VCPU_FD_FIRST),
		    SCMP_A1(SCMP_CMP_EQ, (scmp_datum_t)KVM_RUN));
	for (size_t i = 0; i < arch->n_run_ioctls && r == 0; i++)
		r = seccomp_rule_add(
		    ctx, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 2,
		    SCMP_A0(SCMP_CMP_MASKED_EQ, vcpu_mask, (scmp_datum_t)RUNNER_VCPU_FD_FIRST),
		    SCMP_A1(SCMP_CMP_EQ, (scmp_datum_t)arch->run_ioctls[i]));
	/* The memory and VM-building ioctls say EPERM, so the self-check can observe the refusal;
	 * any other ioctl falls to the default action and kills the runner. (An unconditional
	 * EPERM rule would override the conditional allows above.) */
	for (size_t i = 0; i < ELEMENTSOF(filter_refused_ioctls) && r == 0; i++)
		r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(ioctl), 1,
				     SCMP_A1(SCMP_CMP_EQ, (scmp_datum_t)filter_refused_ioctls[i]));
	/* memory: never executable (thread stacks and malloc need plain mappings) */
	if (r == 0)
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(mmap), 1,
				     SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));
	if (r == 0)
		r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(mmap), 1,
				     SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, PROT_EXEC));
	if (r == 0)
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(mprotect), 1,
				     SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));
	/* threads for vCPUs: clone only with CLONE_THREAD; clone3 cannot be inspected, so it
	 * says ENOSYS and glibc falls back to clone */
	if (r == 0)
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(clone), 1,
				     SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_THREAD, CLONE_THREAD));
	if (r == 0)
		r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0);
	if (r == 0)
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socket), 1,
				     SCMP_A0(SCMP_CMP_EQ, AF_UNIX));
	/* no new files; the self-check observes the refusal */
	if (r == 0)
		r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(openat), 0);
	if (r == 0)
		r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(open), 0);
	/* prctl: only the two queries the self-check reports */
	if (r == 0)
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(prctl), 1,
				     SCMP_A0(SCMP_CMP_EQ, PR_GET_SECCOMP));
	if (r == 0)
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(prctl), 1,
				     SCMP_A0(SCMP_CMP_EQ, PR_GET_NO_NEW_PRIVS));
	return r;
}

/* libseccomp API level 3: SECCOMP_RET_KILL_PROCESS (Linux 4.14) and SECCOMP_RET_LOG */
#define FILTER_API_LEVEL 3

int runner_filter_build(const pvm_arch *arch, void **ret, size_t *ret_len, pvm_error *err)
{
	scmp_filter_ctx ctx = NULL;
	_cleanup_close_ int fd = -1;
	_cleanup_free_ void *prog = NULL;
	struct stat st;
	int r;

	/* libseccomp learns what the kernel supports by probing with seccomp(2) in this process,
	 * but the program is only exported here: the runner's seccomp(2) is the check that counts.
	 * Where pvmd's probes cannot run (valgrind does not pass seccomp(2) through), assume the
	 * actions the program uses, which every kernel pvm runs on has. */
	if (seccomp_api_get() < FILTER_API_LEVEL)
		(void)seccomp_api_set(FILTER_API_LEVEL);
	ctx = seccomp_init(SCMP_ACT_KILL_PROCESS);
	if (!ctx)
		return pvm_error_set(err, ENOMEM, "seccomp_init failed");
	r = filter_rules(ctx, arch);
	if (r < 0) {
		seccomp_release(ctx);
		return pvm_error_set(err, -r, "building the runners' seccomp filter: %s",
				     strerror(-r));
	}
	/* libseccomp writes the program to an fd: a memfd, read back once */
	fd = memfd_create("pvm-runner-filter", MFD_CLOEXEC);
	r = fd < 0 ? -errno : seccomp_export_bpf(ctx, fd);
	seccomp_release(ctx);
	if (r < 0)
		return pvm_error_set(err, -r, "exporting the runners' seccomp filter: %s",
				     strerror(-r));
	if (fstat(fd, &st) < 0)
		return pvm_error_set(err, errno, "the runners' seccomp filter: %m");
	if (st.st_size <= 0 || st.st_size > RUNNER_FILTER_MAX ||
	    st.st_size % sizeof(struct sock_filter))
		return pvm_error_set(err, EFBIG,
				     "the runners' seccomp filter is %lld bytes; the protocol "
				     "carries 8 to %d, whole instructions",
				     (long long)st.st_size, RUNNER_FILTER_MAX);
	prog = malloc((size_t)st.st_size);
	if (!prog)
		return pvm_error_set(err, ENOMEM, "out of memory");
	if (pread(fd, prog, (size_t)st.st_size, 0) != st.st_size)
		return pvm_error_set(err, EIO, "reading back the runners' seccomp filter");
	*ret = TAKE_PTR(prog);
	*ret_len = (size_t)st.st_size;
	return 0;
}
