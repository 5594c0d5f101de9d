/* The VM config model: what a VM is (payload, memory, vCPUs, protection, console), read from a
 * JSON file (pvm-config(5)) or built in C. Parsing is strict; a pvm_config that exists is valid. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"

#define PVM_NAME_MAX 64		      /* [A-Za-z0-9][A-Za-z0-9._-]{0,63} */
#define PVM_CONFIG_FILE_MAX (1 << 20) /* bytes of JSON we will read */
#define PVM_CONFIG_DEPTH_MAX 8	      /* JSON nesting */
#define PVM_MEMORY_MIB_MAX (64 * 1024)
#define PVM_CPUS_MAX 64
#define PVM_PARAMS_MAX 4096
/* below the guest physical address limit of any host pvm supports */
#define PVM_LOAD_ADDRESS_MAX ((UINT64_C(1) << 48) - 1)
#define PVM_BOOT_TIMEOUT_MS_MAX (60 * 60 * 1000)

/* Defaults for keys a config file leaves out (pvm-config(5)). */
#define PVM_CONFIG_DEFAULT_MEMORY_MIB 64
#define PVM_CONFIG_DEFAULT_CPUS 1
#define PVM_CONFIG_DEFAULT_BOOT_TIMEOUT_MS 30000
#define PVM_CONFIG_DEFAULT_WINDOW_MIB 2

#define PVM_DISKS_MAX 4
#define PVM_DISK_ID_MAX 20 /* virtio-blk's serial: VIRTIO_BLK_ID_BYTES */

/* A virtio-blk disk. Its contents come from a file descriptor the caller passes with the
 * config (the n-th disk's fd is the n-th one passed), never from a path pvmd opens. */
typedef struct pvm_disk {
	char id[PVM_DISK_ID_MAX + 1]; /* the serial the guest reads; "" for none */
	bool read_only;
	bool has_sha256; /* checked over the whole disk before boot */
	uint8_t sha256[32];
} pvm_disk;

enum pvm_memory_backing {
	/* guest_memfd only; the VM does not start without it (the default for protected VMs). */
	PVM_MEMORY_BACKING_GUEST_MEMFD,
	/* guest_memfd when the host has it, else memfd + mlock (unswappable, NOT unmigratable);
	 * also needs policy permission. */
	PVM_MEMORY_BACKING_PREFER_GUEST_MEMFD,
};

enum pvm_payload_format {
	PVM_PAYLOAD_AUTO,	 /* detect: ELF with a PVH note, arm64 Image header */
	PVM_PAYLOAD_PVH_ELF,	 /* x86_64: ELF with the Xen PVH entry note */
	PVM_PAYLOAD_LINUX_IMAGE, /* arm64: Linux Image with its 64-byte header */
	PVM_PAYLOAD_RAW,	 /* flat binary loaded at load_address, entered there */
};

enum pvm_console_output {
	PVM_CONSOLE_RING_AND_LOG, /* bounded ring buffer in pvmd plus a per-VM log file */
	PVM_CONSOLE_RING,	  /* ring buffer only */
	PVM_CONSOLE_NONE,	  /* output discarded */
};

typedef struct pvm_config {
	char name[PVM_NAME_MAX + 1];
	char *kernel; /* absolute path of the payload; required */
	char *initrd; /* optional */
	char *params; /* kernel command line; optional */
	uint32_t memory_mib;
	uint32_t cpus;
	bool protected_vm;
	enum pvm_memory_backing memory_backing;
	enum pvm_payload_format payload_format;
	uint64_t load_address; /* PVM_PAYLOAD_RAW only */
	bool has_payload_sha256;
	uint8_t payload_sha256[32];
	enum pvm_console_output console_output;
	bool console_input;
	bool debug;		  /* debug features (e.g. register dumps); subject to policy */
	uint32_t boot_timeout_ms; /* start to READY; 0 means no timeout */
	pvm_disk disks[PVM_DISKS_MAX];
	size_t n_disks;
	bool vsock;	     /* a virtio-vsock device; its guest CID is pvmd's to assign */
	uint32_t window_mib; /* shared window with the devices (top of RAM on x86_64) */
	/* Boot through pvm-fw (arm64): the name of a firmware installed in pvmd's firmware
	 * directory (<name>.img; never a path), and the signed descriptor's path, which like the
	 * kernel comes as a descriptor the caller opened. Both or neither. */
	char *firmware;
	char *descriptor;
	/* The firmware's identity (SHA-256 of its built-in public key), which pvmd reads from the
	 * image it loads: never from JSON. */
	bool has_firmware_identity;
	uint8_t firmware_identity[32];
} pvm_config;

/* Does the VM have virtio devices (and so a shared window)? */
static inline bool pvm_config_has_devices(const pvm_config *cfg)
{
	return cfg->n_disks > 0 || cfg->vsock;
}

/* A config with every default set and no name or kernel yet (so not yet valid): for building a
 * config in C, followed by pvm_config_validate(). */
int pvm_config_new(pvm_config **ret);

/* The checks pvm_config_parse() applies, on a config built in C; errors name fields by their
 * JSON path ("origin: $.cpus: ..."). */
int pvm_config_validate(const pvm_config *cfg, const char *origin, bool check_files,
			pvm_error *err);

/* Parse and validate JSON text. `origin` names the input in errors (a file name or "<bus>").
 * Paths in the config must be absolute; files are checked for existence and readability only
 * when check_files is true (pvmd checks them again when it opens them). */
int pvm_config_parse(const char *json, size_t len, const char *origin, bool check_files,
		     pvm_config **ret, pvm_error *err);
int pvm_config_load_file(const char *path, bool check_files, pvm_config **ret, pvm_error *err);

/* The config as JSON text in the same schema (stable key order); caller frees. */
int pvm_config_to_json(const pvm_config *cfg, char **ret);

pvm_config *pvm_config_free(pvm_config *cfg);
DEFINE_TRIVIAL_CLEANUP_FUNC(pvm_config *, pvm_config_free)

/* Names: 1..PVM_NAME_MAX characters of [A-Za-z0-9._-], starting with a letter or digit. */
bool pvm_name_is_valid(const char *name);

const char *pvm_memory_backing_to_string(enum pvm_memory_backing b);
const char *pvm_payload_format_to_string(enum pvm_payload_format f);
const char *pvm_console_output_to_string(enum pvm_console_output o);
