/* The VM config: strict parsing of pvm-config(5) JSON into a pvm_config, the same checks for
 * configs built in C, and the way back to JSON. One member table drives parsing and refuses
 * unknown keys; pvm_config_validate() holds the rules that do not depend on JSON. */
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "config.h"
#include "json-strict.h"

static const char *const memory_backing_names[] = {
	[PVM_MEMORY_BACKING_GUEST_MEMFD] = "guest_memfd",
	[PVM_MEMORY_BACKING_PREFER_GUEST_MEMFD] = "prefer_guest_memfd",
};

static const char *const payload_format_names[] = {
	[PVM_PAYLOAD_AUTO] = "auto",
	[PVM_PAYLOAD_PVH_ELF] = "pvh",
	[PVM_PAYLOAD_LINUX_IMAGE] = "linux",
	[PVM_PAYLOAD_RAW] = "raw",
};

static const char *const console_output_names[] = {
	[PVM_CONSOLE_RING_AND_LOG] = "ring-and-log",
	[PVM_CONSOLE_RING] = "ring",
	[PVM_CONSOLE_NONE] = "none",
};

const char *pvm_memory_backing_to_string(enum pvm_memory_backing b)
{
	return (unsigned)b < ELEMENTSOF(memory_backing_names) ? memory_backing_names[b] : NULL;
}

const char *pvm_payload_format_to_string(enum pvm_payload_format f)
{
	return (unsigned)f < ELEMENTSOF(payload_format_names) ? payload_format_names[f] : NULL;
}

const char *pvm_console_output_to_string(enum pvm_console_output o)
{
	return (unsigned)o < ELEMENTSOF(console_output_names) ? console_output_names[o] : NULL;
}

bool pvm_name_is_valid(const char *name)
{
	size_t n;

	if (!name)
		return false;
	n = strnlen(name, PVM_NAME_MAX + 1);
	if (n == 0 || n > PVM_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];
		bool alnum =
		    (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
		if (!alnum && (i == 0 || !strchr("._-", c)))
			return false;
	}
	return true;
}

pvm_config *pvm_config_free(pvm_config *cfg)
{
	if (cfg) {
		free(cfg->kernel);
		free(cfg->initrd);
		free(cfg->params);
		free(cfg->firmware);
		free(cfg->descriptor);
		free(cfg);
	}
	return NULL;
}

int pvm_config_new(pvm_config **ret)
{
	pvm_config *cfg = calloc(1, sizeof(*cfg));

	if (!cfg)
		return -ENOMEM;
	cfg->memory_mib = PVM_CONFIG_DEFAULT_MEMORY_MIB;
	cfg->cpus = PVM_CONFIG_DEFAULT_CPUS;
	cfg->protected_vm = true;
	cfg->memory_backing = PVM_MEMORY_BACKING_GUEST_MEMFD;
	cfg->payload_format = PVM_PAYLOAD_AUTO;
	cfg->console_output = PVM_CONSOLE_RING_AND_LOG;
	cfg->console_input = false;
	cfg->debug = false;
	cfg->boot_timeout_ms = PVM_CONFIG_DEFAULT_BOOT_TIMEOUT_MS;
	cfg->window_mib = PVM_CONFIG_DEFAULT_WINDOW_MIB;
	*ret = cfg;
	return 0;
}

/* Payload paths are compared against policy path prefixes as written, so they must be absolute
 * and normal: no "." or ".." components, no empty components, no trailing slash. */
