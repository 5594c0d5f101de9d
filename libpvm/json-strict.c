/* Strict JSON loading on json-c plus the duplicate-key scan json-c lacks, and typed readers whose
 * errors say where (origin, JSON path) and what was expected. Used by config.c and policy.c. */
#include <ctype.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "json-strict.h"

int pvm_json_error(pvm_error *err, int code, const char *origin, const char *path, const char *fmt,
		   ...)
{
	char msg[PVM_ERROR_MESSAGE_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return pvm_error_set(err, code, "%s: %s: %s", origin, path, msg);
}

/* Line and column (1-based) of a byte offset, for syntax errors where no JSON path exists. */
static void offset_to_line(const char *text, size_t off, unsigned *ret_line, unsigned *ret_col)
{
	unsigned line = 1, col = 1;

	for (size_t i = 0; i < off; i++) {
		if (text[i] == '\n') {
			line++;
			col = 1;
		} else
			col++;
	}
	*ret_line = line;
	*ret_col = col;
}

static bool is_json_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* --- duplicate keys ----------------------------------------------------------------------
 * json-c keeps the last of two equal keys without a word. The text has already passed json-c's
 * strict parser, so this scanner only needs to find object keys: it decodes each key through
 * json-c (so escapes compare equal to their characters), then sorts the keys of each object to
 * find equal neighbours in O(n log n) even for huge objects. */

struct key {
	char *s;
	size_t len;
};

struct scanner {
	const char *text;
	size_t len;
	size_t pos;
	json_tokener *tok;
	const char *origin;
	pvm_error *err;
};

static void keys_free(struct key *keys, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(keys[i].s);
	free(keys);
}

static int key_compare(const void *a, const void *b)
{
	const struct key *x = a, *y = b;
	int r = memcmp(x->s, y->s, MIN(x->len, y->len));

	if (r != 0)
		return r;
	return x->len < y->len ? -1 : x->len > y->len;
}

static void scan_skip_space(struct scanner *s)
{
	while (s->pos < s->len && is_json_space(s->text[s->pos]))
		s->pos++;
}

/* Skip a string token starting at its opening quote; returns its end (after the quote). */
static int scan_skip_string(struct scanner *s)
{
	s->pos++;
	while (s->pos < s->len) {
		char c = s->text[s->pos++];
		if (c == '\\')
			s->pos++;
		else if (c == '"')
			return 0;
	}
	return -EINVAL;
}

static int scan_value(struct scanner *s, const char *path);

/* json-c clamps integers that do not fit 64 bits to INT64_MIN or UINT64_MAX without an error,
 * so an overflowing number would pass as a valid huge value: refuse it here. */
static int scan_check_integer(struct scanner *s, size_t start, const char *path)
{
	char buf[32];
	size_t n = s->pos - start;
	bool negative = s->text[start] == '-';

	if (!(negative || (s->text[start] >= '0' && s->text[start] <= '9')))
		return 0; /* true, false, null */
	for (size_t i = start; i < s->pos; i++)
		if (strchr(".eE", s->text[i]))
			return 0; /* a float: type checks refuse it where an integer is expected */
	if (n < sizeof(buf)) {
		memcpy(buf, s->text + start, n);
		buf[n] = '\0';
		errno = 0;
		if (negative)
			(void)strtoll(buf, NULL, 10);
		else
			(void)strtoull(buf, NULL, 10);
		if (errno == 0)
			return 0;
	}
	return pvm_json_error(s->err, ERANGE, s->origin, path,
			      "integer %.*s%s does not fit in 64 bits", (int)MIN(n, 24),
			      s->text + start, n > 24 ? "..." : "");
}

static int scan_decode_key(struct scanner *s, size_t start, struct key *ret)
{
	_cleanup_json_ json_object *o = NULL;

	json_tokener_reset(s->tok);
	o = json_tokener_parse_ex(s->tok, s->text + start, (int)(s->pos - start));
	if (!o || !json_object_is_type(o, json_type_string))
		return -EINVAL;
	ret->len = (size_t)json_object_get_string_len(o);
	ret->s = malloc(ret->len + 1);
	if (!ret->s)
		return -ENOMEM;
	memcpy(ret->s, json_object_get_string(o), ret->len + 1);
	return 0;
}

static int scan_object(struct scanner *s, const char *path)
{
	struct key *keys = NULL;
	size_t n = 0, cap = 0;
	int r = 0;

	s->pos++; /* '{' */
	for (;;) {
		char child[PVM_JSON_PATH_MAX];
		size_t start;

		scan_skip_space(s);
		if (s->pos >= s->len) {
			r = -EINVAL;
			break;
		}
		if (s->text[s->pos] == '}') {
			s->pos++;
			break;
		}
		if (s->text[s->pos] == ',') {
			s->pos++;
			continue;
		}
		start = s->pos;
		if (s->text[start] != '"' || scan_skip_string(s) < 0) {
			r = -EINVAL;
			break;
		}
		if (n == cap) {
			size_t ncap = cap ? cap * 2 : 8;
			struct key *nk = realloc(keys, ncap * sizeof(*keys));
			if (!nk) {
				r = -ENOMEM;
				break;
			}
			keys = nk;
			cap = ncap;
		}
		r = scan_decode_key(s, start, &keys[n]);
		if (r < 0)
			break;
		n++;
		pvm_json_path_key(child, path, keys[n - 1].s);
		/* json-c keeps keys as C strings: "a\u0000b" would become "a" and could silently
		 * replace a real "a" */
		if (strlen(keys[n - 1].s) != keys[n - 1].len) {
			r = pvm_json_error(s->err, EINVAL, s->origin, child,
					   "key with a NUL character");
			break;
		}
		scan_skip_space(s);
		if (s->pos >= s->len || s->text[s->pos] != ':') {
			r = -EINVAL;
			break;
		}
		s->pos++;
		r = scan_value(s, child);
		if (r < 0)
			break;
	}
	if (r == 0 && n > 1) {
		qsort(keys, n, sizeof(*keys), key_compare);
		for (size_t i = 1; i < n; i++) {
			if (key_compare(&keys[i - 1], &keys[i]) == 0) {
				char child[PVM_JSON_PATH_MAX];
				pvm_json_path_key(child, path, keys[i].s);
				r = pvm_json_error(s->err, EINVAL, s->origin, child,
						   "duplicate key in one object");
				break;
			}
		}
	} else if (r == -EINVAL && s->err && s->err->code == 0)
		r = pvm_error_set(s->err, EINVAL, "%s: malformed JSON at byte %zu", s->origin,
				  s->pos);
	keys_free(keys, n);
	return r;
}

static int scan_array(struct scanner *s, const char *path)
{
	size_t index = 0;

	s->pos++; /* '[' */
	for (;;) {
		char child[PVM_JSON_PATH_MAX];
		int r;

		scan_skip_space(s);
		if (s->pos >= s->len)
			return -EINVAL;
		if (s->text[s->pos] == ']') {
			s->pos++;
			return 0;
		}
		if (s->text[s->pos] == ',') {
			s->pos++;
			continue;
		}
		pvm_json_path_index(child, path, index++);
		r = scan_value(s, child);
		if (r < 0)
			return r;
	}
}

static int scan_value(struct scanner *s, const char *path)
{
	scan_skip_space(s);
	if (s->pos >= s->len)
		return -EINVAL;
	switch (s->text[s->pos]) {
	case '{':
		return scan_object(s, path);
	case '[':
		return scan_array(s, path);
	case '"':
		return scan_skip_string(s);
	default: {
		/* number or literal: runs to the next delimiter */
		size_t start = s->pos;
		while (s->pos < s->len && !is_json_space(s->text[s->pos]) &&
		       !strchr(",]}", s->text[s->pos]))
			s->pos++;
		return scan_check_integer(s, start, path);
	}
	}
}

int pvm_json_parse(const char *text, size_t len, size_t max_len, int max_depth, const char *origin,
		   json_object **ret, pvm_error *err)
{
	_cleanup_json_ json_object *obj = NULL;
	json_tokener *tok;
	const char *nul;
	size_t end;
	int r;

	if (len > max_len)
		return pvm_error_set(err, EFBIG, "%s: %zu bytes of JSON, at most %zu accepted",
				     origin, len, max_len);
	if (len > INT32_MAX)
		return pvm_error_set(err, EFBIG, "%s: too large", origin);
	nul = memchr(text, '\0', len);
	if (nul) {
		unsigned line, col;
		offset_to_line(text, (size_t)(nul - text), &line, &col);
		return pvm_error_set(err, EINVAL, "%s: line %u, column %u: NUL byte in JSON text",
				     origin, line, col);
	}

	tok = json_tokener_new_ex(max_depth);
	if (!tok)
		return pvm_error_set(err, ENOMEM, "%s: out of memory", origin);
	/* trailing text is checked below, for a clearer message than json-c's */
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8 |
					JSON_TOKENER_ALLOW_TRAILING_CHARS);
	obj = json_tokener_parse_ex(tok, text, (int)len);
	end = json_tokener_get_parse_end(tok);
	if (!obj) {
		enum json_tokener_error e = json_tokener_get_error(tok);
		unsigned line, col;
		const char *what = e == json_tokener_continue	   ? "unexpected end of input"
				   : e == json_tokener_error_depth ? "nesting too deep"
								   : json_tokener_error_desc(e);

		offset_to_line(text, MIN(end, len), &line, &col);
		json_tokener_free(tok);
		if (e == json_tokener_error_depth)
			return pvm_error_set(
			    err, EINVAL,
			    "%s: line %u, column %u: JSON nested deeper than %d levels", origin,
			    line, col, max_depth);
		return pvm_error_set(err, EINVAL, "%s: line %u, column %u: invalid JSON: %s",
				     origin, line, col, what);
	}
	while (end < len && is_json_space(text[end]))
		end++;
	if (end < len) {
		unsigned line, col;
		offset_to_line(text, end, &line, &col);
		json_tokener_free(tok);
		return pvm_error_set(err, EINVAL,
				     "%s: line %u, column %u: unexpected text after the JSON value",
				     origin, line, col);
	}

	struct scanner s = {
		.text = text,
		.len = len,
		.tok = tok,
		.origin = origin,
		.err = err,
	};
	r = scan_value(&s, "$");
	json_tokener_free(tok);
	if (r < 0)
		return r == -ENOMEM ? pvm_error_set(err, ENOMEM, "%s: out of memory", origin)
				    : pvm_error_set(err, r, "%s: malformed JSON", origin);

	*ret = TAKE_PTR(obj);
	return 0;
}

