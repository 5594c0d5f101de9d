/* The call storm: builds random well-typed and malformed calls for every member pvmd introspects
 * (both org.pvm1 interfaces, their properties, the standard interfaces), sends them in a window
 * of asynchronous calls, and checks every answer against org.pvm1(5): documented error names
 * only, no System.Error, read-only properties, no alias object paths, and pvmd answering a
 * second connection within 1 s even while a caller holds a stalling fd. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <systemd/sd-bus.h>

#include "bus-client.h"
#include "macro.h"
#include "rel-fds.h"
#include "rel-storm.h"

#define MEMBERS_MAX 96
#define PATHS_MAX 256
#define CALL_TIMEOUT_USEC (30 * 1000 * 1000ULL)
#define PROBE_TIMEOUT_USEC (1000 * 1000ULL)
#define PROBE_EVERY 250
#define STALLING_IN_FLIGHT_MAX 3
#define EXAMPLES_MAX 40

DEFINE_TRIVIAL_CLEANUP_FUNC(FILE *, fclose)

typedef struct member {
	char kind; /* 'M' method, 'P' property */
	char iface[64];
	char name[64];
	char sig[128];	/* in-signature of a method, type of a property */
	char args[256]; /* argument names, comma-separated */
} member;

/* What the answer to a call may be. */
typedef enum expect {
	EXPECT_MANAGER_METHOD, /* only org.pvm1.Error.* */
	EXPECT_VM_METHOD,      /* org.pvm1.Error.* or no such object */
	EXPECT_ANY_ERROR,      /* standard or pvm errors; success allowed */
	EXPECT_FAILURE,	       /* must fail, with a standard or pvm error */
} expect;

typedef struct storm {
	const rel_storm_options *o;
	sd_bus *bus, *probe_bus;
	member members[MEMBERS_MAX];
	size_t n_members;
	char *vm_paths[PATHS_MAX];
	size_t n_vm_paths;
	char *bad_paths[PATHS_MAX]; /* aliases and garbage: no VM may answer there */
	size_t n_bad_paths;
	uint64_t rng;
	unsigned in_flight, stalling_in_flight;
	unsigned sent, replies, ok, wellformed, malformed, fd_calls, probes, stalls, no_reply;
	unsigned violations;
	uint64_t probe_max_usec;
	json_object *errors, *fd_kinds, *examples, *violation_kinds;
} storm;

typedef struct call {
	storm *s;
	expect e;
	bool stalling;
	int held;
	char label[256];
} call;

/* ---- randomness: our own generator, so a seed replays a run ---- */

static uint64_t rnd(storm *s)
{
	s->rng ^= s->rng << 13;
	s->rng ^= s->rng >> 7;
	s->rng ^= s->rng << 17;
	return s->rng;
}

static unsigned pick(storm *s, unsigned n)
{
	return n ? (unsigned)(rnd(s) % n) : 0;
}

static void count_in(json_object *counts, const char *key)
{
	json_object *n = NULL;

	json_object_object_get_ex(counts, key, &n);
	json_object_object_add(counts, key,
			       json_object_new_int(n ? json_object_get_int(n) + 1 : 1));
}

/* ---- the member table: introspected once as root, read by every storm ---- */

static int load_members(storm *s, const char *file)
{
	_cleanup_(fclosep) FILE *f = fopen(file, "re");
	char line[1024];

	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f) && s->n_members < MEMBERS_MAX) {
		member *m = &s->members[s->n_members];
		char sig[128], args[256] = "";

		if (sscanf(line, "%c %63s %63s %127s %255s", &m->kind, m->iface, m->name, sig,
			   args) < 4)
			continue;
		snprintf(m->sig, sizeof(m->sig), "%s", strcmp(sig, "-") == 0 ? "" : sig);
		snprintf(m->args, sizeof(m->args), "%s", strcmp(args, "-") == 0 ? "" : args);
		s->n_members++;
	}
	return s->n_members > 0 ? 0 : -ENODATA;
}

static const member *pick_member(storm *s, char kind)
{
	for (unsigned tries = 0; tries < 1000; tries++) {
		const member *m = &s->members[pick(s, (unsigned)s->n_members)];
		if (m->kind == kind)
			return m;
	}
	return NULL;
}

/* ---- object paths: the VMs by their canonical path, and paths that must not resolve ---- */

static void add_path(char **paths, size_t *n, char *p)
{
	if (p && *n < PATHS_MAX)
		paths[(*n)++] = p;
	else
		free(p);
}

