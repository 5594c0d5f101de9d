/* pvm-config(5) contract: every validation rule refuses its input with an error naming the file,
 * the JSON path and the expectation; valid files give the documented defaults; every shipped
 * example loads; the JSON written back parses to the same config. */
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "config.h"

#define K "\"kernel\": \"/k\""

struct bad_case {
	const char *json;
	const char *message; /* the whole message after "vm.json: ", or its start */
};

/* One row per rule; the expected text is the start of the message after "vm.json: ". */
static const struct bad_case bad_cases[] = {
	/* the document */
	{ "[]", "$: expected an object, got an array" },
	{ "", "line 1, column 1: invalid JSON: unexpected end of input" },
	{ "{\"name\": \"a\", " K, "line 1, column 29: invalid JSON: unexpected end of input" },
	{ "{\"name\": \"a\", " K "} x", "line 1, column 31: unexpected text after the JSON value" },
	{ "{\"name\": \"a\", " K "}{}", "line 1, column 30: unexpected text after the JSON value" },
	{ "{\"name\": 'a', " K "}", "line 1, column 10: invalid JSON" },
	{ "{\"name\": \"a\", /* c */ " K "}", "line 1, column 15: invalid JSON" },
	{ "{\"name\": \"a\", " K ",}", "line 1, column 30: invalid JSON" },
	{ "{\"name\": \"\xff\", " K "}", "line 1, column 11: invalid JSON" },
	{ "{\"name\": \"a\xc3\", " K "}", "line 1, column " },
	/* unknown and duplicate keys */
	{ "{\"name\": \"a\", " K ", \"memory\": 1}",
	  "$.memory: unknown key (known keys: name, kernel" },
	{ "{\"name\": \"a\", " K ", \"console\": {\"colour\": 1}}",
	  "$.console.colour: unknown key (known keys: output, input)" },
	{ "{\"name\": \"a\", " K ", \"x y\": 1}", "$[\"x y\"]: unknown key" },
	{ "{\"name\": \"a\", \"name\": \"b\", " K "}", "$.name: duplicate key in one object" },
	{ "{\"name\": \"a\", \"n\\u0061me\": \"b\", " K "}",
	  "$.name: duplicate key in one object" },
	{ "{\"name\": \"a\", " K ", \"console\": {\"input\": true, \"input\": false}}",
	  "$.console.input: duplicate key in one object" },
	/* types */
	{ "{\"name\": 1, " K "}", "$.name: expected a string, got 1" },
	{ "{\"name\": null, " K "}", "$.name: expected a string, got null" },
	{ "{\"name\": \"a\", \"kernel\": [\"/k\"]}", "$.kernel: expected a string, got an array" },
	{ "{\"name\": \"a\", " K ", \"memory_mib\": \"64\"}",
	  "$.memory_mib: expected an integer from 1 to 65536, got \"64\"" },
	{ "{\"name\": \"a\", " K ", \"protected\": \"yes\"}",
	  "$.protected: expected true or false, got \"yes\"" },
	{ "{\"name\": \"a\", " K ", \"protected\": 1}",
	  "$.protected: expected true or false, got 1" },
	{ "{\"name\": \"a\", " K ", \"debug\": null}",
	  "$.debug: expected true or false, got null" },
	{ "{\"name\": \"a\", " K ", \"console\": []}",
	  "$.console: expected an object, got an array" },
	{ "{\"name\": \"a\", " K ", \"console\": {\"input\": 0}}",
	  "$.console.input: expected true or false, got 0" },
	/* numbers */
	{ "{\"name\": \"a\", " K ", \"memory_mib\": 0}",
	  "$.memory_mib: expected an integer from 1 to 65536, got 0" },
	{ "{\"name\": \"a\", " K ", \"memory_mib\": 65537}",
	  "$.memory_mib: expected an integer from 1 to 65536, got 65537" },
	{ "{\"name\": \"a\", " K ", \"memory_mib\": -1}",
	  "$.memory_mib: expected an integer from 1 to 65536, got -1" },
	{ "{\"name\": \"a\", " K ", \"memory_mib\": 1.5}",
	  "$.memory_mib: expected an integer from 1 to 65536, got 1.5" },
	{ "{\"name\": \"a\", " K ", \"memory_mib\": 64.0}",
	  "$.memory_mib: expected an integer from 1 to 65536, got 64.0" },
	{ "{\"name\": \"a\", " K ", \"memory_mib\": 1e3}",
	  "$.memory_mib: expected an integer from 1 to 65536, got " },
	{ "{\"name\": \"a\", " K ", \"memory_mib\": 4294967360}",
	  "$.memory_mib: expected an integer from 1 to 65536, got 4294967360" },
	{ "{\"name\": \"a\", " K ", \"memory_mib\": 18446744073709551615}",
	  "$.memory_mib: expected an integer from 1 to 65536, got 18446744073709551615" },
	{ "{\"name\": \"a\", " K ", \"memory_mib\": 18446744073709551616}",
	  "$.memory_mib: integer 18446744073709551616 does not fit in 64 bits" },
	{ "{\"name\": \"a\", " K ", \"memory_mib\": -9223372036854775809}",
	  "$.memory_mib: integer -9223372036854775809 does not fit in 64 bits" },
	{ "{\"name\": \"a\", " K ", \"memory_mib\": 064}", "line 1, column " },
	{ "{\"name\": \"a\", " K ", \"cpus\": 0}",
	  "$.cpus: expected an integer from 1 to 64, got 0" },
	{ "{\"name\": \"a\", " K ", \"cpus\": 65}",
	  "$.cpus: expected an integer from 1 to 64, got 65" },
	{ "{\"name\": \"a\", " K ", \"boot_timeout_ms\": 3600001}",
	  "$.boot_timeout_ms: expected an integer from 0 to 3600000, got 3600001" },
	/* names */
	{ "{" K "}", "$.name: missing (a VM name is required)" },
	{ "{\"name\": \"\", " K "}", "$.name: expected a string of 1 to 64 bytes, got 0" },
	{ "{\"name\": \"-a\", " K "}", "$.name: expected 1 to 64 characters of [A-Za-z0-9._-]" },
	{ "{\"name\": \".a\", " K "}", "$.name: expected 1 to 64 characters" },
	{ "{\"name\": \"a/b\", " K "}", "$.name: expected 1 to 64 characters" },
	{ "{\"name\": \"a b\", " K "}", "$.name: expected 1 to 64 characters" },
	{ "{\"name\": \"caf\xc3\xa9\", " K "}", "$.name: expected 1 to 64 characters" },
	{ "{\"name\": \"a\\u0000b\", " K "}", "$.name: expected a string without NUL characters" },
	{ "{\"name\": \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\", " K
	  "}",
	  "$.name: expected a string of 1 to 64 bytes, got 65" },
	/* paths */
	{ "{\"name\": \"a\"}", "$.kernel: missing (the payload path is required)" },
	{ "{\"name\": \"a\", \"kernel\": \"\"}",
	  "$.kernel: expected a string of 1 to 4095 bytes, got 0" },
	{ "{\"name\": \"a\", \"kernel\": \"k\"}",
	  "$.kernel: expected an absolute path, got \"k\"" },
	{ "{\"name\": \"a\", \"kernel\": \"/a/../k\"}", "$.kernel: expected a normalized path" },
	{ "{\"name\": \"a\", \"kernel\": \"/a/./k\"}", "$.kernel: expected a normalized path" },
	{ "{\"name\": \"a\", \"kernel\": \"/a//k\"}", "$.kernel: expected a normalized path" },
	{ "{\"name\": \"a\", \"kernel\": \"/a/\"}", "$.kernel: expected a normalized path" },
	{ "{\"name\": \"a\", \"kernel\": \"/\"}", "$.kernel: expected a normalized path" },
	{ "{\"name\": \"a\", \"kernel\": \"/a\\nb\"}",
	  "$.kernel: expected a path without control" },
	{ "{\"name\": \"a\", \"kernel\": \"/a\\u0000b\"}",
	  "$.kernel: expected a string without NUL" },
	{ "{\"name\": \"a\", " K ", \"initrd\": \"initrd.img\"}",
	  "$.initrd: expected an absolute path, got \"initrd.img\"" },
	/* params */
	{ "{\"name\": \"a\", " K ", \"params\": \"a\\tb\"}",
	  "$.params: expected a command line without control characters (byte 1)" },
	{ "{\"name\": \"a\", " K ", \"params\": \"\"}",
	  "$.params: expected a string of 1 to 4096 bytes" },
	/* enumerations */
	{ "{\"name\": \"a\", " K ", \"memory_backing\": \"anonymous\"}",
	  "$.memory_backing: expected \"guest_memfd\" or \"prefer_guest_memfd\", got "
	  "\"anonymous\"" },
	{ "{\"name\": \"a\", " K ", \"payload_format\": \"elf\"}",
	  "$.payload_format: expected \"auto\", \"pvh\", \"linux\" or \"raw\", got \"elf\"" },
	{ "{\"name\": \"a\", " K ", \"console\": {\"output\": \"file\"}}",
	  "$.console.output: expected \"ring-and-log\", \"ring\" or \"none\", got \"file\"" },
	/* payload digest */
	{ "{\"name\": \"a\", " K ", \"payload_sha256\": \"abcd\"}",
	  "$.payload_sha256: expected 64 hexadecimal digits, got \"abcd\"" },
	{ "{\"name\": \"a\", " K ", \"payload_sha256\": "
	  "\"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b85g\"}",
	  "$.payload_sha256: expected 64 hexadecimal digits" },
	{ "{\"name\": \"a\", " K ", \"payload_sha256\": "
	  "\"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b85500\"}",
	  "$.payload_sha256: expected 64 hexadecimal digits" },
	{ "{\"name\": \"a\", " K ", \"payload_sha256\": 1}",
	  "$.payload_sha256: expected a string, got 1" },
	/* raw payloads and load_address */
	{ "{\"name\": \"a\", " K ", \"load_address\": 4096}",
	  "$.load_address: only allowed with \"payload_format\": \"raw\"" },
	{ "{\"name\": \"a\", " K ", \"payload_format\": \"pvh\", \"load_address\": 0}",
	  "$.load_address: only allowed with \"payload_format\": \"raw\"" },
	{ "{\"name\": \"a\", " K ", \"payload_format\": \"raw\"}",
	  "$.load_address: missing (required with \"payload_format\": \"raw\")" },
	{ "{\"name\": \"a\", " K
	  ", \"payload_format\": \"raw\", \"load_address\": 281474976710656}",
	  "$.load_address: expected an integer from 0 to 281474976710655, got 281474976710656" },
	/* devices */
	{ "{\"name\": \"a\", " K ", \"disks\": {}}", "$.disks: expected an array" },
	{ "{\"name\": \"a\", " K ", \"disks\": [{}, {}, {}, {}, {}]}", "$.disks: " },
	{ "{\"name\": \"a\", " K ", \"disks\": [{\"path\": \"/d\"}]}",
	  "$.disks[0].path: unknown key (known keys: id, read_only, sha256)" },
	{ "{\"name\": \"a\", " K ", \"disks\": [{\"id\": \"123456789012345678901\"}]}",
	  "$.disks[0].id: " },
	{ "{\"name\": \"a\", " K ", \"disks\": [{}, {\"sha256\": \"ab\"}]}",
	  "$.disks[1].sha256: " },
	{ "{\"name\": \"a\", " K ", \"vsock\": 1}", "$.vsock: expected true or false, got 1" },
	{ "{\"name\": \"a\", " K ", \"memory_mib\": 8, \"vsock\": true, \"window_mib\": 5}",
	  "$.window_mib: expected an integer from 1 to half of memory_mib (4), got 5" },
	/* pvm-fw: a name, never a path; with its descriptor, no command line of its own */
#define FW ", \"firmware\": \"pvm-fw\", \"descriptor\": \"/d\""
	{ "{\"name\": \"a\", " K ", \"firmware\": \"/usr/share/pvm/firmware/pvm-fw.img\", "
	  "\"descriptor\": \"/d\"}",
	  "$.firmware: expected the name of an installed firmware" },
	{ "{\"name\": \"a\", " K ", \"firmware\": \"pvm-fw\"}", "$.descriptor: missing" },
	{ "{\"name\": \"a\", " K ", \"descriptor\": \"/d\"}", "$.firmware: missing" },
	{ "{\"name\": \"a\", " K FW ", \"params\": \"quiet\"}",
	  "$.params: not allowed with \"firmware\"" },
	{ "{\"name\": \"a\", " K FW ", \"payload_format\": \"pvh\"}",
	  "$.payload_format: \"pvh\" cannot boot through firmware" },
	{ "{\"name\": \"a\", " K ", \"firmware\": \"pvm-fw\", \"descriptor\": \"d\"}",
	  "$.descriptor: expected an absolute path" },
	{ "{\"name\": \"a\", " K FW ", \"firmware_identity\": \"00\"}",
	  "$.firmware_identity: unknown key" },
	/* nesting */
	{ "{\"name\": \"a\", " K ", \"console\": {\"x\": [[[[[[[[[]]]]]]]]]}}",
	  "line 1, column 54: JSON nested deeper than 8 levels" },
};