int pvm_json_read_file(const char *path, size_t max_len, char **ret_text, size_t *ret_len,
		       pvm_error *err)
{
	_cleanup_close_ int fd = -1;
	_cleanup_free_ char *buf = NULL;
	struct stat st;
	size_t n = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return pvm_error_set(err, errno, "%s: cannot open: %s", path, strerror(errno));
	if (fstat(fd, &st) < 0)
		return pvm_error_set(err, errno, "%s: cannot stat: %s", path, strerror(errno));
	if (!S_ISREG(st.st_mode))
		return pvm_error_set(err, EINVAL, "%s: not a regular file", path);
	if ((uint64_t)st.st_size > max_len)
		return pvm_error_set(err, EFBIG, "%s: %" PRIu64 " bytes, at most %zu accepted",
				     path, (uint64_t)st.st_size, max_len);
	/* read one byte more than allowed so a file that grows meanwhile is caught too */
	buf = malloc(max_len + 2);
	if (!buf)
		return pvm_error_set(err, ENOMEM, "%s: out of memory", path);
	for (;;) {
		ssize_t k = read(fd, buf + n, max_len + 1 - n);
		if (k < 0) {
			if (errno == EINTR)
				continue;
			return pvm_error_set(err, errno, "%s: cannot read: %s", path,
					     strerror(errno));
		}
		if (k == 0)
			break;
		n += (size_t)k;
		if (n > max_len)
			return pvm_error_set(err, EFBIG, "%s: more than %zu bytes", path, max_len);
	}
	buf[n] = '\0';
	*ret_text = TAKE_PTR(buf);
	*ret_len = n;
	return 0;
}

