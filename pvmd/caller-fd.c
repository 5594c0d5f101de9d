/* Reading what callers pass as descriptors. A caller's descriptor shares its open file
 * description (flags, offset) with the caller, so pvmd never changes it (an O_NONBLOCK set on a
 * duplicate would be the caller's to clear again): regular files are read with pread, sockets
 * with MSG_DONTWAIT, pipes through splice(SPLICE_F_NONBLOCK) into a pipe of pvmd's own (reopening
 * /proc/self/fd/N would need read permission on the caller's pipe, which pvmd without
 * CAP_DAC_OVERRIDE lacks). Each loop ends at a deadline; the worker thread that runs it keeps the
 * event loop free even where the kernel itself blocks (a file on a stalled FUSE mount). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "caller-fd.h"

#define CALLER_FD_CHUNK 65536
#define PAYLOAD_SEALS (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL)

/* Milliseconds left for poll(), 0 once the deadline passed. */
static int ms_left(uint64_t deadline_usec)
{
	uint64_t now = pvm_now_usec(CLOCK_MONOTONIC);
	uint64_t ms = deadline_usec > now ? (deadline_usec - now + 999) / 1000 : 0;
	return (int)MIN(ms, (uint64_t)INT_MAX);
}

static int check_socket(int fd, pvm_error *err)
{
	struct sockaddr_storage peer;
	socklen_t len = sizeof(int);
	int type = 0, listening = 0;

	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0)
		return pvm_error_set(err, EINVAL, "the descriptor is a socket pvmd cannot inspect");
	len = sizeof(int);
	if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) < 0 || listening)
		return pvm_error_set(err, EINVAL, "the descriptor is a listening socket");
	/* a datagram socket has no end of data to wait for */
	if (type != SOCK_STREAM && type != SOCK_SEQPACKET)
		return pvm_error_set(err, EINVAL,
				     "the descriptor is a datagram socket (use a stream socket)");
	len = sizeof(peer);
	if (getpeername(fd, (struct sockaddr *)&peer, &len) < 0)
		return pvm_error_set(err, EINVAL, "the descriptor is an unconnected socket");
	return 0;
}

int caller_fd_classify(int fd, bool regular_only, enum caller_fd_kind *ret, pvm_error *err)
{
	struct statx stx;
	int fl, r;

	fl = fcntl(fd, F_GETFL);
	if (fl < 0)
		return pvm_error_set(err, EINVAL, "the descriptor is not open");
	if (fl & O_PATH)
		return pvm_error_set(err, EINVAL,
				     "the descriptor was opened with O_PATH and cannot be read");
	if ((fl & O_ACCMODE) == O_WRONLY)
		return pvm_error_set(err, EINVAL, "the descriptor is open for writing only");
	/* the type from cached attributes: a getattr on a network or FUSE file could block */
	if (statx(fd, "", AT_EMPTY_PATH | AT_STATX_DONT_SYNC, STATX_TYPE, &stx) < 0)
		return pvm_error_set(err, EINVAL, "the descriptor cannot be inspected: %m");
	switch (stx.stx_mode & S_IFMT) {
	case S_IFREG:
		*ret = CALLER_FD_REGULAR;
		return 0;
	case S_IFIFO:
		*ret = CALLER_FD_PIPE;
		break;
	case S_IFSOCK:
		r = check_socket(fd, err);
		if (r < 0)
			return r;
		*ret = CALLER_FD_SOCKET;
		break;
	case S_IFDIR:
		return pvm_error_set(err, EINVAL, "the descriptor is a directory");
	case S_IFCHR:
	case S_IFBLK:
		return pvm_error_set(err, EINVAL, "the descriptor is a device");
	default: /* eventfd, epoll, timerfd, signalfd, pidfd...: anonymous inodes */
		return pvm_error_set(err, EINVAL, "the descriptor is not a file, pipe or socket");
	}
	if (regular_only)
		return pvm_error_set(err, EINVAL, "the descriptor is a %s, not a regular file",
				     *ret == CALLER_FD_PIPE ? "pipe" : "socket");
	return 0;
}