static void test_bad_cases(void)
{
	for (size_t i = 0; i < ELEMENTSOF(bad_cases); i++) {
		const struct bad_case *c = &bad_cases[i];
		pvm_config *cfg = NULL;
		pvm_error err = { 0 };
		char want[PVM_ERROR_MESSAGE_MAX];
		int r = pvm_config_parse(c->json, strlen(c->json), "vm.json", false, &cfg, &err);

		snprintf(want, sizeof(want), "vm.json: %s", c->message);
		CHECK(r < 0 && cfg == NULL, "case %zu (%s) was accepted", i, c->json);
		CHECK(r < 0 && r == -err.code, "case %zu: return %d, code %d", i, r, err.code);
		CHECK(strncmp(err.message, want, strlen(want)) == 0,
		      "case %zu (%s):\n   got: %s\n  want: %s...", i, c->json, err.message, want);
		pvm_config_free(cfg);
	}
}

static void test_defaults(void)
{
	static const char json[] = "{\"name\": \"a\", \"kernel\": \"/k\"}";
	_cleanup_(pvm_config_freep) pvm_config *cfg = NULL;
	pvm_error err = { 0 };
	int r = pvm_config_parse(json, strlen(json), "vm.json", false, &cfg, &err);

	CHECK(r == 0, "%s", err.message);
	if (r < 0)
		return;
	CHECK(strcmp(cfg->name, "a") == 0 && strcmp(cfg->kernel, "/k") == 0, "name/kernel");
	CHECK(!cfg->initrd && !cfg->params, "no initrd or params");
	CHECK(cfg->memory_mib == PVM_CONFIG_DEFAULT_MEMORY_MIB, "memory_mib %u", cfg->memory_mib);
	CHECK(cfg->cpus == 1, "cpus %u", cfg->cpus);
	CHECK(cfg->protected_vm, "protected by default");
	CHECK(cfg->memory_backing == PVM_MEMORY_BACKING_GUEST_MEMFD, "guest_memfd by default");
	CHECK(cfg->payload_format == PVM_PAYLOAD_AUTO, "auto format");
	CHECK(cfg->load_address == 0 && !cfg->has_payload_sha256, "no address, no digest");
	CHECK(cfg->console_output == PVM_CONSOLE_RING_AND_LOG && !cfg->console_input, "console");
	CHECK(!cfg->debug, "no debug");
	CHECK(cfg->boot_timeout_ms == PVM_CONFIG_DEFAULT_BOOT_TIMEOUT_MS, "boot timeout");
}

