/* A stand-in for pvm-runner that misbehaves on purpose, to test that pvmd treats its runner
 * as untrusted. ENGINE_FAKE_RUNNER selects the misbehaviour: "garbage" (a message with a bad
 * magic), "fake-memory" (CREATED with a memfd of the right size instead of a guest_memfd),
 * "early-ready" (READY before anything), "exit" (exit status 3 during setup), "bad-text" (an
 * ERROR whose text is not UTF-8 and holds a terminal escape, then exit status 3), "hold" (stay
 * in setup until killed), "report-uid" (an ERROR naming the uid and gid pvmd asked for, then
 * exit status 3), "burst" (a real guest_memfd in CREATED, then at once RUNNING, a console
 * line and READY, all sent before pvmd answers; then $ENGINE_FAKE_DIR/sent is made; on
 * SIGUSR1 it maps the guest memory, as a real runner cannot once locked down, makes
 * $ENGINE_FAKE_DIR/mapped and holds). */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "kvm-compat.h"
#include "runner-protocol.h"

#define BURST_LINE "burst\n"

/* CREATED with guest memory pvmd accepts, then RUNNING, CONSOLE and READY back to back: pvmd
 * finds all four waiting when it next reads. */
static int burst(const runner_msg_create *c, const runner_msg_prepare *prep)
{
	struct kvm_create_guest_memfd gm = { .size = c->memory_bytes, .flags = 3 };
	runner_msg_created m = { .backing = RUNNER_BACKING_GUEST_MEMFD,
				 .guest_memfd_flags = 3,
				 .memory_bytes = c->memory_bytes };
	runner_msg_running running = { .uid = prep->uid, .gid = prep->gid };
	char path[128];
	sigset_t usr1;
	int kvm, vm, gmem, fd, sig;

	sigemptyset(&usr1);
	sigaddset(&usr1, SIGUSR1);
	sigprocmask(SIG_BLOCK, &usr1, NULL);
	kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	vm = kvm < 0 ? -1 : ioctl(kvm, KVM_CREATE_VM, 0UL);
	gmem = vm < 0 ? -1 : ioctl(vm, KVM_CREATE_GUEST_MEMFD, &gm);
	if (gmem < 0 || runner_msg_send(3, RUNNER_MSG_CREATED, &m, sizeof(m), gmem) < 0 ||
	    runner_msg_send(3, RUNNER_MSG_RUNNING, &running, sizeof(running), -1) < 0 ||
	    runner_msg_send(3, RUNNER_MSG_CONSOLE, BURST_LINE, strlen(BURST_LINE), -1) < 0 ||
	    runner_msg_send(3, RUNNER_MSG_READY, NULL, 0, -1) < 0)
		return -1;
	snprintf(path, sizeof(path), "%s/sent", getenv("ENGINE_FAKE_DIR") ?: "/nonexistent");
	fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0 || close(fd) < 0 || sigwait(&usr1, &sig) != 0)
		return -1;
	if (mmap(NULL, c->memory_bytes, PROT_READ, MAP_SHARED, gmem, 0) == MAP_FAILED)
		return -1;
	snprintf(path, sizeof(path), "%s/mapped", getenv("ENGINE_FAKE_DIR") ?: "/nonexistent");
	fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	return fd < 0 ? -1 : close(fd);
}

int main(void)
{
	static uint8_t buf[RUNNER_MSG_MAX] __attribute__((aligned(8)));
	const char *mode = getenv("ENGINE_FAKE_RUNNER");
	runner_msg_prepare prep = { 0 };
	const runner_msg_create *c;
	const char *reason = "";
	int fd = -1, r;

	if (!mode)
		return 2;
	/* as the real runner: a test that exits early leaves no runner behind (the wrapper names
	 * the test's pid: if the test is gone already, the signal would never come) */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getenv("ENGINE_FAKE_PARENT") && getppid() != atoi(getenv("ENGINE_FAKE_PARENT")))
		return 2;
	/* the seccomp program and the sandbox request come first: kept (the uid), not acted on */
	for (;;) {
		struct pollfd p = { .fd = 3, .events = POLLIN };
		r = runner_msg_recv(3, buf, false, &fd, &reason);
		if (fd >= 0)
			close(TAKE_FD(fd));
		if (r > 0 && ((runner_msg_header *)buf)->type == RUNNER_MSG_PREPARE)
			memcpy(&prep, runner_msg_body(buf), sizeof(prep));
		if (r > 0 && ((runner_msg_header *)buf)->type == RUNNER_MSG_CREATE)
			break;
		if (r != -EAGAIN && r <= 0)
			return 2;
		if (r == -EAGAIN)
			poll(&p, 1, -1);
	}
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
	} else if (strcmp(mode, "burst") == 0) {
		if (burst(c, &prep) < 0)
			return 2;
	} else if (strcmp(mode, "early-ready") == 0) {
		runner_msg_send(3, RUNNER_MSG_READY, NULL, 0, -1);
	} else if (strcmp(mode, "bad-text") == 0) {
		/* not UTF-8, and a terminal escape: pvmd must not pass either on */
		runner_msg_error e = { .error = EIO };
		snprintf(e.message, sizeof(e.message), "bad \xff\xfe text \x1b[2J end");
		runner_msg_send(3, RUNNER_MSG_ERROR, &e, sizeof(e), -1);
		return 3;
	} else if (strcmp(mode, "report-uid") == 0) {
		runner_msg_error e = { .error = EIO };
		snprintf(e.message, sizeof(e.message), "asked for uid %u gid %u", prep.uid,
			 prep.gid);
		runner_msg_send(3, RUNNER_MSG_ERROR, &e, sizeof(e), -1);
		return 3;
	} else if (strcmp(mode, "hold") != 0) {
		return 3;
	}
	/* wait for pvmd to end us */
	for (;;)
		pause();
}
