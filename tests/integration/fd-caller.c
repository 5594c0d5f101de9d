/* A client that hands pvmd every kind of file descriptor a caller can send over the bus, for
 * bus-fds.sh:
 *   fd-caller config KIND FILE         CreateVMFromFd(fd, {}) with FILE's bytes behind fd
 *   fd-caller payload KIND CONFIG FILE [start] [name=NAME]
 *                                      CreateVM(CONFIG's text, {kernel_fd: fd, ...}), fd of
 *                                      FILE, options start and name as given
 *   fd-caller disk KIND CONFIG FILE KERNEL
 *                                      CreateVM(CONFIG's text, {kernel_fd: KERNEL opened,
 *                                      disk_fds: [fd of FILE]})
 * KIND is the descriptor's type (see the kinds table). One line on stdout: "reply NAME" or
 * "error ERROR.NAME: message". Ends of pipes and sockets the caller keeps stay open until the
 * reply comes, as a caller stalling pvmd would keep them. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
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

#include <systemd/sd-bus.h>

static char content[4 << 20]; /* what the descriptor carries */
static size_t content_len;
static char config_text[1 << 20];
static int keep = -1; /* the caller's end of a pipe or socket, open until the reply */

static void die(const char *what)
{
	fprintf(stderr, "fd-caller: %s: %s\n", what, strerror(errno));
	exit(2);
}

static void write_all(int fd, const void *p, size_t n)
{
	if (write(fd, p, n) != (ssize_t)n)
		die("write");
}

static int open_file(const char *path, int flags)
{
	int fd = open(path, flags | O_CLOEXEC);
	if (fd < 0)
		die(path);
	return fd;
}

static int make_pipe(bool with_content, bool keep_writer, bool give_writer)
{
	int p[2];

	if (pipe2(p, O_CLOEXEC) < 0)
		die("pipe");
	if (with_content)
		write_all(p[1], content, content_len);
	if (give_writer) {
		keep = p[0];
		return p[1];
	}
	if (keep_writer)
		keep = p[1];
	else
		close(p[1]);
	return p[0];
}

static int make_socketpair(int type, bool with_content, bool oob, bool keep_peer)
{
	int s[2];

	if (socketpair(AF_UNIX, type | SOCK_CLOEXEC, 0, s) < 0)
		die("socketpair");
	if (with_content)
		write_all(s[0], content, content_len);
	if (oob && send(s[0], "x", 1, MSG_OOB) != 1)
		die("send MSG_OOB");
	if (keep_peer)
		keep = s[0];
	else
		close(s[0]);
	return s[1];
}

static int make_memfd(bool sealed)
{
	int fd = memfd_create("fd-caller", MFD_CLOEXEC | MFD_ALLOW_SEALING);

	if (fd < 0)
		die("memfd_create");
	write_all(fd, content, content_len);
	if (sealed && fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE) < 0)
		die("F_ADD_SEALS");
	return fd;
}

static int make_fifo_rdwr(void)
{
	char dir[] = "/tmp/fd-caller.XXXXXX", path[64];
	int fd;

	if (!mkdtemp(dir))
		die("mkdtemp");
	snprintf(path, sizeof(path), "%s/fifo", dir);
	if (mkfifo(path, 0600) < 0)
		die("mkfifo");
	fd = open_file(path, O_RDWR);
	write_all(fd, content, content_len);
	unlink(path);
	rmdir(dir);
	return fd;
}

static int make_listening(void)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		die("socket");
	/* autobind: an abstract address of the kernel's choosing */
	if (bind(fd, (struct sockaddr *)&a, sizeof(sa_family_t)) < 0 || listen(fd, 1) < 0)
		die("bind/listen");
	return fd;
}

static int make_fd(const char *kind, const char *file)
{
	if (!strcmp(kind, "file"))
		return open_file(file, O_RDONLY);
	if (!strcmp(kind, "file-wronly"))
		return open_file(file, O_WRONLY);
	if (!strcmp(kind, "file-path"))
		return open_file(file, O_PATH);
	if (!strcmp(kind, "dir"))
		return open_file("/", O_RDONLY | O_DIRECTORY);
	if (!strcmp(kind, "devnull"))
		return open_file("/dev/null", O_RDONLY);
	if (!strcmp(kind, "devzero"))
		return open_file("/dev/zero", O_RDONLY);
	if (!strcmp(kind, "tty"))
		return open_file("/dev/ptmx", O_RDWR | O_NOCTTY);
	if (!strcmp(kind, "eventfd"))
		return eventfd(1, EFD_CLOEXEC);
	if (!strcmp(kind, "epoll"))
		return epoll_create1(EPOLL_CLOEXEC);
	if (!strcmp(kind, "timerfd"))
		return timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
	if (!strcmp(kind, "signalfd")) {
		sigset_t set;
		sigemptyset(&set);
		sigaddset(&set, SIGUSR1);
		return signalfd(-1, &set, SFD_CLOEXEC);
	}
	if (!strcmp(kind, "inotify"))
		return inotify_init1(IN_CLOEXEC);
	if (!strcmp(kind, "pidfd"))
		return (int)syscall(SYS_pidfd_open, getpid(), 0);
	if (!strcmp(kind, "memfd"))
		return make_memfd(false);
	if (!strcmp(kind, "memfd-sealed"))
		return make_memfd(true);
	if (!strcmp(kind, "pipe"))
		return make_pipe(true, false, false);
	if (!strcmp(kind, "pipe-open")) /* config written, writer never closed */
		return make_pipe(true, true, false);
	if (!strcmp(kind, "pipe-write"))
		return make_pipe(false, false, true);
	if (!strcmp(kind, "fifo-rdwr")) /* a FIFO opened read-write: its own writer, no end */
		return make_fifo_rdwr();
	if (!strcmp(kind, "socket"))
		return make_socketpair(SOCK_STREAM, true, false, false);
	if (!strcmp(kind, "seqpacket"))
		return make_socketpair(SOCK_SEQPACKET, true, false, false);
	if (!strcmp(kind, "dgram"))
		return make_socketpair(SOCK_DGRAM, true, false, false);
	if (!strcmp(kind, "socket-oob")) /* only urgent data, peer kept open */
		return make_socketpair(SOCK_STREAM, false, true, true);
	if (!strcmp(kind, "socket-data-oob")) /* the config, then urgent data, peer kept open */
		return make_socketpair(SOCK_STREAM, true, true, true);
	if (!strcmp(kind, "socket-listen"))
		return make_listening();
	if (!strcmp(kind, "socket-unconnected"))
		return socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	fprintf(stderr, "fd-caller: unknown kind '%s'\n", kind);
	exit(2);
}

