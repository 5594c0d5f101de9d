/* The mbedTLS configuration pvm-fw is built with (MBEDTLS_CONFIG_FILE), in the firmware and in
 * its host tests alike: SHA-256 and ECDSA P-256 verification only, allocations from a static
 * arena (memory_buffer_alloc), nothing from a C library beyond the string functions. */
#pragma once

#define MBEDTLS_SHA256_C
#define MBEDTLS_BIGNUM_C
#define MBEDTLS_ECP_C
#define MBEDTLS_ECP_DP_SECP256R1_ENABLED
#define MBEDTLS_ECDSA_C
#define MBEDTLS_ASN1_PARSE_C
#define MBEDTLS_ASN1_WRITE_C /* ECDSA_C requires it; only signing would use it */

/* Verification handles public values only, so the side-channel blinding RNG of ecp.c's point
 * multiplication has nothing to protect: no internal DRBG. */
#define MBEDTLS_ECP_NO_INTERNAL_RNG

#define MBEDTLS_PLATFORM_C
#define MBEDTLS_PLATFORM_MEMORY
#define MBEDTLS_PLATFORM_NO_STD_FUNCTIONS
#define MBEDTLS_MEMORY_BUFFER_ALLOC_C
#define MBEDTLS_NO_PLATFORM_ENTROPY
/* memory_buffer_alloc ends the program when it finds its arena corrupted: the firmware refuses
 * to boot (main.c), a host test aborts. */
#define MBEDTLS_PLATFORM_EXIT_MACRO pvm_fw_crypto_abort
_Noreturn void pvm_fw_crypto_abort(int status);

#include "mbedtls/check_config.h"
