/* pvm-fw images as pvmd boots them: their path in the firmware directory and their identity.
 * The identity is derived from the bytes the VM will run, so it names the key the firmware
 * really trusts, whatever file name or packaging claims. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "arch/arm64/arm64-layout.h"
#include "firmware.h"
#include "macro.h"

/* SubjectPublicKeyInfo of an uncompressed P-256 point up to the point: id-ecPublicKey,
 * prime256v1, a 66-byte BIT STRING (pvm-fw/pubkey.py writes the same identity at build time). */
static const uint8_t p256_spki_prefix[] = {
	0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01,
	0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
};

int firmware_image_path(const char *dir, const char *name, char **ret)
{
	return asprintf(ret, "%s/%s.img", dir, name) < 0 ? -ENOMEM : 0;
}

int firmware_identity(int memfd, uint8_t ret[32], pvm_error *err)
{
	const size_t magic_len = sizeof(PVM_ARM64_FW_KEY_RECORD_MAGIC) - 1;
	uint8_t rec[sizeof(PVM_ARM64_FW_KEY_RECORD_MAGIC) - 1 + PVM_ARM64_FW_KEY_POINT_SIZE];
	uint8_t spki[sizeof(p256_spki_prefix) + PVM_ARM64_FW_KEY_POINT_SIZE];
	unsigned int len = 0;
	ssize_t n;

	n = pread(memfd, rec, sizeof(rec), PVM_ARM64_FW_KEY_RECORD_OFFSET);
	if (n < 0)
		return pvm_error_set(err, errno, "firmware: reading its key record: %m");
	/* a point is uncompressed (0x04 first): anything else is not pvm-fw's record */
	if ((size_t)n != sizeof(rec) ||
	    memcmp(rec, PVM_ARM64_FW_KEY_RECORD_MAGIC, magic_len) != 0 || rec[magic_len] != 0x04)
		return pvm_error_set(err, EBADMSG,
				     "firmware: no public key record at offset %d: not a pvm-fw "
				     "image",
				     PVM_ARM64_FW_KEY_RECORD_OFFSET);
	memcpy(spki, p256_spki_prefix, sizeof(p256_spki_prefix));
	memcpy(spki + sizeof(p256_spki_prefix), rec + magic_len, PVM_ARM64_FW_KEY_POINT_SIZE);
	if (EVP_Digest(spki, sizeof(spki), ret, &len, EVP_sha256(), NULL) != 1 || len != 32)
		return pvm_error_set(err, EIO, "firmware: SHA-256 failed");
	return 0;
}

void firmware_identity_hex(const uint8_t id[32], char ret[65])
{
	for (size_t i = 0; i < 32; i++)
		snprintf(ret + 2 * i, 3, "%02x", id[i]);
}
