/* pvm_error contract: the first error wins, codes come back negative, prefixes compose. */
#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "error.h"

int main(void)
{
	pvm_error e = { 0 };

	assert(pvm_error_set(&e, ENOENT, "file %s missing", "a.json") == -ENOENT);
	assert(e.code == ENOENT);
	assert(strcmp(e.message, "file a.json missing") == 0);
	/* a later error does not overwrite the first */
	assert(pvm_error_set(&e, EINVAL, "other") == -EINVAL);
	assert(strcmp(e.message, "file a.json missing") == 0);
	pvm_error_prefix(&e, "%s: ", "vm.json");
	assert(strcmp(e.message, "vm.json: file a.json missing") == 0);
	/* a NULL error sink is allowed */
	assert(pvm_error_set(NULL, -EPERM, "x") == -EPERM);
	pvm_error_clear(&e);
	assert(e.code == 0 && e.message[0] == '\0');
	printf("test-error: ok\n");
	return 0;
}
