/* pvmctl payload sign: makes the signed descriptor pvm-fw checks inside the VM before it boots
 * a kernel (docs/pvm-fw.md), offline, with the signer's ECDSA P-256 key (pvm-fw/sign/). */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "json-strict.h"
#include "macro.h"
#include "sign.h"
#include "vm-verbs.h"

#define PAYLOAD_SIGN_SYNOPSIS                                                                      \
	"--key KEY.pem --kernel KERNEL [--initrd INITRD] [--cmdline TEXT] -o DESCRIPTOR"
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
	static const struct option opts[] = {
		{ "key", required_argument, NULL, 'k' },
		{ "kernel", required_argument, NULL, 'K' },
		{ "initrd", required_argument, NULL, 'i' },
		{ "cmdline", required_argument, NULL, 'c' },
		{ "output", required_argument, NULL, 'o' },
		{},
	};
	const char *key_path = NULL, *kernel_path = NULL, *initrd_path = NULL, *out = NULL;
	const char *cmdline = "";
	_cleanup_(evp_pkey_freep) EVP_PKEY *key = NULL;
	_cleanup_free_ char *kernel = NULL, *initrd = NULL;
	size_t kernel_size = 0, initrd_size = 0;
	uint8_t d[PVM_FW_DESCRIPTOR_SIZE];
	pvm_error err = { 0 };
	int c, r;

	optind = 1;
	while ((c = getopt_long(argc, argv, "o:", opts, NULL)) >= 0) {
		switch (c) {
		case 'k':
			key_path = optarg;
			break;
		case 'K':
			kernel_path = optarg;
			break;
		case 'i':
			initrd_path = optarg;
			break;
		case 'c':
			cmdline = optarg;
			break;
		case 'o':
			out = optarg;
			break;
		default:
			fprintf(stderr, "Usage: pvmctl %s %s\n", argv[0], PAYLOAD_SIGN_SYNOPSIS);
			return PVMCTL_EXIT_USAGE;
		}
	}
	if (optind != argc || !key_path || !kernel_path || !out) {
		fprintf(stderr, "Usage: pvmctl %s %s\n", argv[0], PAYLOAD_SIGN_SYNOPSIS);
		return PVMCTL_EXIT_USAGE;
	}
	if (strlen(cmdline) > PVM_FW_CMDLINE_MAX) {
		fprintf(stderr, "%s: --cmdline is %zu bytes; pvm-fw takes at most %u\n", argv[0],
			strlen(cmdline), PVM_FW_CMDLINE_MAX);
		return PVMCTL_EXIT_USAGE;
	}

	r = pvm_fw_key_load(key_path, &key);
	if (r < 0) {
		fprintf(stderr, "%s: %s: %s\n", argv[0], key_path,
			r == -EKEYREJECTED
			    ? "not an ECDSA P-256 private key (pvm-fw verifies P-256 only)"
			: r == -EBADMSG ? "not a PEM private key"
					: strerror(-r));
		return PVMCTL_EXIT_FAILURE;
	}
	r = pvm_json_read_file(kernel_path, PAYLOAD_MAX, &kernel, &kernel_size, &err);
	if (r >= 0 && initrd_path)
		r = pvm_json_read_file(initrd_path, PAYLOAD_MAX, &initrd, &initrd_size, &err);
	if (r < 0) {
		fprintf(stderr, "%s: %s\n", argv[0], err.message);
		return PVMCTL_EXIT_FAILURE;
	}
	r = pvm_fw_descriptor_sign(key, kernel, kernel_size, initrd, initrd_size, cmdline, d);
	if (r < 0) {
		fprintf(stderr, "%s: signing with %s failed: %s\n", argv[0], key_path,
			strerror(-r));
		return PVMCTL_EXIT_FAILURE;
	}
	r = write_descriptor(out, d);
	if (r < 0) {
		fprintf(stderr, "%s: cannot write %s: %s\n", argv[0], out, strerror(-r));
		return PVMCTL_EXIT_FAILURE;
	}
	return PVMCTL_EXIT_OK;
}
