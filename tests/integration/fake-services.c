/* Stand-ins for system services pvmd talks to, on a private bus (there is no machined without
 * systemd as PID 1, and the test must not install polkit actions into the system):
 *   fake-services machined      owns org.freedesktop.machine1, prints each RegisterMachine,
 *                               CreateMachine (with its scope properties) and UnregisterMachine;
 *   fake-services polkit FILE   owns org.freedesktop.PolicyKit1, answers CheckAuthorization
 *                               from FILE ("yes"/"no", read per call) and prints each request.
 * One line per call on stdout, so a test can check what pvmd asked for. */
#include <errno.h>
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
	printf("%s name=%s id_len=%zu service=%s class=%s leader=%u root=%s",
	       sd_bus_message_get_member(m), name, id_len, service, class, leader, root);
	/* CreateMachine: the scope's properties, those of type s or t */
	if (sd_bus_message_has_signature(m, "sayssusa(sv)")) {
		r = sd_bus_message_enter_container(m, 'a', "(sv)");
		while (r > 0 && (r = sd_bus_message_enter_container(m, 'r', "sv")) > 0) {
			const char *prop, *contents, *sv;
			uint64_t tv;
			r = sd_bus_message_read(m, "s", &prop);
			if (r >= 0)
				r = sd_bus_message_peek_type(m, NULL, &contents);
			if (r >= 0 && strcmp(contents, "s") == 0 &&
			    (r = sd_bus_message_read(m, "v", "s", &sv)) >= 0)
				printf(" %s=%s", prop, sv);
			else if (r >= 0 && strcmp(contents, "t") == 0 &&
				 (r = sd_bus_message_read(m, "v", "t", &tv)) >= 0)
				printf(" %s=%llu", prop, (unsigned long long)tv);
			else if (r >= 0)
				r = sd_bus_message_skip(m, "v");
			if (r >= 0)
				r = sd_bus_message_exit_container(m);
		}
		if (r < 0)
			return r;
	}
	printf("\n");
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

static const sd_bus_vtable machined_vtable[] = {
	SD_BUS_VTABLE_START(0),
	SD_BUS_METHOD("RegisterMachine", "sayssus", "o", register_machine, 0),
	SD_BUS_METHOD("CreateMachine", "sayssusa(sv)", "o", register_machine, 0),
	SD_BUS_METHOD("UnregisterMachine", "s", "", unregister_machine, 0),
	SD_BUS_VTABLE_END,
};

static const char *answer_file;

static int check_authorization(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
	const char *kind, *key, *name = "", *action, *cancel;
	uint32_t flags;
	char answer[8] = "no";
	FILE *f;
	int r;

	r = sd_bus_message_enter_container(m, 'r', "sa{sv}");
	if (r >= 0)
		r = sd_bus_message_read(m, "s", &kind);
	if (r >= 0)
		r = sd_bus_message_enter_container(m, 'a', "{sv}");
	while (r >= 0 && (r = sd_bus_message_enter_container(m, 'e', "sv")) > 0) {
		r = sd_bus_message_read(m, "s", &key);
		if (r >= 0 && strcmp(key, "name") == 0)
			r = sd_bus_message_read(m, "v", "s", &name);
		else if (r >= 0)
			r = sd_bus_message_skip(m, "v");
		if (r >= 0)
			r = sd_bus_message_exit_container(m);
	}
	if (r >= 0)
		r = sd_bus_message_exit_container(m);
	if (r >= 0)
		r = sd_bus_message_exit_container(m);
	if (r >= 0)
		r = sd_bus_message_read(m, "s", &action);
	if (r >= 0)
		r = sd_bus_message_skip(m, "a{ss}");
	if (r >= 0)
		r = sd_bus_message_read(m, "us", &flags, &cancel);
	if (r < 0)
		return r;
	f = fopen(answer_file, "re");
	if (f) {
		if (!fgets(answer, sizeof(answer), f))
			answer[0] = '\0';
		fclose(f);
	}
	printf("CheckAuthorization kind=%s name=%s action=%s flags=%u -> %s\n", kind, name, action,
	       flags, strncmp(answer, "yes", 3) == 0 ? "yes" : "no");
	fflush(stdout);
	return sd_bus_reply_method_return(m, "(bba{ss})", strncmp(answer, "yes", 3) == 0, 0, 0);
}

static const sd_bus_vtable polkit_vtable[] = {
	SD_BUS_VTABLE_START(0),
	SD_BUS_METHOD("CheckAuthorization", "(sa{sv})sa{ss}us", "(bba{ss})", check_authorization,
		      0),
	SD_BUS_VTABLE_END,
};

typedef struct fake_service {
	const char *what, *bus_name, *path, *interface;
	const sd_bus_vtable *vtable;
} fake_service;

static const fake_service services[] = {
	{ "machined", "org.freedesktop.machine1", "/org/freedesktop/machine1",
	  "org.freedesktop.machine1.Manager", machined_vtable },
	{ "polkit", "org.freedesktop.PolicyKit1", "/org/freedesktop/PolicyKit1/Authority",
	  "org.freedesktop.PolicyKit1.Authority", polkit_vtable },
};

int main(int argc, char **argv)
{
	const fake_service *s = NULL;
	sd_bus *bus = NULL;
	int r;

	for (size_t i = 0; argc >= 2 && i < sizeof(services) / sizeof(services[0]); i++)
		if (strcmp(argv[1], services[i].what) == 0)
			s = &services[i];
	if (!s || (strcmp(s->what, "polkit") == 0) != (argc == 3)) {
		fprintf(stderr,
			"usage: fake-services machined | fake-services polkit ANSWER-FILE\n");
		return 2;
	}
	answer_file = argc == 3 ? argv[2] : NULL;
	r = sd_bus_open_system(&bus);
	if (r >= 0)
		r = sd_bus_add_object_vtable(bus, NULL, s->path, s->interface, s->vtable, NULL);
	if (r >= 0)
		r = sd_bus_request_name(bus, s->bus_name, 0);
	if (r < 0) {
		fprintf(stderr, "fake-services %s: %s\n", s->what, strerror(-r));
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