static bool is_identifier(const char *key)
{
	if (!isalpha((unsigned char)key[0]) && key[0] != '_')
		return false;
	for (const char *p = key; *p; p++)
		if (!isalnum((unsigned char)*p) && *p != '_')
			return false;
	return true;
}

void pvm_json_path_key(char out[static PVM_JSON_PATH_MAX], const char *parent, const char *key)
{
	if (is_identifier(key) && strlen(key) <= 64) {
		snprintf(out, PVM_JSON_PATH_MAX, "%s.%s", parent, key);
		return;
	}
	/* other keys are shown as an escaped JSON string, cut short if long */
	_cleanup_json_ json_object *s = json_object_new_string_len(key, (int)strnlen(key, 64));
	snprintf(out, PVM_JSON_PATH_MAX, "%s[%s]", parent,
		 s ? json_object_to_json_string_ext(s, JSON_C_TO_STRING_NOSLASHESCAPE) : "?");
}

void pvm_json_path_index(char out[static PVM_JSON_PATH_MAX], const char *parent, size_t index)
{
	snprintf(out, PVM_JSON_PATH_MAX, "%s[%zu]", parent, index);
}

const char *pvm_json_describe(json_object *v, char *buf, size_t n)
{
	const char *text;

	switch (json_object_get_type(v)) {
	case json_type_null:
		return "null";
	case json_type_object:
		return "an object";
	case json_type_array:
		return "an array";
	default:
		text = json_object_to_json_string_ext(v, JSON_C_TO_STRING_NOSLASHESCAPE);
		if (strlen(text) > 40)
			snprintf(buf, n, "%.37s...", text);
		else
			snprintf(buf, n, "%s", text);
		return buf;
	}
}