static const char full_json[] =
    "{ \"name\": \"full-1.x_y\", \"kernel\": \"/boot/Image\", \"initrd\": \"/boot/initrd\","
    " \"params\": \"console=ttyS0 quiet\", \"memory_mib\": 65536, \"cpus\": 64,"
    " \"protected\": false, \"memory_backing\": \"prefer_guest_memfd\","
    " \"payload_format\": \"raw\", \"load_address\": 281474976710655,"
    " \"payload_sha256\": \"E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855\","
    " \"console\": { \"output\": \"none\", \"input\": true }, \"debug\": true,"
    " \"boot_timeout_ms\": 0 }";

static const char full_json_written[] =
    "{\n"
    "  \"name\": \"full-1.x_y\",\n"
    "  \"kernel\": \"/boot/Image\",\n"
    "  \"initrd\": \"/boot/initrd\",\n"
    "  \"params\": \"console=ttyS0 quiet\",\n"
    "  \"memory_mib\": 65536,\n"
    "  \"cpus\": 64,\n"
    "  \"protected\": false,\n"
    "  \"memory_backing\": \"prefer_guest_memfd\",\n"
    "  \"payload_format\": \"raw\",\n"
    "  \"load_address\": 281474976710655,\n"
    "  \"payload_sha256\": "
    "\"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\",\n"
    "  \"console\": {\n"
    "    \"output\": \"none\",\n"
    "    \"input\": true\n"
    "  },\n"
    "  \"debug\": true,\n"
    "  \"boot_timeout_ms\": 0\n"
    "}";

