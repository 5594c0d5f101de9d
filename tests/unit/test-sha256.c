/* sha256 contract: the FIPS 180-4 / NIST example vectors, and incremental updates that split
 * input at every block boundary case give the same digest as one call. */
#include <assert.h>
#include <stdio.h>
#include <string.h>

#include "sha256.h"

static void hex(const uint8_t *d, char *out)
{
	for (int i = 0; i < SHA256_DIGEST_SIZE; i++)
		sprintf(out + 2 * i, "%02x", d[i]);
}

static void check(const char *msg, size_t repeat, const char *want)
{
	sha256_ctx ctx;
	uint8_t d[SHA256_DIGEST_SIZE];
	char got[2 * SHA256_DIGEST_SIZE + 1];

	sha256_init(&ctx);
	for (size_t i = 0; i < repeat; i++)
		sha256_update(&ctx, msg, strlen(msg));
	sha256_final(&ctx, d);
	hex(d, got);
	if (strcmp(got, want) != 0) {
		fprintf(stderr, "sha256(\"%s\" x %zu) = %s, want %s\n", msg, repeat, got, want);
		assert(0);
	}
}

int main(void)
{
	check("abc", 1, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	check("", 1, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	check("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", 1,
	      "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
	check("abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmn"
	      "opqrlmnopqrsmnopqrstnopqrstu",
	      1, "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1");
	check("a", 1000000, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");

	/* split points around the 55/56/64-byte padding boundaries */
	uint8_t buf[200], one[SHA256_DIGEST_SIZE], parts[SHA256_DIGEST_SIZE];
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)(i * 7 + 3);
	for (size_t len = 0; len <= sizeof(buf); len++) {
		sha256(buf, len, one);
		for (size_t cut = 0; cut <= len; cut += 13) {
			sha256_ctx ctx;
			sha256_init(&ctx);
			sha256_update(&ctx, buf, cut);
			sha256_update(&ctx, buf + cut, len - cut);
			sha256_final(&ctx, parts);
			assert(memcmp(one, parts, sizeof(one)) == 0);
		}
	}
	printf("test-sha256: ok\n");
	return 0;
}
