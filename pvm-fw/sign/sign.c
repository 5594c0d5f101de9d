/* Builds pvm-fw descriptors on the host and signs them with libcrypto. The byte layout is the
 * one descriptor.h defines and the firmware parses; the signature is DER ECDSA over SHA-256 of
 * the signed part, exactly what mbedtls_ecdsa_read_signature checks in the firmware. */
#include <errno.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <string.h>

#include "sign.h"

static void put_le32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void put_le64(uint8_t *p, uint64_t v)
{
	put_le32(p, (uint32_t)v);
	put_le32(p + 4, (uint32_t)(v >> 32));
}

int pvm_fw_key_load(const char *path, EVP_PKEY **ret)
{
	char group[32];
	EVP_PKEY *key;
	FILE *f;

	f = fopen(path, "re");
	if (!f)
		return -errno;
	key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	if (!key)
		return -EBADMSG;
	if (!EVP_PKEY_is_a(key, "EC") ||
	    EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group),
					   NULL) != 1 ||
	    strcmp(group, "prime256v1") != 0) {
		EVP_PKEY_free(key);
		return -EKEYREJECTED;
	}
	*ret = key;
	return 0;
}

int pvm_fw_key_public(EVP_PKEY *key, uint8_t ret[PVM_FW_PUBKEY_SIZE])
{
	size_t len = 0;

	if (EVP_PKEY_get_octet_string_param(key, OSSL_PKEY_PARAM_PUB_KEY, ret, PVM_FW_PUBKEY_SIZE,
					    &len) != 1 ||
	    len != PVM_FW_PUBKEY_SIZE || ret[0] != 0x04)
		return -EKEYREJECTED;
	return 0;
}

int pvm_fw_descriptor_sign(EVP_PKEY *key, const void *kernel, size_t kernel_size,
			   const void *initrd, size_t initrd_size, const char *cmdline,
			   uint8_t ret[PVM_FW_DESCRIPTOR_SIZE])
{
	uint8_t d[PVM_FW_DESCRIPTOR_SIZE] = { 0 };
	size_t cmdline_len = strlen(cmdline), sig_len = PVM_FW_SIG_MAX;
	EVP_MD_CTX *md;
	int ok;

	if (cmdline_len > PVM_FW_CMDLINE_MAX)
		return -E2BIG;
	memcpy(d + PVM_FW_OFF_MAGIC, PVM_FW_MAGIC, 8);
	put_le32(d + PVM_FW_OFF_VERSION, PVM_FW_VERSION);
	put_le32(d + PVM_FW_OFF_CMDLINE_LEN, (uint32_t)cmdline_len);
	put_le64(d + PVM_FW_OFF_KERNEL_SIZE, kernel_size);
	put_le64(d + PVM_FW_OFF_INITRD_SIZE, initrd_size);
	if (EVP_Digest(kernel, kernel_size, d + PVM_FW_OFF_KERNEL_SHA256, NULL, EVP_sha256(),
		       NULL) != 1 ||
	    EVP_Digest(initrd_size ? initrd : "", initrd_size, d + PVM_FW_OFF_INITRD_SHA256, NULL,
		       EVP_sha256(), NULL) != 1)
		return -EIO;
	memcpy(d + PVM_FW_OFF_CMDLINE, cmdline, cmdline_len);

	md = EVP_MD_CTX_new();
	if (!md)
		return -ENOMEM;
	ok = EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, key) == 1 &&
	     EVP_DigestSign(md, d + PVM_FW_OFF_SIG, &sig_len, d, PVM_FW_SIGNED_SIZE) == 1;
	EVP_MD_CTX_free(md);
	if (!ok || sig_len == 0 || sig_len > PVM_FW_SIG_MAX)
		return -EIO;
	put_le32(d + PVM_FW_OFF_SIG_LEN, (uint32_t)sig_len);
	memcpy(ret, d, sizeof(d));
	return 0;
}