static void test_full_and_round_trip(void)
{
	_cleanup_(pvm_config_freep) pvm_config *cfg = NULL, *again = NULL;
	_cleanup_free_ char *text = NULL, *text2 = NULL;
	pvm_error err = { 0 };
	int r = pvm_config_parse(full_json, strlen(full_json), "full.json", false, &cfg, &err);

	CHECK(r == 0, "%s", err.message);
	if (r < 0)
		return;
	CHECK(cfg->memory_mib == 65536 && cfg->cpus == 64 && !cfg->protected_vm, "numbers");
	CHECK(cfg->payload_sha256[0] == 0xe3 && cfg->payload_sha256[31] == 0x55, "digest bytes");
	CHECK(cfg->load_address == 281474976710655ULL, "load address");
	CHECK(cfg->console_output == PVM_CONSOLE_NONE && cfg->console_input && cfg->debug, "flags");
	CHECK(pvm_config_to_json(cfg, &text) == 0, "to_json");
	CHECK(strcmp(text, full_json_written) == 0, "stable key order:\n%s", text);
	r = pvm_config_parse(text, strlen(text), "again.json", false, &again, &err);
	CHECK(r == 0, "round trip: %s", err.message);
	if (r < 0)
		return;
	CHECK(pvm_config_to_json(again, &text2) == 0 && strcmp(text, text2) == 0, "round trip");
}

