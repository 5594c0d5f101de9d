/* runner-protocol contract: pvmd accepts from the runner only well-formed messages of the
 * runner's types, of their exact sizes, with terminated text and a file descriptor only on
 * CREATED; a real socketpair carries a message and its fd intact. */
#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "runner-protocol.h"

static size_t build(uint8_t *buf, uint16_t type, const void *body, size_t len)
{
	runner_msg_header h = { RUNNER_MSG_MAGIC, RUNNER_MSG_VERSION, type,
				(uint32_t)(sizeof(h) + len), 0 };
	memcpy(buf, &h, sizeof(h));
	if (len)
		memcpy(buf + sizeof(h), body, len);
	return sizeof(h) + len;
}

int main(void)
{
	uint8_t buf[RUNNER_MSG_MAX] __attribute__((aligned(8))), text[RUNNER_CONSOLE_CHUNK + 1];
	runner_msg_event ev = { .kind = 3 };
	runner_msg_created cr = { .backing = 1 };
	const char *reason = NULL;
	size_t n;
	int sv[2], fd = -1;

	memset(text, 'c', sizeof(text));
	strcpy(ev.detail, "hlt");
	n = build(buf, RUNNER_MSG_EXIT, &ev, sizeof(ev));
	assert(runner_msg_check(buf, n, 0, true, &reason) == 0);
	/* wrong direction, extra fd, bad sizes, bad header fields */
	assert(runner_msg_check(buf, n, 0, false, &reason) == -EBADMSG);
	assert(runner_msg_check(buf, n, 1, true, &reason) == -EBADMSG);
	assert(runner_msg_check(buf, n - 1, 0, true, &reason) == -EBADMSG);
	n = build(buf, RUNNER_MSG_EXIT, &ev, sizeof(ev) - 1);
	assert(runner_msg_check(buf, n, 0, true, &reason) == -EBADMSG);
	memset(ev.detail, 'x', sizeof(ev.detail)); /* unterminated text */
	n = build(buf, RUNNER_MSG_EXIT, &ev, sizeof(ev));
	assert(runner_msg_check(buf, n, 0, true, &reason) == -EBADMSG);
	assert(strstr(reason, "terminated"));
	n = build(buf, RUNNER_MSG_READY, NULL, 0);
	assert(runner_msg_check(buf, n, 0, true, &reason) == 0);
	((runner_msg_header *)buf)->magic ^= 1;
	assert(runner_msg_check(buf, n, 0, true, &reason) == -EBADMSG);
	n = build(buf, RUNNER_MSG_READY, NULL, 0);
	((runner_msg_header *)buf)->version = 2;
	assert(runner_msg_check(buf, n, 0, true, &reason) == -EBADMSG);
	for (uint16_t t = 0; t < 64; t++) {
		bool known = (t >= RUNNER_MSG_CREATE && t <= RUNNER_MSG_PREPARE) ||
			     (t >= RUNNER_MSG_CREATED && t <= RUNNER_MSG_PREPARED);
		n = build(buf, t, NULL, 0);
		if (!known) {
			assert(runner_msg_check(buf, n, 0, true, &reason) == -EBADMSG);
			assert(runner_msg_check(buf, n, 0, false, &reason) == -EBADMSG);
		}
	}
	/* console: 1..chunk bytes */
	n = build(buf, RUNNER_MSG_CONSOLE, NULL, 0);
	assert(runner_msg_check(buf, n, 0, true, &reason) == -EBADMSG);
	n = build(buf, RUNNER_MSG_CONSOLE, text, RUNNER_CONSOLE_CHUNK);
	assert(runner_msg_check(buf, n, 0, true, &reason) == 0);
	n = build(buf, RUNNER_MSG_CONSOLE, text, RUNNER_CONSOLE_CHUNK + 1);
	assert(runner_msg_check(buf, n, 0, true, &reason) == -EBADMSG);
	/* CREATED needs exactly one fd */
	n = build(buf, RUNNER_MSG_CREATED, &cr, sizeof(cr));
	assert(runner_msg_check(buf, n, 0, true, &reason) == -EBADMSG);
	assert(runner_msg_check(buf, n, 1, true, &reason) == 0);

	/* over a real socketpair: the fd arrives, a message without one is refused as CREATED */
	assert(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == 0);
	assert(runner_msg_send(sv[1], RUNNER_MSG_CREATED, &cr, sizeof(cr), STDIN_FILENO) == 0);
	assert(runner_msg_recv(sv[0], buf, true, &fd, &reason) ==
	       (int)(sizeof(runner_msg_header) + sizeof(cr)));
	assert(fd >= 0);
	close(fd);
	assert(runner_msg_send(sv[1], RUNNER_MSG_CREATED, &cr, sizeof(cr), -1) == 0);
	assert(runner_msg_recv(sv[0], buf, true, &fd, &reason) == -EBADMSG && fd == -1);
	assert(runner_msg_recv(sv[0], buf, true, &fd, &reason) == -EAGAIN);
	close(sv[1]);
	assert(runner_msg_recv(sv[0], buf, true, &fd, &reason) == 0);
	close(sv[0]);
	printf("test-runner-protocol: ok\n");
	return 0;
}