#define GOT(v) pvm_json_describe((v), (char[64]){ 0 }, 64)

int pvm_json_get_object(json_object *v, const char *origin, const char *path, pvm_error *err)
{
	if (!json_object_is_type(v, json_type_object))
		return pvm_json_error(err, EINVAL, origin, path, "expected an object, got %s",
				      GOT(v));
	return 0;
}

int pvm_json_get_array(json_object *v, size_t min_items, size_t max_items, const char *origin,
		       const char *path, size_t *ret_n, pvm_error *err)
{
	size_t n;

	if (!json_object_is_type(v, json_type_array))
		return pvm_json_error(err, EINVAL, origin, path, "expected an array, got %s",
				      GOT(v));
	n = json_object_array_length(v);
	if (n > max_items)
		return pvm_json_error(err, E2BIG, origin, path,
				      "expected at most %zu entries, got %zu", max_items, n);
	if (n < min_items && min_items == 1)
		return pvm_json_error(err, EINVAL, origin, path,
				      "expected at least one entry, got an empty array");
	if (n < min_items)
		return pvm_json_error(err, EINVAL, origin, path,
				      "expected at least %zu entries, got %zu", min_items, n);
	*ret_n = n;
	return 0;
}

int pvm_json_get_bool(json_object *v, const char *origin, const char *path, bool *ret,
		      pvm_error *err)
{
	if (!json_object_is_type(v, json_type_boolean))
		return pvm_json_error(err, EINVAL, origin, path, "expected true or false, got %s",
				      GOT(v));
	*ret = json_object_get_boolean(v);
	return 0;
}

int pvm_json_get_uint(json_object *v, uint64_t min, uint64_t max, const char *origin,
		      const char *path, uint64_t *ret, pvm_error *err)
{
	uint64_t u;

	/* json-c stores integers above INT64_MAX as uint64 and refuses (in strict mode) any that
	 * do not fit 64 bits; a negative value is only ever an int64 */
	if (!json_object_is_type(v, json_type_int) || json_object_get_int64(v) < 0 ||
	    (u = json_object_get_uint64(v)) < min || u > max)
		return pvm_json_error(err, json_object_is_type(v, json_type_int) ? ERANGE : EINVAL,
				      origin, path,
				      "expected an integer from %" PRIu64 " to %" PRIu64 ", got %s",
				      min, max, GOT(v));
	*ret = u;
	return 0;
}

