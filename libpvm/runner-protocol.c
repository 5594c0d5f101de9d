/* pvmd <-> pvm-runner messages: one table says, per type, who may send it, how big its body is,
 * whether a file descriptor comes with it and which text field must be NUL-terminated. */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "runner-protocol.h"

typedef struct runner_msg_rule {
	bool from_runner;
	size_t min_body, max_body;
	unsigned fds;
	size_t text_offset, text_len; /* a char array that must hold a NUL; text_len 0: none */
} runner_msg_rule;

#define FIXED(t) sizeof(t), sizeof(t)

static const runner_msg_rule runner_msg_rules[] = {
	[RUNNER_MSG_CREATE] = { false, FIXED(runner_msg_create), 0, 0, 0 },
	[RUNNER_MSG_BOOT] = { false, FIXED(runner_msg_boot), 0, 0, 0 },
	[RUNNER_MSG_STOP_REQUEST] = { false, 0, 0, 0, 0, 0 },
	[RUNNER_MSG_CONSOLE_INPUT] = { false, 1, RUNNER_CONSOLE_CHUNK, 0, 0, 0 },
	[RUNNER_MSG_SELF_CHECK] = { false, 0, 0, 0, 0, 0 },
	[RUNNER_MSG_WINDOW] = { false, FIXED(runner_msg_window), 0, 0, 0 },
	[RUNNER_MSG_DISK] = { false, FIXED(runner_msg_disk), 1, offsetof(runner_msg_disk, id),
			      sizeof(((runner_msg_disk *)0)->id) },
	[RUNNER_MSG_VSOCK] = { false, FIXED(runner_msg_vsock), 1,
			       offsetof(runner_msg_vsock, prefix),
			       sizeof(((runner_msg_vsock *)0)->prefix) },
	[RUNNER_MSG_VSOCK_DIR] = { false, 0, 0, 1, 0, 0 },
	[RUNNER_MSG_FILTER] = { false, 8, RUNNER_FILTER_MAX, 0, 0, 0 },
	[RUNNER_MSG_PREPARE] = { false, FIXED(runner_msg_prepare), 1, 0, 0 },
	[RUNNER_MSG_CREATED] = { true, FIXED(runner_msg_created), 1, 0, 0 },
	[RUNNER_MSG_RUNNING] = { true, FIXED(runner_msg_running), 0, 0, 0 },
	[RUNNER_MSG_CONSOLE] = { true, 1, RUNNER_CONSOLE_CHUNK, 0, 0, 0 },
	[RUNNER_MSG_READY] = { true, 0, 0, 0, 0, 0 },
	[RUNNER_MSG_NOTICE] = { true, FIXED(runner_msg_event), 0,
				offsetof(runner_msg_event, detail), PVM_EXIT_DETAIL_MAX },
	[RUNNER_MSG_EXIT] = { true, FIXED(runner_msg_event), 0, offsetof(runner_msg_event, detail),
			      PVM_EXIT_DETAIL_MAX },
	[RUNNER_MSG_ERROR] = { true, FIXED(runner_msg_error), 0,
			       offsetof(runner_msg_error, message), RUNNER_TEXT_MAX },
	[RUNNER_MSG_SELF_CHECK_RESULT] = { true, FIXED(runner_msg_self_check), 0, 0, 0 },
	[RUNNER_MSG_PREPARED] = { true, FIXED(runner_msg_running), 0, 0, 0 },
};

static int reject(const char **ret_reason, const char *reason)
{
	if (ret_reason)
		*ret_reason = reason;
	return -EBADMSG;
}

int runner_msg_check(const void *buf, size_t len, unsigned n_fds, bool from_runner,
		     const char **ret_reason)
{
	runner_msg_header h;
	const runner_msg_rule *rule;
	size_t body;

	if (len < sizeof(h))
		return reject(ret_reason, "shorter than a header");
	memcpy(&h, buf, sizeof(h));
	if (h.magic != RUNNER_MSG_MAGIC)
		return reject(ret_reason, "bad magic");
	if (h.version != RUNNER_MSG_VERSION)
		return reject(ret_reason, "unknown protocol version");
	if (h.size != len)
		return reject(ret_reason, "size field does not match the datagram");
	if (h.type >= ELEMENTSOF(runner_msg_rules))
		return reject(ret_reason, "unknown type");
	rule = &runner_msg_rules[h.type];
	/* the table has holes between the two directions' ranges */
	if (h.type == 0 || (h.type > RUNNER_MSG_PREPARE && h.type < RUNNER_MSG_CREATED))
		return reject(ret_reason, "unknown type");
	if (rule->from_runner != from_runner)
		return reject(ret_reason, "type not allowed in this direction");
	body = len - sizeof(h);
	if (body < rule->min_body || body > rule->max_body)
		return reject(ret_reason, "body size wrong for its type");
	if (n_fds != rule->fds)
		return reject(ret_reason, "unexpected number of file descriptors");
	if (rule->text_len > 0 &&
	    !memchr((const uint8_t *)buf + sizeof(h) + rule->text_offset, 0, rule->text_len))
		return reject(ret_reason, "text field not terminated");
	return 0;
}

int runner_msg_send(int sock, uint16_t type, const void *body, size_t body_len, int fd)
{
	runner_msg_header h = {
		.magic = RUNNER_MSG_MAGIC,
		.version = RUNNER_MSG_VERSION,
		.type = type,
		.size = (uint32_t)(sizeof(h) + body_len),
	};
	struct iovec iov[2] = {
		{ .iov_base = &h, .iov_len = sizeof(h) },
		{ .iov_base = (void *)body, .iov_len = body_len },
	};
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int))];
	} control;
	struct msghdr mh = { .msg_iov = iov, .msg_iovlen = body_len > 0 ? 2 : 1 };
	ssize_t n;

	if (sizeof(h) + body_len > RUNNER_MSG_MAX)
		return -EMSGSIZE;
	if (fd >= 0) {
		struct cmsghdr *c;
		memset(&control, 0, sizeof(control));
		mh.msg_control = control.buf;
		mh.msg_controllen = sizeof(control.buf);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &fd, sizeof(int));
	}
	do
		n = sendmsg(sock, &mh, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	return (size_t)n == h.size ? 0 : -EIO;
}

int runner_msg_recv(int sock, void *buf, bool from_runner, int *ret_fd, const char **ret_reason)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int) * 4)];
	} control;
	struct iovec iov = { .iov_base = buf, .iov_len = RUNNER_MSG_MAX };
	struct msghdr mh = { .msg_iov = &iov,
			     .msg_iovlen = 1,
			     .msg_control = control.buf,
			     .msg_controllen = sizeof(control.buf) };
	int fds[4], n_fds = 0, r;
	ssize_t n;

	*ret_fd = -1;
	do
		n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;

	for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
			size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
			for (size_t i = 0; i < k && n_fds < (int)ELEMENTSOF(fds); i++)
				memcpy(&fds[n_fds++], CMSG_DATA(c) + i * sizeof(int), sizeof(int));
		}
	}
	if (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC))
		r = reject(ret_reason, "message or its file descriptors truncated");
	else if (n == 0 && n_fds == 0)
		return 0; /* EOF */
	else
		r = runner_msg_check(buf, (size_t)n, (unsigned)n_fds, from_runner, ret_reason);
	if (r < 0) {
		for (int i = 0; i < n_fds; i++)
			close(fds[i]);
		return r;
	}
	if (n_fds == 1)
		*ret_fd = fds[0];
	return (int)n;
}
