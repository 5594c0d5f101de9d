/* Contract: a VM with "net" gets a tap pvmd made (up, MTU 1500, the guest's address with first
 * byte fe, on the bridge the config names), and an x86 guest drives virtio-net through the
 * shared window: its ARP request comes out on the tap with its MAC, and a frame the host sends
 * to it comes back answered. The tap is gone once the VM ends, however it ends (stop, kill, a
 * runner killed outright); a missing bridge or one that is not a bridge stops the start with a
 * message naming it and leaves no tap; a tap deleted under a running VM cuts its link and
 * nothing else; a guest that transmits an oversized frame ends with protection-violation.
 * Everything runs in a network namespace of the test's own. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <netlink/netlink.h>
#include <netlink/route/link.h>
#include <netlink/route/link/bridge.h>

#include "engine-harness.h"

#define BRIDGE "pvmtestbr0"
#define ETHERTYPE_PVM 0x88b5

static const uint8_t guest_mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };
static const uint8_t host_mac[6] = { 0x02, 0x00, 0x00, 0x00, 0x00, 0x01 };
static struct nl_sock *nl;

/* The tap's name from the instance, and its state as the kernel has it. */
static struct rtnl_link *tap_link(engine_vm *t, char name[IFNAMSIZ])
{
	struct rtnl_link *link = NULL;

	snprintf(name, IFNAMSIZ, "%s", vm_instance_net_interface(t->vm));
	CHECK(strncmp(name, "pvm", 3) == 0);
	CHECK(rtnl_link_get_kernel(nl, 0, name, &link) == 0);
	return link;
}

/* The tap goes with the run: polled, the kernel deletes it as the runner's last fd closes. */
static void expect_tap_gone(engine_vm *t, const char *name)
{
	uint64_t deadline = engine_now_msec() + 10000;

	while (if_nametoindex(name) != 0) {
		CHECK(engine_now_msec() < deadline);
		sd_event_run(t->event, 20 * 1000);
	}
	CHECK(vm_instance_net_interface(t->vm)[0] == '\0');
	printf("%s: gone with the run\n", name);
}

static void net_vm(engine_vm *t, const char *bridge, const char *params)
{
	engine_vm_init(t, "virtio-io", 16);
	t->cfg.net.enabled = true;
	t->cfg.window_mib = 2;
	t->cfg.net.has_mac = true;
	memcpy(t->cfg.net.mac, guest_mac, 6);
	snprintf(t->cfg.net.bridge, sizeof(t->cfg.net.bridge), "%s", bridge ? bridge : "");
	t->cfg.params = (char *)params;
	engine_vm_create(t, NULL);
}

static int packet_socket(const char *ifname)
{
	struct sockaddr_ll sa = { .sll_family = AF_PACKET,
				  .sll_protocol = htons(ETH_P_ALL),
				  .sll_ifindex = (int)if_nametoindex(ifname) };
	int fd = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, htons(ETH_P_ALL));

	CHECK(fd >= 0 && sa.sll_ifindex > 0);
	CHECK(bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
	return fd;
}

/* The next frame from the guest (source address guest_mac) of this EtherType, running the VM's
 * loop meanwhile; the host's own frames on the tap (IPv6 neighbour discovery...) are skipped. */
static ssize_t guest_frame(engine_vm *t, int fd, uint16_t type, uint8_t *buf, size_t size)
{
	uint64_t deadline = engine_now_msec() + 20000;

	for (;;) {
		ssize_t n = recv(fd, buf, size, 0);
		if (n >= 14 && memcmp(buf + 6, guest_mac, 6) == 0 &&
		    buf[12] == (uint8_t)(type >> 8) && buf[13] == (uint8_t)type)
			return n;
		CHECK(n >= 0 || errno == EAGAIN);
		if (engine_now_msec() > deadline)
			engine_fail_with_console(t, "no frame from the guest on the tap");
		if (n < 0)
			sd_event_run(t->event, 10 * 1000);
	}
}