static void add_name_paths(storm *s, const char *name)
{
	_cleanup_free_ char *canonical = NULL;
	char *p;

	if (sd_bus_path_encode(PVM_BUS_VM_PREFIX, name, &canonical) < 0)
		return;
	add_path(s->vm_paths, &s->n_vm_paths, strdup(canonical));
	/* aliases: the first character escaped (upper and lower case hex), a trailing NUL */
	if (asprintf(&p, "%s/_%02X%s", PVM_BUS_VM_PREFIX, (unsigned char)name[0],
		     canonical + strlen(PVM_BUS_VM_PREFIX) + 2) >= 0)
		add_path(s->bad_paths, &s->n_bad_paths, p);
	if (asprintf(&p, "%s/_%02x%s", PVM_BUS_VM_PREFIX, (unsigned char)name[0],
		     canonical + strlen(PVM_BUS_VM_PREFIX) + 2) >= 0)
		add_path(s->bad_paths, &s->n_bad_paths, p);
	if (asprintf(&p, "%s_00", canonical) >= 0)
		add_path(s->bad_paths, &s->n_bad_paths, p);
}

static const char *const garbage_paths[] = {
	"/",
	"/org",
	"/org/pvm1/vm",
	"/org/pvm1/vm/_",
	"/org/pvm1/vm/a/b",
	"/org/pvm1/vmx",
	"/org/pvm1/vm/_2e_2e",
	"/org/pvm1/vm/_2f",
	"/org/pvm1/vm/_00",
	"/org/pvm1/vm/_zz",
};

/* ---- values ---- */

static const char *const odd_strings[] = {
	"",
	"nope",
	"../etc/passwd",
	"a/b",
	"-x",
	".hidden",
	"_",
	"x y",
	"%s%n%x",
	"/org/pvm1",
	"*",
	"@own",
	"\t\n",
	"\xc3\xa9t\xc3\xa9",
	"/proc/self/mem",
	"/etc/shadow",
	"/dev/zero",
	"{",
	"null",
	"[]",
	"{\"name\": 1}",
};

static char *long_string(storm *s)
{
	size_t len = pick(s, 2) ? 65 + pick(s, 300) : 70000;
	char *p = malloc(len + 1);

	if (!p)
		return NULL;
	memset(p, "aZ9._-"[pick(s, 6)], len);
	p[len] = '\0';
	return p;
}

static char *mutated_config(storm *s)
{
	char *c;
	size_t len;

	if (s->o->n_configs == 0)
		return strdup("{}");
	c = strdup(s->o->configs[pick(s, (unsigned)s->o->n_configs)]);
	if (!c)
		return NULL;
	len = strlen(c);
	for (unsigned n = 1 + pick(s, 4); n > 0 && len > 0; n--) {
		size_t at = pick(s, (unsigned)len);
		switch (pick(s, 4)) {
		case 0:
			c[at] = '\0'; /* truncated */
			len = at;
			break;
		case 1:
			c[at] = (char)(' ' + pick(s, 95)); /* a printable byte changed */
			break;
		case 2:
			c[at] = "{}[]\":,0-9e"[pick(s, 11)]; /* JSON punctuation */
			break;
		default:
			c[at] = '9'; /* numbers grow */
			break;
		}
	}
	return c;
}

static char *pick_name(storm *s)
{
	char *p = NULL;

	if (s->o->n_names > 0 && pick(s, 3) > 0)
		return strdup(s->o->names[pick(s, (unsigned)s->o->n_names)]);
	if (asprintf(&p, "rel-fz-%u", pick(s, 8)) < 0)
		return NULL;
	return p;
}

/* A string for an argument of that name: names for "name", configs for "config". */
static char *pick_string(storm *s, const char *arg)
{
	unsigned r = pick(s, 100);
	bool config = arg && strstr(arg, "config");
	bool name = arg && strcmp(arg, "name") == 0;

	if ((name && r < 70) || (!config && r < 35))
		return pick_name(s);
	if (config && r < 45 && s->o->n_configs > 0)
		return strdup(s->o->configs[pick(s, (unsigned)s->o->n_configs)]);
	if (config && r < 75)
		return mutated_config(s);
	if (r < 92)
		return strdup(odd_strings[pick(s, ELEMENTSOF(odd_strings))]);
	return long_string(s);
}

static const char *pick_path(storm *s)
{
	unsigned r = pick(s, 10);

	if (r < 6 && s->n_vm_paths > 0)
		return s->vm_paths[pick(s, (unsigned)s->n_vm_paths)];
	if (r < 8 && s->n_bad_paths > 0)
		return s->bad_paths[pick(s, (unsigned)s->n_bad_paths)];
	return garbage_paths[pick(s, ELEMENTSOF(garbage_paths))];
}

static int append_value(storm *s, sd_bus_message *m, const char **sig, const char *arg, call *c,
			int fd_kind, unsigned depth);

/* path is one of the canonical VM paths (pick_path hands out the table's own pointers) */
static bool is_vm_path(storm *s, const char *path)
{
	for (size_t i = 0; i < s->n_vm_paths; i++)
		if (s->vm_paths[i] == path)
			return true;
	return false;
}