static size_t read_file(const char *file, char *buf, size_t size)
{
	int fd = open_file(file, O_RDONLY);
	ssize_t n = read(fd, buf, size - 1);

	if (n < 0)
		die(file);
	buf[n] = '\0';
	close(fd);
	return (size_t)n;
}

int main(int argc, char **argv)
{
	sd_bus_error e = SD_BUS_ERROR_NULL;
	sd_bus_message *call = NULL, *reply = NULL;
	sd_bus *bus = NULL;
	bool payload = argc >= 5 && !strcmp(argv[1], "payload"), start = false;
	bool disk = argc == 6 && !strcmp(argv[1], "disk");
	const char *name, *vm_name = NULL;
	int fd, kernel_fd = -1, r;

	for (int i = 5; payload && i < argc; i++) {
		if (!strcmp(argv[i], "start"))
			start = true;
		else if (!strncmp(argv[i], "name=", 5))
			vm_name = argv[i] + 5;
		else
			payload = false;
	}
	if (!payload && !disk && !(argc == 4 && !strcmp(argv[1], "config"))) {
		fprintf(stderr, "usage: fd-caller config KIND FILE | payload KIND CONFIG FILE "
				"[start] [name=NAME] | disk KIND CONFIG FILE KERNEL\n");
		return 2;
	}
	if (disk) {
		payload = true; /* CreateVM with the config's text */
		kernel_fd = open_file(argv[5], O_RDONLY);
	}
	content_len = read_file(payload ? argv[4] : argv[3], content, sizeof(content));
	if (payload)
		read_file(argv[3], config_text, sizeof(config_text));
	fd = make_fd(argv[2], payload ? argv[4] : argv[3]);
	if (fd < 0)
		die(argv[2]);

	r = sd_bus_open_system(&bus);
	if (r >= 0)
		r = sd_bus_message_new_method_call(bus, &call, "org.pvm1", "/org/pvm1",
						   "org.pvm1.Manager",
						   payload ? "CreateVM" : "CreateVMFromFd");
	if (r >= 0 && !payload)
		r = sd_bus_message_append(call, "ha{sv}", fd, 0);
	if (r >= 0 && payload) {
		r = sd_bus_message_append(call, "s", config_text);
		if (r >= 0)
			r = sd_bus_message_open_container(call, 'a', "{sv}");
		if (r >= 0 && disk)
			r = sd_bus_message_append(call, "{sv}", "kernel_fd", "h", kernel_fd);
		if (r >= 0 && disk)
			r = sd_bus_message_append(call, "{sv}", "disk_fds", "ah", 1, fd);
		else if (r >= 0)
			r = sd_bus_message_append(call, "{sv}", "kernel_fd", "h", fd);
		if (r >= 0 && start)
			r = sd_bus_message_append(call, "{sv}", "start", "b", 1);
		if (r >= 0 && vm_name)
			r = sd_bus_message_append(call, "{sv}", "name", "s", vm_name);
		if (r >= 0)
			r = sd_bus_message_close_container(call);
	}
	if (r < 0) {
		fprintf(stderr, "fd-caller: building the call: %s\n", strerror(-r));
		return 2;
	}
	r = sd_bus_call(bus, call, 60 * 1000000ULL, &e, &reply);
	if (r < 0)
		printf("error %s: %s\n", e.name ?: "(none)", e.message ?: strerror(-r));
	else if (sd_bus_message_read(reply, "s", &name) >= 0)
		printf("reply %s\n", name);
	else
		printf("error (unreadable reply)\n");
	if (keep >= 0)
		close(keep);
	sd_bus_error_free(&e);
	sd_bus_message_unref(call);
	sd_bus_message_unref(reply);
	sd_bus_flush_close_unref(bus);
	return 0;
}
