/* Every kind of file descriptor a D-Bus client can send, for the reliability suite's calls:
 * regular files, pipes, FIFOs, sockets of each type and state, and the kernel's special fds.
 * Some kinds keep a peer end open ("held") until pvmd has answered the call. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

typedef struct rel_fd {
	int fd;	       /* the descriptor to send */
	int held;      /* a peer end kept open until the answer comes, or -1 */
	bool stalling; /* without an end of data, a reader of fd waits for ever */
} rel_fd;

typedef struct rel_fd_kind {
	const char *name;
	/* config: JSON text a kind that carries data sends; dir: a directory for temporary files */
	int (*open)(const char *config, const char *dir, rel_fd *ret);
	bool stalling;
} rel_fd_kind;

extern const rel_fd_kind rel_fd_kinds[];
extern const size_t rel_fd_kinds_count;

/* Open one fd of the given kind; on failure returns negative errno and opens nothing. */
int rel_fd_open(const rel_fd_kind *kind, const char *config, const char *dir, rel_fd *ret);
void rel_fd_close(rel_fd *f);