static size_t complete_type_len(const char *sig)
{
	char open, close;
	int level = 0;
	size_t i;

	if (*sig == 'a')
		return 1 + complete_type_len(sig + 1);
	if (*sig != '(' && *sig != '{')
		return *sig ? 1 : 0;
	open = *sig;
	close = open == '(' ? ')' : '}';
	for (i = 0; sig[i]; i++) {
		level += sig[i] == open;
		level -= sig[i] == close;
		if (level == 0)
			return i + 1;
	}
	return i;
}

/* One fd of a kind (random when fd_kind < 0); the call keeps a held peer until the answer. */
static int append_fd(storm *s, sd_bus_message *m, call *c, int fd_kind)
{
	const char *config =
	    s->o->n_configs ? s->o->configs[pick(s, (unsigned)s->o->n_configs)] : "{}";
	const rel_fd_kind *k;
	rel_fd f = { -1, -1, false };
	int r;

	for (unsigned tries = 0;; tries++) {
		k = &rel_fd_kinds[fd_kind >= 0 ? (unsigned)fd_kind
					       : pick(s, (unsigned)rel_fd_kinds_count)];
		/* a few slow calls at a time; and one held peer per call */
		if (fd_kind >= 0 || tries > 100 ||
		    (!(k->stalling && s->stalling_in_flight >= STALLING_IN_FLIGHT_MAX) &&
		     !(k->stalling && c->stalling)))
			break;
	}
	r = rel_fd_open(k, config, s->o->tmp_dir, &f);
	if (r < 0)
		r = rel_fd_open(&rel_fd_kinds[0], config, s->o->tmp_dir, &f);
	if (r < 0)
		return r;
	r = sd_bus_message_append_basic(m, 'h', &f.fd); /* sd-bus sends a duplicate */
	closep(&f.fd);
	if (r < 0) {
		closep(&f.held);
		return r;
	}
	if (f.held >= 0 && c->held < 0)
		c->held = TAKE_FD(f.held);
	closep(&f.held);
	if (f.stalling && !c->stalling) {
		c->stalling = true;
		s->stalling_in_flight++;
	}
	s->fd_calls++;
	count_in(s->fd_kinds, k->name);
	snprintf(c->label + strlen(c->label), sizeof(c->label) - strlen(c->label), " [fd %s]",
		 k->name);
	return 0;
}

static const char *const option_keys[] = {
	"name",	     "start",	  "tie",     "kernel", "initrd",
	"kernel_fd", "initrd_fd", "cmdline", "bogus",  "",
};
static const char *const variant_types[] = {
	"s", "b", "h", "u", "t", "i", "as", "ay", "a{sv}", "(ss)", "o", "g", "d", "y",
};

static const char *natural_option_type(const char *key)
{
	if (strcmp(key, "start") == 0 || strcmp(key, "tie") == 0)
		return "b";
	if (strstr(key, "_fd"))
		return "h";
	return "s";
}

/* a{sv} options: mostly known keys of their own type, sometimes anything */
static int append_options(storm *s, sd_bus_message *m, call *c, int fd_kind, unsigned depth)
{
	int r = sd_bus_message_open_container(m, 'a', "{sv}");
	unsigned n = fd_kind >= 0 ? 0 : pick(s, 4);

	for (unsigned i = 0; r >= 0 && i < n; i++) {
		const char *key = option_keys[pick(s, ELEMENTSOF(option_keys))];
		const char *type = pick(s, 10) < 7
				       ? natural_option_type(key)
				       : variant_types[pick(s, ELEMENTSOF(variant_types))];
		const char *t = type;

		r = sd_bus_message_open_container(m, 'e', "sv");
		if (r >= 0)
			r = sd_bus_message_append_basic(m, 's', key);
		if (r >= 0)
			r = sd_bus_message_open_container(m, 'v', type);
		if (r >= 0)
			r = append_value(s, m, &t, key, c, -1, depth + 1);
		if (r >= 0)
			r = sd_bus_message_close_container(m);
		if (r >= 0)
			r = sd_bus_message_close_container(m);
	}
	return r < 0 ? r : sd_bus_message_close_container(m);
}

static int append_basic(storm *s, sd_bus_message *m, char t, const char *arg, call *c, int fd_kind)
{
	static const uint64_t edges[] = { 0,	      1,	  2,	      1000000,
					  0x7fffffff, 0xffffffff, UINT64_MAX, UINT64_MAX / 2 };
	uint64_t v = pick(s, 2) ? edges[pick(s, ELEMENTSOF(edges))] : rnd(s);
	_cleanup_free_ char *str = NULL;
	union {
		uint8_t y;
		int16_t n;
		uint16_t q;
		int32_t i;
		uint32_t u;
		int64_t x;
		uint64_t t;
		double d;
		int b;
	} u = { .t = v };

	switch (t) {
	case 's':
		str = pick_string(s, arg);
		return str ? sd_bus_message_append_basic(m, 's', str) : -ENOMEM;
	case 'o':
		return sd_bus_message_append_basic(m, 'o', pick_path(s));
	case 'g':
		return sd_bus_message_append_basic(m, 'g', pick(s, 2) ? "s" : "a{sv}");
	case 'h':
		return append_fd(s, m, c, fd_kind);
	case 'b':
		u.b = (int)(v & 1);
		return sd_bus_message_append_basic(m, 'b', &u.b);
	case 'd':
		u.d = (double)(int64_t)v / 3.0;
		return sd_bus_message_append_basic(m, 'd', &u.d);
	case 'y':
		u.y = (uint8_t)v;
		return sd_bus_message_append_basic(m, 'y', &u.y);
	case 'n':
	case 'q':
		u.q = (uint16_t)v;
		return sd_bus_message_append_basic(m, t, &u.q);
	case 'i':
	case 'u':
		u.u = (uint32_t)v;
		return sd_bus_message_append_basic(m, t, &u.u);
	default:
		return sd_bus_message_append_basic(m, t, &u.t);
	}
}

