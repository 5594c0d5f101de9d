/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The calling convention between a host kernel at EL1 and pvm's EL2 hypervisor: function IDs,
 * arguments, results and page states. Shared with kernel-patches/; hyp/ABI.md explains it.
 * Plain C with fixed-width constants only, so it builds in a kernel, at EL2 and on the host.
 */
#ifndef PVM_HYP_ABI_H
#define PVM_HYP_ABI_H

/* ABI version reported by PVM_HYP_FN_VERSION: major in bits 31:16, minor in bits 15:0. */
#define PVM_HYP_ABI_VERSION 0x00020000UL

/*
 * SMCCC function IDs: fast call (bit 31), SMC64/HVC64 convention (bit 30), owning entity 6
 * ("vendor specific hypervisor service", bits 29:24), function number in bits 15:0.
 */
#define PVM_HYP_FN(n) (0xC6000000UL | (unsigned long)(n))

/* Calls a host kernel makes (HVC #0 from EL1). Arguments in x1..x4, see ABI.md. */
#define PVM_HYP_FN_VERSION PVM_HYP_FN(0)	     /* -> x2: PVM_HYP_ABI_VERSION */
#define PVM_HYP_FN_HOST_SHARE_HYP PVM_HYP_FN(1)	     /* x1: pfn, x2: nr_pages */
#define PVM_HYP_FN_HOST_UNSHARE_HYP PVM_HYP_FN(2)    /* x1: pfn, x2: nr_pages */
#define PVM_HYP_FN_HOST_DONATE_HYP PVM_HYP_FN(3)     /* x1: pfn, x2: nr_pages */
#define PVM_HYP_FN_HOST_RECLAIM_HYP PVM_HYP_FN(4)    /* x1: pfn, x2: nr_pages */
#define PVM_HYP_FN_GUEST_CREATE PVM_HYP_FN(5)	     /* -> x2: guest handle */
#define PVM_HYP_FN_GUEST_DESTROY PVM_HYP_FN(6)	     /* x1: guest handle */
#define PVM_HYP_FN_HOST_DONATE_GUEST PVM_HYP_FN(7)   /* x1: handle, x2: pfn, x3: gfn, x4: nr */
#define PVM_HYP_FN_HOST_RECLAIM_GUEST PVM_HYP_FN(8)  /* x1: pfn, x2: nr_pages */
#define PVM_HYP_FN_PAGE_STATE PVM_HYP_FN(9)	     /* x1: pfn -> x2: host state, x3: owner */
#define PVM_HYP_FN_GUEST_RUN PVM_HYP_FN(10)	     /* x1: handle, x2: entry IPA -> x2: exit, x3 */
#define PVM_HYP_FN_HOST_SHARE_GUEST PVM_HYP_FN(11)   /* x1: handle, x2: pfn, x3: gfn, x4: nr */
#define PVM_HYP_FN_HOST_UNSHARE_GUEST PVM_HYP_FN(12) /* x1: handle, x2: gfn, x3: nr */
#define PVM_HYP_FN_HOST_FORCE_RECLAIM PVM_HYP_FN(13) /* x1: pfn */

/* Calls a protected guest makes (HVC #0 from its EL1); arguments are guest frame numbers. */
#define PVM_HYP_FN_GUEST_SHARE_HOST PVM_HYP_FN(16)   /* x1: gfn, x2: nr_pages */
#define PVM_HYP_FN_GUEST_UNSHARE_HOST PVM_HYP_FN(17) /* x1: gfn, x2: nr_pages */
#define PVM_HYP_FN_GUEST_YIELD PVM_HYP_FN(18)	     /* x1: a value for the host */

/* Why GUEST_RUN returned (x2), and what x3 then holds. */
#define PVM_HYP_EXIT_YIELD 1 /* the guest called GUEST_YIELD; x3: its x1 */
#define PVM_HYP_EXIT_FAULT 2 /* the guest touched an address it has no page at; x3: the IPA */
#define PVM_HYP_EXIT_OTHER 3 /* any other trap; x3: ESR_EL2 */

/* PSCI calls the hypervisor forwards for the host (SMC32 IDs from the PSCI specification). */
#define PVM_HYP_PSCI_SYSTEM_OFF 0x84000008UL

/* x0 on return: did the hypervisor handle the call at all (SMCCC status). */
#define PVM_HYP_SMCCC_SUCCESS 0UL
#define PVM_HYP_SMCCC_NOT_SUPPORTED (~0UL) /* -1: unknown function ID */

/* x1 on return: 0 or one of these, negated (the values are Linux's errno numbers). */
#define PVM_HYP_EPERM 1	      /* a page is not in the state the call needs, or not RAM */
#define PVM_HYP_ENOENT 2      /* no such guest, or nothing mapped at that guest address */
#define PVM_HYP_ENOMEM 12     /* the hypervisor's page-table pool is exhausted */
#define PVM_HYP_EBUSY 16      /* the page is pinned or in use by the hypervisor; count full */
#define PVM_HYP_EINVAL 22     /* malformed: zero/too many pages, overflow; guest still alive */
#define PVM_HYP_ERANGE 34     /* a guest address outside the guest's address space */
#define PVM_HYP_EHWPOISON 133 /* the guest address lost its page to a forced reclaim */

/* Most pages a single call may name; larger ranges are split by the caller. */
#define PVM_HYP_MAX_PAGES_PER_CALL 512UL

/* Page size of every pfn and gfn in this ABI. */
#define PVM_HYP_PAGE_SHIFT 12

/* A page as one component sees it (PVM_HYP_FN_PAGE_STATE x2). */
#define PVM_HYP_PAGE_OWNED 0	       /* owned, nobody else has access */
#define PVM_HYP_PAGE_SHARED_OWNED 1    /* owned, and lent to exactly one other component */
#define PVM_HYP_PAGE_SHARED_BORROWED 2 /* owned by another component, which lent it to us */
#define PVM_HYP_PAGE_NOPAGE 3	       /* no access */

/* Owner of a page (PVM_HYP_FN_PAGE_STATE x3): host, hypervisor, or a guest. */
#define PVM_HYP_OWNER_HOST 0
#define PVM_HYP_OWNER_HYP 1
#define PVM_HYP_OWNER_GUEST 2

#endif
