/* Many subscribers from one user: opens N connections to the system bus and calls
 * org.pvm1.Manager.Subscribe on each, printing "subscribed K" after the last that succeeded
 * and the D-Bus error of the first that failed, then holds every connection open until its
 * standard input ends, so a test decides when the subscriptions go away.
 * Usage: subscribe-many N */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <systemd/sd-bus.h>

#define MAX_CONNECTIONS 256

int main(int argc, char **argv)
{
	sd_bus *buses[MAX_CONNECTIONS] = { NULL };
	int n = argc == 2 ? atoi(argv[1]) : 0, ok = 0;
	char c;

	if (n < 1 || n > MAX_CONNECTIONS) {
		fprintf(stderr, "usage: subscribe-many N (1..%d)\n", MAX_CONNECTIONS);
		return 2;
	}
	for (int i = 0; i < n; i++) {
		sd_bus_error e = SD_BUS_ERROR_NULL;
		int r = sd_bus_open_system(&buses[i]);

		if (r >= 0)
			r = sd_bus_call_method(buses[i], "org.pvm1", "/org/pvm1",
					       "org.pvm1.Manager", "Subscribe", &e, NULL, "");
		if (r < 0) {
			printf("subscribed %d\n%s: %s\n", ok, e.name ?: "error",
			       e.message ?: strerror(-r));
			sd_bus_error_free(&e);
			break;
		}
		ok++;
	}
	if (ok == n)
		printf("subscribed %d\n", ok);
	fflush(stdout);
	while (read(STDIN_FILENO, &c, 1) > 0)
		;
	for (int i = 0; i < n; i++)
		sd_bus_flush_close_unref(buses[i]);
	return 0;
}
