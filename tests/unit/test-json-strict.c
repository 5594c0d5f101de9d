/* json-strict contract: duplicate keys are found at any depth and after unescaping, paths name
 * odd keys readably, and the typed readers refuse what they promise to refuse. */
#include <string.h>

#include "check.h"
#include "json-strict.h"

static void parse_expect(const char *text, const char *want_prefix)
{
	_cleanup_json_ json_object *o = NULL;
	pvm_error err = { 0 };
	int r = pvm_json_parse(text, strlen(text), 4096, 8, "t.json", &o, &err);

	if (!want_prefix) {
		CHECK(r == 0 && o, "%s: %s", text, err.message);
		return;
	}
	CHECK(r < 0 && !o, "%s accepted", text);
	CHECK(strncmp(err.message, want_prefix, strlen(want_prefix)) == 0,
	      "%s:\n   got: %s\n  want: %s", text, err.message, want_prefix);
}

static void test_duplicates(void)
{
	parse_expect("{\"a\": 1, \"b\": 2}", NULL);
	parse_expect("{\"a\": {\"a\": {\"a\": 1}}}", NULL); /* the same key at different levels */
	parse_expect("[{\"a\": 1}, {\"a\": 1}]", NULL);	    /* ... and in sibling objects */
	parse_expect("{\"a\": 1, \"a\": 2}", "t.json: $.a: duplicate key in one object");
	parse_expect("{\"a\": 1, \"\\u0061\": 2}", "t.json: $.a: duplicate key in one object");
	parse_expect("{\"x\": [0, {\"k\": 1, \"b\": 0, \"k\": 1}]}",
		     "t.json: $.x[1].k: duplicate key in one object");
	parse_expect("{\"a b\": 1, \"a\\u0020b\": 2}", "t.json: $[\"a b\"]: duplicate key");
	parse_expect("{\"\": 1, \"\": 2}", "t.json: $[\"\"]: duplicate key");
	/* keys with escaped quotes and braces do not confuse the scanner */
	parse_expect("{\"a\\\"}\": {\"{\": \"}\\\"\"}, \"b\": \"[\"}", NULL);
	/* a key differing only after an embedded NUL is a different key */
	parse_expect("{\"a\": 1, \"a\\u0000b\": 2}", "t.json: $.a: key with a NUL character");
	/* integers that do not fit 64 bits (json-c would clamp them) */
	parse_expect("{\"a\": [18446744073709551615, -9223372036854775808]}", NULL);
	parse_expect("{\"a\": [0, 18446744073709551616]}",
		     "t.json: $.a[1]: integer 18446744073709551616 does not fit in 64 bits");
	parse_expect("{\"a\": -9223372036854775809}",
		     "t.json: $.a: integer -9223372036854775809 does not fit in 64 bits");
	parse_expect("{\"a\": 1000000000000000000000000000000000000}",
		     "t.json: $.a: integer 100000000000000000000000... does not fit");
	parse_expect("{\"a\": 1e400}", NULL); /* a float: refused by the typed readers */
	parse_expect("  {\"a\": 1}  \n", NULL);
	parse_expect("{\"a\": 1} 2",
		     "t.json: line 1, column 10: unexpected text after the JSON value");
	parse_expect("{\"a\":\n\n  1,}", "t.json: line 3, column 5: invalid JSON");
	parse_expect("[[[[[[[1]]]]]]]", NULL);
	parse_expect("[[[[[[[[1]]]]]]]]", "t.json: line 1, column 9: JSON nested deeper than 8");
}

