/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A host call only the EL2 test image has (not part of the ABI): the hypervisor touches its
 * own memory in one of a few ways and reports the exception that raised, so the test host can
 * check the hypervisor's stage 1 (write-xor-execute, nothing of the host mapped).
 */
#ifndef HYP_AARCH64_SELFTEST_H
#define HYP_AARCH64_SELFTEST_H

#include "pvm-hyp-abi.h"

/* x1: one of the probes below -> x2: 0 if the access worked, else the ESR_EL2 it raised. */
#define HYP_SELFTEST_FN_PROBE PVM_HYP_FN(0x7f0)

enum hyp_probe {
	HYP_PROBE_EXEC_CODE,  /* call a function of the hypervisor's code */
	HYP_PROBE_EXEC_DATA,  /* call an instruction placed in the hypervisor's data */
	HYP_PROBE_WRITE_CODE, /* store to the hypervisor's code */
	HYP_PROBE_WRITE_DATA, /* store to the hypervisor's data */
	HYP_PROBE_READ_HOST,  /* load from a page of host RAM */
	HYP_NR_PROBES,
};

#endif
