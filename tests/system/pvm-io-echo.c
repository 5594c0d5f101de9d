/* Both ends of the arm64 system test's vsock and TCP traffic: inside the Linux guest (AF_VSOCK)
 * an echo server and a client that sends a pattern ending in a marker; on the host, a program
 * that reaches the guest through pvm's <vm>.vsock socket (CONNECT/OK) and one that listens on
 * <vm>.vsock_<port> for the guest; over virtio-net, a guest client and a host echo server on
 * TCP. Every transfer checks the bytes that come back and prints its figures (MB/s, round trip)
 * for the test's diagnostics.
 *
 *   pvm-io-echo serve PORT               guest: echo one connection on vsock PORT to its end
 *   pvm-io-echo wait PORT                guest: accept one connection on PORT, read to its end
 *   pvm-io-echo send PORT BYTES MARKER   guest: to host port PORT, BYTES of pattern + MARKER
 *   pvm-io-echo host-connect SOCK PORT BYTES ROUNDS
 *                                        host: BYTES to guest PORT and back, ROUNDS round trips
 *   pvm-io-echo host-echo SOCK           host: listen on SOCK, echo one connection to its end
 *   pvm-io-echo tcp-send ADDR PORT BYTES guest: BYTES to the host's IPv4 ADDR:PORT and back
 *   pvm-io-echo tcp-echo PORT            host: echo one TCP connection on PORT to its end
 * Exit 0 when every byte came back as sent, 1 otherwise, 2 on a usage or setup error. */
#include <errno.h>
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <linux/vm_sockets.h>

#define HOST_CID 2
#define CHUNK 65536
#define PING_BYTES 64

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint8_t pattern(size_t i)
{
	return (uint8_t)(i * 131 + (i >> 9) + 7);
}

static int die(const char *what)
{
	fprintf(stderr, "pvm-io-echo: %s: %s\n", what, strerror(errno));
	return 2;
}

/* Send `len` bytes of out while reading as many back into in: both at once, or an echo peer
 * whose buffers are full would wait for us while we wait for it. */
static int duplex(int fd, const uint8_t *out, uint8_t *in, size_t len)
{
	size_t sent = 0, got = 0;

	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	while (got < len) {
		struct pollfd p = { .fd = fd, .events = POLLIN | (sent < len ? POLLOUT : 0) };
		ssize_t n;

		if (poll(&p, 1, 120000) <= 0)
			return errno = ETIMEDOUT, -1;
		if (sent < len && (p.revents & POLLOUT)) {
			n = send(fd, out + sent, len - sent > CHUNK ? CHUNK : len - sent,
				 MSG_NOSIGNAL);
			if (n < 0 && errno != EAGAIN)
				return -1;
			sent += n > 0 ? (size_t)n : 0;
		}
		if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
			n = recv(fd, in + got, len - got, 0);
			if (n == 0)
				return errno = ECONNRESET, -1;
			if (n < 0 && errno != EAGAIN)
				return -1;
			got += n > 0 ? (size_t)n : 0;
		}
	}
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
	return 0;
}

/* Echo everything until the peer's end; returns the bytes echoed, -1 on error. */
static long long echo(int fd)
{
	static uint8_t buf[CHUNK];
	long long total = 0;
	ssize_t n;

	while ((n = recv(fd, buf, sizeof(buf), 0)) > 0) {
		for (ssize_t off = 0; off < n;) {
			ssize_t w = send(fd, buf + off, (size_t)(n - off), MSG_NOSIGNAL);
			if (w <= 0)
				return -1;
			off += w;
		}
		total += n;
	}
	return n < 0 ? -1 : total;
}

static int vsock_listen_accept(unsigned port)
{
	struct sockaddr_vm sa = { .svm_family = AF_VSOCK,
				  .svm_cid = VMADDR_CID_ANY,
				  .svm_port = port };
	int l = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0), fd;

	if (l < 0 || bind(l, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(l, 1) < 0)
		return -1;
	fd = accept(l, NULL, NULL);
	close(l);
	return fd;
}

