/* The host side of pvm-fw's descriptor: building and signing one with OpenSSL's libcrypto
 * (ECDSA P-256 over SHA-256), for `pvmctl payload sign` and the tests. Layout: descriptor.h. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "descriptor.h"

typedef struct evp_pkey_st EVP_PKEY;

/* Reads an ECDSA P-256 private key from a PEM file. */
int pvm_fw_key_load(const char *path, EVP_PKEY **ret);

/* The key's public point as the firmware embeds it (uncompressed SEC1). */
int pvm_fw_key_public(EVP_PKEY *key, uint8_t ret[PVM_FW_PUBKEY_SIZE]);

/* Fills ret (PVM_FW_DESCRIPTOR_SIZE bytes) with the descriptor for this kernel, initrd (size 0:
 * none) and command line (NUL-free, at most PVM_FW_CMDLINE_MAX bytes), signed with key. */
int pvm_fw_descriptor_sign(EVP_PKEY *key, const void *kernel, size_t kernel_size,
			   const void *initrd, size_t initrd_size, const char *cmdline,
			   uint8_t ret[PVM_FW_DESCRIPTOR_SIZE]);
