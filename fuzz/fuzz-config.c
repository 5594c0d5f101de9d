/* libFuzzer target for the VM config parser: any input either fails with an error message or
 * gives a config whose JSON form parses back to the same JSON (the parser and writer agree). */
#include <stdint.h>
#include <string.h>

#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	_cleanup_(pvm_config_freep) pvm_config *cfg = NULL, *again = NULL;
	_cleanup_free_ char *text = NULL, *text2 = NULL;
	pvm_error err = { 0 };

	if (pvm_config_parse((const char *)data, size, "fuzz.json", false, &cfg, &err) < 0) {
		if (err.code == 0 || err.message[0] == '\0')
			__builtin_trap(); /* every refusal must say why */
		return 0;
	}
	if (pvm_config_to_json(cfg, &text) < 0)
		__builtin_trap();
	if (pvm_config_parse(text, strlen(text), "fuzz-again.json", false, &again, &err) < 0)
		__builtin_trap();
	if (pvm_config_to_json(again, &text2) < 0 || strcmp(text, text2) != 0)
		__builtin_trap();
	return 0;
}