static void test_frames(void)
{
	static const uint8_t want_host_mac[6] = { 0xfe, 0x54, 0x00, 0x12, 0x34, 0x56 };
	uint8_t f[2048], ping[60] = { 0 };
	struct rtnl_link *link;
	struct nl_addr *addr;
	char name[IFNAMSIZ];
	engine_vm t;
	ssize_t n;
	int fd;

	net_vm(&t, NULL, NULL);
	engine_vm_start(&t);
	/* the tap exists once the start returns, before the guest runs */
	link = tap_link(&t, name);
	CHECK(rtnl_link_get_flags(link) & IFF_UP);
	CHECK(rtnl_link_get_mtu(link) == 1500);
	CHECK(rtnl_link_get_master(link) == 0);
	addr = rtnl_link_get_addr(link);
	CHECK(addr && nl_addr_get_len(addr) == 6 &&
	      memcmp(nl_addr_get_binary_addr(addr), want_host_mac, 6) == 0);
	rtnl_link_put(link);
	fd = packet_socket(name);

	/* the guest's ARP request, as it built it */
	n = guest_frame(&t, fd, 0x0806, f, sizeof(f));
	CHECK(n >= 42);
	CHECK(memcmp(f, "\xff\xff\xff\xff\xff\xff", 6) == 0);
	CHECK(f[21] == 1 && memcmp(f + 22, guest_mac, 6) == 0);
	CHECK(memcmp(f + 28, "\x0a\x00\x02\x0f", 4) == 0 &&
	      memcmp(f + 38, "\x0a\x00\x02\x02", 4) == 0);
	engine_expect_console(&t, "net mac 52:54:00:12:34:56", 20000);
	printf("%s: the guest's ARP request arrived\n", name);

	/* a frame to the guest, answered */
	memcpy(ping, guest_mac, 6);
	memcpy(ping + 6, host_mac, 6);
	ping[12] = ETHERTYPE_PVM >> 8, ping[13] = ETHERTYPE_PVM & 0xff;
	memcpy(ping + 14, "pvm-ping 42", 11);
	CHECK(send(fd, ping, sizeof(ping), 0) == sizeof(ping));
	n = guest_frame(&t, fd, ETHERTYPE_PVM, f, sizeof(f));
	CHECK(n == sizeof(ping));
	CHECK(memcmp(f, host_mac, 6) == 0 && memcmp(f + 14, "pvm-pong 42", 11) == 0);
	engine_expect_console(&t, "net got ping", 20000);
	printf("%s: a frame to the guest came back answered\n", name);

	CHECK(vm_instance_stop(t.vm, 5000 * 1000, NULL) >= 0);
	CHECK(engine_wait_ended(&t, 10000));
	engine_expect_end(&t, PVM_VM_STOPPED, PVM_DEATH_STOPPED);
	close(fd);
	expect_tap_gone(&t, name);
	engine_vm_done(&t);
}

/* Killed by pvmd, or by anyone (a crash, as pvmd sees it): the tap goes either way. */
static void test_forced_ends(void)
{
	char name[IFNAMSIZ];
	engine_vm t;

	net_vm(&t, NULL, NULL);
	engine_vm_start(&t);
	rtnl_link_put(tap_link(&t, name));
	engine_expect_console(&t, "net sent arp", 20000);
	CHECK(vm_instance_kill(t.vm, NULL) >= 0);
	CHECK(engine_wait_ended(&t, 10000));
	engine_expect_end(&t, PVM_VM_STOPPED, PVM_DEATH_KILLED);
	expect_tap_gone(&t, name);

	engine_vm_start(&t);
	rtnl_link_put(tap_link(&t, name));
	engine_expect_console(&t, "net sent arp", 20000);
	CHECK(kill(vm_instance_runner_pid(t.vm), SIGKILL) == 0);
	CHECK(engine_wait_ended(&t, 10000));
	CHECK(vm_instance_state(t.vm) == PVM_VM_FAILED);
	expect_tap_gone(&t, name);
	engine_vm_done(&t);
}

/* Someone deletes the tap under a running VM: the guest's link is cut, the VM goes on and stops
 * as asked. */
