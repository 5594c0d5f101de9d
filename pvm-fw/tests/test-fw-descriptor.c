/* pvm-fw's descriptor contract, on the host with the firmware's own verify code and mbedTLS
 * build: a descriptor signed by `pvmctl payload sign`'s code verifies with the matching key and
 * yields its fields; any changed byte in the signed part, the signature, the framing, or a
 * different key is refused with its own verdict; signed but malformed fields are refused too. */
#include <errno.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#include "../../tests/unit/check.h"
#include "descriptor.h"
#include "sign.h"
#include "vm-state.h"

static uint8_t kernel[64 * 1024];
static uint8_t initrd[12345];

_Noreturn void pvm_fw_crypto_abort(int status)
{
	fprintf(stderr, "mbedTLS arena corrupted (%d)\n", status);
	abort();
}

static void put_le32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* Re-signs a descriptor after a test changed its signed part, as a careless signer would. */
static void resign(EVP_PKEY *key, uint8_t *d)
{
	size_t len = PVM_FW_SIG_MAX;
	EVP_MD_CTX *md = EVP_MD_CTX_new();

	memset(d + PVM_FW_OFF_SIG, 0, PVM_FW_DESCRIPTOR_SIZE - PVM_FW_OFF_SIG);
	if (!md || EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, key) != 1 ||
	    EVP_DigestSign(md, d + PVM_FW_OFF_SIG, &len, d, PVM_FW_SIGNED_SIZE) != 1)
		abort();
	EVP_MD_CTX_free(md);
	put_le32(d + PVM_FW_OFF_SIG_LEN, (uint32_t)len);
}

static PvmFwVerdict verify(const uint8_t *d, const uint8_t *pub)
{
	PvmFwDescriptor out;
	return pvm_fw_descriptor_verify(d, pub, &out);
}

/* pvmd names the firmware's verdicts (FirmwareResult, the VM's message) from its own table:
 * the same numbers, and for refusals the firmware's own words. */
static void test_verdict_names(void)
{
	CHECK((int)_PVM_FW_VERDICT_MAX == (int)_PVM_FIRMWARE_RESULT_MAX,
	      "%d verdicts, pvmd knows %d", _PVM_FW_VERDICT_MAX, _PVM_FIRMWARE_RESULT_MAX);
	CHECK(strcmp(pvm_firmware_result_to_string(PVM_FW_OK), "verified") == 0, "verified");
	for (int v = 1; v < _PVM_FW_VERDICT_MAX; v++)
		CHECK(pvm_firmware_result_describe(v) &&
			  strcmp(pvm_firmware_result_describe(v), pvm_fw_verdict_to_string(v)) == 0,
		      "verdict %d: firmware says \"%s\", pvmd \"%s\"", v,
		      pvm_fw_verdict_to_string(v), pvm_firmware_result_describe(v));
	CHECK(pvm_firmware_result_to_string(_PVM_FW_VERDICT_MAX) == NULL, "beyond the table");
}

