/* A VM's host network interface: a tap pvmd creates (it holds CAP_NET_ADMIN, the runner never
 * does) and sets up with libnl's route API. The tap is not persistent: it lives as long as a
 * descriptor to it is open, so once pvmd has handed its descriptor to the runner and closed its
 * own, the kernel deletes the tap when the runner ends, however it ends. */
#pragma once

#include <net/if.h>
#include <stdint.h>

#include "config.h"
#include "error.h"

#define PVM_TAP_NAME_TEMPLATE "pvm%d" /* the kernel picks the first free number */
#define PVM_TAP_MTU 1500

typedef struct pvm_tap {
	int fd; /* the tap's queue: IFF_TAP | IFF_NO_PI, blocking, close-on-exec */
	int ifindex;
	char name[IFNAMSIZ];
} pvm_tap;

/* Create a tap for a guest with address guest_mac: MTU PVM_TAP_MTU, the host side's address the
 * guest's with the first byte 0xfe, joined to `bridge` (NULL or "": none), up. On failure
 * nothing is left behind and err says what to do (no /dev/net/tun, no such bridge, not a
 * bridge). */
int pvm_tap_create(const uint8_t guest_mac[PVM_MAC_LEN], const char *bridge, pvm_tap *ret,
		   pvm_error *err);

/* The address the host side of a guest's tap takes. */
void pvm_tap_host_mac(const uint8_t guest_mac[PVM_MAC_LEN], uint8_t ret[PVM_MAC_LEN]);
