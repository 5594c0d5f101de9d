/* pvmctl payload sign: makes the signed descriptor pvm-fw checks inside the VM before it boots
 * a kernel (docs/pvm-fw.md), offline, with the signer's ECDSA P-256 key (pvm-fw/sign/). */
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "json-strict.h"
#include "macro.h"
#include "pvmctl.h"
#include "sign.h"

#define PAYLOAD_MAX ((size_t)1 << 30) /* nothing pvm boots is larger than a GiB */

static void evp_pkey_freep(EVP_PKEY **p)
{
	EVP_PKEY_free(*p);
}

static int write_descriptor(const char *path, const uint8_t *d)
{
	_cleanup_close_ int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	size_t done = 0;

	if (fd < 0)
		return -errno;
	while (done < PVM_FW_DESCRIPTOR_SIZE) {
		ssize_t n = write(fd, d + done, PVM_FW_DESCRIPTOR_SIZE - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		done += (size_t)n;
	}
	return 0;
}

int verb_payload_sign(int argc, char **argv, pvmctl_context *ctx)
{
	_cleanup_(evp_pkey_freep) EVP_PKEY *key = NULL;
	_cleanup_free_ char *kernel = NULL, *initrd = NULL;
	const char *cmdline = ctx->cmdline ?: "";
	size_t kernel_size = 0, initrd_size = 0;
	uint8_t d[PVM_FW_DESCRIPTOR_SIZE];
	pvm_error err = { 0 };
	char msg[512];
	int r;

	if (!ctx->key || !ctx->kernel || !ctx->output)
		return pvmctl_report(
		    ctx, -EINVAL,
		    "--key, --kernel and --output are required (pvmctl help payload sign)",
		    PVMCTL_EXIT_USAGE);
	if (strlen(cmdline) > PVM_FW_CMDLINE_MAX) {
		snprintf(msg, sizeof(msg), "--cmdline is %zu bytes; pvm-fw takes at most %u",
			 strlen(cmdline), PVM_FW_CMDLINE_MAX);
		return pvmctl_report(ctx, -E2BIG, msg, PVMCTL_EXIT_USAGE);
	}

	r = pvm_fw_key_load(ctx->key, &key);
	if (r < 0) {
		snprintf(msg, sizeof(msg), "%s: %s", ctx->key,
			 r == -EKEYREJECTED
			     ? "not an ECDSA P-256 private key (pvm-fw verifies P-256 only)"
			 : r == -EBADMSG ? "not a PEM private key"
					 : strerror(-r));
		return pvmctl_report(ctx, r, msg, PVMCTL_EXIT_FAILURE);
	}
	r = pvm_json_read_file(ctx->kernel, PAYLOAD_MAX, &kernel, &kernel_size, &err);
	if (r >= 0 && ctx->initrd)
		r = pvm_json_read_file(ctx->initrd, PAYLOAD_MAX, &initrd, &initrd_size, &err);
	if (r < 0)
		return pvmctl_report(ctx, r, err.message, PVMCTL_EXIT_FAILURE);
	r = pvm_fw_descriptor_sign(key, kernel, kernel_size, initrd, initrd_size, cmdline, d);
	if (r < 0) {
		snprintf(msg, sizeof(msg), "signing with %s failed: %s", ctx->key, strerror(-r));
		return pvmctl_report(ctx, r, msg, PVMCTL_EXIT_FAILURE);
	}
	r = write_descriptor(ctx->output, d);
	if (r < 0) {
		snprintf(msg, sizeof(msg), "cannot write %s: %s", ctx->output, strerror(-r));
		return pvmctl_report(ctx, r, msg, PVMCTL_EXIT_FAILURE);
	}
	return PVMCTL_EXIT_OK;
}
