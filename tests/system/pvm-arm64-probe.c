/* The in-guest half of the arm64 system test: runs inside an arm64 Linux booted with
 * kvm-arm.mode=protected under QEMU and drives pvm's arm64 backend (libpvm/arch/arm64, the
 * device tree builder) through the engine's pvm_arch interface directly on /dev/kvm, printing
 * TAP on stdout. It shows the protected VM
 * type in use, the memory backing chosen (and why), the test guest reaching READY, the host's
 * read of the protected guest's private memory faulting, and a non-protected VM for contrast.
 *
 *   pvm-arm64-probe GUEST_IMAGE [--try-protected-guest-memfd] */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "arch.h"
#include "arch/arm64/arm64.h"
#include "config.h"
#include "kvm-compat.h"

#define GUEST_RAM_SIZE (16ULL << 20)
#define RUN_TIMEOUT_SEC 120
#define PROBE_STEPS 11 /* the TAP plan: every tap() call below */

static unsigned test_number;
static unsigned failures;

static void _printf_(2, 3) tap(bool ok, const char *fmt, ...)
{
	va_list ap;

	printf("%sok %u - ", ok ? "" : "not ", ++test_number);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
	if (!ok)
		failures++;
}

static void _printf_(1, 2) diag(const char *fmt, ...)
{
	va_list ap;

	fputs("# ", stdout);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
}

enum backing { BACKING_GUEST_MEMFD, BACKING_ANONYMOUS };
static const char *const backing_names[] = {
	[BACKING_GUEST_MEMFD] = "guest_memfd (MMAP|INIT_SHARED)",
	[BACKING_ANONYMOUS] = "anonymous shared memory, pinned by KVM at the guest's first access",
};

typedef struct vm {
	pvm_vm_shape shape;
	pvm_memory_map map;
	enum backing backing;
	unsigned long type;
	int vm_fd, vcpu_fd, gmem_fd;
	uint8_t *mem;
	struct kvm_run *run;
	size_t run_size;
	pvm_boot_plan plan;
	pvm_arch_devices *dev;
	bool stop_requested;
	char line[256];
	size_t line_len;
	unsigned console_lines;
} vm;

static const pvm_arch *const arch = &pvm_arch_arm64;

static bool vm_stop_requested(void *userdata)
{
	return ((vm *)userdata)->stop_requested;
}

static void vm_destroy(vm *v)
{
	if (v->dev)
		arch->devices_free(v->dev);
	pvm_boot_plan_clear(&v->plan);
	if (v->run)
		munmap(v->run, v->run_size);
	if (v->mem)
		munmap(v->mem, v->map.ram_size);
	closep(&v->vcpu_fd);
	closep(&v->gmem_fd);
	closep(&v->vm_fd);
}

/* Guest RAM the way the engine gets it: guest_memfd with the flags the arch asks for, or, when
 * the arch refuses guest_memfd for this VM, plain shared memory (pvmd's memfd fallback). */