/* Devices: disks default to read-only, keys come back in order, the window only with devices. */
static void test_devices(void)
{
	static const char json[] =
	    "{\"name\": \"a\", " K ", \"disks\": [{\"id\": \"data\"}, {\"read_only\": false, "
	    "\"sha256\": \"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\"}], "
	    "\"vsock\": true, \"window_mib\": 4}";
	_cleanup_(pvm_config_freep) pvm_config *cfg = NULL, *again = NULL;
	_cleanup_free_ char *text = NULL, *text2 = NULL;
	pvm_error err = { 0 };
	int r = pvm_config_parse(json, strlen(json), "dev.json", false, &cfg, &err);

	CHECK(r == 0, "%s", err.message);
	if (r < 0)
		return;
	CHECK(cfg->n_disks == 2 && cfg->disks[0].read_only && !cfg->disks[1].read_only, "disks");
	CHECK(strcmp(cfg->disks[0].id, "data") == 0 && !cfg->disks[0].has_sha256, "disk 0");
	CHECK(cfg->disks[1].has_sha256 && cfg->disks[1].sha256[0] == 0xe3, "disk 1 digest");
	CHECK(cfg->vsock && cfg->window_mib == 4 && pvm_config_has_devices(cfg), "vsock, window");
	CHECK(pvm_config_to_json(cfg, &text) == 0, "to_json");
	CHECK(strstr(text, "\"window_mib\": 4") && strstr(text, "\"vsock\": true"), "%s", text);
	r = pvm_config_parse(text, strlen(text), "again.json", false, &again, &err);
	CHECK(r == 0, "round trip: %s", err.message);
	if (r < 0)
		return;
	CHECK(pvm_config_to_json(again, &text2) == 0 && strcmp(text, text2) == 0, "round trip");
}

