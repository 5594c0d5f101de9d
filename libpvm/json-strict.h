/* Strict JSON input for pvm's config and policy files: json-c in strict mode with size and depth
 * limits, duplicate keys refused, and typed field readers whose errors name the input, the JSON
 * path and the expectation ("vm.json: $.cpus: expected an integer from 1 to 64, got 0"). */
#pragma once

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"

#define PVM_JSON_PATH_MAX 256

static inline void json_object_putp(json_object **p)
{
	if (*p)
		json_object_put(*p);
}
#define _cleanup_json_ _cleanup_(json_object_putp)

/* Parse `len` bytes of JSON text: at most max_len bytes, nesting at most max_depth, UTF-8
 * validated, nothing but whitespace after the value, no NUL bytes, no key twice in one object
 * (json-c would silently keep the last one). Keys are compared after unescaping, so "a" and
 * "\u0061" are the same key. */
int pvm_json_parse(const char *text, size_t len, size_t max_len, int max_depth, const char *origin,
		   json_object **ret, pvm_error *err);

/* Read a whole regular file of at most max_len bytes; the result is NUL-terminated. Errors
 * name the path. */
int pvm_json_read_file(const char *path, size_t max_len, char **ret_text, size_t *ret_len,
		       pvm_error *err);

/* JSON paths: "$", "$.console", "$.rules[2]", "$[\"odd key\"]". Long paths are truncated. */
void pvm_json_path_key(char out[static PVM_JSON_PATH_MAX], const char *parent, const char *key);
void pvm_json_path_index(char out[static PVM_JSON_PATH_MAX], const char *parent, size_t index);

/* Record "origin: path: message" and return -code. */
int pvm_json_error(pvm_error *err, int code, const char *origin, const char *path, const char *fmt,
		   ...) _printf_(5, 6);

/* "got ..." text for error messages: `"abc"`, `1.5`, `-3`, `null`, `an object`, `an array`. */
const char *pvm_json_describe(json_object *v, char *buf, size_t n);

/* Typed readers. `v` may be NULL (a JSON null or a missing member): that is a type error too.
 * Each writes *ret only on success. */
int pvm_json_get_object(json_object *v, const char *origin, const char *path, pvm_error *err);
int pvm_json_get_array(json_object *v, size_t min_items, size_t max_items, const char *origin,
		       const char *path, size_t *ret_n, pvm_error *err);
int pvm_json_get_bool(json_object *v, const char *origin, const char *path, bool *ret,
		      pvm_error *err);
/* Integers only: floats, negative values and values outside min..max are refused (json-c's
 * strict mode already refuses values that overflow 64 bits). */
int pvm_json_get_uint(json_object *v, uint64_t min, uint64_t max, const char *origin,
		      const char *path, uint64_t *ret, pvm_error *err);
/* Strings of min_len..max_len bytes without NUL characters; *ret points into `v`. */
int pvm_json_get_string(json_object *v, size_t min_len, size_t max_len, const char *origin,
			const char *path, const char **ret, pvm_error *err);
/* One of `names`; *ret is its index. */
int pvm_json_get_enum(json_object *v, const char *const *names, size_t n_names, const char *origin,
		      const char *path, unsigned *ret, pvm_error *err);

/* Walk the members of an object, calling the member's handler from a table; a key not in the
 * table is refused with the list of known keys. */
typedef int (*pvm_json_member_fn)(json_object *v, const char *origin, const char *path,
				  void *userdata, pvm_error *err);
typedef struct pvm_json_member {
	const char *key;
	pvm_json_member_fn parse;
} pvm_json_member;

int pvm_json_parse_members(json_object *obj, const pvm_json_member *table, size_t n_table,
			   const char *origin, const char *path, void *userdata, pvm_error *err);

/* Lower-case hex of exactly 2*n digits (upper case accepted) into bytes. */
int pvm_json_get_hex(json_object *v, uint8_t *out, size_t n, const char *origin, const char *path,
		     pvm_error *err);
