/* The fd kinds of the reliability suite: one small constructor per kind, in one table, so a
 * call site picks a kind by index and every kind is exercised by name. A kind that carries data
 * writes the config text it is given; "held" kinds keep their peer open until the caller closes
 * it, which is what a slow or hostile client does. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/mman.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <unistd.h>

#include "macro.h"
#include "rel-fds.h"

static int write_all(int fd, const char *s, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, s, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		s += n;
		len -= (size_t)n;
	}
	return 0;
}

static int set_fd(rel_fd *ret, int fd, int held)
{
	if (fd < 0)
		return -errno;
	*ret = (rel_fd){ .fd = fd, .held = held };
	return 0;
}

/* An unlinked temporary file in dir holding data, opened with flags. */
static int temp_file(const char *dir, const char *data, size_t len, off_t size, int flags,
		     rel_fd *ret)
{
	char path[4096];
	_cleanup_close_ int fd = -1;
	int r;

	snprintf(path, sizeof(path), "%s/rel-fd.XXXXXX", dir);
	fd = mkostemp(path, O_CLOEXEC);
	if (fd < 0)
		return -errno;
	r = write_all(fd, data, len);
	if (r >= 0 && size > 0 && ftruncate(fd, size) < 0)
		r = -errno;
	if (r >= 0 && flags != O_RDWR) {
		int fd2 = open(path, flags | O_CLOEXEC);
		r = fd2 < 0 ? -errno : 0;
		if (fd2 >= 0) {
			close(fd);
			fd = fd2;
		}
	}
	unlink(path);
	if (r < 0)
		return r;
	return set_fd(ret, TAKE_FD(fd), -1);
}

static int open_reg_config(const char *config, const char *dir, rel_fd *ret)
{
	return temp_file(dir, config, strlen(config), 0, O_RDONLY, ret);
}

static int open_reg_junk(const char *config, const char *dir, rel_fd *ret)
{
	char junk[4096];

	for (size_t i = 0; i < sizeof(junk); i++)
		junk[i] = (char)random();
	return temp_file(dir, junk, sizeof(junk), 0, O_RDONLY, ret);
}

static int open_reg_empty(const char *config, const char *dir, rel_fd *ret)
{
	return temp_file(dir, "", 0, 0, O_RDONLY, ret);
}

static int open_reg_huge(const char *config, const char *dir, rel_fd *ret)
{
	return temp_file(dir, config, strlen(config), 64 << 20, O_RDONLY, ret);
}

static int open_reg_wronly(const char *config, const char *dir, rel_fd *ret)
{
	return temp_file(dir, config, strlen(config), 0, O_WRONLY, ret);
}

static int open_reg_path(const char *config, const char *dir, rel_fd *ret)
{
	return temp_file(dir, config, strlen(config), 0, O_PATH, ret);
}

static int open_reg_offset(const char *config, const char *dir, rel_fd *ret)
{
	int r = temp_file(dir, config, strlen(config), 0, O_RDONLY, ret);

	/* the sender's offset is not pvmd's business: it reads from the start */
	if (r >= 0)
		(void)lseek(ret->fd, (off_t)strlen(config) / 2, SEEK_SET);
	return r;
}

static int open_directory(const char *config, const char *dir, rel_fd *ret)
{
	return set_fd(ret, open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), -1);
}

static int open_dev_null(const char *config, const char *dir, rel_fd *ret)
{
	return set_fd(ret, open("/dev/null", O_RDWR | O_CLOEXEC), -1);
}

static int open_dev_zero(const char *config, const char *dir, rel_fd *ret)
{
	return set_fd(ret, open("/dev/zero", O_RDONLY | O_CLOEXEC), -1);
}

static int open_proc_file(const char *config, const char *dir, rel_fd *ret)
{
	/* procfs: a "regular" file whose size says 0 */
	return set_fd(ret, open("/proc/self/status", O_RDONLY | O_CLOEXEC), -1);
}

static int open_pty(const char *config, const char *dir, rel_fd *ret)
{
	return set_fd(ret, posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC), -1);
}

