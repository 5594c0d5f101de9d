/* "Did you mean": the candidate closest to a mistyped verb or option. Pure, so a unit test
 * pins down which typos find their word and which find nothing. */
#include <string.h>

#include "pvmctl.h"

/* Optimal string alignment distance (Levenshtein plus adjacent transpositions), capped: words
 * longer than the buffer are never "close". */
#define WORD_MAX 32

static size_t distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), d[WORD_MAX + 1][WORD_MAX + 1];

	if (la > WORD_MAX || lb > WORD_MAX)
		return (size_t)-1;
	for (size_t i = 0; i <= la; i++)
		d[i][0] = i;
	for (size_t j = 0; j <= lb; j++)
		d[0][j] = j;
	for (size_t i = 1; i <= la; i++)
		for (size_t j = 1; j <= lb; j++) {
			size_t cost = a[i - 1] != b[j - 1], best = d[i - 1][j - 1] + cost;
			if (d[i - 1][j] + 1 < best)
				best = d[i - 1][j] + 1;
			if (d[i][j - 1] + 1 < best)
				best = d[i][j - 1] + 1;
			if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
			    d[i - 2][j - 2] + 1 < best)
				best = d[i - 2][j - 2] + 1;
			d[i][j] = best;
		}
	return d[la][lb];
}

const char *pvmctl_closest(const char *word, const char *const *candidates, size_t n)
{
	size_t len = strlen(word), best = (size_t)-1, prefixes = 0;
	const char *found = NULL, *prefix = NULL;

	if (len == 0)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		size_t d = distance(word, candidates[i]);
		if (d < best) {
			best = d;
			found = candidates[i];
		}
		if (strncmp(candidates[i], word, len) == 0) {
			prefixes++;
			prefix = candidates[i];
		}
	}
	/* one or two edits, fewer than the word has letters: "stpo", "lsit"; never "x" -> "kill" */
	if (found && best <= 2 && best < len)
		return found;
	if (prefixes == 1)
		return prefix;
	return NULL;
}
