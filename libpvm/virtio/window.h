/* The shared window: the one range of guest memory a device model may touch. For a protected
 * VM it is the memory the guest shares with the host (a restricted-dma-pool); everything the
 * device reads or writes is looked up here, so an address outside it can never be reached. */
#pragma once

#include <stddef.h>
#include <stdint.h>

typedef struct pvm_window {
	uint64_t gpa;  /* guest physical address of the first byte */
	uint64_t size; /* bytes */
	uint8_t *host; /* the runner's mapping of exactly [gpa, gpa + size) */
} pvm_window;

/* The host address of guest range [gpa, gpa + len) when all of it lies inside the window, else
 * NULL. len 0 is a valid empty range at any address inside the window or at its end. Written
 * so that no sum can overflow, whatever the guest put in gpa and len. */
static inline void *pvm_window_at(const pvm_window *w, uint64_t gpa, uint64_t len)
{
	if (!w || !w->host || gpa < w->gpa)
		return NULL;
	uint64_t off = gpa - w->gpa;
	if (off > w->size || len > w->size - off)
		return NULL;
	return w->host + off;
}