static int vm_memory(vm *v, uint64_t gmem_flags, pvm_error *err)
{
	struct kvm_userspace_memory_region2 slot = {
		.slot = 0,
		.guest_phys_addr = v->map.ram_base,
		.memory_size = v->map.ram_size,
	};

	if (v->backing == BACKING_GUEST_MEMFD) {
		struct kvm_create_guest_memfd g = { .size = v->map.ram_size, .flags = gmem_flags };

		v->gmem_fd = ioctl(v->vm_fd, KVM_CREATE_GUEST_MEMFD, &g);
		if (v->gmem_fd < 0)
			return pvm_error_set(err, errno, "KVM_CREATE_GUEST_MEMFD: %m");
		v->mem =
		    mmap(NULL, v->map.ram_size, PROT_READ | PROT_WRITE, MAP_SHARED, v->gmem_fd, 0);
		{
			char path[64], link[128] = "";
			ssize_t n;

			snprintf(path, sizeof(path), "/proc/self/fd/%d", v->gmem_fd);
			n = readlink(path, link, sizeof(link) - 1);
			link[n > 0 ? n : 0] = '\0';
			diag("guest_memfd file: %s", link);
		}
		slot.flags = KVM_MEM_GUEST_MEMFD;
		slot.guest_memfd = (uint32_t)v->gmem_fd;
	} else {
		v->mem = mmap(NULL, v->map.ram_size, PROT_READ | PROT_WRITE,
			      MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	}
	if (v->mem == MAP_FAILED) {
		v->mem = NULL;
		return pvm_error_set(err, errno, "mmap of guest memory: %m");
	}
	slot.userspace_addr = (uint64_t)(uintptr_t)v->mem;
	if (ioctl(v->vm_fd, KVM_SET_USER_MEMORY_REGION2, &slot) < 0)
		return pvm_error_set(err, errno, "KVM_SET_USER_MEMORY_REGION2: %m");
	return 0;
}

/* Plan the boot with the arch (Image header, device tree) and copy the segments in, as pvmd
 * does before the runner starts the vCPUs. */
static int vm_load(vm *v, const uint8_t *image, size_t len, pvm_error *err)
{
	pvm_boot_input in = {
		.kernel = image,
		.kernel_len = len,
		.format = PVM_PAYLOAD_AUTO,
		.map = v->map,
		.cpus = v->shape.cpus,
	};
	int r = arch->plan_boot(&in, &v->plan, err);

	if (r < 0)
		return r;
	for (size_t i = 0; i < v->plan.n_segments; i++) {
		const pvm_boot_segment *s = &v->plan.segments[i];

		memcpy(v->mem + (s->gpa - v->map.ram_base), s->data, s->len);
		diag("  %-11s at IPA 0x%" PRIx64 " (%zu bytes)", s->what, s->gpa, s->len);
	}
	return 0;
}

static int vm_create(vm *v, int kvm_fd, const pvm_host_caps *sys, bool protected_vm,
		     const uint8_t *image, size_t len, char *refusal, size_t refusal_len,
		     pvm_error *err)
{
	pvm_device_host host = { .stop_requested = vm_stop_requested, .userdata = v };
	pvm_host_caps caps = *sys;
	pvm_error gmem_err = {};
	uint64_t gmem_flags = 0;
	int r;

	*v = (vm){ .shape = { .protected_vm = protected_vm,
			      .memory_bytes = GUEST_RAM_SIZE,
			      .cpus = 1 },
		   .vm_fd = -1,
		   .vcpu_fd = -1,
		   .gmem_fd = -1 };
	if ((r = arch->memory_map(v->shape.memory_bytes, &v->map, err)) < 0 ||
	    (r = arch->vm_type(kvm_fd, &v->shape, sys, &v->type, err)) < 0)
		return r;
	v->vm_fd = ioctl(kvm_fd, KVM_CREATE_VM, v->type);
	if (v->vm_fd < 0)
		return pvm_error_set(err, errno, "KVM_CREATE_VM type 0x%lx: %m", v->type);
	caps.guest_memfd = ioctl(v->vm_fd, KVM_CHECK_EXTENSION, KVM_CAP_GUEST_MEMFD) > 0;
	r = ioctl(v->vm_fd, KVM_CHECK_EXTENSION, KVM_CAP_GUEST_MEMFD_FLAGS);
	caps.guest_memfd_flags = r > 0 ? (uint64_t)r : 0;
	r = arch->guest_memfd_flags(&v->shape, &caps, &gmem_flags, &gmem_err);
	v->backing = r == 0 ? BACKING_GUEST_MEMFD : BACKING_ANONYMOUS;
	snprintf(refusal, refusal_len, "%s", r == 0 ? "" : gmem_err.message);
	if ((r = vm_memory(v, gmem_flags, err)) < 0 || (r = vm_load(v, image, len, err)) < 0 ||
	    (r = arch->vm_setup(kvm_fd, v->vm_fd, &v->shape, err)) < 0)
		return r;
	v->vcpu_fd = ioctl(v->vm_fd, KVM_CREATE_VCPU, 0);
	if (v->vcpu_fd < 0)
		return pvm_error_set(err, errno, "KVM_CREATE_VCPU: %m");
	if ((r = arch->vcpu_setup(kvm_fd, v->vm_fd, v->vcpu_fd, 0, &v->plan.entry, err)) < 0)
		return r;
	r = ioctl(kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (r < 0)
		return pvm_error_set(err, errno, "KVM_GET_VCPU_MMAP_SIZE: %m");
	v->run_size = (size_t)r;
	v->run = mmap(NULL, v->run_size, PROT_READ | PROT_WRITE, MAP_SHARED, v->vcpu_fd, 0);
	if (v->run == MAP_FAILED) {
		v->run = NULL;
		return pvm_error_set(err, errno, "mmap of kvm_run: %m");
	}
	if ((r = arch->devices_new(&host, &v->dev)) < 0)
		return pvm_error_set(err, -r, "devices: %s", strerror(-r));
	return 0;
}

static void console_byte(vm *v, uint8_t c)
{
	if (c == '\n' || v->line_len == sizeof(v->line) - 1) {
		v->line[v->line_len] = '\0';
		diag("console: %s", v->line);
		v->line_len = 0;
		v->console_lines++;
		return;
	}
	v->line[v->line_len++] = (char)c;
}

static void on_alarm(int sig)
{
	(void)sig; /* only interrupts KVM_RUN so the deadline is checked */
}

/* Run until the event `until` (READY or SHUTDOWN); -ETIMEDOUT past the deadline. */
static int vm_run_until(vm *v, enum pvm_exit_event_kind until, pvm_exit_event *ret, pvm_error *err)
{
	time_t deadline = time(NULL) + RUN_TIMEOUT_SEC;

	for (;;) {
		pvm_exit_event ev;

		if (ioctl(v->vcpu_fd, KVM_RUN, 0) < 0) {
			if (errno == EINTR) {
				if (time(NULL) > deadline)
					return pvm_error_set(
					    err, ETIMEDOUT, "no %s within %d s",
					    until == PVM_EXIT_EVENT_READY ? "READY" : "power-off",
					    RUN_TIMEOUT_SEC);
				continue;
			}
			return pvm_error_set(err, errno, "KVM_RUN: %m");
		}
		arch->handle_exit(v->dev, v->vcpu_fd, v->run, &ev);
		switch (ev.kind) {
		case PVM_EXIT_EVENT_CONSOLE:
			for (size_t i = 0; i < ev.console_len; i++)
				console_byte(v, ev.console[i]);
			break;
		case PVM_EXIT_EVENT_CONTINUE:
			break;
		case PVM_EXIT_EVENT_UNKNOWN_IO:
			diag("guest: %s", ev.detail);
			break;
		default:
			if (ev.kind == until) {
				*ret = ev;
				return 0;
			}
			return pvm_error_set(err, EPROTO, "unexpected event %d (%s)", ev.kind,
					     ev.detail);
		}
	}
}

/* A host process (a child, so a fault cannot take the test down) reads the guest's secret
 * through the host mapping of guest memory. Returns the child's wait status. */
static int host_read_secret(vm *v, uint64_t *ret_value)
{
	volatile uint64_t *secret =
	    (volatile uint64_t *)(v->mem + (v->plan.entry.pc - v->map.ram_base) +
				  PVM_ARM64_GUEST_SECRET_OFFSET);
	int pipefd[2], status = 0;
	pid_t pid;

	if (pipe(pipefd) < 0)
		return -errno;
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		uint64_t value = *secret;

		(void)!write(pipefd[1], &value, sizeof(value));
		_exit(0);
	}
	close(pipefd[1]);
	if (read(pipefd[0], ret_value, sizeof(*ret_value)) != sizeof(*ret_value))
		*ret_value = 0;
	close(pipefd[0]);
	waitpid(pid, &status, 0);
	return status;
}

static int read_file(const char *path, uint8_t **ret, size_t *ret_len)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	_cleanup_free_ uint8_t *buf = NULL;
	struct stat st;

	if (fd < 0 || fstat(fd, &st) < 0)
		return -errno;
	buf = malloc((size_t)st.st_size);
	if (!buf)
		return -ENOMEM;
	if (read(fd, buf, (size_t)st.st_size) != st.st_size)
		return -EIO;
	*ret_len = (size_t)st.st_size;
	*ret = TAKE_PTR(buf);
	return 0;
}