/* Appends one complete type of *sig (and advances it), with random contents. */
static int append_value(storm *s, sd_bus_message *m, const char **sig, const char *arg, call *c,
			int fd_kind, unsigned depth)
{
	size_t len = complete_type_len(*sig);
	char type[128];
	int r = 0;

	if (len == 0 || len >= sizeof(type))
		return -EINVAL;
	memcpy(type, *sig, len);
	type[len] = '\0';
	*sig += len;

	if (strcmp(type, "a{sv}") == 0)
		return append_options(s, m, c, fd_kind, depth);
	if (type[0] == 'a') {
		unsigned n = depth > 2 ? 0 : pick(s, 4);
		bool dict = type[1] == '{';
		char inner[128];

		snprintf(inner, sizeof(inner), "%.*s", dict ? (int)(len - 3) : (int)(len - 1),
			 type + (dict ? 2 : 1));
		r = sd_bus_message_open_container(m, 'a', type + 1);
		for (unsigned i = 0; r >= 0 && i < n; i++) {
			const char *e = inner;
			if (dict)
				r = sd_bus_message_open_container(m, 'e', inner);
			while (r >= 0 && *e)
				r = append_value(s, m, &e, arg, c, -1, depth + 1);
			if (r >= 0 && dict)
				r = sd_bus_message_close_container(m);
		}
		return r < 0 ? r : sd_bus_message_close_container(m);
	}
	if (type[0] == '(') {
		char inner[128];
		const char *e = inner;

		snprintf(inner, sizeof(inner), "%.*s", (int)(len - 2), type + 1);
		r = sd_bus_message_open_container(m, 'r', inner);
		while (r >= 0 && *e)
			r = append_value(s, m, &e, arg, c, -1, depth + 1);
		return r < 0 ? r : sd_bus_message_close_container(m);
	}
	if (type[0] == 'v') {
		const char *vt =
		    depth > 2 ? "s" : variant_types[pick(s, ELEMENTSOF(variant_types))];
		const char *t = vt;

		r = sd_bus_message_open_container(m, 'v', vt);
		if (r >= 0)
			r = append_value(s, m, &t, arg, c, -1, depth + 1);
		return r < 0 ? r : sd_bus_message_close_container(m);
	}
	return append_basic(s, m, type[0], arg, c, fd_kind);
}

/* Appends arguments for sig; argument names (comma-separated) steer the strings. */
static int append_args(storm *s, sd_bus_message *m, const char *sig, const char *args, call *c,
		       int fd_kind)
{
	const char *p = sig;
	const char *a = args;
	int r = 0;

	while (r >= 0 && *p) {
		char arg[64] = "";
		size_t n = strcspn(a, ",");
		snprintf(arg, sizeof(arg), "%.*s", (int)MIN(n, sizeof(arg) - 1), a);
		a += n + (a[n] == ',');
		r = append_value(s, m, &p, arg, c, fd_kind, 0);
	}
	return r;
}

/* A signature that is not the member's: one argument dropped, one added, or others. */
static void mutate_signature(storm *s, const char *sig, char *out, size_t size)
{
	static const char basics[] = "sbhutiyxdoag";
	size_t len = strlen(sig);
	char t[2] = { basics[pick(s, sizeof(basics) - 2)], '\0' };

	switch (pick(s, 4)) {
	case 0:
		if (len > 0) {
			snprintf(out, size, "%.*s", (int)(len - complete_type_len(sig)),
				 sig + complete_type_len(sig));
			break;
		}
		__attribute__((fallthrough)); /* an empty signature: append instead */
	case 1:
		snprintf(out, size, "%s%s", sig, t[0] == 'a' ? "as" : t);
		break;
	case 2:
		snprintf(out, size, "%s%s", t[0] == 'a' ? "ay" : t, sig);
		break;
	default:
		snprintf(out, size, "%s", variant_types[pick(s, ELEMENTSOF(variant_types))]);
		break;
	}
	if (strcmp(out, sig) == 0)
		snprintf(out, size, "%sss", sig);
}

/* ---- answers ---- */

