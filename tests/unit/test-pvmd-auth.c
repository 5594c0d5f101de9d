/* pvmd decides only on credentials the bus vouches for: a field sd-bus filled in from /proc/PID
 * (SD_BUS_CREDS_AUGMENT, racy with pid reuse and setgid exec) counts as unknown, and without a
 * vouched uid there is no caller at all. Authorization itself is a function of the policy and the
 * caller alone (auth_decide_action), tested here without a bus or a manager. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "bus-client.h"
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

/* uid 1000 may stop (and so kill) its own VMs and inspect every VM; nothing else */
static const char policy_text[] =
    "{\"rules\": ["
    "{\"who\": {\"users\": [1000]}, \"actions\": [\"stop\"], \"vms\": [\"@own\"]},"
    "{\"who\": {\"users\": [1000]}, \"actions\": [\"inspect\"], \"vms\": [\"*\"]}]}";

static void test_decide_action(void)
{
	_cleanup_(pvm_policy_freep) pvm_policy *p = NULL;
	static const pvm_caller user = { .uid = 1000, .gid = 1000 },
				other = { .uid = 1001, .gid = 1001 };
	pvm_error err = { 0 };
	static const struct {
		const pvm_caller *caller;
		enum pvm_action action;
		const char *verb, *vm;
		uid_t owner;
		const char *denial; /* NULL: allowed */
	} cases[] = {
		{ &user, PVM_ACTION_STOP, NULL, "mine", 1000, NULL },
		{ &user, PVM_ACTION_STOP, "kill", "mine", 1000, NULL },
		{ &user, PVM_ACTION_INSPECT, NULL, "roots", 0, NULL },
		{ &user, PVM_ACTION_STOP, NULL, "roots", 0,
		  "Not allowed to stop VM 'roots' as uid 1000: " },
		/* a kill is decided by the stop rules but named as asked */
		{ &user, PVM_ACTION_STOP, "kill", "roots", 0,
		  "Not allowed to kill VM 'roots' as uid 1000: " },
		{ &user, PVM_ACTION_STOP, "remove", "roots", 0,
		  "Not allowed to remove VM 'roots' as uid 1000: " },
		{ &user, PVM_ACTION_ATTACH, NULL, "mine", 1000,
		  "Not allowed to attach VM 'mine' as uid 1000: " },
		{ &other, PVM_ACTION_INSPECT, NULL, "mine", 1000,
		  "Not allowed to inspect VM 'mine' as uid 1001: " },
	};
	int r;

	pvm_bus_error_map_register();
	r = pvm_policy_parse_text(policy_text, sizeof(policy_text) - 1, "test.json", &p, &err);
	CHECK(r >= 0, "policy: %s", err.message);
	if (r < 0)
		return;
	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		_cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
		r = auth_decide_action(p, cases[i].caller, cases[i].action, cases[i].verb,
				       cases[i].vm, cases[i].owner, &e);
		if (!cases[i].denial) {
			CHECK(r == 0 && !sd_bus_error_is_set(&e), "case %zu: denied: %s", i,
			      e.message ?: "");
			continue;
		}
		CHECK(r == -EACCES && sd_bus_error_has_name(&e, PVM_BUS_ERROR_POLICY_DENIED) &&
			  strncmp(e.message, cases[i].denial, strlen(cases[i].denial)) == 0,
		      "case %zu: r=%d %s: %s", i, r, e.name ?: "", e.message ?: "");
	}
}

/* uid 1000 may create VMs named "t*", one at a time; the limit is LimitExceeded, the rest
 * PolicyDenied */
static const char create_policy[] =
    "{\"rules\": [{\"who\": {\"users\": [1000]}, \"actions\": [\"create\"],"
    " \"vms\": [\"t*\"], \"limits\": {\"vms\": 1}}]}";

static void test_decide_create(void)
{
	_cleanup_(pvm_policy_freep) pvm_policy *p = NULL;
	_cleanup_(pvm_config_freep) pvm_config *cfg = NULL, *other = NULL;
	static const pvm_caller user = { .uid = 1000, .gid = 1000 }, nobody = { .uid = 65534 };
	static const char t1[] = "{\"name\": \"t1\", \"kernel\": \"/k\", \"protected\": false}";
	static const char x1[] = "{\"name\": \"x1\", \"kernel\": \"/k\", \"protected\": false}";
	const pvm_usage none = { 0 }, one = { .vms = 1, .vcpus = 1, .memory_mib = 64 };
	pvm_error err = { 0 };
	int r;

	pvm_bus_error_map_register();
	r = pvm_policy_parse_text(create_policy, sizeof(create_policy) - 1, "create.json", &p,
				  &err);
	if (r >= 0)
		r = pvm_config_parse(t1, sizeof(t1) - 1, "t1.json", false, &cfg, &err);
	if (r >= 0)
		r = pvm_config_parse(x1, sizeof(x1) - 1, "x1.json", false, &other, &err);
	CHECK(r >= 0, "setup: %s", err.message);
	if (r < 0)
		return;
	{
		_cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
		r = auth_decide_create(p, &user, cfg, NULL, NULL, &none, &none, NULL, &e);
		CHECK(r == 0, "first VM denied: %s", e.message ?: "");
	}
	{
		_cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
		r = auth_decide_create(p, &user, cfg, NULL, NULL, &one, &one, NULL, &e);
		CHECK(r < 0 && sd_bus_error_has_name(&e, PVM_BUS_ERROR_LIMIT_EXCEEDED) &&
			  strstr(e.message, "Cannot run VM 't1' as uid 1000"),
		      "second VM: r=%d %s", r, e.message ?: "");
	}
	{
		_cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
		r = auth_decide_create(p, &user, other, NULL, NULL, &none, &none, NULL, &e);
		CHECK(r == -EACCES && sd_bus_error_has_name(&e, PVM_BUS_ERROR_POLICY_DENIED) &&
			  strstr(e.message, "Not allowed to run VM 'x1' as uid 1000"),
		      "name outside the rule: r=%d %s", r, e.message ?: "");
	}
	{
		_cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
		r = auth_decide_create(p, &nobody, cfg, NULL, NULL, &none, &none, NULL, &e);
		CHECK(r == -EACCES && sd_bus_error_has_name(&e, PVM_BUS_ERROR_POLICY_DENIED),
		      "another user: r=%d %s", r, e.message ?: "");
	}
}

int main(void)
{
	test_all_augmented();
	test_mixed();
	test_decide_action();
	test_decide_create();
	return check_exit("test-pvmd-auth");
}
