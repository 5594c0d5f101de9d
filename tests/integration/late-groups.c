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

int main(int argc, char **argv)
{
	sd_bus_error e = SD_BUS_ERROR_NULL;
	sd_bus_message *reply = NULL;
	gid_t gids[16];
	size_t n = 0;
	const char *unique, *path;
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
		return 2;
	}
	if (setgroups(n, gids) < 0) {
		fprintf(stderr, "late-groups: setgroups: %m\n");
		return 2;
	}
	r = sd_bus_call_method(bus, "org.pvm1", "/org/pvm1", "org.pvm1.Manager", "GetVM", &e,
			       &reply, "s", argv[2]);
	if (r < 0) {
		printf("%s: %s\n", e.name ?: "error", e.message ?: strerror(-r));
		return 1;
	}
	if (sd_bus_message_read(reply, "o", &path) < 0)
		return 2;
	printf("%s\n", path);
	sd_bus_message_unref(reply);
	sd_bus_flush_close_unref(bus);
	return 0;
}