static bool is_pvm_error(const char *name)
{
	for (const sd_bus_error_map *e = pvm_bus_error_map; e->name; e++)
		if (strcmp(e->name, name) == 0)
			return true;
	return false;
}

static bool is_no_object(const char *name)
{
	return sd_bus_error_has_names(&SD_BUS_ERROR_MAKE_CONST(name, NULL),
				      SD_BUS_ERROR_UNKNOWN_OBJECT, SD_BUS_ERROR_UNKNOWN_METHOD,
				      SD_BUS_ERROR_UNKNOWN_INTERFACE);
}

static void violation(storm *s, const char *label, const char *what, const char *detail)
{
	char line[768];

	s->violations++;
	count_in(s->violation_kinds, what);
	snprintf(line, sizeof(line), "%s: %s%s%s", label, what, detail ? ": " : "", detail ?: "");
	fprintf(stderr, "VIOLATION %s\n", line);
	if (json_object_array_length(s->examples) < EXAMPLES_MAX)
		json_object_array_add(s->examples, json_object_new_string(line));
}

/* Why an answer breaks the contract, or NULL if it keeps it. */
static const char *check_answer(expect e, const sd_bus_error *err)
{
	if (!err || !sd_bus_error_is_set(err))
		return e == EXPECT_FAILURE ? "accepted, must be refused" : NULL;
	if (sd_bus_error_has_names(err, SD_BUS_ERROR_NO_REPLY, SD_BUS_ERROR_TIMEOUT,
				   SD_BUS_ERROR_DISCONNECTED))
		return "no answer";
	if (strncmp(err->name, "System.Error.", 13) == 0)
		return "a raw errno, not a documented error name";
	switch (e) {
	case EXPECT_MANAGER_METHOD:
		return is_pvm_error(err->name) ? NULL : "an error name org.pvm1(5) does not list";
	case EXPECT_VM_METHOD:
		return is_pvm_error(err->name) || is_no_object(err->name)
			   ? NULL
			   : "an error name org.pvm1(5) does not list";
	default:
		return NULL;
	}
}

static void call_done(call *c)
{
	storm *s = c->s;

	s->in_flight--;
	if (c->stalling)
		s->stalling_in_flight--;
	closep(&c->held);
	free(c);
}

static int on_reply(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error)
{
	call *c = userdata;
	storm *s = c->s;
	const sd_bus_error *err = sd_bus_message_get_error(reply);
	const char *why;

	s->replies++;
	if (err && sd_bus_error_is_set(err))
		count_in(s->errors, err->name);
	else
		s->ok++;
	if (err && sd_bus_error_has_names(err, SD_BUS_ERROR_NO_REPLY, SD_BUS_ERROR_TIMEOUT))
		s->no_reply++;
	why = check_answer(c->e, err);
	if (why)
		violation(s, c->label, why, err && sd_bus_error_is_set(err) ? err->name : NULL);
	call_done(c);
	return 0;
}

/* pvmd answers ListVMs on another connection within PROBE_TIMEOUT_USEC */
static int probe(storm *s, const char *context)
{
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
	_cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
	struct timespec a, b;
	uint64_t usec;
	int r;

	r = sd_bus_message_new_method_call(s->probe_bus, &m, PVM_BUS_NAME, PVM_BUS_PATH,
					   PVM_BUS_MANAGER_IFACE, "ListVMs");
	if (r < 0)
		return r;
	clock_gettime(CLOCK_MONOTONIC, &a);
	r = sd_bus_call(s->probe_bus, m, PROBE_TIMEOUT_USEC, &e, &reply);
	clock_gettime(CLOCK_MONOTONIC, &b);
	usec = (uint64_t)(b.tv_sec - a.tv_sec) * 1000000ULL +
	       (uint64_t)((b.tv_nsec - a.tv_nsec) / 1000);
	s->probes++;
	s->probe_max_usec = MAX(s->probe_max_usec, usec);
	if (r < 0) {
		s->stalls++;
		violation(s, context,
			  "pvmd did not answer ListVMs on another connection within 1 s",
			  e.name ?: strerror(-r));
		return -ETIMEDOUT;
	}
	return 0;
}

static int pump(storm *s, uint64_t wait_usec)
{
	int r = sd_bus_process(s->bus, NULL);

	if (r < 0)
		return r;
	if (r == 0)
		r = sd_bus_wait(s->bus, wait_usec);
	return r < 0 && r != -EINTR ? r : 0;
}

static call *call_new(storm *s, expect e)
{
	call *c = calloc(1, sizeof(*c));

	if (c)
		*c = (call){ .s = s, .e = e, .held = -1 };
	return c;
}

static int send_call(storm *s, sd_bus_message *m, call *c)
{
	int r = sd_bus_call_async(s->bus, NULL, m, on_reply, c, CALL_TIMEOUT_USEC);

	if (r < 0) {
		if (c->stalling)
			s->stalling_in_flight--;
		closep(&c->held);
		free(c);
		return r;
	}
	s->in_flight++;
	s->sent++;
	return 0;
}

