/* Guest bytes made safe for a terminal: a guest controls what its console prints, and a raw
 * escape sequence from it would drive the user's terminal (retitle it, move the cursor over
 * what was shown, answer back). Control characters and malformed UTF-8 become visible \xNN;
 * text, tabs and newlines pass. Pure, so a unit test pins it down. */
#include <stdio.h>

#include "escape.h"

/* Length of the UTF-8 sequence starting at p (of n bytes), 0 if malformed or a C1 control,
 * -1 if it may be complete once more bytes come. */
static int utf8_sequence(const unsigned char *p, size_t n)
{
	int len;
	unsigned min;
	unsigned cp;

	if (p[0] < 0xc2 || p[0] > 0xf4)
		return 0;
	len = p[0] >= 0xf0 ? 4 : p[0] >= 0xe0 ? 3 : 2;
	min = len == 4 ? 0x10000 : len == 3 ? 0x800 : 0x80;
	cp = p[0] & (0x7f >> len);
	for (int i = 1; i < len; i++) {
		if ((size_t)i >= n)
			return -1;
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (p[i] & 0x3f);
	}
	/* overlong forms, surrogates, beyond Unicode, and C1 controls (U+0080..U+009F) */
	if (cp < min || (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff || cp <= 0x9f)
		return 0;
	return len;
}

size_t pvmctl_escape(const void *in, size_t len, bool keep_cr, bool final, char *out,
		     size_t *ret_out_len)
{
	const unsigned char *p = in;
	size_t i = 0, o = 0;

	while (i < len) {
		unsigned char c = p[i];
		int seq;

		if ((c >= 0x20 && c < 0x7f) || c == '\n' || c == '\t' || (keep_cr && c == '\r')) {
			out[o++] = (char)c;
			i++;
			continue;
		}
		seq = c >= 0x80 ? utf8_sequence(p + i, len - i) : 0;
		if (seq < 0 && !final)
			break; /* the rest of the character comes with the next bytes */
		if (seq > 0) {
			for (int k = 0; k < seq; k++)
				out[o++] = (char)p[i++];
			continue;
		}
		o += (size_t)snprintf(out + o, 5, "\\x%02x", c);
		i++;
	}
	*ret_out_len = o;
	return i;
}
