/* fdstore-supervisor: plays the service manager's part of the sd_notify protocol for the tests,
 * so that pvmd's use of the file-descriptor store is tested where systemd is not PID 1. It runs
 * one main process with NOTIFY_SOCKET set, keeps the fds sent with FDSTORE=1 (by FDNAME, dropped
 * on FDSTOREREMOVE=1 or when they hang up, as systemd does), restarts the main process when it is
 * killed by a signal (Restart=on-failure) passing the kept fds as LISTEN_FDS/LISTEN_FDNAMES/
 * LISTEN_PID, and reaps orphans as a subreaper.
 *
 * Usage: fdstore-supervisor DIR COMMAND [ARG...]
 * DIR gets: notify (the socket), main.pid (the current main pid, rewritten at each start),
 * ready (the pid that sent READY=1), notify.log (every message, with the number of fds).
 * SIGTERM: forwarded to the main process; the supervisor exits with it, dropping the store. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#define STORE_MAX 64
#define RESTARTS_MAX 5

static struct {
	int fd;
	char name[256];
} store[STORE_MAX];
static size_t n_store;
static const char *dir;
static pid_t main_pid;

static void die(const char *what)
{
	fprintf(stderr, "fdstore-supervisor: %s: %s\n", what, strerror(errno));
	exit(2);
}

static void write_file(const char *name, const char *text)
{
	char path[4096], tmp[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	snprintf(tmp, sizeof(tmp), "%s/.%s.tmp", dir, name);
	f = fopen(tmp, "we");
	if (!f || fputs(text, f) < 0 || fclose(f) != 0 || rename(tmp, path) < 0)
		die(path);
}

static void store_drop(size_t i)
{
	close(store[i].fd);
	store[i] = store[--n_store];
}

static void start_main(char **argv)
{
	char names[STORE_MAX * 257] = "", buf[64];
	pid_t pid;

	for (size_t i = 0; i < n_store; i++) {
		strcat(names, i ? ":" : "");
		strcat(names, store[i].name);
	}
	pid = fork();
	if (pid < 0)
		die("fork");
	if (pid == 0) {
		sigset_t none;
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		/* the stored fds become 3, 4, ... in store order, as systemd passes them */
		int tmp[STORE_MAX];
		for (size_t i = 0; i < n_store; i++)
			if ((tmp[i] = fcntl(store[i].fd, F_DUPFD_CLOEXEC, 3 + STORE_MAX + 8)) < 0)
				_exit(127);
		for (size_t i = 0; i < n_store; i++)
			if (dup2(tmp[i], 3 + (int)i) < 0)
				_exit(127);
		close_range(3 + (unsigned)n_store, ~0U, 0);
		if (n_store > 0) {
			snprintf(buf, sizeof(buf), "%d", (int)getpid());
			setenv("LISTEN_PID", buf, 1);
			snprintf(buf, sizeof(buf), "%zu", n_store);
			setenv("LISTEN_FDS", buf, 1);
			setenv("LISTEN_FDNAMES", names, 1);
		} else {
			unsetenv("LISTEN_PID"), unsetenv("LISTEN_FDS"), unsetenv("LISTEN_FDNAMES");
		}
		execvp(argv[0], argv);
		_exit(127);
	}
	main_pid = pid;
	snprintf(buf, sizeof(buf), "%d\n", (int)pid);
	write_file("main.pid", buf);
}