/* One random call; ret_call is left to the caller when it has a held fd worth a probe. */
static int build_random(storm *s, sd_bus_message **ret, call **ret_call)
{
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
	unsigned r = pick(s, 100);
	const member *mb;
	const char *path, *iface, *name, *sig, *args = "";
	char mutated[128];
	expect e;
	call *c;
	int k;

	if (r < 55 || r >= 85) {
		mb = pick_member(s, 'M');
		if (!mb)
			return -ENODATA;
		bool manager = strcmp(mb->iface, PVM_BUS_MANAGER_IFACE) == 0;
		path = manager ? PVM_BUS_PATH : pick_path(s);
		iface = mb->iface;
		name = mb->name;
		sig = mb->sig;
		args = mb->args;
		e = manager ? EXPECT_MANAGER_METHOD : EXPECT_VM_METHOD;
		/* an alias or garbage path names no VM: nothing may act there */
		if (!manager && !is_vm_path(s, path))
			e = EXPECT_FAILURE;
		if (r >= 85) {
			switch (pick(s, 4)) {
			case 0:
				name = "NoSuchMember";
				break;
			case 1:
				iface = manager ? PVM_BUS_VM_IFACE : PVM_BUS_MANAGER_IFACE;
				break;
			default:
				mutate_signature(s, mb->sig, mutated, sizeof(mutated));
				sig = mutated;
				break;
			}
			e = EXPECT_FAILURE;
			s->malformed++;
		} else
			s->wellformed++;
	} else if (r < 80) {
		static const char *const ops[] = { "Get", "Get", "GetAll", "Set" };
		const char *op = ops[pick(s, ELEMENTSOF(ops))];

		mb = pick_member(s, 'P');
		if (!mb)
			return -ENODATA;
		bool manager = strcmp(mb->iface, PVM_BUS_MANAGER_IFACE) == 0;
		path = manager ? PVM_BUS_PATH : pick_path(s);
		k = sd_bus_message_new_method_call(s->bus, &m, PVM_BUS_NAME, path,
						   "org.freedesktop.DBus.Properties", op);
		if (k < 0)
			return k;
		c = call_new(s, strcmp(op, "Set") == 0 || (!manager && !is_vm_path(s, path))
				    ? EXPECT_FAILURE
				    : EXPECT_ANY_ERROR);
		if (!c)
			return -ENOMEM;
		snprintf(c->label, sizeof(c->label), "Properties.%s %.40s.%.40s on %.100s", op,
			 mb->iface, mb->name, path);
		k = sd_bus_message_append_basic(m, 's', pick(s, 10) ? mb->iface : "org.pvm1.Nope");
		if (k >= 0 && strcmp(op, "GetAll") != 0)
			k = sd_bus_message_append_basic(m, 's', pick(s, 10) ? mb->name : "Nope");
		if (k >= 0 && strcmp(op, "Set") == 0) {
			const char *t = pick(s, 2) ? mb->sig : "v";
			k = sd_bus_message_open_container(m, 'v', t[0] == 'v' ? "s" : t);
			t = t[0] == 'v' ? "s" : t;
			if (k >= 0)
				k = append_value(s, m, &t, mb->name, c, -1, 1);
			if (k >= 0)
				k = sd_bus_message_close_container(m);
		}
		if (k < 0) {
			free(c);
			return k;
		}
		s->wellformed++;
		*ret = TAKE_PTR(m);
		*ret_call = c;
		return 0;
	} else {
		static const char *const std[][3] = {
			{ "org.freedesktop.DBus.Introspectable", "Introspect", "" },
			{ "org.freedesktop.DBus.Peer", "Ping", "" },
			{ "org.freedesktop.DBus.Peer", "GetMachineId", "" },
			{ "org.freedesktop.DBus.ObjectManager", "GetManagedObjects", "" },
		};
		unsigned i = pick(s, ELEMENTSOF(std));
		path = pick(s, 2) ? PVM_BUS_PATH : pick_path(s);
		iface = std[i][0];
		name = std[i][1];
		sig = std[i][2];
		e = EXPECT_ANY_ERROR;
		s->wellformed++;
	}

	k = sd_bus_message_new_method_call(s->bus, &m, PVM_BUS_NAME, path, iface, name);
	if (k < 0)
		return k;
	c = call_new(s, e);
	if (!c)
		return -ENOMEM;
	snprintf(c->label, sizeof(c->label), "%.40s.%.40s(%.40s) on %.100s", iface, name, sig,
		 path);
	k = append_args(s, m, sig, args, c, -1);
	if (k < 0) {
		if (c->stalling)
			s->stalling_in_flight--;
		closep(&c->held);
		free(c);
		return k;
	}
	*ret = TAKE_PTR(m);
	*ret_call = c;
	return 0;
}