static int read_regular(int fd, char *buf, size_t max, uint64_t deadline, size_t *ret_len,
			pvm_error *err)
{
	size_t len = 0;

	for (;;) {
		ssize_t n;

		if (pvm_now_usec(CLOCK_MONOTONIC) >= deadline)
			return pvm_error_set(err, ETIMEDOUT, "reading the file took too long");
		n = pread(fd, buf + len, MIN(max + 1 - len, (size_t)CALLER_FD_CHUNK), (off_t)len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return pvm_error_set(err, EIO, "the file cannot be read: %m");
		if (n == 0)
			break;
		len += (size_t)n;
		if (len > max)
			return pvm_error_set(err, EFBIG, "more than %zu bytes", max);
	}
	*ret_len = len;
	return 0;
}

/* Wait until fd is readable; urgent data on a socket is refused, not waited past. */
static int wait_readable(int fd, bool socket, uint64_t deadline, pvm_error *err)
{
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN | POLLPRI };
		int atmark = 0, n;

		n = poll(&p, 1, ms_left(deadline));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return pvm_error_set(err, EIO, "cannot wait for data: %m");
		if (n == 0)
			return pvm_error_set(err, ETIMEDOUT,
					     "its end did not come in time: close the writing "
					     "end once the config is written");
		if (socket &&
		    ((p.revents & POLLPRI) || (ioctl(fd, SIOCATMARK, &atmark) >= 0 && atmark)))
			return pvm_error_set(err, EPROTO,
					     "the socket carries out-of-band (MSG_OOB) data");
		return 0;
	}
}

static int read_stream(int fd, enum caller_fd_kind kind, char *buf, size_t max, uint64_t deadline,
		       size_t *ret_len, pvm_error *err)
{
	_cleanup_close_ int pr = -1, pw = -1;
	size_t len = 0;
	int r;

	if (kind == CALLER_FD_PIPE) {
		int p[2];
		if (pipe2(p, O_CLOEXEC | O_NONBLOCK) < 0)
			return pvm_error_set(err, errno, "cannot create a pipe: %m");
		pr = p[0];
		pw = p[1];
	}
	for (;;) {
		size_t want = MIN(max + 1 - len, (size_t)CALLER_FD_CHUNK);
		ssize_t n;

		r = wait_readable(fd, kind == CALLER_FD_SOCKET, deadline, err);
		if (r < 0)
			return r;
		/* neither reads through the caller's file flags: both return at once when a
		 * racing reader of the same pipe or socket took the data first */
		if (kind == CALLER_FD_SOCKET)
			n = recv(fd, buf + len, want, MSG_DONTWAIT);
		else
			n = splice(fd, NULL, pw, NULL, want, SPLICE_F_NONBLOCK);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (n < 0)
			return pvm_error_set(err, EIO, "cannot read: %m");
		if (n == 0)
			break;
		if (kind == CALLER_FD_PIPE && read(pr, buf + len, (size_t)n) != n)
			return pvm_error_set(err, EIO, "cannot read from pvmd's own pipe: %m");
		len += (size_t)n;
		if (len > max)
			return pvm_error_set(err, EFBIG, "more than %zu bytes", max);
	}
	*ret_len = len;
	return 0;
}

int caller_fd_read_config(int fd, size_t max, uint64_t deadline_usec, char **ret, size_t *ret_len,
			  pvm_error *err)
{
	_cleanup_free_ char *buf = NULL;
	enum caller_fd_kind kind;
	size_t len = 0;
	int r;

	r = caller_fd_classify(fd, false, &kind, err);
	if (r < 0)
		return r;
	buf = malloc(max + 1);
	if (!buf)
		return pvm_error_set(err, ENOMEM, "out of memory");
	if (kind == CALLER_FD_REGULAR)
		r = read_regular(fd, buf, max, deadline_usec, &len, err);
	else
		r = read_stream(fd, kind, buf, max, deadline_usec, &len, err);
	if (r < 0)
		return r;
	buf[len] = '\0';
	*ret = TAKE_PTR(buf);
	*ret_len = len;
	return 0;
}

void caller_payload_done(caller_payload *p)
{
	if (p->memfd >= 0)
		close(p->memfd);
	free(p->path);
	*p = CALLER_PAYLOAD_NULL;
}

int caller_fd_real_path(int fd, char **ret)
{
	char link[64], path[PATH_MAX];
	struct stat a, b;
	ssize_t n;

	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = readlink(link, path, sizeof(path) - 1);
	if (n <= 0)
		return -ENOENT;
	path[n] = '\0';
	/* "/x (deleted)", a file from another mount namespace or one renamed since: the text is
	 * not where the file is, so it names nothing */
	if (path[0] != '/' || fstat(fd, &a) < 0 || stat(path, &b) < 0 || a.st_dev != b.st_dev ||
	    a.st_ino != b.st_ino)
		return -EXDEV;
	*ret = strdup(path);
	return *ret ? 0 : -ENOMEM;
}

static void evp_ctx_freep(EVP_MD_CTX **p)
{
	EVP_MD_CTX_free(*p);
}

