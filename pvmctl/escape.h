/* Escaping guest output for a terminal (escape.c). */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/* Bytes a terminal shows as text, written at most 4 per input byte to `out` (which holds
 * 4 * len): printable ASCII, newline, tab (and carriage return with keep_cr, for an
 * interactive console), well-formed UTF-8 other than C1 controls; any other byte as "\xNN".
 * Returns how many input bytes were used: fewer than len only when !final and the input ends
 * inside a UTF-8 character, whose start the caller passes again with the next bytes. */
size_t pvmctl_escape(const void *in, size_t len, bool keep_cr, bool final, char *out,
		     size_t *ret_out_len);
