/* Contract: an x86 guest drives the runner's virtio-mmio devices through the shared window: it
 * reads a disk passed as an fd (the digest it prints matches the host's), writes a sector the
 * host then finds on the disk, and echoes 1 MiB over vsock both on a host-initiated connection
 * (<vm>.vsock, "CONNECT 1234" answered "OK <port>") and on one it opens itself to
 * <vm>.vsock_5000. A disk whose sha256 does not match stops the start. Hostile guests whose
 * ring or buffer lies outside the window end with protection-violation; the test process (the
 * host side) is unharmed and the next VM runs. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "engine-harness.h"

#define ECHO_BYTES (1u << 20)
#define GUEST_CID 7

static char dir[64] = "/tmp/pvm-virtio-test-XXXXXX";

static uint32_t fnv1a(const uint8_t *p, size_t n)
{
	uint32_t h = 2166136261u;
	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 16777619u;
	return h;
}

/* A 64 KiB disk: sector 0 a known pattern, the rest zero. */
static int make_disk(uint8_t sector0[512])
{
	char path[128];
	int fd;

	snprintf(path, sizeof(path), "%s/disk.img", dir);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	CHECK(fd >= 0);
	for (int i = 0; i < 512; i++)
		sector0[i] = (uint8_t)(i * 7 + 3);
	CHECK(ftruncate(fd, 64 * 1024) == 0);
	CHECK(pwrite(fd, sector0, 512, 0) == 512);
	unlink(path);
	return fd;
}

static void config_devices(engine_vm *t, bool vsock)
{
	t->cfg.n_disks = 1;
	t->cfg.disks[0] = (pvm_disk){ .id = "test-disk", .read_only = false };
	t->cfg.vsock = vsock;
	t->cfg.window_mib = 2;
}

static void create(engine_vm *t, int disk_fd)
{
	vm_instance_options o = {
		.disk_fds = &disk_fd,
		.n_disk_fds = 1,
		.vsock_cid = GUEST_CID,
		.vsock_dir = dir,
		.vsock_uid = 0,
		.vsock_gid = 0,
	};
	engine_vm_create(t, &o);
}