static void test_tap_deleted(void)
{
	struct rtnl_link *link;
	char name[IFNAMSIZ];
	engine_vm t;

	net_vm(&t, NULL, NULL);
	engine_vm_start(&t);
	link = tap_link(&t, name);
	engine_expect_console(&t, "net sent arp", 20000);
	CHECK(rtnl_link_delete(nl, link) == 0);
	rtnl_link_put(link);
	CHECK(if_nametoindex(name) == 0);
	CHECK(vm_instance_stop(t.vm, 5000 * 1000, NULL) >= 0);
	CHECK(engine_wait_ended(&t, 10000));
	engine_expect_end(&t, PVM_VM_STOPPED, PVM_DEATH_STOPPED);
	engine_vm_done(&t);
	printf("%s: deleted under the VM, which stopped as asked\n", name);
}

static void test_bridge(void)
{
	struct rtnl_link *link, *br = NULL;
	char name[IFNAMSIZ];
	engine_vm t;

	CHECK(rtnl_link_bridge_add(nl, BRIDGE) == 0);
	CHECK(rtnl_link_get_kernel(nl, 0, BRIDGE, &br) == 0);
	net_vm(&t, BRIDGE, NULL);
	engine_vm_start(&t);
	link = tap_link(&t, name);
	CHECK(rtnl_link_get_master(link) == rtnl_link_get_ifindex(br));
	CHECK(rtnl_link_get_flags(link) & IFF_UP);
	rtnl_link_put(link);
	printf("%s: on bridge %s\n", name, BRIDGE);
	engine_expect_console(&t, "net sent arp", 20000);
	CHECK(vm_instance_kill(t.vm, NULL) >= 0);
	CHECK(engine_wait_ended(&t, 10000));
	expect_tap_gone(&t, name);
	engine_vm_done(&t);
	rtnl_link_put(br);
}

/* A bridge that is not there, or not a bridge: the start fails, naming it, and no tap is made. */
static void test_bad_bridge(const char *bridge, const char *message)
{
	pvm_error err = { 0 };
	engine_vm t;

	net_vm(&t, bridge, NULL);
	CHECK(vm_instance_start(t.vm, &err) < 0);
	if (!strstr(err.message, message)) {
		fprintf(stderr, "bridge %s: \"%s\" lacks \"%s\"\n", bridge, err.message, message);
		exit(EXIT_FAILURE);
	}
	engine_expect_end(&t, PVM_VM_FAILED, PVM_DEATH_START_FAILED);
	CHECK(if_nametoindex("pvm0") == 0);
	engine_vm_done(&t);
	printf("bridge %s: refused: %s\n", bridge, err.message);
}

static void test_oversize(void)
{
	char name[IFNAMSIZ];
	engine_vm t;

	net_vm(&t, NULL, "net-oversize");
	engine_vm_start(&t);
	rtnl_link_put(tap_link(&t, name));
	CHECK(engine_wait_ended(&t, 10000));
	engine_expect_end(&t, PVM_VM_FAILED, PVM_DEATH_PROTECTION_VIOLATION);
	if (!strstr(vm_instance_message(t.vm), "frame"))
		engine_fail_with_console(&t, "the message does not name the frame");
	CHECK(!engine_console_has(&t, "FAIL"));
	expect_tap_gone(&t, name);
	engine_vm_done(&t);
	printf("net-oversize: ended with protection-violation\n");
}

int main(void)
{
	engine_require_kvm();
	/* taps and bridges of this test's own, wherever it runs */
	if (unshare(CLONE_NEWNET) < 0) {
		fprintf(stderr, "unshare(CLONE_NEWNET): %s\n", strerror(errno));
		return EXIT_FAILURE;
	}
	if (access("/dev/net/tun", R_OK | W_OK) < 0) {
		printf("SKIP: no /dev/net/tun\n");
		return ENGINE_SKIP;
	}
	nl = nl_socket_alloc();
	CHECK(nl && nl_connect(nl, NETLINK_ROUTE) == 0);
	test_bad_bridge("nosuchbr", "bridge 'nosuchbr' does not exist");
	test_bad_bridge("lo", "'lo' is not a bridge");
	test_oversize();
	test_frames(); /* after the hostile guest: the host side still serves */
	test_forced_ends();
	test_tap_deleted();
	test_bridge();
	nl_socket_free(nl);
	printf("PASS\n");
	return 0;
}
