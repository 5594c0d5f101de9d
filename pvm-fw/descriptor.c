/* Parsing and verification of pvm-fw's signed payload descriptor, with mbedTLS's SHA-256 and
 * ECDSA. Portable C: the firmware links it freestanding, the host tests natively. The signature
 * is checked before any field is believed, and every field after that is range-checked. */
#include <string.h>

#include "descriptor.h"
#include "mbedtls/ecdsa.h"
#include "mbedtls/memory_buffer_alloc.h"
#include "mbedtls/sha256.h"

/* ECDSA P-256 verification needs a few KiB; the arena is sized with a wide margin. */
static unsigned char crypto_arena[64 * 1024] __attribute__((aligned(16)));

static const char *const verdict_names[_PVM_FW_VERDICT_MAX] = {
	[PVM_FW_OK] = "verified",
	[PVM_FW_BAD_DESCRIPTOR] = "malformed descriptor",
	[PVM_FW_BAD_SIGNATURE] = "descriptor signature does not verify with the built-in key",
	[PVM_FW_BAD_LAYOUT] = "payload does not fit guest memory",
	[PVM_FW_KERNEL_MISMATCH] = "kernel does not match the signed digest",
	[PVM_FW_INITRD_MISMATCH] = "initrd does not match the signed digest",
	[PVM_FW_BAD_DEVICE_TREE] = "device tree rejected",
	[PVM_FW_INTERNAL] = "crypto library failure",
};

const char *pvm_fw_verdict_to_string(PvmFwVerdict v)
{
	if ((unsigned)v >= _PVM_FW_VERDICT_MAX)
		return "unknown";
	return verdict_names[v];
}

void pvm_fw_crypto_init(void)
{
	mbedtls_memory_buffer_alloc_init(crypto_arena, sizeof(crypto_arena));
}

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t le64(const uint8_t *p)
{
	return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32;
}

static int signature_ok(const uint8_t *raw, const uint8_t pubkey[PVM_FW_PUBKEY_SIZE])
{
	uint8_t hash[PVM_FW_DIGEST_SIZE];
	uint32_t sig_len = le32(raw + PVM_FW_OFF_SIG_LEN);
	mbedtls_ecdsa_context ecdsa;
	int r;

	if (sig_len == 0 || sig_len > PVM_FW_SIG_MAX)
		return 0;
	if (mbedtls_sha256_ret(raw, PVM_FW_SIGNED_SIZE, hash, 0) != 0)
		return -1;

	mbedtls_ecdsa_init(&ecdsa);
	r = mbedtls_ecp_group_load(&ecdsa.grp, MBEDTLS_ECP_DP_SECP256R1);
	if (r == 0)
		r = mbedtls_ecp_point_read_binary(&ecdsa.grp, &ecdsa.Q, pubkey, PVM_FW_PUBKEY_SIZE);
	if (r != 0) {
		mbedtls_ecdsa_free(&ecdsa);
		return -1;
	}
	r = mbedtls_ecdsa_read_signature(&ecdsa, hash, sizeof(hash), raw + PVM_FW_OFF_SIG, sig_len);
	mbedtls_ecdsa_free(&ecdsa);
	if (r == MBEDTLS_ERR_MPI_ALLOC_FAILED || r == MBEDTLS_ERR_ECP_ALLOC_FAILED)
		return -1;
	return r == 0;
}

static int all_zero(const uint8_t *p, size_t n)
{
	uint8_t acc = 0;

	for (size_t i = 0; i < n; i++)
		acc |= p[i];
	return acc == 0;
}

PvmFwVerdict pvm_fw_descriptor_verify(const uint8_t *raw, const uint8_t pubkey[PVM_FW_PUBKEY_SIZE],
				      PvmFwDescriptor *ret)
{
	uint32_t version, cmdline_len, sig_len;
	int s;

	/* Only the framing may be read before the signature is known good. */
	if (memcmp(raw + PVM_FW_OFF_MAGIC, PVM_FW_MAGIC, 8) != 0)
		return PVM_FW_BAD_DESCRIPTOR;
	sig_len = le32(raw + PVM_FW_OFF_SIG_LEN);
	if (sig_len == 0 || sig_len > PVM_FW_SIG_MAX ||
	    !all_zero(raw + PVM_FW_OFF_SIG + sig_len,
		      PVM_FW_DESCRIPTOR_SIZE - PVM_FW_OFF_SIG - sig_len))
		return PVM_FW_BAD_DESCRIPTOR;

	s = signature_ok(raw, pubkey);
	if (s < 0)
		return PVM_FW_INTERNAL;
	if (s == 0)
		return PVM_FW_BAD_SIGNATURE;

	/* Signed, so written by the key's holder: still checked, as a signer's tool can be wrong.
	 */
	version = le32(raw + PVM_FW_OFF_VERSION);
	cmdline_len = le32(raw + PVM_FW_OFF_CMDLINE_LEN);
	if (version != PVM_FW_VERSION || cmdline_len > PVM_FW_CMDLINE_MAX ||
	    memchr(raw + PVM_FW_OFF_CMDLINE, '\0', cmdline_len) ||
	    !all_zero(raw + PVM_FW_OFF_CMDLINE + cmdline_len, PVM_FW_CMDLINE_MAX - cmdline_len))
		return PVM_FW_BAD_DESCRIPTOR;

	ret->cmdline_len = cmdline_len;
	ret->kernel_size = le64(raw + PVM_FW_OFF_KERNEL_SIZE);
	ret->initrd_size = le64(raw + PVM_FW_OFF_INITRD_SIZE);
	memcpy(ret->kernel_sha256, raw + PVM_FW_OFF_KERNEL_SHA256, PVM_FW_DIGEST_SIZE);
	memcpy(ret->initrd_sha256, raw + PVM_FW_OFF_INITRD_SHA256, PVM_FW_DIGEST_SIZE);
	memcpy(ret->cmdline, raw + PVM_FW_OFF_CMDLINE, cmdline_len);
	ret->cmdline[cmdline_len] = '\0';
	return PVM_FW_OK;
}

int pvm_fw_digest_check(const void *data, uint64_t size, const uint8_t want[PVM_FW_DIGEST_SIZE])
{
	uint8_t got[PVM_FW_DIGEST_SIZE];

	if (mbedtls_sha256_ret(data, size, got, 0) != 0)
		return -1;
	return memcmp(got, want, sizeof(got)) != 0;
}

uint64_t pvm_fw_initrd_offset(uint64_t kernel_size, uint64_t kernel_image_size)
{
	uint64_t span = kernel_image_size > kernel_size ? kernel_image_size : kernel_size;

	return PVM_FW_KERNEL_OFFSET +
	       ((span + PVM_FW_PAYLOAD_ALIGN - 1) & ~(PVM_FW_PAYLOAD_ALIGN - 1));
}
