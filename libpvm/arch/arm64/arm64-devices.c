/* The devices of pvm's arm64 guest machine and the decoding of vCPU exits: the 8250 console
 * UART on MMIO, the control page (READY, stop request, pvm-fw's verdict) and PSCI system events.
 * Registers and meanings: arm64-layout.h and docs/guest-interface.md. Plain C on struct kvm_run. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <linux/kvm.h>

#include "arm64.h"
#include "kvm-compat.h"
#include "uart-8250.h"

_Static_assert(PVM_ARM64_READY_MAGIC == PVM_X86_READY_MAGIC, "one READY value on every arch");
_Static_assert(PVM_ARM64_STOP_REQUESTED == PVM_CONTROL_STOP_REQUESTED, "one stop bit");

struct pvm_arch_devices {
	pvm_device_host host;
	uart_8250 uart;
	uint8_t tx;	  /* the byte one MMIO exit transmitted */
	bool fw_reported; /* the run's firmware verdict came: later writes are no verdict */
};

int pvm_arm64_devices_new(const pvm_device_host *host, pvm_arch_devices **ret)
{
	pvm_arch_devices *d = calloc(1, sizeof(*d));

	if (!d)
		return -ENOMEM;
	d->host = *host;
	uart_8250_init(&d->uart, host->console_read, host->userdata);
	*ret = d;
	return 0;
}

void pvm_arm64_devices_free(pvm_arch_devices *d)
{
	free(d);
}

static bool in_range(uint64_t addr, uint32_t len, uint64_t base, uint64_t size)
{
	return addr >= base && addr - base < size && len <= size - (addr - base);
}

static void mmio_set_read(struct kvm_run *run, uint64_t value)
{
	memcpy(run->mmio.data, &value, MIN((size_t)run->mmio.len, sizeof(value)));
}

static void uart_access(pvm_arch_devices *d, struct kvm_run *run, uint64_t off, pvm_exit_event *ev)
{
	/* reg-shift 0: one register per byte; wider accesses use their low byte. */
	if (off >= UART_8250_REGS) {
		if (!run->mmio.is_write)
			mmio_set_read(run, 0);
		return;
	}
	if (!run->mmio.is_write)
		mmio_set_read(run, uart_8250_read(&d->uart, (unsigned)off));
	else if (uart_8250_write(&d->uart, (unsigned)off, run->mmio.data[0], &d->tx)) {
		ev->kind = PVM_EXIT_EVENT_CONSOLE;
		ev->console = &d->tx;
		ev->console_len = 1;
	}
}

static void control_access(pvm_arch_devices *d, struct kvm_run *run, uint64_t off,
			   pvm_exit_event *ev)
{
	uint32_t v = 0;

	if (!run->mmio.is_write) {
		if (off == PVM_ARM64_CONTROL_STATUS && d->host.stop_requested &&
		    d->host.stop_requested(d->host.userdata))
			v = PVM_ARM64_STOP_REQUESTED;
		mmio_set_read(run, v);
		return;
	}
	memcpy(&v, run->mmio.data, MIN((size_t)run->mmio.len, sizeof(v)));
	if (off == PVM_ARM64_CONTROL_READY && run->mmio.len == 4 && v == PVM_ARM64_READY_MAGIC) {
		ev->kind = PVM_EXIT_EVENT_READY;
		return;
	}
	if (off == PVM_ARM64_CONTROL_FW_VERDICT && run->mmio.len == 4 && !d->fw_reported &&
	    (v & ~PVM_ARM64_FW_VERDICT_MASK) == PVM_ARM64_FW_VERDICT_MAGIC) {
		d->fw_reported = true;
		ev->code = v & PVM_ARM64_FW_VERDICT_MASK;
		ev->kind =
		    ev->code == 0 ? PVM_EXIT_EVENT_FW_VERIFIED : PVM_EXIT_EVENT_PAYLOAD_REFUSED;
		snprintf(ev->detail, sizeof(ev->detail), "firmware verdict %" PRIu32, ev->code);
		return;
	}
	ev->kind = PVM_EXIT_EVENT_UNKNOWN_IO;
	snprintf(ev->detail, sizeof(ev->detail),
		 "control page +0x%" PRIx64 ": write of 0x%" PRIx32 " (size %" PRIu32
		 ") is no known command",
		 off, v, run->mmio.len);
}