static int guest_serve(unsigned port, int wait_only)
{
	static uint8_t buf[CHUNK];
	int fd = vsock_listen_accept(port);
	long long n = 0;
	ssize_t k;

	if (fd < 0)
		return die("vsock accept");
	if (wait_only) {
		while ((k = recv(fd, buf, sizeof(buf), 0)) > 0)
			n += k;
	} else {
		n = echo(fd);
	}
	close(fd);
	printf("pvm-io: port %u: %s %lld bytes\n", port, wait_only ? "read" : "echoed", n);
	return n < 0;
}

/* Check an echo of `len` bytes and print the transfer's figures as `what`. */
static int echo_report(const char *what, const uint8_t *out, const uint8_t *in, size_t len,
		       double t)
{
	if (memcmp(out, in, len) != 0) {
		printf("pvm-io: %s: the echo of %zu bytes differs\n", what, len);
		return 1;
	}
	printf("pvm-io: %s: %zu bytes echoed intact in %.3f s (%.3f MB/s each way)\n", what, len, t,
	       (double)len / 1e6 / t);
	return 0;
}

/* Send `len` bytes of out, read their echo into in, time it and report it as `what`. */
static int echo_timed(int fd, const uint8_t *out, uint8_t *in, size_t len, const char *what)
{
	double t = now();

	if (duplex(fd, out, in, len) < 0)
		return die(what);
	return echo_report(what, out, in, len, now() - t);
}

static int guest_send(unsigned port, size_t bytes, const char *marker)
{
	struct sockaddr_vm sa = { .svm_family = AF_VSOCK, .svm_cid = HOST_CID, .svm_port = port };
	size_t mlen = strlen(marker), len = bytes + mlen;
	uint8_t *out = malloc(len), *in = malloc(len);
	int fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0), r;

	if (!out || !in || fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return die("vsock connect to the host");
	for (size_t i = 0; i < bytes; i++)
		out[i] = pattern(i);
	memcpy(out + bytes, marker, mlen); /* last, so it is the last thing in the window */
	r = echo_timed(fd, out, in, len, "guest->host");
	close(fd);
	return r;
}

/* Over the guest's network: the host's address may not be up yet when the guest gets here, so
 * a refused or unreachable connect is tried again, once a second for up to a minute. */
static int guest_tcp_send(const char *addr, unsigned port, size_t bytes)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	uint8_t *out = malloc(bytes), *in = malloc(bytes);
	int fd = -1, r;

	if (!out || !in || inet_pton(AF_INET, addr, &sa.sin_addr) != 1)
		return errno = EINVAL, die(addr);
	for (unsigned tries = 0; fd < 0 && tries < 60; tries++) {
		fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0)
			return die("socket");
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
			break;
		close(fd);
		fd = -1;
		sleep(1);
	}
	if (fd < 0)
		return die("TCP connect to the host");
	for (size_t i = 0; i < bytes; i++)
		out[i] = pattern(i);
	r = echo_timed(fd, out, in, bytes, "net");
	close(fd);
	return r;
}

static int unix_socket(const char *path, struct sockaddr_un *sa)
{
	*sa = (struct sockaddr_un){ .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof(sa->sun_path))
		return errno = ENAMETOOLONG, -1;
	strcpy(sa->sun_path, path);
	return socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
}

