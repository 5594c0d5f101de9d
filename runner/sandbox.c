/* Runner lock-down: namespaces, an empty read-only root, credentials, capabilities,
 * no_new_privs and a seccomp allow-list whose ioctl rules match both the fd (a vCPU) and the
 * request (KVM_RUN and the few the arch needs). The memory ioctls and opens fail with EPERM so the
 * self-check can observe them; any other syscall or ioctl outside the list kills the process
 * (SIGSYS), which pvmd reports as a protection violation. */
#include <cap-ng.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <sched.h>
#include <seccomp.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "kvm-compat.h"
#include "sandbox.h"

/* Every namespace at once, or none: a runner that silently keeps the host's network or mount
 * table would look locked down without being so. */
static int sandbox_unshare(uint32_t *ret_namespaces, pvm_error *err)
{
	if (unshare(CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWNET | CLONE_NEWUTS) < 0)
		return pvm_error_set(err, errno,
				     "unshare of the mount, IPC, network and UTS namespaces: %m "
				     "(pvmd must run as root on a kernel with namespaces)");
	*ret_namespaces = RUNNER_NS_ALL;
	return 0;
}

/* The runner's view of the filesystem becomes one empty, read-only tmpfs. A new mount
 * namespace alone would still show (and share events with) the host's whole tree; so mounts
 * first stop propagating, then a tmpfs becomes the root by pivot_root and the old root is
 * detached. Nothing is left to mount in: /dev/kvm is already open, the runner opens no file
 * after lock-down (seccomp refuses it), and it never execs. The tmpfs is mounted over /proc
 * of the new namespace (a directory every host has) only to give pivot_root a mount point. */
#define SANDBOX_ROOT_MOUNTPOINT "/proc"

static int sandbox_empty_root(pvm_error *err)
{
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		return pvm_error_set(err, errno, "making the runner's mounts private: %m");
	if (mount("pvm-runner-root", SANDBOX_ROOT_MOUNTPOINT, "tmpfs",
		  MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=4k,nr_inodes=1,mode=0555") < 0)
		return pvm_error_set(err, errno, "mounting the runner's empty root (tmpfs): %m");
	if (chdir(SANDBOX_ROOT_MOUNTPOINT) < 0)
		return pvm_error_set(err, errno, "entering the runner's empty root: %m");
	/* pivot_root(".", "."): the old root ends up stacked on the new one, then detached */
	if (syscall(SYS_pivot_root, ".", ".") < 0)
		return pvm_error_set(err, errno, "pivot_root into the runner's empty root: %m%s",
				     errno == EINVAL ? " (is pvmd running from the initial ramfs? "
						       "pivot_root needs a real root filesystem; "
						       "switch_root into one first)"
						     : "");
	if (umount2(".", MNT_DETACH) < 0)
		return pvm_error_set(err, errno, "detaching the host's root from the runner: %m");
	if (chdir("/") < 0)
		return pvm_error_set(err, errno, "entering the runner's root: %m");
	if (mount(NULL, "/", NULL, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
		  NULL) < 0)
		return pvm_error_set(err, errno, "making the runner's root read-only: %m");
	return 0;
}

/* Syscalls the runner's loop and its vCPU threads make after lock-down, besides the
 * argument-filtered ones below: socket I/O to pvmd, waiting, locks, thread start and exit,
 * heap growth. */
static const int sandbox_allowed[] = {
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
static const int sandbox_allowed_sanitizer[] = {
	SCMP_SYS(sched_getaffinity), SCMP_SYS(prlimit64),  SCMP_SYS(getrlimit), SCMP_SYS(mincore),
	SCMP_SYS(readlink),	     SCMP_SYS(getppid),	   SCMP_SYS(lseek),	SCMP_SYS(uname),
	SCMP_SYS(sched_getparam),    SCMP_SYS(getdents64),
};
#endif

static const unsigned long sandbox_refused_ioctls[] = {
	KVM_SET_USER_MEMORY_REGION,
	KVM_SET_USER_MEMORY_REGION2,
	KVM_CREATE_GUEST_MEMFD,
	KVM_CREATE_VCPU,
	KVM_CREATE_VM,
	KVM_SET_MEMORY_ATTRIBUTES,
};

static int sandbox_seccomp(const runner_sandbox *sb, pvm_error *err)
{
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_KILL_PROCESS);
	int r = 0;

	if (!ctx)
		return pvm_error_set(err, ENOMEM, "seccomp_init failed");
	for (size_t i = 0; i < ELEMENTSOF(sandbox_allowed) && r == 0; i++)
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, sandbox_allowed[i], 0);
#if defined(__SANITIZE_ADDRESS__)
	for (size_t i = 0; i < ELEMENTSOF(sandbox_allowed_sanitizer) && r == 0; i++)
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, sandbox_allowed_sanitizer[i], 0);
#endif

	/* ioctl: (vCPU fd, allowed request) pairs only; everything else is refused. The fd is an
	 * int (the kernel reads the low 32 bits; the upper half of the register is undefined); the
	 * request must match all 64 bits, so stray upper bits can only lead to a refusal. */
	for (size_t v = 0; v < sb->n_vcpus && r == 0; v++) {
		r = seccomp_rule_add(
		    ctx, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 2,
		    SCMP_A0(SCMP_CMP_MASKED_EQ, 0xffffffffu, (scmp_datum_t)sb->vcpu_fds[v]),
		    SCMP_A1(SCMP_CMP_EQ, (scmp_datum_t)KVM_RUN));
		for (size_t i = 0; i < sb->n_run_ioctls && r == 0; i++)
			r = seccomp_rule_add(
			    ctx, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 2,
			    SCMP_A0(SCMP_CMP_MASKED_EQ, 0xffffffffu, (scmp_datum_t)sb->vcpu_fds[v]),
			    SCMP_A1(SCMP_CMP_EQ, (scmp_datum_t)sb->run_ioctls[i]));
	}
	/* The memory and VM-building ioctls say EPERM, so the self-check can observe the refusal;
	 * any other ioctl falls to the default action and kills the runner. (An unconditional
	 * EPERM rule would override the conditional allows above.) */
	for (size_t i = 0; i < ELEMENTSOF(sandbox_refused_ioctls) && r == 0; i++)
		r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(ioctl), 1,
				     SCMP_A1(SCMP_CMP_EQ, (scmp_datum_t)sandbox_refused_ioctls[i]));
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
	if (r < 0) {
		seccomp_release(ctx);
		return pvm_error_set(err, -r, "building the seccomp filter: %s", strerror(-r));
	}
	r = seccomp_load(ctx);
	seccomp_release(ctx);
	if (r < 0)
		return pvm_error_set(err, -r, "loading the seccomp filter: %s", strerror(-r));
	return 0;
}

