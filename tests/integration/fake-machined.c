/* A stand-in for systemd-machined on a private bus (there is no machined without systemd as
 * PID 1): owns org.freedesktop.machine1 and prints each RegisterMachine and UnregisterMachine
 * call it receives, one line each, so a test can check what pvmd asked for. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include <systemd/sd-bus.h>

static int register_machine(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
	const char *name, *service, *class, *root;
	const void *id;
	size_t id_len;
	uint32_t leader;
	int r;

	r = sd_bus_message_read(m, "s", &name);
	if (r >= 0)
		r = sd_bus_message_read_array(m, 'y', &id, &id_len);
	if (r >= 0)
		r = sd_bus_message_read(m, "ssus", &service, &class, &leader, &root);
	if (r < 0)
		return r;
	printf("RegisterMachine name=%s id_len=%zu service=%s class=%s leader=%u root=%s\n", name,
	       id_len, service, class, leader, root);
	fflush(stdout);
	return sd_bus_reply_method_return(m, "o", "/org/freedesktop/machine1/machine/fake");
}

static int unregister_machine(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
	const char *name;
	int r = sd_bus_message_read(m, "s", &name);

	if (r < 0)
		return r;
	printf("UnregisterMachine name=%s\n", name);
	fflush(stdout);
	return sd_bus_reply_method_return(m, NULL);
}

static const sd_bus_vtable vtable[] = {
	SD_BUS_VTABLE_START(0),
	SD_BUS_METHOD("RegisterMachine", "sayssus", "o", register_machine, 0),
	SD_BUS_METHOD("UnregisterMachine", "s", "", unregister_machine, 0),
	SD_BUS_VTABLE_END,
};

int main(void)
{
	sd_bus *bus = NULL;
	int r;

	r = sd_bus_open_system(&bus);
	if (r >= 0)
		r = sd_bus_add_object_vtable(bus, NULL, "/org/freedesktop/machine1",
					     "org.freedesktop.machine1.Manager", vtable, NULL);
	if (r >= 0)
		r = sd_bus_request_name(bus, "org.freedesktop.machine1", 0);
	if (r < 0) {
		fprintf(stderr, "fake-machined: %s\n", strerror(-r));
		return 1;
	}
	printf("ready\n");
	fflush(stdout);
	for (;;) {
		r = sd_bus_process(bus, NULL);
		if (r < 0)
			return 1;
		if (r > 0)
			continue;
		r = sd_bus_wait(bus, UINT64_MAX);
		if (r < 0 && r != -EINTR)
			return 1;
	}
}
