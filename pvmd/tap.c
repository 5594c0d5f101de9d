/* Taps for VMs (tap.h): /dev/net/tun makes the interface and its descriptor, then one
 * RTM_NEWLINK through libnl sets its address, MTU, bridge and up flag. Every step that can fail
 * comes before anything outlives the call: the only resource is the descriptor, and closing it
 * deletes the tap. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <linux/if_tun.h>
#include <netlink/netlink.h>
#include <netlink/route/link.h>

#include "tap.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(struct nl_sock *, nl_socket_free)
DEFINE_TRIVIAL_CLEANUP_FUNC(struct rtnl_link *, rtnl_link_put)
DEFINE_TRIVIAL_CLEANUP_FUNC(struct nl_addr *, nl_addr_put)

void pvm_tap_host_mac(const uint8_t guest_mac[PVM_MAC_LEN], uint8_t ret[PVM_MAC_LEN])
{
	/* as high as a unicast, locally administered address goes: a bridge takes the lowest
	 * address of its ports for its own, never this one, and the guest's stays the guest's */
	memcpy(ret, guest_mac, PVM_MAC_LEN);
	ret[0] = 0xfe;
}

static int tap_open(pvm_tap *t, pvm_error *err)
{
	struct ifreq ifr = { .ifr_flags = IFF_TAP | IFF_NO_PI };
	_cleanup_close_ int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);

	if (fd < 0)
		return pvm_error_set(err, errno,
				     "cannot open /dev/net/tun for the VM's network: %m%s",
				     errno == ENOENT ? " (load the tun module: modprobe tun)" : "");
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", PVM_TAP_NAME_TEMPLATE);
	if (ioctl(fd, TUNSETIFF, &ifr) < 0)
		return pvm_error_set(err, errno, "creating a tap (TUNSETIFF %s): %m",
				     PVM_TAP_NAME_TEMPLATE);
	snprintf(t->name, sizeof(t->name), "%s", ifr.ifr_name);
	t->fd = TAKE_FD(fd);
	return 0;
}

/* The bridge's index, after checking that it exists and is a bridge. */
static int bridge_index(struct nl_sock *sk, const char *bridge, int *ret, pvm_error *err)
{
	_cleanup_(rtnl_link_putp) struct rtnl_link *br = NULL;
	const char *type;
	int r = rtnl_link_get_kernel(sk, 0, bridge, &br);

	if (r == -NLE_OBJ_NOTFOUND || r == -NLE_NODEV)
		return pvm_error_set(err, ENODEV,
				     "bridge '%s' does not exist: create it (ip link add %s type "
				     "bridge) or leave \"bridge\" out of the config",
				     bridge, bridge);
	if (r < 0)
		return pvm_error_set(err, EIO, "looking up bridge '%s': %s", bridge,
				     nl_geterror(r));
	type = rtnl_link_get_type(br);
	if (!type || strcmp(type, "bridge") != 0)
		return pvm_error_set(err, ENOTSUP, "'%s' is not a bridge (it is %s%s)", bridge,
				     type ? "of type " : "a plain device", type ? type : "");
	*ret = rtnl_link_get_ifindex(br);
	return 0;
}

int pvm_tap_create(const uint8_t guest_mac[PVM_MAC_LEN], const char *bridge, pvm_tap *ret,
		   pvm_error *err)
{
	_cleanup_(nl_socket_freep) struct nl_sock *sk = nl_socket_alloc();
	_cleanup_(rtnl_link_putp) struct rtnl_link *link = NULL, *change = rtnl_link_alloc();
	_cleanup_(nl_addr_putp) struct nl_addr *addr = NULL;
	_cleanup_close_ int fd = -1;
	uint8_t host_mac[PVM_MAC_LEN];
	pvm_tap t = { .fd = -1 };
	int master = 0, r;

	if (!sk || !change)
		return pvm_error_set(err, ENOMEM, "out of memory for netlink");
	r = nl_connect(sk, NETLINK_ROUTE);
	if (r < 0)
		return pvm_error_set(err, EIO, "connecting to the kernel's routing netlink: %s",
				     nl_geterror(r));
	/* the bridge first: a missing one leaves no tap behind, not even for a moment */
	if (bridge && bridge[0] && bridge_index(sk, bridge, &master, err) < 0)
		return -err->code;
	r = tap_open(&t, err);
	if (r < 0)
		return r;
	fd = t.fd;

	r = rtnl_link_get_kernel(sk, 0, t.name, &link);
	if (r < 0)
		return pvm_error_set(err, EIO, "looking up the new tap %s: %s", t.name,
				     nl_geterror(r));
	t.ifindex = rtnl_link_get_ifindex(link);
	pvm_tap_host_mac(guest_mac, host_mac);
	addr = nl_addr_build(AF_LLC, host_mac, sizeof(host_mac));
	if (!addr)
		return pvm_error_set(err, ENOMEM, "out of memory for netlink");
	rtnl_link_set_addr(change, addr);
	rtnl_link_set_mtu(change, PVM_TAP_MTU);
	if (master)
		rtnl_link_set_master(change, master);
	rtnl_link_set_flags(change, IFF_UP);
	r = rtnl_link_change(sk, link, change, 0);
	if (r < 0)
		return pvm_error_set(err, EIO, "setting up tap %s (address, MTU %d%s%s, up): %s",
				     t.name, PVM_TAP_MTU, master ? ", bridge " : "",
				     master ? bridge : "", nl_geterror(r));
	t.fd = TAKE_FD(fd);
	*ret = t;
	return 0;
}
