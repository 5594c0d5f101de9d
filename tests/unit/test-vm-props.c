/* The property list of org.pvm1.VM (libpvm/vm-props.h) is what org.pvm1(5) documents and what the
 * installed interface XML declares: the same names, in the same order, with the same types and
 * the same constness. pvmd, its client and pvmctl expand the list, so this pins the docs to the
 * code. Usage: test-vm-props SOURCE_ROOT */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "macro.h"
#include "vm-props.h"

typedef struct prop {
	char name[64], sig[8];
	bool constant;
} prop;

#define PROP_ROW(bus, s, field, key, flags) { bus, s, (PVM_VM_PROP_CONST & flags) != 0 },
static const prop props[] = { PVM_VM_PROPERTIES(PROP_ROW) };
#undef PROP_ROW

#define MAX_PROPS 64

/* org.pvm1(5): "      readonly s Name;             (const)" in the org.pvm1.VM block */
static size_t read_man(const char *path, prop *out)
{
	char line[512];
	bool in_vm = false;
	size_t n = 0;
	FILE *f = fopen(path, "re");

	CHECK(f, "cannot open %s", path);
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f) && n < MAX_PROPS) {
		if (strstr(line, "interface org.pvm1.VM {"))
			in_vm = true;
		else if (in_vm && strstr(line, "};"))
			break;
		else if (in_vm &&
			 sscanf(line, " readonly %7s %63[A-Za-z];", out[n].sig, out[n].name) == 2) {
			out[n].constant = strstr(line, "(const)") != NULL;
			n++;
		}
	}
	fclose(f);
	return n;
}

/* policy/org.pvm1.VM.xml: <property name="Name" type="s" access="read">, then a const
 * annotation before </property> */
static size_t read_xml(const char *path, prop *out)
{
	char line[512];
	size_t n = 0;
	FILE *f = fopen(path, "re");

	CHECK(f, "cannot open %s", path);
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f) && n <= MAX_PROPS) {
		if (n < MAX_PROPS &&
		    sscanf(line, " <property name=\"%63[A-Za-z]\" type=\"%7[a-z]\"", out[n].name,
			   out[n].sig) == 2)
			out[n++].constant = false;
		else if (n > 0 && strstr(line, "EmitsChangedSignal") && strstr(line, "\"const\""))
			out[n - 1].constant = true;
	}
	fclose(f);
	return n;
}

static void compare(const char *what, const prop *got, size_t n)
{
	CHECK(n == ELEMENTSOF(props), "%s lists %zu properties, vm-props.h %zu", what, n,
	      ELEMENTSOF(props));
	for (size_t i = 0; i < n && i < ELEMENTSOF(props); i++)
		CHECK(strcmp(got[i].name, props[i].name) == 0 &&
			  strcmp(got[i].sig, props[i].sig) == 0 &&
			  got[i].constant == props[i].constant,
		      "%s, property %zu: %s %s%s; vm-props.h: %s %s%s", what, i, got[i].sig,
		      got[i].name, got[i].constant ? " (const)" : "", props[i].sig, props[i].name,
		      props[i].constant ? " (const)" : "");
}

int main(int argc, char **argv)
{
	prop got[MAX_PROPS];
	char path[4096];

	if (argc != 2) {
		fprintf(stderr, "usage: test-vm-props SOURCE_ROOT\n");
		return 2;
	}
	snprintf(path, sizeof(path), "%s/man/org.pvm1.5.scd", argv[1]);
	compare("org.pvm1(5)", got, read_man(path, got));
	snprintf(path, sizeof(path), "%s/policy/org.pvm1.VM.xml", argv[1]);
	compare("org.pvm1.VM.xml", got, read_xml(path, got));
	return check_exit("test-vm-props");
}