/* pipe(2): data written, then the writer closed (or kept as held) */
static int pipe_with(const char *data, bool hold, bool give_write_end, rel_fd *ret)
{
	int p[2];
	int r;

	if (pipe2(p, O_CLOEXEC) < 0)
		return -errno;
	r = write_all(p[1], data, strlen(data));
	if (r < 0) {
		close(p[0]);
		close(p[1]);
		return r;
	}
	if (give_write_end)
		return set_fd(ret, p[1], p[0]);
	if (!hold) {
		close(p[1]);
		p[1] = -1;
	}
	return set_fd(ret, p[0], p[1]);
}

static int open_pipe_config(const char *config, const char *dir, rel_fd *ret)
{
	return pipe_with(config, false, false, ret);
}

static int open_pipe_empty(const char *config, const char *dir, rel_fd *ret)
{
	return pipe_with("", false, false, ret);
}

static int open_pipe_held(const char *config, const char *dir, rel_fd *ret)
{
	return pipe_with("{", true, false, ret);
}

static int open_pipe_write_end(const char *config, const char *dir, rel_fd *ret)
{
	return pipe_with("", true, true, ret);
}

/* A FIFO opened read-write: it has a writer (itself), so it never reaches its end. */
static int open_fifo_rdwr(const char *config, const char *dir, rel_fd *ret)
{
	char path[4096];
	int fd;

	snprintf(path, sizeof(path), "%s/rel-fifo.%d.%ld", dir, getpid(), random());
	if (mkfifo(path, 0600) < 0)
		return -errno;
	fd = open(path, O_RDWR | O_CLOEXEC);
	unlink(path);
	return set_fd(ret, fd, -1);
}

/* socketpair(2) of a type: data written (in band, or one out-of-band byte), then the peer
 * shut down, closed or held */
enum peer_end { PEER_SHUTDOWN, PEER_CLOSED, PEER_HELD };

static int pair_with(int type, const char *data, int send_flags, enum peer_end end, rel_fd *ret)
{
	int s[2];

	if (socketpair(AF_UNIX, type | SOCK_CLOEXEC, 0, s) < 0)
		return -errno;
	if (*data && send(s[1], data, strlen(data), send_flags | MSG_NOSIGNAL) < 0) {
		int r = -errno;
		close(s[0]);
		close(s[1]);
		return r;
	}
	if (end == PEER_SHUTDOWN)
		(void)shutdown(s[1], SHUT_WR);
	if (end != PEER_HELD) {
		close(s[1]);
		s[1] = -1;
	}
	return set_fd(ret, s[0], s[1]);
}

static int open_stream_config(const char *config, const char *dir, rel_fd *ret)
{
	return pair_with(SOCK_STREAM, config, 0, PEER_SHUTDOWN, ret);
}

static int open_stream_held(const char *config, const char *dir, rel_fd *ret)
{
	return pair_with(SOCK_STREAM, "{", 0, PEER_HELD, ret);
}

static int open_stream_oob_held(const char *config, const char *dir, rel_fd *ret)
{
	/* poll() says readable, yet a blocking read of the in-band stream waits */
	return pair_with(SOCK_STREAM, "x", MSG_OOB, PEER_HELD, ret);
}

static int open_stream_oob_closed(const char *config, const char *dir, rel_fd *ret)
{
	return pair_with(SOCK_STREAM, "x", MSG_OOB, PEER_CLOSED, ret);
}

static int open_dgram_config(const char *config, const char *dir, rel_fd *ret)
{
	return pair_with(SOCK_DGRAM, config, 0, PEER_CLOSED, ret);
}

static int open_dgram_held(const char *config, const char *dir, rel_fd *ret)
{
	return pair_with(SOCK_DGRAM, "", 0, PEER_HELD, ret);
}

static int open_seqpacket_config(const char *config, const char *dir, rel_fd *ret)
{
	return pair_with(SOCK_SEQPACKET, config, 0, PEER_CLOSED, ret);
}

static int open_unix_unconnected(const char *config, const char *dir, rel_fd *ret)
{
	return set_fd(ret, socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0), -1);
}

static int open_unix_listening(const char *config, const char *dir, rel_fd *ret)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	/* autobind to an abstract address, then listen: readable only when someone connects */
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (fd >= 0 &&
	    (bind(fd, (struct sockaddr *)&sa, sizeof(sa_family_t)) < 0 || listen(fd, 1) < 0)) {
		close(fd);
		return -errno;
	}
	return set_fd(ret, fd, -1);
}

