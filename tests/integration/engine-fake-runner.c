/* A stand-in for pvm-runner that misbehaves on purpose, to test that pvmd treats its runner
 * as untrusted. ENGINE_FAKE_RUNNER selects the misbehaviour: "garbage" (a message with a bad
 * magic), "fake-memory" (CREATED with a memfd of the right size instead of a guest_memfd),
 * "early-ready" (READY before anything), "exit" (exit status 3 during setup), "bad-text" (an
 * ERROR whose text is not UTF-8 and holds a terminal escape, then exit status 3). */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "runner-protocol.h"

int main(void)
{
	static uint8_t buf[RUNNER_MSG_MAX] __attribute__((aligned(8)));
	const char *mode = getenv("ENGINE_FAKE_RUNNER");
	const runner_msg_create *c;
	const char *reason = "";
	int fd = -1, r;

	if (!mode)
		return 2;
	for (;;) {
		struct pollfd p = { .fd = 3, .events = POLLIN };
		r = runner_msg_recv(3, buf, false, &fd, &reason);
		if (r != -EAGAIN)
			break;
		poll(&p, 1, -1);
	}
	if (r <= 0 || ((runner_msg_header *)buf)->type != RUNNER_MSG_CREATE)
		return 2;
	c = runner_msg_body(buf);

	if (strcmp(mode, "garbage") == 0) {
		uint8_t junk[32];
		memset(junk, 0x41, sizeof(junk));
		if (write(3, junk, sizeof(junk)) < 0)
			return 2;
	} else if (strcmp(mode, "fake-memory") == 0) {
		runner_msg_created m = { .backing = RUNNER_BACKING_GUEST_MEMFD,
					 .guest_memfd_flags = 3,
					 .memory_bytes = c->memory_bytes };
		int mfd = memfd_create("kvm-gmem", MFD_CLOEXEC);
		if (mfd < 0 || ftruncate(mfd, (off_t)c->memory_bytes) < 0)
			return 2;
		runner_msg_send(3, RUNNER_MSG_CREATED, &m, sizeof(m), mfd);
	} else if (strcmp(mode, "early-ready") == 0) {
		runner_msg_send(3, RUNNER_MSG_READY, NULL, 0, -1);
	} else if (strcmp(mode, "bad-text") == 0) {
		/* not UTF-8, and a terminal escape: pvmd must not pass either on */
		runner_msg_error e = { .error = EIO };
		snprintf(e.message, sizeof(e.message), "bad \xff\xfe text \x1b[2J end");
		runner_msg_send(3, RUNNER_MSG_ERROR, &e, sizeof(e), -1);
		return 3;
	} else {
		return 3;
	}
	/* wait for pvmd to end us */
	for (;;)
		pause();
}
