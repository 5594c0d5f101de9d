/* The signed payload descriptor pvm-fw checks (docs/pvm-fw.md): its byte layout, where the
 * host places it and the payload in guest memory, and the parse/verify step shared by the
 * firmware and its host tests. Everything here treats the descriptor as hostile input. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#define PVM_FW_MAGIC "PVMFWDS1"
#define PVM_FW_VERSION 1u
#define PVM_FW_CMDLINE_MAX 2048u
#define PVM_FW_SIG_MAX 80u     /* DER ECDSA P-256: at most 72 bytes */
#define PVM_FW_PUBKEY_SIZE 65u /* uncompressed SEC1 point: 0x04 || X || Y */
#define PVM_FW_DIGEST_SIZE 32u

/* Guest-physical placement, as offsets from the start of RAM (where the firmware runs). */
#define PVM_FW_IMAGE_MAX 0x200000ull	     /* the firmware with its stack and heap */
#define PVM_FW_DESCRIPTOR_OFFSET 0x200000ull /* one 4 KiB page */
#define PVM_FW_KERNEL_OFFSET 0x400000ull     /* 2 MiB-aligned: the kernel runs here */
#define PVM_FW_PAYLOAD_ALIGN 0x200000ull     /* the initrd follows the kernel's image */
#define PVM_FW_DESCRIPTOR_SIZE 4096u

/* Offsets inside the descriptor (little-endian fields). The signature covers SHA-256 of bytes
 * [0, PVM_FW_SIGNED_SIZE): everything but the signature itself. */
enum {
	PVM_FW_OFF_MAGIC = 0,
	PVM_FW_OFF_VERSION = 8,
	PVM_FW_OFF_CMDLINE_LEN = 12,
	PVM_FW_OFF_KERNEL_SIZE = 16,
	PVM_FW_OFF_INITRD_SIZE = 24,
	PVM_FW_OFF_KERNEL_SHA256 = 32,
	PVM_FW_OFF_INITRD_SHA256 = 64,
	PVM_FW_OFF_CMDLINE = 96,
	PVM_FW_SIGNED_SIZE = 96 + PVM_FW_CMDLINE_MAX,
	PVM_FW_OFF_SIG_LEN = PVM_FW_SIGNED_SIZE,
	PVM_FW_OFF_SIG = PVM_FW_SIGNED_SIZE + 4,
	PVM_FW_DESCRIPTOR_USED = PVM_FW_OFF_SIG + PVM_FW_SIG_MAX,
};

/* Why the firmware refuses to boot: each has its own console line and number. */
typedef enum PvmFwVerdict {
	PVM_FW_OK = 0,
	PVM_FW_BAD_DESCRIPTOR = 1, /* magic, version, lengths or padding wrong */
	PVM_FW_BAD_SIGNATURE = 2,  /* not signed by the key built into the firmware */
	PVM_FW_BAD_LAYOUT = 3,	   /* payload sizes do not fit the guest's memory */
	PVM_FW_KERNEL_MISMATCH = 4,
	PVM_FW_INITRD_MISMATCH = 5,
	PVM_FW_BAD_DEVICE_TREE = 6,
	PVM_FW_INTERNAL = 7, /* the crypto library failed (out of its arena) */
	_PVM_FW_VERDICT_MAX,
} PvmFwVerdict;

typedef struct PvmFwDescriptor {
	uint32_t cmdline_len;
	uint64_t kernel_size;
	uint64_t initrd_size;
	uint8_t kernel_sha256[PVM_FW_DIGEST_SIZE];
	uint8_t initrd_sha256[PVM_FW_DIGEST_SIZE];
	char cmdline[PVM_FW_CMDLINE_MAX + 1]; /* NUL-terminated copy */
} PvmFwDescriptor;

const char *pvm_fw_verdict_to_string(PvmFwVerdict v);

/* Parses and verifies a descriptor (PVM_FW_DESCRIPTOR_SIZE bytes, already copied out of reach
 * of the host) against the public key: its signature first, then its fields. Fills *ret only
 * on PVM_FW_OK. */
PvmFwVerdict pvm_fw_descriptor_verify(const uint8_t *raw, const uint8_t pubkey[PVM_FW_PUBKEY_SIZE],
				      PvmFwDescriptor *ret);

/* Hashes size bytes at data and compares with want: 0 if they match, 1 if they differ, -1 if
 * hashing failed. */
int pvm_fw_digest_check(const void *data, uint64_t size, const uint8_t want[PVM_FW_DIGEST_SIZE]);

/* Where the initrd goes: after the kernel's image (image_size from its verified header, or its
 * file size when larger), rounded up to PVM_FW_PAYLOAD_ALIGN. Offsets from RAM start. */
uint64_t pvm_fw_initrd_offset(uint64_t kernel_size, uint64_t kernel_image_size);

/* Gives mbedTLS its allocation arena (memory_buffer_alloc); call once before verifying. */
void pvm_fw_crypto_init(void);

/* Called by mbedTLS (MBEDTLS_PLATFORM_EXIT_MACRO) if its arena is corrupted; never returns.
 * The firmware refuses to boot; host programs abort. */
_Noreturn void pvm_fw_crypto_abort(int status);
