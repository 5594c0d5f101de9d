/* pvmd decides only on credentials the bus vouches for: a field sd-bus filled in from /proc/PID
 * (SD_BUS_CREDS_AUGMENT, racy with pid reuse and setgid exec) counts as unknown, and without a
 * vouched uid there is no caller at all. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "check.h"
#include "pvmd.h"

/* Everything augmented: creds made from a pid are read from /proc. */
static void test_all_augmented(void)
{
	sd_bus_creds *creds = NULL;
	pvm_caller c = { 0 };
	/* the pid is the one given; everything else is read from /proc */
	uint64_t want = SD_BUS_CREDS_EUID | SD_BUS_CREDS_UID | SD_BUS_CREDS_GID |
			SD_BUS_CREDS_EGID | SD_BUS_CREDS_SUPPLEMENTARY_GIDS;
	int r;

	r = sd_bus_creds_new_from_pid(&creds, getpid(), want | SD_BUS_CREDS_PID);
	CHECK(r >= 0, "sd_bus_creds_new_from_pid: %d", r);
	if (r < 0)
		return;
	CHECK((sd_bus_creds_get_augmented_mask(creds) & want) == want,
	      "creds from a pid are augmented (mask %llx)",
	      (unsigned long long)sd_bus_creds_get_augmented_mask(creds));
	r = auth_caller_from_creds(creds, &c);
	CHECK(r == -ENODATA, "augmented uid accepted (r=%d uid=%u)", r, (unsigned)c.uid);
	sd_bus_creds_unref(creds);
}

/* The creds of the peer of a local connection: pid, effective uid and gid come from SO_PEERCRED
 * (the kernel vouches for them); the real uid and gid asked for in addition are augmented. */
static void test_mixed(void)
{
	char dir[] = "/tmp/test-pvmd-auth.XXXXXX", address[128];
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	sd_bus *bus = NULL;
	sd_bus_creds *creds = NULL;
	pvm_caller c = { 0 };
	int listener = -1, r;

	r = mkdtemp(dir) ? 0 : -errno;
	if (r >= 0) {
		snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/s", dir);
		snprintf(address, sizeof(address), "unix:path=%s", sa.sun_path);
		listener = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		r = listener >= 0 && bind(listener, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
			    listen(listener, 1) == 0
			? 0
			: -errno;
	}
	CHECK(r >= 0, "listening socket: %d", r);
	/* a unix: address is local, so sd-bus may augment; the kernel queues the connection */
	if (r >= 0)
		r = sd_bus_new(&bus);
	if (r >= 0)
		r = sd_bus_set_address(bus, address);
	if (r >= 0)
		r = sd_bus_start(bus);
	CHECK(r >= 0, "connect: %d", r);
	if (r >= 0)
		r = sd_bus_get_owner_creds(bus,
					   SD_BUS_CREDS_PID | SD_BUS_CREDS_EUID | SD_BUS_CREDS_UID |
					       SD_BUS_CREDS_GID | SD_BUS_CREDS_AUGMENT,
					   &creds);
	CHECK(r >= 0, "sd_bus_get_owner_creds: %d", r);
	if (r >= 0) {
		uint64_t aug = sd_bus_creds_get_augmented_mask(creds);

		CHECK(!(aug & (SD_BUS_CREDS_EUID | SD_BUS_CREDS_PID)),
		      "SO_PEERCRED fields augmented");
		CHECK((aug & SD_BUS_CREDS_GID) && (aug & SD_BUS_CREDS_UID),
		      "real uid and gid not augmented (augmented %llx)", (unsigned long long)aug);
		r = auth_caller_from_creds(creds, &c);
		CHECK(r == 0, "auth_caller_from_creds: %d", r);
		CHECK(c.uid == geteuid(), "uid %u", (unsigned)c.uid);
		CHECK(c.pid == getpid(), "pid %d", (int)c.pid);
		/* the real gid is there, but only from /proc: unknown, so no group rule matches */
		CHECK(c.gid == (gid_t)-1, "augmented gid %u used", (unsigned)c.gid);
		CHECK(c.n_groups == 0 && !c.unit, "augmented groups or unit used");
	}
	sd_bus_creds_unref(creds);
	sd_bus_close_unref(bus); /* no flush: the peer never answers the handshake */
	if (listener >= 0)
		close(listener);
	unlink(sa.sun_path);
	rmdir(dir);
}

int main(void)
{
	test_all_augmented();
	test_mixed();
	return check_exit("test-pvmd-auth");
}
