/* SHA-256 (FIPS 180-4) for verifying payloads against the digest in their config. Small and
 * dependency-free; speed is not a goal (payloads are read once per start). */
#pragma once

#include <stddef.h>
#include <stdint.h>

#define SHA256_DIGEST_SIZE 32

typedef struct sha256_ctx {
	uint32_t h[8];
	uint64_t length; /* bytes hashed so far */
	uint8_t block[64];
	size_t used; /* bytes waiting in block */
} sha256_ctx;

void sha256_init(sha256_ctx *ctx);
void sha256_update(sha256_ctx *ctx, const void *data, size_t len);
void sha256_final(sha256_ctx *ctx, uint8_t ret[SHA256_DIGEST_SIZE]);
void sha256(const void *data, size_t len, uint8_t ret[SHA256_DIGEST_SIZE]);
