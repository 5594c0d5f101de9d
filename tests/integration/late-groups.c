/* A caller whose groups change after it connected, as a setgid exec or a reused pid would change
 * them: it connects to the system bus, then sets its supplementary groups to GIDS (it needs
 * CAP_SETGID for that), then calls org.pvm1.Manager.GetVM NAME. Prints the object path, or the
 * D-Bus error's name and message and exits 1. pvmd must decide on what the bus saw at connect.
 * Usage: late-groups GID[,GID...]|none NAME */
#include <errno.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <systemd/sd-bus.h>

static int call_get_vm(sd_bus *bus, const char *name)
{
	sd_bus_error e = SD_BUS_ERROR_NULL;
	sd_bus_message *reply = NULL;
	const char *path;
	int r;

	r = sd_bus_call_method(bus, "org.pvm1", "/org/pvm1", "org.pvm1.Manager", "GetVM", &e,
			       &reply, "s", name);
	if (r < 0)
		printf("%s: %s\n", e.name ?: "error", e.message ?: strerror(-r));
	else if (sd_bus_message_read(reply, "o", &path) >= 0)
		printf("%s\n", path);
	else
		r = -EBADMSG;
	sd_bus_message_unref(reply);
	sd_bus_error_free(&e);
	return r < 0 ? 1 : 0;
}

int main(int argc, char **argv)
{
	gid_t gids[16];
	size_t n = 0;
	const char *unique;
	sd_bus *bus = NULL;
	int r;

	if (argc != 3) {
		fprintf(stderr, "usage: late-groups GID[,GID...]|none NAME\n");
		return 2;
	}
	if (strcmp(argv[1], "none") != 0)
		for (char *p = argv[1]; *p && n < 16; p++) {
			gids[n++] = (gid_t)strtoul(p, &p, 10);
			if (*p != ',')
				break;
		}
	r = sd_bus_open_system(&bus);
	if (r >= 0)
		r = sd_bus_get_unique_name(bus, &unique); /* connected and said Hello */
	if (r < 0) {
		fprintf(stderr, "late-groups: cannot connect: %s\n", strerror(-r));
		sd_bus_unref(bus);
		return 2;
	}
	if (setgroups(n, gids) < 0) {
		fprintf(stderr, "late-groups: setgroups: %m\n");
		sd_bus_flush_close_unref(bus);
		return 2;
	}
	r = call_get_vm(bus, argv[2]);
	sd_bus_flush_close_unref(bus);
	return r;
}