int runner_sandbox_apply(const runner_sandbox *sb, uint32_t *ret_namespaces, pvm_error *err)
{
	uint32_t ns = 0;
	int r;

	if (sb->uid == 0 || sb->gid == 0)
		return pvm_error_set(err, EINVAL, "refusing to run the VM as uid/gid 0");
	r = sandbox_unshare(&ns, err);
	if (r < 0)
		return r;
	r = sandbox_empty_root(err);
	if (r < 0)
		return r;
	/* vsock reaches host programs' sockets by names relative to this directory */
	if (sb->cwd_fd >= 0 && fchdir(sb->cwd_fd) < 0)
		return pvm_error_set(err, errno, "entering the vsock socket directory: %m");

	capng_clear(CAPNG_SELECT_BOTH);
	r = capng_change_id((int)sb->uid, (int)sb->gid, CAPNG_DROP_SUPP_GRP | CAPNG_CLEAR_BOUNDING);
	if (r < 0)
		return pvm_error_set(
		    err, EPERM,
		    "dropping to uid %u gid %u without capabilities failed (capng_change_id %d)",
		    (unsigned)sb->uid, (unsigned)sb->gid, r);
	capng_get_caps_process();
	if (getuid() != sb->uid || geteuid() != sb->uid || getgid() != sb->gid ||
	    capng_have_capabilities(CAPNG_SELECT_BOTH) != CAPNG_NONE)
		return pvm_error_set(err, EPERM, "credentials not dropped as asked");
	/* no core dumps and no ptrace by its own uid: a dump could hold guest memory */
	if (setrlimit(RLIMIT_CORE, &(struct rlimit){ 0, 0 }) < 0 || prctl(PR_SET_DUMPABLE, 0) < 0)
		return pvm_error_set(err, errno, "disabling core dumps: %m");
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return pvm_error_set(err, errno, "PR_SET_NO_NEW_PRIVS: %m");
	r = sandbox_seccomp(sb, err);
	if (r < 0)
		return r;
	*ret_namespaces = ns;
	return 0;
}

static int32_t attempt(int r)
{
	return r < 0 ? errno : 0;
}

void runner_sandbox_self_check(const runner_sandbox *sb, runner_msg_self_check *ret)
{
	struct kvm_create_guest_memfd gm = { .size = 2 << 20 };
	void *anon;
	int fd;

	memset(ret, 0, sizeof(*ret));
	ret->vm_fd_valid = fcntl(sb->vm_fd, F_GETFD) >= 0;

	fd = ioctl(sb->vm_fd, KVM_CREATE_GUEST_MEMFD, &gm);
	ret->create_guest_memfd = attempt(fd);
	if (fd >= 0)
		close(fd);

	/* a swappable memslot backed by anonymous memory, above guest RAM */
	anon = mmap(NULL, 2 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	struct kvm_userspace_memory_region2 r2 = {
		.slot = 1,
		.guest_phys_addr = 1ULL << 32,
		.memory_size = 2 << 20,
		.userspace_addr = anon == MAP_FAILED ? 0 : (uintptr_t)anon,
	};
	struct kvm_userspace_memory_region r1 = {
		.slot = 2,
		.guest_phys_addr = (1ULL << 32) + (4 << 20),
		.memory_size = 2 << 20,
		.userspace_addr = r2.userspace_addr,
	};
	ret->set_user_memory_region2 = attempt(ioctl(sb->vm_fd, KVM_SET_USER_MEMORY_REGION2, &r2));
	ret->set_user_memory_region = attempt(ioctl(sb->vm_fd, KVM_SET_USER_MEMORY_REGION, &r1));
	if (anon != MAP_FAILED)
		munmap(anon, 2 << 20);

	anon = mmap(NULL, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ret->mmap_exec = anon == MAP_FAILED ? errno : 0;
	if (anon != MAP_FAILED)
		munmap(anon, 4096);

	fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	ret->open_dev_kvm = attempt(fd);
	if (fd >= 0)
		close(fd);

	ret->seccomp_mode = prctl(PR_GET_SECCOMP, 0, 0, 0, 0);
	ret->no_new_privs = prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0);
	ret->uid = getuid();
	ret->gid = getgid();
}
