/* libFuzzer target: pvmd's check of messages from its (untrusted) runner. The first byte picks
 * how many file descriptors "arrived" and the direction; the rest is the datagram. An accepted
 * message must have the size its header claims and a terminated text field where it has one. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "runner-protocol.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	runner_msg_header h;
	const char *reason = NULL;
	uint8_t *copy;

	if (size < 1 || size > RUNNER_MSG_MAX + 1)
		return 0;
	/* a heap copy of exactly the datagram, so reading past it is caught */
	copy = malloc(size - 1 ? size - 1 : 1);
	if (!copy)
		return 0;
	memcpy(copy, data + 1, size - 1);
	if (runner_msg_check(copy, size - 1, data[0] & 3, data[0] & 4, &reason) == 0) {
		memcpy(&h, copy, sizeof(h));
		if (h.size != size - 1 || h.magic != RUNNER_MSG_MAGIC)
			abort();
		if (h.type == RUNNER_MSG_EXIT || h.type == RUNNER_MSG_NOTICE) {
			const runner_msg_event *e = runner_msg_body(copy);
			if (strlen(e->detail) >= sizeof(e->detail))
				abort();
		}
	} else if (!reason) {
		abort();
	}
	free(copy);
	return 0;
}