static int open_udp(const char *config, const char *dir, rel_fd *ret)
{
	return set_fd(ret, socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), -1);
}

static int open_eventfd(const char *config, const char *dir, rel_fd *ret)
{
	return set_fd(ret, eventfd(1, EFD_CLOEXEC), -1);
}

static int open_timerfd(const char *config, const char *dir, rel_fd *ret)
{
	struct itimerspec its = { .it_value = { .tv_nsec = 1 } };
	int fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);

	if (fd >= 0)
		(void)timerfd_settime(fd, 0, &its, NULL);
	return set_fd(ret, fd, -1);
}

static int open_signalfd(const char *config, const char *dir, rel_fd *ret)
{
	sigset_t mask;

	sigemptyset(&mask);
	sigaddset(&mask, SIGUSR2);
	return set_fd(ret, signalfd(-1, &mask, SFD_CLOEXEC), -1);
}

static int open_epoll(const char *config, const char *dir, rel_fd *ret)
{
	return set_fd(ret, epoll_create1(EPOLL_CLOEXEC), -1);
}

static int open_inotify(const char *config, const char *dir, rel_fd *ret)
{
	return set_fd(ret, inotify_init1(IN_CLOEXEC), -1);
}

static int open_pidfd(const char *config, const char *dir, rel_fd *ret)
{
	return set_fd(ret, (int)syscall(SYS_pidfd_open, getpid(), 0), -1);
}

static int open_memfd(const char *config, const char *dir, rel_fd *ret)
{
	int fd = memfd_create("rel-config", MFD_CLOEXEC | MFD_ALLOW_SEALING);

	if (fd >= 0 && write_all(fd, config, strlen(config)) < 0) {
		close(fd);
		return -EIO;
	}
	return set_fd(ret, fd, -1);
}

static int open_memfd_sealed(const char *config, const char *dir, rel_fd *ret)
{
	int r = open_memfd(config, dir, ret);

	if (r >= 0)
		(void)fcntl(ret->fd, F_ADD_SEALS,
			    F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE);
	return r;
}

const rel_fd_kind rel_fd_kinds[] = {
	{ "regular-config", open_reg_config },
	{ "regular-junk", open_reg_junk },
	{ "regular-empty", open_reg_empty },
	{ "regular-64MiB-sparse", open_reg_huge },
	{ "regular-O_WRONLY", open_reg_wronly },
	{ "regular-O_PATH", open_reg_path },
	{ "regular-offset", open_reg_offset },
	{ "directory", open_directory },
	{ "dev-null", open_dev_null },
	{ "dev-zero", open_dev_zero },
	{ "proc-file", open_proc_file },
	{ "pty-master", open_pty },
	{ "pipe-config", open_pipe_config },
	{ "pipe-empty", open_pipe_empty },
	{ "pipe-writer-held", open_pipe_held, true },
	{ "pipe-write-end", open_pipe_write_end },
	{ "fifo-rdwr", open_fifo_rdwr, true },
	{ "stream-config", open_stream_config },
	{ "stream-peer-held", open_stream_held, true },
	{ "stream-oob-peer-held", open_stream_oob_held, true },
	{ "stream-oob-peer-closed", open_stream_oob_closed },
	{ "dgram-config", open_dgram_config },
	{ "dgram-peer-held", open_dgram_held, true },
	{ "seqpacket-config", open_seqpacket_config },
	{ "unix-unconnected", open_unix_unconnected },
	{ "unix-listening", open_unix_listening, true },
	{ "udp-unbound", open_udp, true },
	{ "eventfd", open_eventfd },
	{ "timerfd", open_timerfd },
	{ "signalfd", open_signalfd, true },
	{ "epoll", open_epoll, true },
	{ "inotify", open_inotify, true },
	{ "pidfd", open_pidfd },
	{ "memfd-config", open_memfd },
	{ "memfd-sealed", open_memfd_sealed },
};
const size_t rel_fd_kinds_count = ELEMENTSOF(rel_fd_kinds);

int rel_fd_open(const rel_fd_kind *kind, const char *config, const char *dir, rel_fd *ret)
{
	int r = kind->open(config, dir, ret);

	if (r >= 0)
		ret->stalling = kind->stalling;
	return r;
}

void rel_fd_close(rel_fd *f)
{
	closep(&f->fd);
	closep(&f->held);
	f->fd = f->held = -1;
}