/* One VM from creation to power-off, with the memory check at READY. */
static void run_guest(int kvm_fd, const pvm_host_caps *sys, bool protected_vm, const uint8_t *image,
		      size_t len)
{
	const char *what = protected_vm ? "protected VM" : "non-protected VM";
	char refusal[PVM_ERROR_MESSAGE_MAX];
	uint64_t value = 0, secret_ipa;
	pvm_error err = {};
	pvm_exit_event ev;
	vm v;
	int status;

	if (vm_create(&v, kvm_fd, sys, protected_vm, image, len, refusal, sizeof(refusal), &err) <
	    0) {
		tap(false, "%s: create: %s", what, err.message);
		vm_destroy(&v);
		return;
	}
	diag("%s: KVM_CREATE_VM type 0x%lx, memory: %s, %" PRIu64 " MiB at IPA 0x%" PRIx64, what,
	     v.type, backing_names[v.backing], v.map.ram_size >> 20, v.map.ram_base);
	if (refusal[0])
		diag("%s: guest_memfd refused by the arm64 backend: %s", what, refusal);
	/* Protected VMs run from guest_memfd where the kernel can; a refusal must name the kernel
	 * gap, never missing caps; a non-protected VM must get guest_memfd. */
	tap(protected_vm ? (v.backing == BACKING_GUEST_MEMFD || strstr(refusal, "GAPS.md") != NULL)
			 : v.backing == BACKING_GUEST_MEMFD,
	    "%s: memory backing: %s", what, backing_names[v.backing]);
	if (vm_run_until(&v, PVM_EXIT_EVENT_READY, &ev, &err) < 0) {
		tap(false, "%s: test guest reaches READY: %s", what, err.message);
		vm_destroy(&v);
		return;
	}
	tap(v.console_lines >= 4, "%s: test guest printed %u console lines and reached READY", what,
	    v.console_lines);

	secret_ipa = v.plan.entry.pc + PVM_ARM64_GUEST_SECRET_OFFSET;
	status = host_read_secret(&v, &value);
	if (protected_vm) {
		bool faulted = status > 0 && WIFSIGNALED(status) &&
			       (WTERMSIG(status) == SIGSEGV || WTERMSIG(status) == SIGBUS);

		diag("host read of protected guest private memory (IPA 0x%" PRIx64 "): %s",
		     secret_ipa,
		     faulted			       ? strsignal(WTERMSIG(status))
		     : value == PVM_ARM64_GUEST_SECRET ? "read the secret"
						       : "read something else");
		tap(faulted,
		    "protected VM: the host cannot read the guest's private memory (the read "
		    "faults: %s; the VMM survives)",
		    faulted ? strsignal(WTERMSIG(status)) : "no fault");
	} else {
		diag("host read of guest memory (IPA 0x%" PRIx64 "): 0x%016" PRIx64, secret_ipa,
		     value);
		tap(status == 0 && value == PVM_ARM64_GUEST_SECRET,
		    "non-protected VM: the host reads the guest's memory (contrast: no "
		    "protection)");
	}

	v.stop_requested = true;
	if (vm_run_until(&v, PVM_EXIT_EVENT_SHUTDOWN, &ev, &err) < 0)
		tap(false, "%s: stops on request: %s", what, err.message);
	else
		tap(true, "%s: stops on request (%s)", what, ev.detail);
	vm_destroy(&v);
}

