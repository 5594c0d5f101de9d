/* The host's attempt to read a VM's memory in the arm64 system test: finds the guest memory
 * file (guest_memfd or memfd) among a process's open files - pvmd holds it - maps it and
 * reads 8 bytes at OFFSET in a child process, so a fault ends the child, not the caller.
 * With --punch it tries to free the page at OFFSET instead (fallocate PUNCH_HOLE). With
 * --window it reads the shared window instead - the runner's mapping of its "pvm-window" memfd,
 * the only guest memory the runner maps - through /proc/PID/mem, and looks for MARKER there.
 *
 *   pvm-arm64-peek PID OFFSET [--punch]
 *   pvm-arm64-peek RUNNER_PID --window MARKER
 * Prints "value 0x...", "punched" or "found" (exit 0), "fault <signal>", "refused <errno>" or
 * "not found" (exit 1), or an error (exit 2). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "macro.h"

/* guest_memfd (before 7.x, and on its own filesystem since), or pvm's memfd fallback */
static const char *const memory_links[] = { "anon_inode:[kvm-gmem]", "/[kvm-gmem]",
					    "/memfd:pvm-guest-ram" };

/* A copy of the process's fd: guest_memfd cannot be reopened through /proc (ENXIO), so take
 * the descriptor itself, as a debugger could (pidfd_getfd, PTRACE_MODE_ATTACH). */
static int steal_fd(int pidfd, const char *name)
{
	int fd = (int)syscall(SYS_pidfd_getfd, pidfd, atoi(name), 0);

	return fd < 0 ? -errno : fd;
}

static int open_guest_memory(const char *pid, char *ret_link, size_t link_len)
{
	_cleanup_close_ int pidfd = (int)syscall(SYS_pidfd_open, atoi(pid), 0);
	char dir[64], path[320];
	struct dirent *de;
	DIR *d;
	int fd = -ENOENT;

	if (pidfd < 0)
		return -errno;
	snprintf(dir, sizeof(dir), "/proc/%s/fd", pid);
	d = opendir(dir);
	if (!d)
		return -errno;
	while (fd < 0 && (de = readdir(d))) {
		ssize_t n;

		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		n = readlink(path, ret_link, link_len - 1);
		if (n <= 0)
			continue;
		ret_link[n] = '\0';
		for (size_t i = 0; i < ELEMENTSOF(memory_links); i++)
			if (strncmp(ret_link, memory_links[i], strlen(memory_links[i])) == 0) {
				fd = steal_fd(pidfd, de->d_name);
				break;
			}
	}
	closedir(d);
	return fd;
}

/* The window's range in the runner's address space, from /proc/PID/maps. */
static int find_window(const char *pid, uint64_t *ret_start, uint64_t *ret_end)
{
	char path[64], line[512];
	FILE *f;
	int r = -ENOENT;

	snprintf(path, sizeof(path), "/proc/%s/maps", pid);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	while (r < 0 && fgets(line, sizeof(line), f))
		if (strstr(line, "/memfd:pvm-window") &&
		    sscanf(line, "%" SCNx64 "-%" SCNx64, ret_start, ret_end) == 2)
			r = 0;
	fclose(f);
	return r;
}

static int peek_window(const char *pid, const char *marker)
{
	uint64_t start, end;
	char path[64];
	_cleanup_close_ int mem = -1;
	_cleanup_free_ uint8_t *buf = NULL;
	size_t mlen = strlen(marker);
	ssize_t n;
	int r = find_window(pid, &start, &end);

	if (r < 0) {
		printf("error: no shared window mapped in process %s (%s)\n", pid, strerror(-r));
		return 2;
	}
	snprintf(path, sizeof(path), "/proc/%s/mem", pid);
	mem = open(path, O_RDONLY | O_CLOEXEC);
	buf = malloc(end - start);
	if (mem < 0 || !buf) {
		printf("error: %s: %s\n", path, strerror(errno));
		return 2;
	}
	n = pread(mem, buf, end - start, (off_t)start);
	if (n < 0) {
		printf("refused %s reading the window (0x%" PRIx64 " bytes)\n", strerror(errno),
		       end - start);
		return 1;
	}
	for (ssize_t i = 0; i + (ssize_t)mlen <= n; i++)
		if (memcmp(buf + i, marker, mlen) == 0) {
			printf("found '%s' at window offset 0x%zx (the runner's mapping of "
			       "/memfd:pvm-window, 0x%" PRIx64 " bytes, %zd read)\n",
			       marker, (size_t)i, end - start, n);
			return 0;
		}
	printf("not found: '%s' in %zd bytes of the window\n", marker, n);
	return 1;
}

int main(int argc, char **argv)
{
	_cleanup_close_ int fd = -1;
	char link[256] = "";
	uint64_t offset, value = 0;
	int pipefd[2], status = 0;
	struct stat st;
	pid_t child;

	if (argc == 4 && strcmp(argv[2], "--window") == 0)
		return peek_window(argv[1], argv[3]);
	if (argc != 3 && !(argc == 4 && strcmp(argv[3], "--punch") == 0)) {
		fprintf(stderr, "usage: %s PID OFFSET [--punch] | PID --window MARKER\n", argv[0]);
		return 2;
	}
	offset = strtoull(argv[2], NULL, 0);
	fd = open_guest_memory(argv[1], link, sizeof(link));
	if (fd < 0 || fstat(fd, &st) < 0 || offset + 8 > (uint64_t)st.st_size) {
		printf("error: no guest memory file in process %s (%s)\n", argv[1],
		       fd < 0 ? strerror(-fd) : "offset beyond its size");
		return 2;
	}
	if (argc == 4) {
		/* pvm's kernel series refuses to free a page a protected guest owns */
		if (fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
			      (off_t)(offset & ~(uint64_t)4095), 4096) < 0) {
			printf("refused %s punching the page at 0x%" PRIx64 " of %s\n",
			       strerror(errno), offset, link);
			return 1;
		}
		printf("punched the page at 0x%" PRIx64 " of %s\n", offset, link);
		return 0;
	}
	if (pipe(pipefd) < 0)
		return 2;
	child = fork();
	if (child == 0) {
		volatile uint64_t *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
		uint64_t v;

		if ((void *)p == MAP_FAILED)
			_exit(3);
		v = p[offset / 8];
		(void)!write(pipefd[1], &v, sizeof(v));
		_exit(0);
	}
	close(pipefd[1]);
	if (read(pipefd[0], &value, sizeof(value)) != sizeof(value))
		value = 0;
	waitpid(child, &status, 0);
	if (WIFSIGNALED(status)) {
		printf("fault %s reading %s at offset 0x%" PRIx64 "\n", strsignal(WTERMSIG(status)),
		       link, offset);
		return 1;
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		printf("error: mmap of %s failed\n", link);
		return 2;
	}
	printf("value 0x%016" PRIx64 " read from %s at offset 0x%" PRIx64 "\n", value, link,
	       offset);
	return 0;
}