/* One datagram: accepted from the main process only (NotifyAccess=main). */
static void on_notify(int sock)
{
	char data[4096], log[4200], path[4096];
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int) * STORE_MAX) + CMSG_SPACE(sizeof(struct ucred))];
	} control;
	struct iovec iov = { data, sizeof(data) - 1 };
	struct msghdr mh = { .msg_iov = &iov,
			     .msg_iovlen = 1,
			     .msg_control = &control,
			     .msg_controllen = sizeof(control) };
	int fds[STORE_MAX], n_fds = 0;
	struct ucred cred = { 0 };
	const char *fdname = "stored";
	bool fdstore = false, remove = false;
	ssize_t n;
	FILE *f;

	n = recvmsg(sock, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
	if (n < 0)
		return;
	data[n] = '\0';
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
			n_fds = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
			memcpy(fds, CMSG_DATA(c), sizeof(int) * (size_t)n_fds);
		} else if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_CREDENTIALS) {
			memcpy(&cred, CMSG_DATA(c), sizeof(cred));
		}
	}
	snprintf(log, sizeof(log), "pid=%d fds=%d %s\n", (int)cred.pid, n_fds, data);
	for (char *p = log; *p; p++)
		if (*p == '\n' && p[1])
			*p = ' ';
	snprintf(path, sizeof(path), "%s/notify.log", dir);
	if ((f = fopen(path, "ae"))) {
		fputs(log, f);
		fclose(f);
	}
	if (cred.pid != main_pid) {
		for (int i = 0; i < n_fds; i++)
			close(fds[i]);
		return;
	}
	for (char *line = strtok(data, "\n"); line; line = strtok(NULL, "\n")) {
		if (strcmp(line, "READY=1") == 0) {
			char buf[32];
			snprintf(buf, sizeof(buf), "%d\n", (int)cred.pid);
			write_file("ready", buf);
		} else if (strcmp(line, "FDSTORE=1") == 0) {
			fdstore = true;
		} else if (strcmp(line, "FDSTOREREMOVE=1") == 0) {
			remove = true;
		} else if (strncmp(line, "FDNAME=", 7) == 0) {
			fdname = line + 7;
		}
	}
	for (size_t i = 0; remove && i < n_store;) {
		if (strcmp(store[i].name, fdname) == 0)
			store_drop(i);
		else
			i++;
	}
	for (int i = 0; i < n_fds; i++) {
		if (!fdstore || n_store >= STORE_MAX || strlen(fdname) >= sizeof(store[0].name)) {
			close(fds[i]);
			continue;
		}
		store[n_store].fd = fds[i];
		snprintf(store[n_store].name, sizeof(store[0].name), "%s", fdname);
		n_store++;
	}
}

int main(int argc, char **argv)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int sock, sfd, one = 1, restarts = 0;
	sigset_t mask;

	if (argc < 3) {
		fprintf(stderr, "usage: fdstore-supervisor DIR COMMAND [ARG...]\n");
		return 2;
	}
	dir = argv[1];
	if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0)
		die("PR_SET_CHILD_SUBREAPER");
	sigemptyset(&mask);
	sigaddset(&mask, SIGCHLD);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	sfd = signalfd(-1, &mask, SFD_CLOEXEC);
	if (sfd < 0)
		die("signalfd");
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/notify", dir);
	unlink(sa.sun_path);
	sock = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (sock < 0 || bind(sock, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    setsockopt(sock, SOL_SOCKET, SO_PASSCRED, &one, sizeof(one)) < 0)
		die("notify socket");
	setenv("NOTIFY_SOCKET", sa.sun_path, 1);
	start_main(argv + 2);

	for (;;) {
		struct pollfd p[2 + STORE_MAX] = { { sock, POLLIN, 0 }, { sfd, POLLIN, 0 } };

		/* events 0: only POLLHUP/POLLERR, on which systemd drops a stored fd */
		for (size_t i = 0; i < n_store; i++)
			p[2 + i] = (struct pollfd){ store[i].fd, 0, 0 };
		if (poll(p, 2 + n_store, -1) < 0) {
			if (errno == EINTR)
				continue;
			die("poll");
		}
		for (size_t i = n_store; i-- > 0;)
			if (p[2 + i].revents & (POLLHUP | POLLERR))
				store_drop(i);
		if (p[0].revents & POLLIN)
			on_notify(sock);
		if (p[1].revents & POLLIN) {
			struct signalfd_siginfo si;
			if (read(sfd, &si, sizeof(si)) != sizeof(si))
				continue;
			if (si.ssi_signo != SIGCHLD) {
				if (main_pid > 0)
					kill(main_pid, SIGTERM);
				continue;
			}
			for (;;) {
				int status;
				pid_t pid = waitpid(-1, &status, WNOHANG);
				if (pid <= 0)
					break;
				if (pid != main_pid)
					continue; /* an orphan (a runner left by a killed main) */
				main_pid = 0;
				if (!WIFSIGNALED(status) || WTERMSIG(status) == SIGTERM ||
				    ++restarts > RESTARTS_MAX)
					return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
				start_main(argv + 2);
			}
		}
	}
}