/* Sends the call; if it carries a held peer, probes pvmd from the other connection while the
 * peer is still open (a caller's fd never stops pvmd serving others). */
static int send_and_probe(storm *s, sd_bus_message *m, call *c)
{
	char context[320];
	bool held = c->held >= 0;
	int r;

	snprintf(context, sizeof(context), "%.256s while the caller holds its peer", c->label);
	r = send_call(s, m, c);
	if (r < 0 || !held)
		return r;
	r = sd_bus_flush(s->bus);
	if (r < 0)
		return r;
	/* the call may still be queued in the bus behind the probe: probe again */
	for (int p = 0; p < 3; p++)
		if (probe(s, context) < 0) {
			/* let pvmd go on, so the calls after this one test other things. No
			 * answer was processed since the send: the call is still ours. */
			closep(&c->held);
			break;
		}
	return 0;
}

/* One call per fd kind for each member with an fd argument, each followed by probes while
 * its peer end is still held: a caller's fd never stops pvmd serving others. */
static int sweep(storm *s)
{
	for (size_t i = 0; i < s->n_members; i++) {
		const member *mb = &s->members[i];

		if (mb->kind != 'M' || !strchr(mb->sig, 'h') ||
		    strcmp(mb->iface, PVM_BUS_MANAGER_IFACE) != 0)
			continue;
		for (size_t k = 0; k < rel_fd_kinds_count; k++) {
			_cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
			call *c = call_new(s, EXPECT_MANAGER_METHOD);
			int r;

			if (!c)
				return -ENOMEM;
			snprintf(c->label, sizeof(c->label), "%.40s.%.40s(%.40s)", mb->iface,
				 mb->name, mb->sig);
			r = sd_bus_message_new_method_call(s->bus, &m, PVM_BUS_NAME, PVM_BUS_PATH,
							   mb->iface, mb->name);
			if (r >= 0)
				r = append_args(s, m, mb->sig, mb->args, c, (int)k);
			if (r < 0) {
				closep(&c->held);
				free(c);
				return r;
			}
			s->wellformed++;
			r = send_and_probe(s, m, c);
			if (r < 0)
				return r;
			while (s->in_flight > 8)
				if (pump(s, 100000) < 0)
					return -ECONNRESET;
		}
	}
	return 0;
}

static int open_bus(sd_bus **ret)
{
	int r = sd_bus_open_system(ret);

	if (r >= 0)
		pvm_bus_error_map_register();
	return r;
}

int rel_storm_run(const rel_storm_options *o, json_object **ret_report)
{
	storm s = { .o = o, .rng = ((uint64_t)o->seed << 1) | 1 };
	json_object *report;
	uint64_t deadline;
	int r;

	srandom(o->seed);
	r = load_members(&s, o->members_file);
	if (r < 0) {
		fprintf(stderr, "Cannot read the member table %s: %s\n", o->members_file,
			strerror(-r));
		return r;
	}
	for (size_t i = 0; i < o->n_names; i++)
		add_name_paths(&s, o->names[i]);
	for (unsigned i = 0; i < 8; i++) {
		char n[32];
		snprintf(n, sizeof(n), "rel-fz-%u", i);
		add_name_paths(&s, n);
	}
	r = open_bus(&s.bus);
	if (r >= 0)
		r = open_bus(&s.probe_bus);
	if (r < 0) {
		fprintf(stderr, "Cannot connect to the system bus: %s\n", strerror(-r));
		return r;
	}
	s.errors = json_object_new_object();
	s.fd_kinds = json_object_new_object();
	s.examples = json_object_new_array();
	s.violation_kinds = json_object_new_object();

	/* connect the probe now: the bus drops a connection that has not authenticated soon */
	r = probe(&s, "before the storm");
	if (r >= 0 && o->sweep)
		r = sweep(&s);
	for (unsigned i = 0; r >= 0 && i < o->calls; i++) {
		_cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
		call *c = NULL;

		while (r >= 0 && s.in_flight >= o->window)
			r = pump(&s, 100000);
		if (r < 0)
			break;
		r = build_random(&s, &m, &c);
		if (r == -ENOMEM || r == -ENODATA)
			break;
		if (r < 0) {
			/* a value sd-bus itself refuses to put in a message: not sent */
			r = 0;
			continue;
		}
		r = send_and_probe(&s, m, c);
		if (r >= 0 && i % PROBE_EVERY == PROBE_EVERY - 1)
			(void)probe(&s, "between random calls");
	}
	/* every call gets its answer: the slowest are readers pvmd gives up after 10 s */
	deadline = CALL_TIMEOUT_USEC * 2;
	while (s.in_flight > 0 && deadline > 0 && pump(&s, 100000) >= 0)
		deadline -= MIN(deadline, 1000);
	if (s.in_flight > 0)
		violation(&s, "end of the storm", "calls without an answer", NULL);
	if (r < 0)
		violation(&s, "storm", "the bus connection failed", strerror(-r));

	report = json_object_new_object();
	json_object_object_add(report, "calls", json_object_new_int64(s.sent));
	json_object_object_add(report, "wellformed", json_object_new_int64(s.wellformed));
	json_object_object_add(report, "malformed", json_object_new_int64(s.malformed));
	json_object_object_add(report, "answered", json_object_new_int64(s.replies));
	json_object_object_add(report, "succeeded", json_object_new_int64(s.ok));
	json_object_object_add(report, "fd_calls", json_object_new_int64(s.fd_calls));
	json_object_object_add(report, "fd_kinds_total",
			       json_object_new_int64((int64_t)rel_fd_kinds_count));
	json_object_object_add(report, "probes", json_object_new_int64(s.probes));
	json_object_object_add(report, "probe_max_ms",
			       json_object_new_double((double)s.probe_max_usec / 1000.0));
	json_object_object_add(report, "stalls", json_object_new_int64(s.stalls));
	json_object_object_add(report, "no_reply", json_object_new_int64(s.no_reply));
	json_object_object_add(report, "violations", json_object_new_int64(s.violations));
	json_object_object_add(report, "errors", s.errors);
	json_object_object_add(report, "fd_kinds", s.fd_kinds);
	json_object_object_add(report, "violation_examples", s.examples);
	json_object_object_add(report, "violation_kinds", s.violation_kinds);
	*ret_report = report;

	for (size_t i = 0; i < s.n_vm_paths; i++)
		free(s.vm_paths[i]);
	for (size_t i = 0; i < s.n_bad_paths; i++)
		free(s.bad_paths[i]);
	sd_bus_flush_close_unref(s.bus);
	sd_bus_flush_close_unref(s.probe_bus);
	return s.violations > 0 ? -EPROTO : 0;
}

