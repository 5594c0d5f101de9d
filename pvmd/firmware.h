/* pvm-fw images as pvmd boots them (docs/pvm-fw.md): found by name in pvmd's own firmware
 * directory, never at a caller's path, and known by their identity, the SHA-256 of the public
 * key the image verifies descriptors with, which pvmd reads from the image itself. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "error.h"

/* Where meson installs pvm-fw images (pvm-fw/meson.build); pvmd --firmware-dir replaces it. */
#ifdef PVM_PKGDATADIR
#define PVM_FIRMWARE_DIR_DEFAULT PVM_PKGDATADIR "/firmware"
#else
#define PVM_FIRMWARE_DIR_DEFAULT "/usr/share/pvm/firmware"
#endif

/* <dir>/<name>.img; name is a VM-style name (no '/'), checked by the config. */
int firmware_image_path(const char *dir, const char *name, char **ret);

/* The identity of the firmware image in memfd: its key record (arm64-layout.h) found, the
 * DER SubjectPublicKeyInfo of its P-256 point hashed. -EBADMSG when the image carries none. */
int firmware_identity(int memfd, uint8_t ret[32], pvm_error *err);

/* The identity as 64 lowercase hex digits and a NUL. */
void firmware_identity_hex(const uint8_t id[32], char ret[65]);
