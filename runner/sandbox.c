/* Runner lock-down: namespaces, an empty read-only root, credentials, capabilities and
 * no_new_privs as soon as the runner starts (it may wait in pvmd's pool of ready runners); at
 * boot, the seccomp allow-list pvmd built (runner-filter.c in pvmd: the memory ioctls and opens
 * fail with EPERM so the self-check can observe them; any other syscall or ioctl outside the
 * list kills the process, SIGSYS, which pvmd reports as a protection violation). */
#include <cap-ng.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/sched.h>
#include <linux/seccomp.h>
#include <sched.h>
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
 * table would look locked down without being so. The network namespace is one pvmd made empty
 * for all its runners (no interface but a loopback that is down): creating one per runner costs
 * close to a millisecond, and the runner has no network to isolate; it cannot bind or listen on
 * a socket (seccomp), so runners cannot reach each other through it either. */
static int sandbox_namespaces(int netns_fd, uint32_t *ret_namespaces, pvm_error *err)
{
	if (unshare(CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWUTS) < 0)
		return pvm_error_set(err, errno,
				     "unshare of the mount, IPC and UTS namespaces: %m "
				     "(pvmd must run as root on a kernel with namespaces)");
	if (setns(netns_fd, CLONE_NEWNET) < 0)
		return pvm_error_set(err, errno, "joining the runners' network namespace: %m");
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

/* The open-file limit while the runner prepares: room for the vCPU fds' fixed numbers. */
#define SANDBOX_NOFILE_PREPARE (RUNNER_VCPU_FD_FIRST + RUNNER_VCPUS_MAX)

static int sandbox_nofile_prepare(pvm_error *err)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return pvm_error_set(err, errno, "getrlimit(RLIMIT_NOFILE): %m");
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < SANDBOX_NOFILE_PREPARE) {
		rl.rlim_cur = SANDBOX_NOFILE_PREPARE;
		if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < SANDBOX_NOFILE_PREPARE)
			rl.rlim_max = SANDBOX_NOFILE_PREPARE;
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
			return pvm_error_set(err, errno,
					     "raising RLIMIT_NOFILE to %d for the vCPU fds: %m",
					     SANDBOX_NOFILE_PREPARE);
	}
	return 0;
}

/* Capabilities a runner keeps until lock-down, where it holds them: guest memory is known only
 * at CREATE, and locking it (the memfd fallback's mlock; on arm64, room in RLIMIT_MEMLOCK for
 * the pages pKVM pins) is the one thing after that which needs privilege. */
static const unsigned sandbox_caps_until_lockdown[] = { CAP_IPC_LOCK, CAP_SYS_RESOURCE };

int runner_sandbox_prepare(uid_t uid, gid_t gid, int netns_fd, uint32_t *ret_namespaces,
			   pvm_error *err)
{
	bool keep[ELEMENTSOF(sandbox_caps_until_lockdown)];
	uint32_t ns = 0;
	int r;

	if (uid == 0 || gid == 0)
		return pvm_error_set(err, EINVAL, "refusing to run the VM as uid/gid 0");
	r = sandbox_namespaces(netns_fd, &ns, err);
	if (r < 0)
		return r;
	r = sandbox_empty_root(err);
	if (r < 0)
		return r;
	r = sandbox_nofile_prepare(err);
	if (r < 0)
		return r;

	/* the new uid, no supplementary groups, an empty bounding set; of the capabilities only
	 * those for guest memory, until lock-down */
	capng_get_caps_process();
	for (size_t i = 0; i < ELEMENTSOF(sandbox_caps_until_lockdown); i++)
		keep[i] = capng_have_capability(CAPNG_EFFECTIVE, sandbox_caps_until_lockdown[i]);
	capng_clear(CAPNG_SELECT_BOTH);
	for (size_t i = 0; i < ELEMENTSOF(sandbox_caps_until_lockdown); i++)
		if (keep[i])
			capng_update(CAPNG_ADD, CAPNG_EFFECTIVE | CAPNG_PERMITTED,
				     sandbox_caps_until_lockdown[i]);
	r = capng_change_id((int)uid, (int)gid, CAPNG_DROP_SUPP_GRP | CAPNG_CLEAR_BOUNDING);
	if (r < 0)
		return pvm_error_set(
		    err, EPERM,
		    "dropping to uid %u gid %u without capabilities failed (capng_change_id %d)",
		    (unsigned)uid, (unsigned)gid, r);
	capng_get_caps_process();
	if (getuid() != uid || geteuid() != uid || getgid() != gid ||
	    capng_have_capabilities(CAPNG_SELECT_BOUNDS) != CAPNG_NONE)
		return pvm_error_set(err, EPERM, "credentials not dropped as asked");
	/* no core dumps and no ptrace by its own uid: a dump could hold guest memory */
	if (setrlimit(RLIMIT_CORE, &(struct rlimit){ 0, 0 }) < 0 || prctl(PR_SET_DUMPABLE, 0) < 0)
		return pvm_error_set(err, errno, "disabling core dumps: %m");
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return pvm_error_set(err, errno, "PR_SET_NO_NEW_PRIVS: %m");
	*ret_namespaces = ns;
	return 0;
}

int runner_sandbox_lockdown(const runner_sandbox *sb, pvm_error *err)
{
	struct sock_fprog prog = {
		.len = (unsigned short)(sb->filter_len / sizeof(struct sock_filter)),
		.filter = (struct sock_filter *)sb->filter,
	};
	if (!sb->filter || sb->filter_len == 0 || sb->filter_len % sizeof(struct sock_filter))
		return pvm_error_set(err, EINVAL, "no seccomp program from pvmd");
	/* the filter names the vCPU fds by their place: nothing else may be there */
	for (size_t i = 0; i < sb->n_vcpus; i++)
		if (i >= RUNNER_VCPUS_MAX || sb->vcpu_fds[i] != RUNNER_VCPU_FD_FIRST + (int)i)
			return pvm_error_set(err, EINVAL, "vCPU %zu is not at fd %d", i,
					     RUNNER_VCPU_FD_FIRST + (int)i);
	/* vsock reaches host programs' sockets by names relative to this directory */
	if (sb->cwd_fd >= 0 && fchdir(sb->cwd_fd) < 0)
		return pvm_error_set(err, errno, "entering the vsock socket directory: %m");
	if (setrlimit(RLIMIT_NOFILE,
		      &(struct rlimit){ RUNNER_VCPU_FD_FIRST, RUNNER_VCPU_FD_FIRST }) < 0)
		return pvm_error_set(err, errno, "lowering RLIMIT_NOFILE below the vCPU fds: %m");
	/* the last capabilities go */
	capng_clear(CAPNG_SELECT_CAPS);
	if (capng_apply(CAPNG_SELECT_CAPS) < 0)
		return pvm_error_set(err, EPERM, "dropping the last capabilities failed");
	capng_get_caps_process();
	if (capng_have_capabilities(CAPNG_SELECT_BOTH) != CAPNG_NONE)
		return pvm_error_set(err, EPERM, "capabilities left at lock-down");
	if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) < 0)
		return pvm_error_set(err, errno, "loading the seccomp filter: %m");
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

	/* the filter allows vCPU ioctls on the whole fd range: nothing else may get in */
	fd = fcntl(sb->vm_fd, F_DUPFD_CLOEXEC, RUNNER_VCPU_FD_FIRST + (int)sb->n_vcpus);
	ret->dup_to_vcpu_range = attempt(fd);
	if (fd >= 0)
		close(fd);

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