static void mmio(pvm_arch_devices *d, struct kvm_run *run, pvm_exit_event *ev)
{
	uint64_t addr = run->mmio.phys_addr;
	uint32_t len = run->mmio.len;

	ev->kind = PVM_EXIT_EVENT_CONTINUE;
	if (len == 0 || len > sizeof(run->mmio.data)) {
		ev->kind = PVM_EXIT_EVENT_FATAL;
		snprintf(ev->detail, sizeof(ev->detail),
			 "MMIO 0x%" PRIx64 ": access of %" PRIu32 " bytes", addr, len);
	} else if (in_range(addr, len, PVM_ARM64_UART_BASE, PVM_ARM64_UART_SIZE)) {
		uart_access(d, run, addr - PVM_ARM64_UART_BASE, ev);
	} else if (in_range(addr, len, PVM_ARM64_CONTROL_BASE, PVM_ARM64_CONTROL_SIZE)) {
		control_access(d, run, addr - PVM_ARM64_CONTROL_BASE, ev);
	} else {
		if (!run->mmio.is_write)
			memset(run->mmio.data, 0xff, len);
		ev->kind = PVM_EXIT_EVENT_UNKNOWN_IO;
		snprintf(ev->detail, sizeof(ev->detail), "MMIO 0x%" PRIx64 ": %s of size %" PRIu32,
			 addr, run->mmio.is_write ? "write" : "read", len);
	}
}

int pvm_arm64_handle_exit(pvm_arch_devices *d, int vcpu_fd, struct kvm_run *run, pvm_exit_event *ev)
{
	memset(ev, 0, sizeof(*ev));
	switch (run->exit_reason) {
	case KVM_EXIT_MMIO:
		mmio(d, run, ev);
		return 0;
	case KVM_EXIT_SYSTEM_EVENT:
		/* PSCI SYSTEM_OFF and SYSTEM_RESET (KVM handles the rest of PSCI in the kernel). */
		switch (run->system_event.type) {
		case KVM_SYSTEM_EVENT_SHUTDOWN:
			ev->kind = PVM_EXIT_EVENT_SHUTDOWN;
			snprintf(ev->detail, sizeof(ev->detail), "PSCI SYSTEM_OFF");
			return 0;
		case KVM_SYSTEM_EVENT_RESET:
			ev->kind = PVM_EXIT_EVENT_REBOOT;
			snprintf(ev->detail, sizeof(ev->detail), "PSCI SYSTEM_RESET");
			return 0;
		default:
			ev->kind = PVM_EXIT_EVENT_CRASH;
			snprintf(ev->detail, sizeof(ev->detail),
				 "KVM_EXIT_SYSTEM_EVENT type %" PRIu32, run->system_event.type);
			return 0;
		}
	case KVM_EXIT_INTR:
		ev->kind = PVM_EXIT_EVENT_CONTINUE;
		return 0;
	case KVM_EXIT_MEMORY_FAULT:
		ev->kind = PVM_EXIT_EVENT_PROTECTION_VIOLATION;
		/* Debian 12's headers lack kvm_run.memory_fault: the address stays unreported. */
		snprintf(ev->detail, sizeof(ev->detail), "KVM_EXIT_MEMORY_FAULT");
		return 0;
	case KVM_EXIT_INTERNAL_ERROR:
		ev->kind = PVM_EXIT_EVENT_EMULATION_FAILURE;
		snprintf(ev->detail, sizeof(ev->detail),
			 "KVM_EXIT_INTERNAL_ERROR suberror %" PRIu32, run->internal.suberror);
		return 0;
	default:
		ev->kind = PVM_EXIT_EVENT_FATAL;
		snprintf(ev->detail, sizeof(ev->detail), "unhandled KVM exit reason %" PRIu32,
			 run->exit_reason);
		return 0;
	}
}