static int host_connect(const char *sock, unsigned port, size_t bytes, unsigned rounds)
{
	struct sockaddr_un sa;
	uint8_t *out = malloc(bytes), *in = malloc(bytes), ping[PING_BYTES], pong[PING_BYTES];
	char line[64];
	size_t n = 0;
	double rtt_sum = 0, rtt_min = 1e9, rtt_max = 0;
	int fd = unix_socket(sock, &sa);

	if (!out || !in || fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return die(sock);
	dprintf(fd, "CONNECT %u\n", port);
	/* "OK <host port>\n", read byte by byte: what follows is the guest's */
	while (n < sizeof(line) - 1 && read(fd, &line[n], 1) == 1 && line[n] != '\n')
		n++;
	line[n] = '\0';
	if (strncmp(line, "OK ", 3) != 0) {
		printf("pvm-io: CONNECT %u answered '%s'\n", port, line);
		return 1;
	}
	for (size_t i = 0; i < bytes; i++)
		out[i] = pattern(i);
	if (echo_timed(fd, out, in, bytes, "host->guest") != 0)
		return 1;
	for (unsigned r = 0; r < rounds; r++) {
		double t0 = now(), d;

		memset(ping, (int)r, sizeof(ping));
		if (duplex(fd, ping, pong, sizeof(ping)) < 0)
			return die("round trip");
		d = now() - t0;
		if (memcmp(ping, pong, sizeof(ping)) != 0) {
			printf("pvm-io: round trip %u came back different\n", r);
			return 1;
		}
		rtt_sum += d;
		rtt_min = d < rtt_min ? d : rtt_min;
		rtt_max = d > rtt_max ? d : rtt_max;
	}
	if (rounds)
		printf(
		    "pvm-io: %u round trips of %d bytes: mean %.2f ms, min %.2f ms, max %.2f ms\n",
		    rounds, PING_BYTES, rtt_sum / rounds * 1e3, rtt_min * 1e3, rtt_max * 1e3);
	shutdown(fd, SHUT_WR);
	while (read(fd, in, bytes) > 0) {
	}
	close(fd);
	return 0;
}

/* Echo one connection accepted on `l`, then report it; the caller prepared `l`. */
static int host_echo_one(int l, const char *what)
{
	long long n;
	double t;
	int fd;

	printf("pvm-io: listening on %s\n", what);
	fflush(stdout);
	fd = accept(l, NULL, NULL);
	if (fd < 0)
		return die("accept");
	t = now();
	n = echo(fd);
	t = now() - t;
	close(fd);
	close(l);
	printf("pvm-io: echoed %lld bytes for the guest in %.3f s\n", n, t);
	return n < 0;
}

static int host_echo(const char *sock)
{
	struct sockaddr_un sa;
	int l = unix_socket(sock, &sa), r;

	unlink(sock);
	if (l < 0 || bind(l, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(l, 1) < 0)
		return die(sock);
	/* the VM's runner runs as its own uid: let it connect */
	chmod(sock, 0666);
	r = host_echo_one(l, sock);
	unlink(sock);
	return r;
}

static int host_tcp_echo(unsigned port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_port = htons((uint16_t)port),
				  .sin_addr.s_addr = htonl(INADDR_ANY) };
	int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;

	if (l < 0 || setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(l, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(l, 1) < 0)
		return die("TCP listen");
	return host_echo_one(l, "TCP");
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc == 3 && strcmp(argv[1], "serve") == 0)
		return guest_serve((unsigned)atoi(argv[2]), 0);
	if (argc == 3 && strcmp(argv[1], "wait") == 0)
		return guest_serve((unsigned)atoi(argv[2]), 1);
	if (argc == 5 && strcmp(argv[1], "send") == 0)
		return guest_send((unsigned)atoi(argv[2]), strtoull(argv[3], NULL, 0), argv[4]);
	if (argc == 6 && strcmp(argv[1], "host-connect") == 0)
		return host_connect(argv[2], (unsigned)atoi(argv[3]), strtoull(argv[4], NULL, 0),
				    (unsigned)atoi(argv[5]));
	if (argc == 3 && strcmp(argv[1], "host-echo") == 0)
		return host_echo(argv[2]);
	if (argc == 5 && strcmp(argv[1], "tcp-send") == 0)
		return guest_tcp_send(argv[2], (unsigned)atoi(argv[3]), strtoull(argv[4], NULL, 0));
	if (argc == 3 && strcmp(argv[1], "tcp-echo") == 0)
		return host_tcp_echo((unsigned)atoi(argv[2]));
	fprintf(stderr, "usage: pvm-io-echo serve|wait PORT | send PORT BYTES MARKER |\n"
			"       host-connect SOCK PORT BYTES ROUNDS | host-echo SOCK |\n"
			"       tcp-send ADDR PORT BYTES | tcp-echo PORT\n");
	return 2;
}