static void test_readers(void)
{
	_cleanup_json_ json_object *o = NULL;
	pvm_error err = { 0 };
	const char *s;
	uint64_t u;
	bool b;
	unsigned e;
	size_t n;
	static const char *const names[] = { "one", "two" };
	static const char text[] =
	    "{\"i\": 7, \"neg\": -7, \"big\": 18446744073709551615, \"f\": 2.0, \"s\": \"str\","
	    " \"b\": false, \"arr\": [1, 2, 3], \"long\": "
	    "\"0123456789012345678901234567890123456789"
	    "0123456789\"}";

	CHECK(pvm_json_parse(text, strlen(text), 4096, 8, "t", &o, &err) == 0, "%s", err.message);
#define GET(k) json_object_object_get(o, k)
	CHECK(pvm_json_get_uint(GET("i"), 0, 7, "t", "$.i", &u, &err) == 0 && u == 7, "7 in 0..7");
	CHECK(pvm_json_get_uint(GET("i"), 8, 9, "t", "$.i", &u, &err) == -ERANGE, "7 not in 8..9");
	CHECK(strcmp(err.message, "t: $.i: expected an integer from 8 to 9, got 7") == 0, "%s",
	      err.message);
	pvm_error_clear(&err);
	CHECK(pvm_json_get_uint(GET("neg"), 0, 100, "t", "$.neg", &u, &err) == -ERANGE, "negative");
	CHECK(pvm_json_get_uint(GET("big"), 0, UINT64_MAX, "t", "$.big", &u, &err) == 0 &&
		  u == UINT64_MAX,
	      "uint64 max");
	pvm_error_clear(&err);
	CHECK(pvm_json_get_uint(GET("f"), 0, 100, "t", "$.f", &u, &err) == -EINVAL, "float");
	CHECK(strcmp(err.message, "t: $.f: expected an integer from 0 to 100, got 2.0") == 0, "%s",
	      err.message);
	pvm_error_clear(&err);
	CHECK(pvm_json_get_uint(NULL, 0, 100, "t", "$.missing", &u, &err) == -EINVAL, "null");
	CHECK(pvm_json_get_bool(GET("b"), "t", "$.b", &b, &err) == 0 && !b, "bool");
	CHECK(pvm_json_get_string(GET("s"), 1, 3, "t", "$.s", &s, &err) == 0 && !strcmp(s, "str"),
	      "string");
	pvm_error_clear(&err);
	CHECK(pvm_json_get_string(GET("s"), 4, 8, "t", "$.s", &s, &err) == -EINVAL, "short string");
	CHECK(strcmp(err.message, "t: $.s: expected a string of 4 to 8 bytes, got 3") == 0, "%s",
	      err.message);
	pvm_error_clear(&err);
	CHECK(pvm_json_get_enum(GET("s"), names, 2, "t", "$.s", &e, &err) == -EINVAL, "enum");
	CHECK(strcmp(err.message, "t: $.s: expected \"one\" or \"two\", got \"str\"") == 0, "%s",
	      err.message);
	pvm_error_clear(&err);
	CHECK(pvm_json_get_array(GET("arr"), 0, 3, "t", "$.arr", &n, &err) == 0 && n == 3, "array");
	CHECK(pvm_json_get_array(GET("arr"), 0, 2, "t", "$.arr", &n, &err) == -E2BIG, "long array");
	CHECK(strcmp(err.message, "t: $.arr: expected at most 2 entries, got 3") == 0, "%s",
	      err.message);
	pvm_error_clear(&err);
	CHECK(pvm_json_get_array(GET("arr"), 4, 5, "t", "$.arr", &n, &err) == -EINVAL,
	      "short array");
	CHECK(strcmp(err.message, "t: $.arr: expected at least 4 entries, got 3") == 0, "%s",
	      err.message);
	pvm_error_clear(&err);
	CHECK(pvm_json_get_object(GET("arr"), "t", "$.arr", &err) == -EINVAL, "object");
	pvm_error_clear(&err);
	/* long values are cut in messages */
	CHECK(pvm_json_get_bool(GET("long"), "t", "$.long", &b, &err) == -EINVAL, "long");
	CHECK(strcmp(err.message, "t: $.long: expected true or false, got "
				  "\"012345678901234567890123456789012345...") == 0,
	      "%s", err.message);
#undef GET
}

static void test_paths(void)
{
	char p[PVM_JSON_PATH_MAX], q[PVM_JSON_PATH_MAX];

	pvm_json_path_key(p, "$", "console");
	pvm_json_path_key(q, p, "output");
	CHECK(strcmp(q, "$.console.output") == 0, "%s", q);
	pvm_json_path_index(q, p, 3);
	CHECK(strcmp(q, "$.console[3]") == 0, "%s", q);
	pvm_json_path_key(q, "$", "9lives");
	CHECK(strcmp(q, "$[\"9lives\"]") == 0, "%s", q);
	pvm_json_path_key(q, "$", "a\"b");
	CHECK(strcmp(q, "$[\"a\\\"b\"]") == 0, "%s", q);
}

int main(void)
{
	test_duplicates();
	test_readers();
	test_paths();
	return check_exit("test-json-strict");
}
