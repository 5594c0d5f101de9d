/* Contract: the runner's seccomp program, as pvmd builds it once, loaded in a child process the
 * way the runner loads it. vCPU ioctls (KVM_RUN, the arch's run_ioctls) pass on exactly the fds
 * RUNNER_VCPU_FD_FIRST .. + RUNNER_VCPUS_MAX - 1, and kill the process (SIGSYS) on any other fd;
 * the VM-building and memory ioctls, opens and executable mappings fail with EPERM; a syscall
 * outside the list kills, and so do KVM_IRQFD and KVM_IOEVENTFD even on a vCPU fd (the devices'
 * eventfds are registered before lock-down; afterwards the runner only reads and writes them).
 * The program does not depend on any VM: two builds are identical. */
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kvm-compat.h"
#include "runner-filter.h"
#include "runner-protocol.h"

#define CHECK(c)                                                                                   \
	do {                                                                                       \
		if (!(c)) {                                                                        \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #c);      \
			exit(EXIT_FAILURE);                                                        \
		}                                                                                  \
	} while (0)

static void *prog;
static size_t prog_len;

/* In a child: /dev/null at fd `at`, the filter loaded, then `attempt`; the child's end. */
static int run_child(int at, int (*attempt)(int fd))
{
	int status;
	pid_t pid = fork();

	CHECK(pid >= 0);
	if (pid == 0) {
		struct sock_fprog p = { .len =
					    (unsigned short)(prog_len / sizeof(struct sock_filter)),
					.filter = prog };
		int fd = open("/dev/null", O_RDWR | O_CLOEXEC);
		if (fd < 0 || (fd != at && dup3(fd, at, O_CLOEXEC) < 0) ||
		    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
		    syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &p) < 0)
			_exit(100);
		_exit(attempt(at));
	}
	CHECK(waitpid(pid, &status, 0) == pid);
	return status;
}

static bool exited(int status, int code)
{
	return WIFEXITED(status) && WEXITSTATUS(status) == code;
}

static bool killed_by_sigsys(int status)
{
	return WIFSIGNALED(status) && WTERMSIG(status) == SIGSYS;
}

/* KVM_RUN on /dev/null reaches the driver, which says ENOTTY: the filter let it through */
static int try_run(int fd)
{
	return ioctl(fd, KVM_RUN, 0) < 0 && errno == ENOTTY ? 0 : 1;
}

static int try_refused(int fd)
{
	struct kvm_create_guest_memfd gm = { .size = 1 << 20 };
	int e1 = ioctl(fd, KVM_CREATE_GUEST_MEMFD, &gm) < 0 ? errno : 0;
	int e2 = ioctl(fd, KVM_CREATE_VM, 0) < 0 ? errno : 0;
	int e3 = open("/dev/null", O_RDONLY) < 0 ? errno : 0;
	void *m = mmap(NULL, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	int e4 = m == MAP_FAILED ? errno : 0;

	return e1 == EPERM && e2 == EPERM && e3 == EPERM && e4 == EPERM ? 0 : 1;
}

static int try_irqfd(int fd)
{
	struct kvm_irqfd irqfd = { .fd = 0 };

	return ioctl(fd, KVM_IRQFD, &irqfd) == 12345;
}

static int try_ioeventfd(int fd)
{
	struct kvm_ioeventfd io = { .fd = 0, .len = 4 };

	return ioctl(fd, KVM_IOEVENTFD, &io) == 12345;
}

static int try_outside_list(int fd)
{
	return (int)syscall(SYS_getcwd, NULL, 0) == 12345;
}

int main(void)
{
	const pvm_arch *arch = pvm_arch_native();
	void *again;
	size_t again_len;
	pvm_error err = { 0 };

	CHECK(arch);
	CHECK(runner_filter_build(arch, &prog, &prog_len, &err) == 0);
	CHECK(prog_len > 0 && prog_len <= RUNNER_FILTER_MAX && prog_len % 8 == 0);
	CHECK(runner_filter_build(arch, &again, &again_len, &err) == 0);
	CHECK(again_len == prog_len && memcmp(again, prog, prog_len) == 0);
	free(again);

	CHECK(exited(run_child(RUNNER_VCPU_FD_FIRST, try_run), 0));
	CHECK(exited(run_child(RUNNER_VCPU_FD_FIRST + RUNNER_VCPUS_MAX - 1, try_run), 0));
	CHECK(killed_by_sigsys(run_child(RUNNER_VCPU_FD_FIRST - 1, try_run)));
	CHECK(killed_by_sigsys(run_child(RUNNER_VCPU_FD_FIRST + RUNNER_VCPUS_MAX, try_run)));
	CHECK(killed_by_sigsys(run_child(3, try_run)));
	CHECK(exited(run_child(RUNNER_VCPU_FD_FIRST, try_refused), 0));
	CHECK(killed_by_sigsys(run_child(RUNNER_VCPU_FD_FIRST, try_outside_list)));
	CHECK(killed_by_sigsys(run_child(RUNNER_VCPU_FD_FIRST, try_irqfd)));
	CHECK(killed_by_sigsys(run_child(RUNNER_VCPU_FD_FIRST, try_ioeventfd)));
	printf("runner filter: %zu instructions; vCPU ioctls on fds %d-%d only\n", prog_len / 8,
	       RUNNER_VCPU_FD_FIRST, RUNNER_VCPU_FD_FIRST + RUNNER_VCPUS_MAX - 1);
	free(prog);
	return 0;
}