/* ---- the member table, from introspection ---- */

static char *attr(const char *start, const char *end, const char *name)
{
	char key[64];
	const char *p, *q;

	snprintf(key, sizeof(key), " %s=\"", name);
	p = strstr(start, key);
	if (!p || p >= end)
		return NULL;
	p += strlen(key);
	q = strchr(p, '"');
	return q ? strndup(p, (size_t)(q - p)) : NULL;
}

static int dump_interfaces(sd_bus *bus, const char *path)
{
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
	_cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
	const char *xml, *p;
	int r;

	r = sd_bus_call_method(bus, PVM_BUS_NAME, path, "org.freedesktop.DBus.Introspectable",
			       "Introspect", &e, &reply, "");
	if (r < 0) {
		fprintf(stderr, "Introspect %s: %s\n", path, e.message ?: strerror(-r));
		return r;
	}
	r = sd_bus_message_read(reply, "s", &xml);
	if (r < 0)
		return r;
	for (p = strstr(xml, "<interface "); p; p = strstr(p + 1, "<interface ")) {
		const char *iend = strstr(p, "</interface>");
		_cleanup_free_ char *iface = attr(p, iend, "name");

		if (!iend || !iface || strncmp(iface, "org.pvm1.", 9) != 0)
			continue;
		for (const char *q = strstr(p, "<method "); q && q < iend;
		     q = strstr(q + 1, "<method ")) {
			const char *mend = strstr(q, "</method>");
			_cleanup_free_ char *name = attr(q, iend, "name");
			char sig[128] = "", args[256] = "";

			if (!mend || mend > iend)
				mend = strchr(q, '>');
			for (const char *a = strstr(q, "<arg "); a && a < mend;
			     a = strstr(a + 1, "<arg ")) {
				const char *aend = strchr(a, '>');
				_cleanup_free_ char *type = attr(a, aend, "type");
				_cleanup_free_ char *dir = attr(a, aend, "direction");
				_cleanup_free_ char *aname = attr(a, aend, "name");

				if (!type || (dir && strcmp(dir, "in") != 0))
					continue;
				snprintf(sig + strlen(sig), sizeof(sig) - strlen(sig), "%s", type);
				snprintf(args + strlen(args), sizeof(args) - strlen(args), "%s%s",
					 *args ? "," : "", aname ?: "arg");
			}
			printf("M %s %s %s %s\n", iface, name ?: "?", *sig ? sig : "-",
			       *args ? args : "-");
		}
		for (const char *q = strstr(p, "<property "); q && q < iend;
		     q = strstr(q + 1, "<property ")) {
			const char *pend = strchr(q, '>');
			_cleanup_free_ char *name = attr(q, pend, "name");
			_cleanup_free_ char *type = attr(q, pend, "type");

			printf("P %s %s %s -\n", iface, name ?: "?", type ?: "s");
		}
	}
	return 0;
}

int rel_members_dump(const char *vm_path)
{
	_cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
	int r;

	r = open_bus(&bus);
	if (r < 0)
		return r;
	r = dump_interfaces(bus, PVM_BUS_PATH);
	if (r >= 0)
		r = dump_interfaces(bus, vm_path);
	return r;
}