static void test_firmware(void)
{
	static const char json[] = "{\"name\": \"a\", " K FW "}";
	_cleanup_(pvm_config_freep) pvm_config *cfg = NULL, *again = NULL;
	_cleanup_free_ char *text = NULL, *text2 = NULL;
	pvm_error err = { 0 };
	int r = pvm_config_parse(json, strlen(json), "fw.json", false, &cfg, &err);

	CHECK(r == 0, "%s", err.message);
	if (r < 0)
		return;
	CHECK(strcmp(cfg->firmware, "pvm-fw") == 0 && strcmp(cfg->descriptor, "/d") == 0 &&
		  !cfg->has_firmware_identity,
	      "firmware, descriptor");
	/* the identity pvmd reads is not part of the config text */
	cfg->has_firmware_identity = true;
	CHECK(pvm_config_to_json(cfg, &text) == 0, "to_json");
	CHECK(strstr(text, "\"firmware\": \"pvm-fw\"") && strstr(text, "\"descriptor\": \"/d\"") &&
		  !strstr(text, "identity"),
	      "%s", text);
	r = pvm_config_parse(text, strlen(text), "again.json", false, &again, &err);
	CHECK(r == 0, "round trip: %s", err.message);
	if (r < 0)
		return;
	CHECK(pvm_config_to_json(again, &text2) == 0 && strcmp(text, text2) == 0, "round trip");
}

static void c_set_memory(pvm_config *c)
{
	c->memory_mib = PVM_MEMORY_MIB_MAX + 1;
}

static void c_set_format(pvm_config *c)
{
	c->payload_format = (enum pvm_payload_format)9;
}

static void c_set_console(pvm_config *c)
{
	c->console_output = (enum pvm_console_output)9;
}

static void c_set_address(pvm_config *c)
{
	c->payload_format = PVM_PAYLOAD_RAW;
	c->load_address = PVM_LOAD_ADDRESS_MAX + 1;
}

static void c_set_timeout(pvm_config *c)
{
	c->boot_timeout_ms = PVM_BOOT_TIMEOUT_MS_MAX + 1;
}

static void c_set_params(pvm_config *c)
{
	c->params = malloc(PVM_PARAMS_MAX + 2);
	memset(c->params, 'x', PVM_PARAMS_MAX + 1);
	c->params[PVM_PARAMS_MAX + 1] = '\0';
}

static void c_set_long_path(pvm_config *c)
{
	free(c->kernel);
	c->kernel = malloc(PATH_MAX + 1);
	memset(c->kernel, 'k', PATH_MAX);
	c->kernel[0] = '/';
	c->kernel[PATH_MAX] = '\0';
}

static void test_c_api(void)
{
	_cleanup_(pvm_config_freep) pvm_config *cfg = NULL;
	pvm_error err = { 0 };

	CHECK(pvm_config_new(&cfg) == 0, "new");
	CHECK(pvm_config_validate(cfg, "<c>", false, &err) == -EINVAL, "no name yet");
	CHECK(strncmp(err.message, "<c>: $.name: expected 1 to 64", 29) == 0, "%s", err.message);
	strcpy(cfg->name, "c-api");
	pvm_error_clear(&err);
	CHECK(pvm_config_validate(cfg, "<c>", false, &err) == -EINVAL, "no kernel yet");
	CHECK(strcmp(err.message, "<c>: $.kernel: missing (the payload path is required)") == 0,
	      "%s", err.message);
	cfg->kernel = strdup("/k");
	pvm_error_clear(&err);
	CHECK(pvm_config_validate(cfg, "<c>", false, &err) == 0, "%s", err.message);
	cfg->cpus = 0;
	CHECK(pvm_config_validate(cfg, "<c>", false, &err) == -ERANGE, "cpus 0");
	CHECK(strcmp(err.message, "<c>: $.cpus: expected an integer from 1 to 64, got 0") == 0,
	      "%s", err.message);
	cfg->cpus = 1;
	cfg->memory_backing = (enum pvm_memory_backing)7;
	pvm_error_clear(&err);
	CHECK(pvm_config_validate(cfg, "<c>", false, &err) == -EINVAL, "bad enum");
	char *text = NULL;
	CHECK(pvm_config_to_json(cfg, &text) == -EINVAL && !text, "to_json refuses a bad enum");
	cfg->memory_backing = PVM_MEMORY_BACKING_GUEST_MEMFD;
	cfg->load_address = 4096;
	pvm_error_clear(&err);
	CHECK(pvm_config_validate(cfg, "<c>", false, &err) == -EINVAL, "address without raw");
	CHECK(strstr(err.message, "$.load_address: only allowed") != NULL, "%s", err.message);

	/* the rules a JSON file cannot reach, because the reader's own bounds come first */
	static const struct {
		void (*set)(pvm_config *c);
		const char *message;
	} c_cases[] = {
		{ c_set_memory,
		  "<c>: $.memory_mib: expected an integer from 1 to 65536, got 65537" },
		{ c_set_format, "<c>: $.payload_format: invalid value 9" },
		{ c_set_console, "<c>: $.console.output: invalid value 9" },
		{ c_set_address,
		  "<c>: $.load_address: expected an integer from 0 to 281474976710655, "
		  "got 281474976710656" },
		{ c_set_timeout,
		  "<c>: $.boot_timeout_ms: expected an integer from 0 to 3600000, got "
		  "3600001" },
		{ c_set_params, "<c>: $.params: expected at most 4096 bytes, got 4097" },
		{ c_set_long_path, "<c>: $.kernel: expected a path shorter than 4096 bytes" },
	};
	for (size_t i = 0; i < ELEMENTSOF(c_cases); i++) {
		_cleanup_(pvm_config_freep) pvm_config *c = NULL;
		CHECK(pvm_config_new(&c) == 0, "new");
		strcpy(c->name, "c");
		c->kernel = strdup("/k");
		c_cases[i].set(c);
		pvm_error_clear(&err);
		CHECK(pvm_config_validate(c, "<c>", false, &err) < 0, "C case %zu accepted", i);
		CHECK(strcmp(err.message, c_cases[i].message) == 0,
		      "C case %zu:\n   got: %s\n  want: %s", i, err.message, c_cases[i].message);
	}
}