static int unix_listen(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%.100s", path);
	unlink(path);
	CHECK(fd >= 0);
	CHECK(bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
	/* the runner runs under its own uid: it must be able to connect */
	CHECK(chmod(path, 0666) == 0);
	CHECK(listen(fd, 4) == 0);
	return fd;
}

/* Send ECHO_BYTES and read them back on fd, running the VM's loop meanwhile. */
static void echo_round_trip(engine_vm *t, int fd, const char *what)
{
	static uint8_t out[ECHO_BYTES], in[ECHO_BYTES];
	size_t sent = 0, got = 0;
	uint64_t deadline = engine_now_msec() + 60000;

	for (size_t i = 0; i < sizeof(out); i++)
		out[i] = (uint8_t)(i * 131 + (i >> 12));
	CHECK(fcntl(fd, F_SETFL, O_NONBLOCK) == 0);
	while (got < sizeof(in)) {
		struct pollfd p = { .fd = fd,
				    .events = POLLIN | (sent < sizeof(out) ? POLLOUT : 0) };
		if (engine_now_msec() > deadline) {
			char m[128];
			snprintf(m, sizeof(m), "%s: echo stalled at %zu sent, %zu received", what,
				 sent, got);
			engine_fail_with_console(t, m);
		}
		CHECK(poll(&p, 1, 20) >= 0);
		if (p.revents & POLLOUT) {
			ssize_t n = write(fd, out + sent, sizeof(out) - sent);
			CHECK(n > 0 || errno == EAGAIN);
			if (n > 0)
				sent += (size_t)n;
		}
		if (p.revents & (POLLIN | POLLHUP)) {
			ssize_t n = read(fd, in + got, sizeof(in) - got);
			if (n == 0) {
				fprintf(stderr, "%s: closed after %zu bytes\n", what, got);
				exit(EXIT_FAILURE);
			}
			CHECK(n > 0 || errno == EAGAIN);
			if (n > 0)
				got += (size_t)n;
		}
		sd_event_run(t->event, 0);
	}
	CHECK(memcmp(in, out, sizeof(in)) == 0);
	printf("%s: 1 MiB echoed\n", what);
}

static void test_round_trip(void)
{
	uint8_t sector0[512], sector1[512], digest[32];
	char line[64], path[128];
	engine_vm t;
	int disk = make_disk(sector0), lfd, host, fd;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;

	/* the guest connects to host port 5000 once it is up */
	snprintf(path, sizeof(path), "%s/test-virtio-io.vsock_5000", dir);
	lfd = unix_listen(path);

	engine_vm_init(&t, "virtio-io", 16);
	config_devices(&t, true);
	{ /* a digest of the whole disk, checked by pvmd before boot */
		static uint8_t all[64 * 1024];
		CHECK(pread(disk, all, sizeof(all), 0) == sizeof(all));
		CHECK(EVP_Digest(all, sizeof(all), digest, NULL, EVP_sha256(), NULL) == 1);
		t.cfg.disks[0].has_sha256 = true;
		memcpy(t.cfg.disks[0].sha256, digest, sizeof(digest));
	}
	create(&t, disk);
	engine_vm_start(&t);
	snprintf(line, sizeof(line), "sector 0 fnv1a 0x%08x", fnv1a(sector0, 512));
	engine_expect_console(&t, line, 20000);
	engine_expect_console(&t, "sector 1 written", 10000);
	CHECK(pread(disk, sector1, 512, 512) == 512);
	for (int i = 0; i < 512; i++)
		CHECK(sector1[i] + sector0[i] == 255);
	engine_expect_console(&t, "vsock cid 7", 10000);

	/* the VM's host socket: the owner's, 0600 */
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/test-virtio-io.vsock", dir);
	CHECK(stat(sa.sun_path, &st) == 0 && (st.st_mode & 0777) == 0600);

	/* guest-initiated: the guest connected to port 5000 */
	CHECK(fcntl(lfd, F_SETFL, O_NONBLOCK) == 0);
	{
		uint64_t deadline = engine_now_msec() + 10000;
		while ((fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC)) < 0) {
			CHECK(errno == EAGAIN && engine_now_msec() < deadline);
			sd_event_run(t.event, 20 * 1000);
		}
	}
	engine_expect_console(&t, "vsock connected", 10000);
	echo_round_trip(&t, fd, "guest-initiated");
	close(fd);

	/* host-initiated: CONNECT 1234, then OK <port> */
	host = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	CHECK(connect(host, (struct sockaddr *)&sa, sizeof(sa)) == 0);
	CHECK(write(host, "CONNECT 1234\n", 13) == 13);
	{
		size_t n = 0;
		uint64_t deadline = engine_now_msec() + 10000;
		CHECK(fcntl(host, F_SETFL, O_NONBLOCK) == 0);
		while (n == 0 || line[n - 1] != '\n') {
			ssize_t k = read(host, line + n, 1);
			CHECK(k == 1 || (k < 0 && errno == EAGAIN));
			if (k == 1)
				n++;
			CHECK(n < sizeof(line) - 1 && engine_now_msec() < deadline);
			if (k < 0)
				sd_event_run(t.event, 20 * 1000);
		}
		line[n] = '\0';
		CHECK(strncmp(line, "OK ", 3) == 0);
	}
	echo_round_trip(&t, host, "host-initiated");
	close(host);

	CHECK(vm_instance_stop(t.vm, 5000 * 1000, NULL) >= 0);
	CHECK(engine_wait_ended(&t, 10000));
	engine_expect_end(&t, PVM_VM_STOPPED, PVM_DEATH_STOPPED);
	/* the socket goes with the run */
	CHECK(access(sa.sun_path, F_OK) < 0);
	engine_vm_done(&t);
	close(lfd);
	unlink(path);
	close(disk);
}

static void test_bad_digest(void)
{
	uint8_t sector0[512];
	engine_vm t;
	int disk = make_disk(sector0);

	engine_vm_init(&t, "virtio-io", 16);
	config_devices(&t, false);
	t.cfg.disks[0].has_sha256 = true; /* all zeros: not this disk's */
	create(&t, disk);
	engine_vm_start(&t);
	CHECK(engine_wait_ended(&t, 10000));
	engine_expect_end(&t, PVM_VM_FAILED, PVM_DEATH_START_FAILED);
	CHECK(strstr(vm_instance_message(t.vm), "SHA-256"));
	engine_vm_done(&t);
	close(disk);
}

static void test_hostile(const char *mode, const char *message)
{
	uint8_t sector0[512];
	engine_vm t;
	int disk = make_disk(sector0);

	engine_vm_init(&t, "virtio-io", 16);
	config_devices(&t, false);
	t.cfg.params = (char *)mode;
	create(&t, disk);
	engine_vm_start(&t);
	CHECK(engine_wait_ended(&t, 10000));
	engine_expect_end(&t, PVM_VM_FAILED, PVM_DEATH_PROTECTION_VIOLATION);
	if (!strstr(vm_instance_message(t.vm), message)) {
		fprintf(stderr, "%s: message \"%s\" lacks \"%s\"\n", mode,
			vm_instance_message(t.vm), message);
		exit(EXIT_FAILURE);
	}
	CHECK(!engine_console_has(&t, "FAIL"));
	engine_vm_done(&t);
	close(disk);
	printf("%s: ended with protection-violation\n", mode);
}

int main(void)
{
	engine_require_kvm();
	CHECK(mkdtemp(dir));
	CHECK(chmod(dir, 0755) == 0);
	test_hostile("ring-outside", "outside");
	test_hostile("buffer-outside", "outside");
	test_bad_digest();
	test_round_trip(); /* after the hostile guests: the host side still serves */
	rmdir(dir);
	printf("PASS\n");
	return 0;
}
