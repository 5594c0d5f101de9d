/* The org.pvm1 error contract: every named error maps to the errno both pvmd and clients agree
 * on, and pvmctl turns each into its documented exit code. */
#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "bus-client.h"
#include "vm-verbs.h"

static const struct {
	const char *name;
	int err;
	int exit_code;
} expected[] = {
	{ PVM_BUS_ERROR_POLICY_DENIED, EACCES, PVMCTL_EXIT_DENIED },
	{ PVM_BUS_ERROR_INVALID_CONFIG, EINVAL, PVMCTL_EXIT_INVALID },
	{ PVM_BUS_ERROR_INVALID_ARGUMENT, EINVAL, PVMCTL_EXIT_INVALID },
	{ PVM_BUS_ERROR_NO_SUCH_VM, ENOENT, PVMCTL_EXIT_NO_SUCH_VM },
	{ PVM_BUS_ERROR_BUSY, EBUSY, PVMCTL_EXIT_CONFLICT },
	{ PVM_BUS_ERROR_LIMIT_EXCEEDED, EDQUOT, PVMCTL_EXIT_LIMIT },
	{ PVM_BUS_ERROR_ALREADY_EXISTS, EEXIST, PVMCTL_EXIT_CONFLICT },
	{ PVM_BUS_ERROR_NOT_RUNNING, ESRCH, PVMCTL_EXIT_CONFLICT },
	{ PVM_BUS_ERROR_START_FAILED, EIO, PVMCTL_EXIT_VM_FAILED },
	{ PVM_BUS_ERROR_NO_CONSOLE, ENOTTY, PVMCTL_EXIT_FAILURE },
	{ PVM_BUS_ERROR_SHUTTING_DOWN, ESHUTDOWN, PVMCTL_EXIT_CONFLICT },
	/* the bus's own: pvmd not running, call refused by the bus policy */
	{ "org.freedesktop.DBus.Error.ServiceUnknown", EHOSTUNREACH, PVMCTL_EXIT_NO_DAEMON },
	{ "org.freedesktop.DBus.Error.AccessDenied", EACCES, PVMCTL_EXIT_DENIED },
};

int main(void)
{
	size_t n = 0;

	assert(pvm_bus_error_map_register() == 0);
	assert(pvm_bus_error_map_register() == 0); /* idempotent */
	for (size_t i = 0; i < sizeof(expected) / sizeof(expected[0]); i++) {
		sd_bus_error e = SD_BUS_ERROR_NULL;
		pvm_error err = { 0 };
		int r;

		sd_bus_error_set(&e, expected[i].name, "something a person can act on");
		assert(sd_bus_error_get_errno(&e) == expected[i].err);
		r = pvm_bus_error_to_pvm(&e, -EIO, "Call", &err);
		assert(r == -expected[i].err);
		/* pvmd's own messages pass through unchanged; the bus's get the call named */
		if (strncmp(expected[i].name, "org.pvm1.", 9) == 0)
			assert(strcmp(err.message, "something a person can act on") == 0);
		else
			assert(strstr(err.message, "Call: ") == err.message);
		assert(pvmctl_exit_code_from_errno(r) == expected[i].exit_code);
		sd_bus_error_free(&e);
	}
	/* every pvmd error name is in this table: the map and the test move together */
	for (const sd_bus_error_map *m = pvm_bus_error_map; m->code != 0 || m->name; m++) {
		bool found = false;
		if (!m->name)
			break;
		for (size_t i = 0; i < sizeof(expected) / sizeof(expected[0]); i++)
			found |= strcmp(expected[i].name, m->name) == 0;
		assert(found);
		n++;
	}
	assert(n == 11);
	assert(pvmctl_exit_code_from_errno(0) == PVMCTL_EXIT_OK);
	assert(pvmctl_exit_code_from_errno(-E2BIG) == PVMCTL_EXIT_FAILURE);
	printf("test-bus-errors: ok (%zu named errors)\n", n);
	return 0;
}