int pvm_json_get_string(json_object *v, size_t min_len, size_t max_len, const char *origin,
			const char *path, const char **ret, pvm_error *err)
{
	const char *s;
	size_t len;

	if (!json_object_is_type(v, json_type_string))
		return pvm_json_error(err, EINVAL, origin, path, "expected a string, got %s",
				      GOT(v));
	s = json_object_get_string(v);
	len = (size_t)json_object_get_string_len(v);
	if (strlen(s) != len)
		return pvm_json_error(err, EINVAL, origin, path,
				      "expected a string without NUL characters");
	if (len < min_len || len > max_len) {
		if (min_len == max_len)
			return pvm_json_error(err, EINVAL, origin, path,
					      "expected a string of %zu bytes, got %zu", min_len,
					      len);
		return pvm_json_error(err, EINVAL, origin, path,
				      "expected a string of %zu to %zu bytes, got %zu", min_len,
				      max_len, len);
	}
	*ret = s;
	return 0;
}

int pvm_json_get_enum(json_object *v, const char *const *names, size_t n_names, const char *origin,
		      const char *path, unsigned *ret, pvm_error *err)
{
	char expected[256] = "";
	size_t used = 0;

	if (json_object_is_type(v, json_type_string))
		for (size_t i = 0; i < n_names; i++)
			if (strcmp(json_object_get_string(v), names[i]) == 0 &&
			    strlen(names[i]) == (size_t)json_object_get_string_len(v)) {
				*ret = (unsigned)i;
				return 0;
			}
	for (size_t i = 0; i < n_names && used < sizeof(expected); i++)
		used += (size_t)snprintf(expected + used, sizeof(expected) - used, "%s\"%s\"",
					 i == 0		    ? ""
					 : i + 1 == n_names ? " or "
							    : ", ",
					 names[i]);
	return pvm_json_error(err, EINVAL, origin, path, "expected %s, got %s", expected, GOT(v));
}

int pvm_json_parse_members(json_object *obj, const pvm_json_member *table, size_t n_table,
			   const char *origin, const char *path, void *userdata, pvm_error *err)
{
	int r = pvm_json_get_object(obj, origin, path, err);
	if (r < 0)
		return r;

	json_object_object_foreach (obj, key, value) {
		char child[PVM_JSON_PATH_MAX];
		const pvm_json_member *m = NULL;

		pvm_json_path_key(child, path, key);
		for (size_t i = 0; i < n_table && !m; i++)
			if (strcmp(table[i].key, key) == 0)
				m = &table[i];
		if (!m) {
			char known[512] = "";
			size_t used = 0;
			for (size_t i = 0; i < n_table && used < sizeof(known); i++)
				used += (size_t)snprintf(known + used, sizeof(known) - used, "%s%s",
							 i ? ", " : "", table[i].key);
			return pvm_json_error(err, EINVAL, origin, child,
					      "unknown key (known keys: %s)", known);
		}
		r = m->parse(value, origin, child, userdata, err);
		if (r < 0)
			return r;
	}
	return 0;
}

static int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int pvm_json_get_hex(json_object *v, uint8_t *out, size_t n, const char *origin, const char *path,
		     pvm_error *err)
{
	uint8_t tmp[128];
	const char *s;
	int r;

	if (n > sizeof(tmp))
		return -EINVAL;
	r = pvm_json_get_string(v, 0, SIZE_MAX, origin, path, &s, err);
	if (r < 0)
		return r;
	for (size_t i = 0; i <= n; i++) {
		int hi, lo;
		if (i == n) {
			if (s[2 * i] == '\0')
				break;
			goto bad;
		}
		if (s[2 * i] == '\0' || s[2 * i + 1] == '\0')
			goto bad;
		hi = hex_digit(s[2 * i]);
		lo = hex_digit(s[2 * i + 1]);
		if (hi < 0 || lo < 0)
			goto bad;
		tmp[i] = (uint8_t)(hi << 4 | lo);
	}
	memcpy(out, tmp, n);
	return 0;
bad:
	return pvm_json_error(err, EINVAL, origin, path, "expected %zu hexadecimal digits, got %s",
			      2 * n, GOT(v));
}
