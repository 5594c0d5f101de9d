/* What pvmd does with a caller's descriptor (pvmd/caller-fd.c), without a bus: which kinds it
 * reads, that reading leaves the caller's file flags and offset alone and ends at its deadline,
 * that urgent socket data is refused, and that a payload copy is sealed, hashed as copied and
 * located only where its path leads back to it. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "caller-fd.h"
#include "check.h"

#define CONFIG_MAX 4096
/* SHA-256("abc"), FIPS 180-2 appendix B.1 */
static const uint8_t abc_sha256[32] = {
	0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea, 0x41, 0x41, 0x40,
	0xde, 0x5d, 0xae, 0x22, 0x23, 0xb0, 0x03, 0x61, 0xa3, 0x96, 0x17,
	0x7a, 0x9c, 0xb4, 0x10, 0xff, 0x61, 0xf2, 0x00, 0x15, 0xad,
};

static uint64_t soon(void)
{
	return pvm_now_usec(CLOCK_MONOTONIC) + 200 * 1000;
}

static int read_config(int fd, char **ret, pvm_error *err)
{
	size_t len;
	pvm_error_clear(err);
	return caller_fd_read_config(fd, CONFIG_MAX, soon(), ret, &len, err);
}

static void test_kinds(void)
{
	enum caller_fd_kind kind;
	pvm_error err = { 0 };
	int p[2], s[2], fd;

	CHECK(pipe2(p, O_CLOEXEC) == 0, "pipe");
	CHECK(caller_fd_classify(p[0], false, &kind, &err) == 0 && kind == CALLER_FD_PIPE, "pipe");
	CHECK(caller_fd_classify(p[1], false, &kind, &err) == -EINVAL &&
		  strstr(err.message, "writing only"),
	      "pipe write end: %s", err.message);
	pvm_error_clear(&err);
	CHECK(caller_fd_classify(p[0], true, &kind, &err) == -EINVAL, "a pipe is no payload");
	close(p[0]), close(p[1]);

	CHECK(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, s) == 0, "socketpair");
	pvm_error_clear(&err);
	CHECK(caller_fd_classify(s[0], false, &kind, &err) == -EINVAL &&
		  strstr(err.message, "datagram"),
	      "dgram: %s", err.message);
	close(s[0]), close(s[1]);

	fd = eventfd(0, EFD_CLOEXEC);
	pvm_error_clear(&err);
	CHECK(caller_fd_classify(fd, false, &kind, &err) == -EINVAL, "eventfd: %s", err.message);
	close(fd);
	fd = open("/", O_PATH | O_CLOEXEC);
	pvm_error_clear(&err);
	CHECK(caller_fd_classify(fd, false, &kind, &err) == -EINVAL &&
		  strstr(err.message, "O_PATH"),
	      "O_PATH: %s", err.message);
	close(fd);
	fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	pvm_error_clear(&err);
	CHECK(caller_fd_classify(fd, false, &kind, &err) == -EINVAL &&
		  strstr(err.message, "device"),
	      "/dev/null: %s", err.message);
	close(fd);
}

static void test_read_config(void)
{
	pvm_error err = { 0 };
	char *text = NULL;
	int p[2], s[2], fd, flags;

	/* a blocking pipe with its writer closed: read to the end, the caller's flags untouched */
	CHECK(pipe2(p, O_CLOEXEC) == 0 && write(p[1], "{}", 2) == 2, "pipe");
	close(p[1]);
	flags = fcntl(p[0], F_GETFL);
	CHECK(read_config(p[0], &text, &err) == 0 && strcmp(text, "{}") == 0, "pipe: %s",
	      err.message);
	CHECK(fcntl(p[0], F_GETFL) == flags, "the caller's file flags changed");
	free(text), text = NULL;
	close(p[0]);

	/* a writer that never closes: the deadline ends the read */
	CHECK(pipe2(p, O_CLOEXEC) == 0 && write(p[1], "{", 1) == 1, "pipe");
	CHECK(read_config(p[0], &text, &err) == -ETIMEDOUT, "held pipe: %s", err.message);
	close(p[0]), close(p[1]);

	/* urgent data: refused, never waited past */
	CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, s) == 0, "socketpair");
	CHECK(send(s[0], "x", 1, MSG_OOB) == 1, "MSG_OOB");
	CHECK(read_config(s[1], &text, &err) == -EPROTO && strstr(err.message, "out-of-band"),
	      "MSG_OOB: %s", err.message);
	close(s[0]), close(s[1]);

	/* a regular file from its start, whatever the caller's offset, which stays where it was */
	fd = memfd_create("config", MFD_CLOEXEC);
	CHECK(fd >= 0 && write(fd, "{\"a\": 1}", 8) == 8, "memfd");
	CHECK(read_config(fd, &text, &err) == 0 && strcmp(text, "{\"a\": 1}") == 0, "file: %s",
	      err.message);
	CHECK(lseek(fd, 0, SEEK_CUR) == 8, "the caller's offset moved");
	free(text), text = NULL;
	/* one byte over the limit */
	CHECK(ftruncate(fd, CONFIG_MAX + 1) == 0, "ftruncate");
	CHECK(read_config(fd, &text, &err) == -EFBIG, "too large: %s", err.message);
	close(fd);
}

static void test_payload(void)
{
	caller_payload pl = CALLER_PAYLOAD_NULL;
	char path[] = "/tmp/test-caller-fd.XXXXXX";
	pvm_error err = { 0 };
	uint64_t size;
	int fd = mkstemp(path), w;

	CHECK(fd >= 0 && write(fd, "abc", 3) == 3, "mkstemp");
	CHECK(caller_payload_copy(fd, "kernel", CONFIG_MAX, soon(), &pl, &err) == 0, "copy: %s",
	      err.message);
	CHECK(pl.size == 3 && memcmp(pl.sha256, abc_sha256, 32) == 0, "digest of the bytes copied");
	CHECK(pl.path && strcmp(pl.path, path) == 0, "path: %s", pl.path ?: "(none)");
	CHECK(caller_payload_check_sealed(pl.memfd, &size) == 0 && size == 3, "sealed");
	CHECK(write(pl.memfd, "x", 1) < 0 && errno == EPERM, "the copy can still be written");
	caller_payload_done(&pl);

	/* deleted: the path no longer leads to the file, so it is not located */
	unlink(path);
	pvm_error_clear(&err);
	CHECK(caller_payload_copy(fd, "kernel", CONFIG_MAX, soon(), &pl, &err) == 0 && !pl.path,
	      "deleted file: %s", pl.path ?: err.message);
	caller_payload_done(&pl);

	CHECK(ftruncate(fd, 0) == 0, "ftruncate");
	pvm_error_clear(&err);
	CHECK(caller_payload_copy(fd, "kernel", CONFIG_MAX, soon(), &pl, &err) == -EFBIG,
	      "empty: %s", err.message);
	CHECK(ftruncate(fd, CONFIG_MAX + 1) == 0, "ftruncate");
	pvm_error_clear(&err);
	CHECK(caller_payload_copy(fd, "kernel", CONFIG_MAX, soon(), &pl, &err) == -EFBIG &&
		  strstr(err.message, "kernel: 4097 bytes"),
	      "too large: %s", err.message);
	close(fd);

	w = memfd_create("unsealed", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	CHECK(w >= 0 && caller_payload_check_sealed(w, &size) == -EPERM, "an unsealed memfd");
	close(w);
}

int main(void)
{
	test_kinds();
	test_read_config();
	test_payload();
	return check_exit("test-caller-fd");
}