int caller_payload_copy(int fd, const char *what, uint64_t max, uint64_t deadline_usec,
			caller_payload *ret, pvm_error *err)
{
	_cleanup_(evp_ctx_freep) EVP_MD_CTX *ctx = NULL;
	_cleanup_(caller_payload_done) caller_payload p = CALLER_PAYLOAD_NULL;
	_cleanup_close_ int memfd = -1;
	_cleanup_free_ char *buf = NULL;
	enum caller_fd_kind kind;
	char name[32], extra;
	uint64_t done = 0;
	unsigned digest_len = 0;
	struct stat st;
	int r;

	r = caller_fd_classify(fd, true, &kind, err);
	if (r < 0) {
		pvm_error_prefix(err, "%s: ", what);
		return r;
	}
	if (fstat(fd, &st) < 0)
		return pvm_error_set(err, EIO, "%s: cannot stat the file: %m", what);
	if (st.st_size <= 0 || (uint64_t)st.st_size > max)
		return pvm_error_set(err, EFBIG, "%s: %lld bytes; must be 1 to %" PRIu64 " (%s)",
				     what, (long long)st.st_size, max,
				     strcmp(what, "descriptor") == 0 ? "pvm-fw's descriptor page"
				     : strcmp(what, "firmware") == 0 ? "pvm-fw's 2 MiB"
								     : "guest memory");
	snprintf(name, sizeof(name), "pvm-payload-%s", what);
	memfd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
	buf = malloc(CALLER_FD_CHUNK);
	ctx = EVP_MD_CTX_new();
	if (memfd < 0 || !buf || !ctx || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1)
		return pvm_error_set(err, ENOMEM, "%s: cannot set up the copy: %m", what);
	while (done < (uint64_t)st.st_size) {
		size_t want = (size_t)MIN((uint64_t)st.st_size - done, (uint64_t)CALLER_FD_CHUNK);
		ssize_t n;

		if (pvm_now_usec(CLOCK_MONOTONIC) >= deadline_usec)
			return pvm_error_set(err, ETIMEDOUT, "%s: reading the file took too long",
					     what);
		n = pread(fd, buf, want, (off_t)done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return pvm_error_set(err, EIO, "%s: the file cannot be read: %m", what);
		if (n == 0)
			return pvm_error_set(err, EIO, "%s: the file shrank while it was read",
					     what);
		/* the bytes hashed are exactly the bytes kept */
		if (EVP_DigestUpdate(ctx, buf, (size_t)n) != 1 || write(memfd, buf, (size_t)n) != n)
			return pvm_error_set(err, ENOMEM, "%s: cannot keep a copy: %m", what);
		done += (uint64_t)n;
	}
	if (pread(fd, &extra, 1, (off_t)done) > 0)
		return pvm_error_set(err, EIO, "%s: the file grew while it was read", what);
	if (EVP_DigestFinal_ex(ctx, p.sha256, &digest_len) != 1 || digest_len != 32)
		return pvm_error_set(err, EIO, "%s: SHA-256 failed", what);
	if (fcntl(memfd, F_ADD_SEALS, PAYLOAD_SEALS) < 0)
		return pvm_error_set(err, errno, "%s: cannot seal the copy: %m", what);
	r = caller_fd_real_path(fd, &p.path);
	if (r < 0 && r != -EXDEV && r != -ENOENT)
		return pvm_error_set(err, -r, "%s: %s", what, strerror(-r));
	p.memfd = TAKE_FD(memfd);
	p.size = done;
	*ret = p;
	p = CALLER_PAYLOAD_NULL;
	return 0;
}

int caller_fd_sha256(int fd, uint64_t deadline_usec, uint8_t ret[32], pvm_error *err)
{
	_cleanup_(evp_ctx_freep) EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	_cleanup_free_ uint8_t *buf = malloc(CALLER_FD_CHUNK);
	unsigned digest_len = 0;
	uint64_t done = 0;
	ssize_t n;

	if (!buf || !ctx || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1)
		return pvm_error_set(err, ENOMEM, "cannot set up SHA-256");
	while ((n = pread(fd, buf, CALLER_FD_CHUNK, (off_t)done)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return pvm_error_set(err, errno, "reading it for its digest: %m");
		if (EVP_DigestUpdate(ctx, buf, (size_t)n) != 1)
			return pvm_error_set(err, EIO, "SHA-256 failed");
		done += (uint64_t)n;
		if (pvm_now_usec(CLOCK_MONOTONIC) >= deadline_usec)
			return pvm_error_set(err, ETIMEDOUT,
					     "reading it for its digest took too long (%" PRIu64
					     " bytes read)",
					     done);
	}
	if (EVP_DigestFinal_ex(ctx, ret, &digest_len) != 1 || digest_len != 32)
		return pvm_error_set(err, EIO, "SHA-256 failed");
	return 0;
}

int caller_payload_check_sealed(int memfd, uint64_t *ret_size)
{
	int seals = fcntl(memfd, F_GET_SEALS);
	struct stat st;

	if (seals < 0 || (seals & PAYLOAD_SEALS) != PAYLOAD_SEALS)
		return -EPERM;
	if (fstat(memfd, &st) < 0)
		return -errno;
	*ret_size = (uint64_t)st.st_size;
	return 0;
}
