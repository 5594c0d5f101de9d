/* The online verbs' exit codes (pvmctl(1), EXIT STATUS) from the errno a D-Bus error maps to
 * (libpvm/bus-client.h): one table, kept apart from the verbs so a unit test pins it down. */
#include <errno.h>

#include "macro.h"
#include "pvmctl.h"

typedef struct errno_exit {
	int err;
	int code;
} errno_exit;

static const errno_exit errno_exits[] = {
	{ ENOENT, PVMCTL_EXIT_NO_SUCH_VM },	 { EACCES, PVMCTL_EXIT_DENIED },
	{ EPERM, PVMCTL_EXIT_DENIED },		 { EINVAL, PVMCTL_EXIT_INVALID },
	{ EBUSY, PVMCTL_EXIT_CONFLICT },	 { EEXIST, PVMCTL_EXIT_CONFLICT },
	{ ESRCH, PVMCTL_EXIT_CONFLICT },	 { ESHUTDOWN, PVMCTL_EXIT_CONFLICT },
	{ EDQUOT, PVMCTL_EXIT_LIMIT },		 { EIO, PVMCTL_EXIT_VM_FAILED },
	{ EHOSTUNREACH, PVMCTL_EXIT_NO_DAEMON }, { ECONNREFUSED, PVMCTL_EXIT_NO_DAEMON },
	{ ETIMEDOUT, PVMCTL_EXIT_TIMEOUT },
};

int pvmctl_exit_code_from_errno(int negative_errno)
{
	int e = negative_errno < 0 ? -negative_errno : negative_errno;

	if (e == 0)
		return PVMCTL_EXIT_OK;
	for (size_t i = 0; i < ELEMENTSOF(errno_exits); i++)
		if (errno_exits[i].err == e)
			return errno_exits[i].code;
	return PVMCTL_EXIT_FAILURE;
}