static void check_unprivileged(void)
{
	int status = 0;
	pid_t pid = fork();

	if (pid == 0) {
		if (setgid(65534) < 0 || setuid(65534) < 0)
			_exit(2);
		_exit(open("/dev/kvm", O_RDWR | O_CLOEXEC) < 0 && errno == EACCES ? 0 : 1);
	}
	waitpid(pid, &status, 0);
	tap(pid > 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0,
	    "an unprivileged user (uid 65534) is refused /dev/kvm (EACCES)");
}

int main(int argc, char **argv)
{
	_cleanup_free_ uint8_t *image = NULL;
	_cleanup_close_ int kvm_fd = -1;
	struct sigaction sa = { .sa_handler = on_alarm };
	struct itimerval tick = { .it_interval = { 1, 0 }, .it_value = { 1, 0 } };
	struct utsname u = {};
	pvm_host_caps sys = {};
	size_t len = 0;
	int r;

	bool try_gmem = argc == 3 && strcmp(argv[2], "--try-protected-guest-memfd") == 0;

	if (argc != 2 && !try_gmem) {
		fprintf(stderr, "usage: %s GUEST_IMAGE [--try-protected-guest-memfd]\n", argv[0]);
		return 2;
	}
	printf("1..%d\n", PROBE_STEPS);
	uname(&u);
	diag("kernel: Linux %s %s", u.release, u.version);
	r = read_file(argv[1], &image, &len);
	tap(r == 0 && pvm_arm64_image_detect(image, len),
	    "test guest %s is an arm64 Image (%zu bytes)", argv[1], len);
	if (r < 0)
		return 1;

	kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (kvm_fd < 0) {
		tap(false, "open /dev/kvm: %m");
		return 1;
	}
	r = pvm_arm64_kvm_has_protected_vm(kvm_fd);
	sys.protected_vm_type = r == 1;
	tap(r == 1, "KVM_CREATE_VM accepts the protected VM type (0x%lx): %s",
	    (unsigned long)KVM_VM_TYPE_ARM_PROTECTED,
	    r == 1   ? "yes"
	    : r == 0 ? "EINVAL"
		     : strerror(-r));
	if (r == 1) {
		_cleanup_close_ int pvm_fd =
		    ioctl(kvm_fd, KVM_CREATE_VM, KVM_VM_TYPE_ARM_PROTECTED);

		diag("protected VM caps: KVM_CAP_GUEST_MEMFD=%d KVM_CAP_GUEST_MEMFD_FLAGS=%d "
		     "KVM_CAP_MEMORY_ATTRIBUTES=%d",
		     ioctl(pvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_GUEST_MEMFD),
		     ioctl(pvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_GUEST_MEMFD_FLAGS),
		     ioctl(pvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_MEMORY_ATTRIBUTES));
	}

	/* Evidence for kernel-patches/GAPS.md, on request only: the experiment may panic the host.
	 */
	if (try_gmem) {
		pvm_error gerr = {};

		r = pvm_arm64_kvm_probe_protected_guest_memfd(kvm_fd, &gerr);
		diag("protected VM from guest_memfd: %s", r == 0 ? "runs" : gerr.message);
	}

	sigaction(SIGALRM, &sa, NULL);
	setitimer(ITIMER_REAL, &tick, NULL);
	run_guest(kvm_fd, &sys, true, image, len);
	run_guest(kvm_fd, &sys, false, image, len);
	check_unprivileged();

	diag("%u of %u steps failed", failures, test_number);
	return failures ? 1 : 0;
}