static void test_names(void)
{
	static const struct {
		const char *name;
		bool valid;
	} names[] = {
		{ "a", true },
		{ "A9", true },
		{ "0", true },
		{ "vm-1.test_x", true },
		{ "", false },
		{ "-a", false },
		{ ".a", false },
		{ "_a", false },
		{ "a b", false },
		{ "a/b", false },
		{ "a:b", false },
		{ "a\nb", false },
		{ "\xc3\xa9", false },
		{ "a*", false },
		{ "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", true },
		{ "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", false },
	};

	for (size_t i = 0; i < ELEMENTSOF(names); i++)
		CHECK(pvm_name_is_valid(names[i].name) == names[i].valid, "name \"%s\"",
		      names[i].name);
	CHECK(!pvm_name_is_valid(NULL), "NULL name");
}

/* Files: existence and type only when asked; the loader's own limits. */
static void test_files(void)
{
	char dir[] = "/tmp/test-config-XXXXXX";
	char kernel[64], json[256], path[64], big[64];
	_cleanup_(pvm_config_freep) pvm_config *cfg = NULL;
	pvm_error err = { 0 };
	int fd;

	CHECK(mkdtemp(dir) != NULL, "mkdtemp");
	snprintf(kernel, sizeof(kernel), "%s/kernel", dir);
	fd = open(kernel, O_WRONLY | O_CREAT | O_EXCL, 0644);
	CHECK(fd >= 0 && write(fd, "x", 1) == 1, "kernel file");
	close(fd);

	snprintf(json, sizeof(json), "{\"name\": \"f\", \"kernel\": \"%s\"}", kernel);
	CHECK(pvm_config_parse(json, strlen(json), "vm.json", true, &cfg, &err) == 0, "%s",
	      err.message);
	cfg = pvm_config_free(cfg);

	snprintf(json, sizeof(json), "{\"name\": \"f\", \"kernel\": \"%s/missing\"}", dir);
	CHECK(pvm_config_parse(json, strlen(json), "vm.json", false, &cfg, &err) == 0,
	      "missing files are fine without check_files");
	cfg = pvm_config_free(cfg);
	CHECK(pvm_config_parse(json, strlen(json), "vm.json", true, &cfg, &err) == -ENOENT,
	      "missing");
	CHECK(strstr(err.message, "vm.json: $.kernel: cannot open /tmp/") &&
		  strstr(err.message, "/missing: No such file or directory"),
	      "%s", err.message);

	pvm_error_clear(&err);
	snprintf(json, sizeof(json), "{\"name\": \"f\", \"kernel\": \"%s\", \"initrd\": \"%s\"}",
		 kernel, dir);
	CHECK(pvm_config_parse(json, strlen(json), "vm.json", true, &cfg, &err) == -EINVAL, "dir");
	CHECK(strstr(err.message, "vm.json: $.initrd: /tmp/") &&
		  strstr(err.message, "is not a regular file"),
	      "%s", err.message);

	/* load_file: the file name is the origin */
	snprintf(path, sizeof(path), "%s/vm.json", dir);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0644);
	snprintf(json, sizeof(json), "{\"name\": \"f\", \"kernel\": \"%s\", \"cpus\": 0}", kernel);
	CHECK(fd >= 0 && write(fd, json, strlen(json)) == (ssize_t)strlen(json), "write");
	close(fd);
	pvm_error_clear(&err);
	CHECK(pvm_config_load_file(path, true, &cfg, &err) == -ERANGE, "cpus 0 in a file");
	CHECK(strncmp(err.message, path, strlen(path)) == 0 &&
		  strstr(err.message, ": $.cpus: expected an integer from 1 to 64, got 0"),
	      "%s", err.message);

	pvm_error_clear(&err);
	CHECK(pvm_config_load_file(dir, true, &cfg, &err) == -EINVAL, "directory as config");
	CHECK(strstr(err.message, ": not a regular file") != NULL, "%s", err.message);
	pvm_error_clear(&err);
	CHECK(pvm_config_load_file("/nonexistent/vm.json", true, &cfg, &err) == -ENOENT, "enoent");
	CHECK(strcmp(err.message, "/nonexistent/vm.json: cannot open: No such file or directory") ==
		  0,
	      "%s", err.message);

	/* absurd sizes: refused before parsing */
	snprintf(big, sizeof(big), "%s/big.json", dir);
	fd = open(big, O_WRONLY | O_CREAT | O_EXCL, 0644);
	CHECK(fd >= 0 && ftruncate(fd, PVM_CONFIG_FILE_MAX + 1) == 0, "big file");
	close(fd);
	pvm_error_clear(&err);
	CHECK(pvm_config_load_file(big, true, &cfg, &err) == -EFBIG, "big");
	CHECK(strstr(err.message, "1048577 bytes, at most 1048576 accepted") != NULL, "%s",
	      err.message);
	{
		size_t n = PVM_CONFIG_FILE_MAX + 1;
		_cleanup_free_ char *text = malloc(n);
		memset(text, ' ', n);
		text[0] = '{';
		text[n - 1] = '}';
		pvm_error_clear(&err);
		CHECK(pvm_config_parse(text, n, "big", false, &cfg, &err) == -EFBIG, "big text");
		/* NUL bytes inside the text */
		memcpy(text, "{\"name\": \"a\"\0}", 14);
		pvm_error_clear(&err);
		CHECK(pvm_config_parse(text, 14, "nul.json", false, &cfg, &err) == -EINVAL, "NUL");
		CHECK(strcmp(err.message, "nul.json: line 1, column 13: NUL byte in JSON text") ==
			  0,
		      "%s", err.message);
	}

	unlink(big);
	unlink(path);
	unlink(kernel);
	rmdir(dir);
}

/* Every shipped example must stay valid. */
static void test_examples(const char *srcdir)
{
	char dirpath[4096];
	unsigned loaded = 0;
	struct dirent *de;
	DIR *d;

	snprintf(dirpath, sizeof(dirpath), "%s/examples", srcdir);
	d = opendir(dirpath);
	CHECK(d != NULL, "open %s", dirpath);
	if (!d)
		return;
	while ((de = readdir(d))) {
		char path[8192];
		size_t n = strlen(de->d_name);
		pvm_config *cfg = NULL;
		pvm_error err = { 0 };

		if (n < 6 || strcmp(de->d_name + n - 5, ".json") != 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dirpath, de->d_name);
		CHECK(pvm_config_load_file(path, false, &cfg, &err) == 0, "%s", err.message);
		pvm_config_free(cfg);
		loaded++;
	}
	closedir(d);
	CHECK(loaded >= 3, "loaded %u examples", loaded);
}

int main(int argc, char **argv)
{
	test_bad_cases();
	test_defaults();
	test_full_and_round_trip();
	test_devices();
	test_firmware();
	test_c_api();
	test_names();
	test_files();
	test_examples(argc > 1 ? argv[1] : ".");
	return check_exit("test-config");
}