static int check_path(const char *path, const char *origin, const char *jpath, bool check_files,
		      pvm_error *err)
{
	_cleanup_close_ int fd = -1;
	struct stat st;
	size_t len = strlen(path);

	if (path[0] != '/')
		return pvm_json_error(err, EINVAL, origin, jpath,
				      "expected an absolute path, got \"%.64s\"", path);
	if (len >= PATH_MAX)
		return pvm_json_error(err, ENAMETOOLONG, origin, jpath,
				      "expected a path shorter than %d bytes", PATH_MAX);
	for (const char *p = path; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			return pvm_json_error(err, EINVAL, origin, jpath,
					      "expected a path without control characters");
	for (const char *c = path + 1;; c++) {
		const char *end = strchrnul(c, '/');
		size_t n = (size_t)(end - c);
		if (n == 0 || (n == 1 && c[0] == '.') || (n == 2 && c[0] == '.' && c[1] == '.'))
			return pvm_json_error(
			    err, EINVAL, origin, jpath,
			    "expected a normalized path (no empty, \".\" or "
			    "\"..\" components, no trailing \"/\"), got \"%.64s\"",
			    path);
		if (*end == '\0')
			break;
		c = end;
	}
	if (!check_files)
		return 0;
	/* open, not access(): the file must really be readable by us; O_NONBLOCK so a FIFO
	 * cannot hang the check */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return pvm_json_error(err, errno, origin, jpath, "cannot open %s: %s", path,
				      strerror(errno));
	if (fstat(fd, &st) < 0)
		return pvm_json_error(err, errno, origin, jpath, "cannot stat %s: %s", path,
				      strerror(errno));
	if (!S_ISREG(st.st_mode))
		return pvm_json_error(err, EINVAL, origin, jpath, "%s is not a regular file", path);
	return 0;
}

/* pvm-fw boots only the payload its descriptor signs, with the command line it signs: a config
 * that names one without the other, or a command line of its own, would not mean what it says. */
static int validate_firmware(const pvm_config *cfg, const char *origin, bool check_files,
			     pvm_error *err)
{
	if (cfg->firmware && !pvm_name_is_valid(cfg->firmware))
		return pvm_json_error(err, EINVAL, origin, "$.firmware",
				      "expected the name of an installed firmware (1 to %d "
				      "characters of [A-Za-z0-9._-], no path), got \"%.64s\"",
				      PVM_NAME_MAX, cfg->firmware);
	if (cfg->firmware && !cfg->descriptor)
		return pvm_json_error(err, EINVAL, origin, "$.descriptor",
				      "missing (a VM booting through firmware \"%s\" needs the "
				      "signed descriptor: pvmctl payload sign)",
				      cfg->firmware);
	if (cfg->descriptor && !cfg->firmware)
		return pvm_json_error(err, EINVAL, origin, "$.firmware",
				      "missing (a descriptor is checked by the firmware that "
				      "\"firmware\" names)");
	if (!cfg->firmware)
		return 0;
	if (cfg->params)
		return pvm_json_error(err, EINVAL, origin, "$.params",
				      "not allowed with \"firmware\": the firmware boots the "
				      "command line the descriptor signs (pvmctl payload sign "
				      "--cmdline)");
	if (cfg->payload_format == PVM_PAYLOAD_RAW || cfg->payload_format == PVM_PAYLOAD_PVH_ELF)
		return pvm_json_error(err, EINVAL, origin, "$.payload_format",
				      "\"%s\" cannot boot through firmware: pvm-fw boots an arm64 "
				      "Linux Image (\"linux\" or \"auto\")",
				      pvm_payload_format_to_string(cfg->payload_format));
	return check_path(cfg->descriptor, origin, "$.descriptor", check_files, err);
}

int pvm_config_validate(const pvm_config *cfg, const char *origin, bool check_files, pvm_error *err)
{
	int r;

	if (!pvm_name_is_valid(cfg->name))
		return pvm_json_error(err, EINVAL, origin, "$.name",
				      "expected 1 to %d characters of [A-Za-z0-9._-] starting with "
				      "a letter or digit, got \"%.*s\"",
				      PVM_NAME_MAX, PVM_NAME_MAX, cfg->name);
	if (!cfg->kernel)
		return pvm_json_error(err, EINVAL, origin, "$.kernel",
				      "missing (the payload path is required)");
	r = check_path(cfg->kernel, origin, "$.kernel", check_files, err);
	if (r < 0)
		return r;
	if (cfg->initrd) {
		r = check_path(cfg->initrd, origin, "$.initrd", check_files, err);
		if (r < 0)
			return r;
	}
	if (cfg->params) {
		size_t n = strlen(cfg->params);
		if (n > PVM_PARAMS_MAX)
			return pvm_json_error(err, EINVAL, origin, "$.params",
					      "expected at most %d bytes, got %zu", PVM_PARAMS_MAX,
					      n);
		for (size_t i = 0; i < n; i++)
			if ((unsigned char)cfg->params[i] < 0x20 || cfg->params[i] == 0x7f)
				return pvm_json_error(err, EINVAL, origin, "$.params",
						      "expected a command line without control "
						      "characters (byte %zu)",
						      i);
	}
	if (cfg->memory_mib < 1 || cfg->memory_mib > PVM_MEMORY_MIB_MAX)
		return pvm_json_error(err, ERANGE, origin, "$.memory_mib",
				      "expected an integer from 1 to %d, got %u",
				      PVM_MEMORY_MIB_MAX, cfg->memory_mib);
	if (pvm_config_has_devices(cfg) &&
	    (cfg->window_mib < 1 || cfg->window_mib > cfg->memory_mib / 2))
		return pvm_json_error(
		    err, ERANGE, origin, "$.window_mib",
		    "expected an integer from 1 to half of memory_mib (%u), got %u",
		    cfg->memory_mib / 2, cfg->window_mib);
	if (cfg->n_disks > PVM_DISKS_MAX)
		return pvm_json_error(err, ERANGE, origin, "$.disks", "at most %d disks",
				      PVM_DISKS_MAX);
	if (cfg->cpus < 1 || cfg->cpus > PVM_CPUS_MAX)
		return pvm_json_error(err, ERANGE, origin, "$.cpus",
				      "expected an integer from 1 to %d, got %u", PVM_CPUS_MAX,
				      cfg->cpus);
	if (!pvm_memory_backing_to_string(cfg->memory_backing))
		return pvm_json_error(err, EINVAL, origin, "$.memory_backing", "invalid value %d",
				      (int)cfg->memory_backing);
	if (!pvm_payload_format_to_string(cfg->payload_format))
		return pvm_json_error(err, EINVAL, origin, "$.payload_format", "invalid value %d",
				      (int)cfg->payload_format);
	if (!pvm_console_output_to_string(cfg->console_output))
		return pvm_json_error(err, EINVAL, origin, "$.console.output", "invalid value %d",
				      (int)cfg->console_output);
	if (cfg->payload_format != PVM_PAYLOAD_RAW && cfg->load_address != 0)
		return pvm_json_error(err, EINVAL, origin, "$.load_address",
				      "only allowed with \"payload_format\": \"raw\"");
	if (cfg->load_address > PVM_LOAD_ADDRESS_MAX)
		return pvm_json_error(err, ERANGE, origin, "$.load_address",
				      "expected an integer from 0 to %llu, got %llu",
				      (unsigned long long)PVM_LOAD_ADDRESS_MAX,
				      (unsigned long long)cfg->load_address);
	r = validate_firmware(cfg, origin, check_files, err);
	if (r < 0)
		return r;
	if (cfg->boot_timeout_ms > PVM_BOOT_TIMEOUT_MS_MAX)
		return pvm_json_error(err, ERANGE, origin, "$.boot_timeout_ms",
				      "expected an integer from 0 to %d, got %u",
				      PVM_BOOT_TIMEOUT_MS_MAX, cfg->boot_timeout_ms);
	return 0;
}

/* --- parsing: one handler per key -------------------------------------------------------- */

struct parse_state {
	pvm_config *cfg;
	bool have_name;
	bool have_load_address;
};

static int parse_name(json_object *v, const char *origin, const char *path, void *userdata,
		      pvm_error *err)
{
	struct parse_state *st = userdata;
	const char *s;
	int r = pvm_json_get_string(v, 1, PVM_NAME_MAX, origin, path, &s, err);

	if (r < 0)
		return r;
	if (!pvm_name_is_valid(s))
		return pvm_json_error(err, EINVAL, origin, path,
				      "expected 1 to %d characters of [A-Za-z0-9._-] starting with "
				      "a letter or digit, got \"%s\"",
				      PVM_NAME_MAX, s);
	memcpy(st->cfg->name, s, strlen(s) + 1);
	st->have_name = true;
	return 0;
}

static int parse_string_into(json_object *v, size_t max_len, const char *origin, const char *path,
			     char **field, pvm_error *err)
{
	const char *s;
	char *copy;
	int r = pvm_json_get_string(v, 1, max_len, origin, path, &s, err);

	if (r < 0)
		return r;
	copy = strdup(s);
	if (!copy)
		return pvm_error_set(err, ENOMEM, "%s: out of memory", origin);
	free(*field);
	*field = copy;
	return 0;
}

static int parse_kernel(json_object *v, const char *origin, const char *path, void *userdata,
			pvm_error *err)
{
	return parse_string_into(v, PATH_MAX - 1, origin, path,
				 &((struct parse_state *)userdata)->cfg->kernel, err);
}

static int parse_initrd(json_object *v, const char *origin, const char *path, void *userdata,
			pvm_error *err)
{
	return parse_string_into(v, PATH_MAX - 1, origin, path,
				 &((struct parse_state *)userdata)->cfg->initrd, err);
}

static int parse_params(json_object *v, const char *origin, const char *path, void *userdata,
			pvm_error *err)
{
	return parse_string_into(v, PVM_PARAMS_MAX, origin, path,
				 &((struct parse_state *)userdata)->cfg->params, err);
}

static int parse_firmware(json_object *v, const char *origin, const char *path, void *userdata,
			  pvm_error *err)
{
	return parse_string_into(v, PVM_NAME_MAX, origin, path,
				 &((struct parse_state *)userdata)->cfg->firmware, err);
}

static int parse_descriptor(json_object *v, const char *origin, const char *path, void *userdata,
			    pvm_error *err)
{
	return parse_string_into(v, PATH_MAX - 1, origin, path,
				 &((struct parse_state *)userdata)->cfg->descriptor, err);
}

static int parse_u32(json_object *v, uint32_t min, uint32_t max, const char *origin,
		     const char *path, uint32_t *field, pvm_error *err)
{
	uint64_t u;
	int r = pvm_json_get_uint(v, min, max, origin, path, &u, err);

	if (r >= 0)
		*field = (uint32_t)u;
	return r;
}

static int parse_memory_mib(json_object *v, const char *origin, const char *path, void *userdata,
			    pvm_error *err)
{
	return parse_u32(v, 1, PVM_MEMORY_MIB_MAX, origin, path,
			 &((struct parse_state *)userdata)->cfg->memory_mib, err);
}

static int parse_cpus(json_object *v, const char *origin, const char *path, void *userdata,
		      pvm_error *err)
{
	return parse_u32(v, 1, PVM_CPUS_MAX, origin, path,
			 &((struct parse_state *)userdata)->cfg->cpus, err);
}

static int parse_boot_timeout(json_object *v, const char *origin, const char *path, void *userdata,
			      pvm_error *err)
{
	return parse_u32(v, 0, PVM_BOOT_TIMEOUT_MS_MAX, origin, path,
			 &((struct parse_state *)userdata)->cfg->boot_timeout_ms, err);
}

static int parse_protected(json_object *v, const char *origin, const char *path, void *userdata,
			   pvm_error *err)
{
	return pvm_json_get_bool(v, origin, path,
				 &((struct parse_state *)userdata)->cfg->protected_vm, err);
}

static int parse_debug(json_object *v, const char *origin, const char *path, void *userdata,
		       pvm_error *err)
{
	return pvm_json_get_bool(v, origin, path, &((struct parse_state *)userdata)->cfg->debug,
				 err);
}

static int parse_memory_backing(json_object *v, const char *origin, const char *path,
				void *userdata, pvm_error *err)
{
	unsigned i;
	int r = pvm_json_get_enum(v, memory_backing_names, ELEMENTSOF(memory_backing_names), origin,
				  path, &i, err);

	if (r >= 0)
		((struct parse_state *)userdata)->cfg->memory_backing = (enum pvm_memory_backing)i;
	return r;
}

static int parse_payload_format(json_object *v, const char *origin, const char *path,
				void *userdata, pvm_error *err)
{
	unsigned i;
	int r = pvm_json_get_enum(v, payload_format_names, ELEMENTSOF(payload_format_names), origin,
				  path, &i, err);

	if (r >= 0)
		((struct parse_state *)userdata)->cfg->payload_format = (enum pvm_payload_format)i;
	return r;
}

static int parse_payload_sha256(json_object *v, const char *origin, const char *path,
				void *userdata, pvm_error *err)
{
	pvm_config *cfg = ((struct parse_state *)userdata)->cfg;
	int r = pvm_json_get_hex(v, cfg->payload_sha256, sizeof(cfg->payload_sha256), origin, path,
				 err);

	if (r >= 0)
		cfg->has_payload_sha256 = true;
	return r;
}

static int parse_load_address(json_object *v, const char *origin, const char *path, void *userdata,
			      pvm_error *err)
{
	struct parse_state *st = userdata;
	int r = pvm_json_get_uint(v, 0, PVM_LOAD_ADDRESS_MAX, origin, path, &st->cfg->load_address,
				  err);

	if (r >= 0)
		st->have_load_address = true;
	return r;
}

static int parse_console_output(json_object *v, const char *origin, const char *path,
				void *userdata, pvm_error *err)
{
	unsigned i;
	int r = pvm_json_get_enum(v, console_output_names, ELEMENTSOF(console_output_names), origin,
				  path, &i, err);

	if (r >= 0)
		((struct parse_state *)userdata)->cfg->console_output = (enum pvm_console_output)i;
	return r;
}

static int parse_console_input(json_object *v, const char *origin, const char *path, void *userdata,
			       pvm_error *err)
{
	return pvm_json_get_bool(v, origin, path,
				 &((struct parse_state *)userdata)->cfg->console_input, err);
}

static const pvm_json_member console_members[] = {
	{ "output", parse_console_output },
	{ "input", parse_console_input },
};

static int parse_console(json_object *v, const char *origin, const char *path, void *userdata,
			 pvm_error *err)
{
	return pvm_json_parse_members(v, console_members, ELEMENTSOF(console_members), origin, path,
				      userdata, err);
}

static int parse_disk_id(json_object *v, const char *origin, const char *path, void *userdata,
			 pvm_error *err)
{
	pvm_disk *d = userdata;
	const char *id;
	int r = pvm_json_get_string(v, 0, PVM_DISK_ID_MAX, origin, path, &id, err);

	if (r >= 0)
		snprintf(d->id, sizeof(d->id), "%s", id);
	return r;
}

static int parse_disk_read_only(json_object *v, const char *origin, const char *path,
				void *userdata, pvm_error *err)
{
	return pvm_json_get_bool(v, origin, path, &((pvm_disk *)userdata)->read_only, err);
}

static int parse_disk_sha256(json_object *v, const char *origin, const char *path, void *userdata,
			     pvm_error *err)
{
	pvm_disk *d = userdata;
	int r = pvm_json_get_hex(v, d->sha256, sizeof(d->sha256), origin, path, err);

	if (r >= 0)
		d->has_sha256 = true;
	return r;
}

static const pvm_json_member disk_members[] = {
	{ "id", parse_disk_id },
	{ "read_only", parse_disk_read_only },
	{ "sha256", parse_disk_sha256 },
};

static int parse_disks(json_object *v, const char *origin, const char *path, void *userdata,
		       pvm_error *err)
{
	pvm_config *cfg = ((struct parse_state *)userdata)->cfg;
	size_t n;
	int r = pvm_json_get_array(v, 0, PVM_DISKS_MAX, origin, path, &n, err);

	for (size_t i = 0; r >= 0 && i < n; i++) {
		char item[64];
		snprintf(item, sizeof(item), "%s[%zu]", path, i);
		cfg->disks[i] = (pvm_disk){ .read_only = true };
		r = pvm_json_parse_members(json_object_array_get_idx(v, i), disk_members,
					   ELEMENTSOF(disk_members), origin, item, &cfg->disks[i],
					   err);
	}
	if (r >= 0)
		cfg->n_disks = n;
	return r;
}

static int parse_vsock(json_object *v, const char *origin, const char *path, void *userdata,
		       pvm_error *err)
{
	return pvm_json_get_bool(v, origin, path, &((struct parse_state *)userdata)->cfg->vsock,
				 err);
}

static int parse_window_mib(json_object *v, const char *origin, const char *path, void *userdata,
			    pvm_error *err)
{
	return parse_u32(v, 1, PVM_MEMORY_MIB_MAX / 2, origin, path,
			 &((struct parse_state *)userdata)->cfg->window_mib, err);
}

/* pvm-config(5) lists these in the same order. */
static const pvm_json_member config_members[] = {
	{ "name", parse_name },
	{ "kernel", parse_kernel },
	{ "initrd", parse_initrd },
	{ "params", parse_params },
	{ "memory_mib", parse_memory_mib },
	{ "cpus", parse_cpus },
	{ "protected", parse_protected },
	{ "memory_backing", parse_memory_backing },
	{ "payload_format", parse_payload_format },
	{ "load_address", parse_load_address },
	{ "payload_sha256", parse_payload_sha256 },
	{ "console", parse_console },
	{ "debug", parse_debug },
	{ "boot_timeout_ms", parse_boot_timeout },
	{ "disks", parse_disks },
	{ "vsock", parse_vsock },
	{ "window_mib", parse_window_mib },
	{ "firmware", parse_firmware },
	{ "descriptor", parse_descriptor },
};

int pvm_config_parse(const char *json, size_t len, const char *origin, bool check_files,
		     pvm_config **ret, pvm_error *err)
{
	_cleanup_json_ json_object *root = NULL;
	_cleanup_(pvm_config_freep) pvm_config *cfg = NULL;
	struct parse_state st = { 0 };
	int r;

	if (!origin)
		origin = "<config>";
	r = pvm_json_parse(json, len, PVM_CONFIG_FILE_MAX, PVM_CONFIG_DEPTH_MAX, origin, &root,
			   err);
	if (r < 0)
		return r;
	r = pvm_config_new(&cfg);
	if (r < 0)
		return pvm_error_set(err, r, "%s: out of memory", origin);
	st.cfg = cfg;
	r = pvm_json_parse_members(root, config_members, ELEMENTSOF(config_members), origin, "$",
				   &st, err);
	if (r < 0)
		return r;

	/* what is required or tied to another key, then the shared rules */
	if (!st.have_name)
		return pvm_json_error(err, EINVAL, origin, "$.name",
				      "missing (a VM name is required)");
	if (cfg->payload_format == PVM_PAYLOAD_RAW && !st.have_load_address)
		return pvm_json_error(err, EINVAL, origin, "$.load_address",
				      "missing (required with \"payload_format\": \"raw\")");
	if (cfg->payload_format != PVM_PAYLOAD_RAW && st.have_load_address)
		return pvm_json_error(err, EINVAL, origin, "$.load_address",
				      "only allowed with \"payload_format\": \"raw\"");
	r = pvm_config_validate(cfg, origin, check_files, err);
	if (r < 0)
		return r;
	*ret = TAKE_PTR(cfg);
	return 0;
}

int pvm_config_load_file(const char *path, bool check_files, pvm_config **ret, pvm_error *err)
{
	_cleanup_free_ char *text = NULL;
	size_t len;
	int r = pvm_json_read_file(path, PVM_CONFIG_FILE_MAX, &text, &len, err);

	if (r < 0)
		return r;
	return pvm_config_parse(text, len, path, check_files, ret, err);
}

/* --- back to JSON ------------------------------------------------------------------------ */

static int add(json_object *obj, const char *key, json_object *v)
{
	if (!v)
		return -ENOMEM;
	if (json_object_object_add(obj, key, v) < 0) {
		json_object_put(v);
		return -ENOMEM;
	}
	return 0;
}

int pvm_config_to_json(const pvm_config *cfg, char **ret)
{
	_cleanup_json_ json_object *obj = json_object_new_object();
	json_object *console;
	char hex[65];
	char *text;
	int r = 0;

	if (!obj)
		return -ENOMEM;
	if (!pvm_memory_backing_to_string(cfg->memory_backing) ||
	    !pvm_payload_format_to_string(cfg->payload_format) ||
	    !pvm_console_output_to_string(cfg->console_output))
		return -EINVAL;
	/* the order of pvm-config(5); optional keys only when set */
	r |= add(obj, "name", json_object_new_string(cfg->name));
	r |= add(obj, "kernel", json_object_new_string(cfg->kernel ? cfg->kernel : ""));
	if (cfg->initrd)
		r |= add(obj, "initrd", json_object_new_string(cfg->initrd));
	if (cfg->params)
		r |= add(obj, "params", json_object_new_string(cfg->params));
	r |= add(obj, "memory_mib", json_object_new_int64(cfg->memory_mib));
	r |= add(obj, "cpus", json_object_new_int64(cfg->cpus));
	r |= add(obj, "protected", json_object_new_boolean(cfg->protected_vm));
	r |= add(obj, "memory_backing",
		 json_object_new_string(pvm_memory_backing_to_string(cfg->memory_backing)));
	r |= add(obj, "payload_format",
		 json_object_new_string(pvm_payload_format_to_string(cfg->payload_format)));
	if (cfg->payload_format == PVM_PAYLOAD_RAW)
		r |= add(obj, "load_address", json_object_new_uint64(cfg->load_address));
	if (cfg->has_payload_sha256) {
		for (size_t i = 0; i < 32; i++)
			snprintf(hex + 2 * i, 3, "%02x", cfg->payload_sha256[i]);
		r |= add(obj, "payload_sha256", json_object_new_string(hex));
	}
	console = json_object_new_object();
	r |= add(obj, "console", console);
	if (console) {
		r |= add(console, "output",
			 json_object_new_string(pvm_console_output_to_string(cfg->console_output)));
		r |= add(console, "input", json_object_new_boolean(cfg->console_input));
	}
	r |= add(obj, "debug", json_object_new_boolean(cfg->debug));
	r |= add(obj, "boot_timeout_ms", json_object_new_int64(cfg->boot_timeout_ms));
	if (cfg->n_disks > 0) {
		json_object *disks = json_object_new_array();
		r |= add(obj, "disks", disks);
		for (size_t i = 0; disks && i < cfg->n_disks; i++) {
			const pvm_disk *d = &cfg->disks[i];
			json_object *o = json_object_new_object();
			if (!o || json_object_array_add(disks, o) < 0) {
				json_object_put(o);
				return -ENOMEM;
			}
			r |= add(o, "id", json_object_new_string(d->id));
			r |= add(o, "read_only", json_object_new_boolean(d->read_only));
			if (d->has_sha256) {
				for (size_t k = 0; k < 32; k++)
					snprintf(hex + 2 * k, 3, "%02x", d->sha256[k]);
				r |= add(o, "sha256", json_object_new_string(hex));
			}
		}
	}
	if (cfg->vsock)
		r |= add(obj, "vsock", json_object_new_boolean(cfg->vsock));
	if (pvm_config_has_devices(cfg))
		r |= add(obj, "window_mib", json_object_new_int64(cfg->window_mib));
	if (cfg->firmware)
		r |= add(obj, "firmware", json_object_new_string(cfg->firmware));
	if (cfg->descriptor)
		r |= add(obj, "descriptor", json_object_new_string(cfg->descriptor));
	if (r != 0)
		return -ENOMEM;

	text = strdup(json_object_to_json_string_ext(obj, JSON_C_TO_STRING_PRETTY |
							      JSON_C_TO_STRING_SPACED |
							      JSON_C_TO_STRING_NOSLASHESCAPE));
	if (!text)
		return -ENOMEM;
	*ret = text;
	return 0;
}