int main(void)
{
	EVP_PKEY *key = EVP_EC_gen("P-256"), *other = EVP_EC_gen("P-256");
	uint8_t pub[PVM_FW_PUBKEY_SIZE], other_pub[PVM_FW_PUBKEY_SIZE];
	uint8_t good[PVM_FW_DESCRIPTOR_SIZE], d[PVM_FW_DESCRIPTOR_SIZE];
	const char *cmdline = "console=ttyS0 root=/dev/ram0";
	PvmFwDescriptor out;
	unsigned flips_refused = 0, flips = 0;

	if (!key || !other)
		abort();
	for (size_t i = 0; i < sizeof(kernel); i++)
		kernel[i] = (uint8_t)(i * 7 + 3);
	for (size_t i = 0; i < sizeof(initrd); i++)
		initrd[i] = (uint8_t)(i * 13 + 1);
	pvm_fw_crypto_init();
	CHECK(pvm_fw_key_public(key, pub) == 0, "public key of a P-256 key");
	CHECK(pvm_fw_key_public(other, other_pub) == 0, "public key of the other key");

	CHECK(pvm_fw_descriptor_sign(key, kernel, sizeof(kernel), initrd, sizeof(initrd), cmdline,
				     good) == 0,
	      "signing");
	CHECK(pvm_fw_descriptor_verify(good, pub, &out) == PVM_FW_OK, "a good descriptor verifies");
	CHECK(out.kernel_size == sizeof(kernel) && out.initrd_size == sizeof(initrd), "sizes");
	CHECK(strcmp(out.cmdline, cmdline) == 0, "cmdline '%s'", out.cmdline);
	CHECK(pvm_fw_digest_check(kernel, sizeof(kernel), out.kernel_sha256) == 0, "kernel digest");
	CHECK(pvm_fw_digest_check(initrd, sizeof(initrd), out.initrd_sha256) == 0, "initrd digest");
	kernel[100] ^= 1;
	CHECK(pvm_fw_digest_check(kernel, sizeof(kernel), out.kernel_sha256) == 1,
	      "a flipped kernel byte no longer matches");
	kernel[100] ^= 1;
	CHECK(pvm_fw_digest_check(initrd, sizeof(initrd), out.kernel_sha256) == 1,
	      "the initrd is not the kernel");

	CHECK(verify(good, other_pub) == PVM_FW_BAD_SIGNATURE, "another key's firmware refuses it");

	/* Every byte of the signed part and of the signature matters. Bytes 0-7 are the magic,
	 * checked before the signature. */
	for (size_t i = 0; i < PVM_FW_OFF_SIG + 64; i += 3) {
		if (i >= PVM_FW_OFF_SIG_LEN && i < PVM_FW_OFF_SIG)
			continue;
		memcpy(d, good, sizeof(d));
		d[i] ^= 0x10;
		PvmFwVerdict v = verify(d, pub);
		flips++;
		flips_refused += v == (i < 8 ? PVM_FW_BAD_DESCRIPTOR : PVM_FW_BAD_SIGNATURE);
		if (v == PVM_FW_OK)
			fprintf(stderr, "byte %zu flipped still verifies\n", i);
	}
	CHECK(flips_refused == flips, "%u of %u single-byte changes refused as expected",
	      flips_refused, flips);

	/* Framing: signature length and the bytes after the signature. */
	memcpy(d, good, sizeof(d));
	put_le32(d + PVM_FW_OFF_SIG_LEN, 0);
	CHECK(verify(d, pub) == PVM_FW_BAD_DESCRIPTOR, "empty signature");
	put_le32(d + PVM_FW_OFF_SIG_LEN, PVM_FW_SIG_MAX + 1);
	CHECK(verify(d, pub) == PVM_FW_BAD_DESCRIPTOR, "signature longer than the field");
	memcpy(d, good, sizeof(d));
	d[PVM_FW_DESCRIPTOR_SIZE - 1] = 1;
	CHECK(verify(d, pub) == PVM_FW_BAD_DESCRIPTOR, "junk after the signature");
	memcpy(d, good, sizeof(d));
	memset(d + PVM_FW_DESCRIPTOR_SIZE / 2, 0, PVM_FW_DESCRIPTOR_SIZE / 2);
	CHECK(verify(d, pub) != PVM_FW_OK, "a truncated descriptor (second half zero)");
	memset(d, 0, sizeof(d));
	CHECK(verify(d, pub) == PVM_FW_BAD_DESCRIPTOR, "no descriptor at all");

	/* A replayed descriptor: signed for another kernel. */
	CHECK(pvm_fw_descriptor_sign(key, initrd, sizeof(initrd), NULL, 0, "", d) == 0, "signing");
	CHECK(pvm_fw_descriptor_verify(d, pub, &out) == PVM_FW_OK, "no-initrd descriptor verifies");
	CHECK(out.initrd_size == 0 && out.cmdline[0] == '\0', "no initrd, empty cmdline");
	CHECK(pvm_fw_digest_check(kernel, sizeof(kernel), out.kernel_sha256) == 1,
	      "it does not match the real kernel");

	/* Signed but malformed: a careless signer's tool. */
	memcpy(d, good, sizeof(d));
	put_le32(d + PVM_FW_OFF_VERSION, 2);
	resign(key, d);
	CHECK(verify(d, pub) == PVM_FW_BAD_DESCRIPTOR, "unknown version");
	memcpy(d, good, sizeof(d));
	put_le32(d + PVM_FW_OFF_CMDLINE_LEN, PVM_FW_CMDLINE_MAX + 1);
	resign(key, d);
	CHECK(verify(d, pub) == PVM_FW_BAD_DESCRIPTOR, "cmdline_len past the field");
	memcpy(d, good, sizeof(d));
	d[PVM_FW_OFF_CMDLINE + 3] = '\0';
	resign(key, d);
	CHECK(verify(d, pub) == PVM_FW_BAD_DESCRIPTOR, "NUL inside the cmdline");
	memcpy(d, good, sizeof(d));
	d[PVM_FW_OFF_CMDLINE + strlen(cmdline) + 1] = 'x';
	resign(key, d);
	CHECK(verify(d, pub) == PVM_FW_BAD_DESCRIPTOR, "bytes after the cmdline");

	char long_cmdline[PVM_FW_CMDLINE_MAX + 2];
	memset(long_cmdline, 'a', sizeof(long_cmdline) - 1);
	long_cmdline[sizeof(long_cmdline) - 1] = '\0';
	CHECK(pvm_fw_descriptor_sign(key, kernel, 1, NULL, 0, long_cmdline, d) == -E2BIG,
	      "the signer refuses a cmdline too long for the field");

	/* Placement: the initrd follows the larger of file and image size, 2 MiB-aligned. */
	CHECK(pvm_fw_initrd_offset(100, 0) == PVM_FW_KERNEL_OFFSET + 0x200000, "small kernel");
	CHECK(pvm_fw_initrd_offset(100, 0x200000) == PVM_FW_KERNEL_OFFSET + 0x200000, "exact");
	CHECK(pvm_fw_initrd_offset(0x200001, 100) == PVM_FW_KERNEL_OFFSET + 0x400000,
	      "file larger");

	for (int v = 0; v <= _PVM_FW_VERDICT_MAX; v++)
		CHECK(pvm_fw_verdict_to_string(v)[0] != '\0', "verdict %d named", v);

	EVP_PKEY_free(key);
	EVP_PKEY_free(other);
	test_verdict_names();
	return check_exit("test-fw-descriptor");
}
