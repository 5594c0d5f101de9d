/* The runner's seccomp allow-list, built once per pvmd as a BPF program and sent to every runner,
 * which loads it just before its guest runs (runner/sandbox.c). It depends on the architecture
 * only: the vCPU fds sit at fixed numbers (runner-protocol.h). */
#pragma once

#include <stddef.h>

#include "arch.h"
#include "error.h"

/* The program (struct sock_filter[], *ret_len bytes), malloc'd. */
int runner_filter_build(const pvm_arch *arch, void **ret, size_t *ret_len, pvm_error *err);
