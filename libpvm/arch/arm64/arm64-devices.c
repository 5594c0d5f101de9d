/* The devices of pvm's arm64 guest machine and the decoding of vCPU exits: a 16550-style UART
 * for the console, the control page (READY, stop request) and PSCI system events. Registers
 * and meanings: arm64-layout.h. Plain C on struct kvm_run, unit-tested on any host. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <linux/kvm.h>

#include "arm64.h"

/* 16550 register offsets the console path uses. */
#define UART_RBR_THR 0
#define UART_LSR 5
#define UART_LSR_DR 0x01   /* a received byte is waiting */
#define UART_LSR_THRE 0x20 /* transmit holding register empty */
#define UART_LSR_TEMT 0x40 /* transmitter empty */

static bool in_range(uint64_t addr, uint32_t len, uint64_t base, uint64_t size)
{
	return addr >= base && addr - base < size && len <= size - (addr - base);
}

static void mmio_set_read(struct kvm_run *run, uint64_t value)
{
	memcpy(run->mmio.data, &value, MIN((size_t)run->mmio.len, sizeof(value)));
}

static int uart_access(pvm_arm64_devices *dev, struct kvm_run *run, uint64_t off,
		       pvm_arm64_event *ret)
{
	uint8_t byte = 0;

	if (run->mmio.is_write) {
		if (off == UART_RBR_THR) {
			ret->kind = PVM_ARM64_EVENT_CONSOLE;
			ret->byte = run->mmio.data[0];
			return 0;
		}
		if (off < sizeof(dev->uart_regs))
			dev->uart_regs[off] = run->mmio.data[0];
		return 0;
	}
	if (off == UART_LSR) {
		uint8_t lsr = UART_LSR_THRE | UART_LSR_TEMT;

		/* Peek only: the byte is consumed by the RBR read that follows. */
		if (dev->console_read && dev->uart_regs[UART_RBR_THR] == 0 &&
		    dev->console_read(dev->userdata, &byte))
			dev->uart_regs[UART_RBR_THR] = byte;
		if (dev->uart_regs[UART_RBR_THR])
			lsr |= UART_LSR_DR;
		mmio_set_read(run, lsr);
	} else if (off == UART_RBR_THR) {
		mmio_set_read(run, dev->uart_regs[UART_RBR_THR]);
		dev->uart_regs[UART_RBR_THR] = 0;
	} else {
		mmio_set_read(run, off < sizeof(dev->uart_regs) ? dev->uart_regs[off] : 0);
	}
	return 0;
}

static int control_access(pvm_arm64_devices *dev, struct kvm_run *run, uint64_t off,
			  pvm_arm64_event *ret)
{
	uint32_t v = 0;

	if (run->mmio.is_write) {
		memcpy(&v, run->mmio.data, MIN((size_t)run->mmio.len, sizeof(v)));
		if (off == PVM_ARM64_CONTROL_READY && run->mmio.len == 4 && v == PVM_ARM64_READY_MAGIC)
			ret->kind = PVM_ARM64_EVENT_READY;
		return 0;
	}
	if (off == PVM_ARM64_CONTROL_STATUS && dev->stop_requested &&
	    dev->stop_requested(dev->userdata))
		v = PVM_ARM64_STOP_REQUESTED;
	mmio_set_read(run, v);
	return 0;
}

static int system_event(struct kvm_run *run, pvm_arm64_event *ret)
{
	switch (run->system_event.type) {
	case KVM_SYSTEM_EVENT_SHUTDOWN:
		ret->kind = PVM_ARM64_EVENT_SHUTDOWN;
		snprintf(ret->detail, sizeof(ret->detail), "PSCI SYSTEM_OFF");
		return 0;
	case KVM_SYSTEM_EVENT_RESET:
		ret->kind = PVM_ARM64_EVENT_REBOOT;
		snprintf(ret->detail, sizeof(ret->detail), "PSCI SYSTEM_RESET");
		return 0;
	default:
		ret->kind = PVM_ARM64_EVENT_FATAL;
		snprintf(ret->detail, sizeof(ret->detail), "system event type %" PRIu32,
			 run->system_event.type);
		return 0;
	}
}

int pvm_arm64_handle_exit(pvm_arm64_devices *dev, struct kvm_run *run, pvm_arm64_event *ret)
{
	uint64_t addr;

	*ret = (pvm_arm64_event){ .kind = PVM_ARM64_EVENT_CONTINUE };
	switch (run->exit_reason) {
	case KVM_EXIT_MMIO:
		addr = run->mmio.phys_addr;
		if (run->mmio.len == 0 || run->mmio.len > sizeof(run->mmio.data))
			break;
		if (in_range(addr, run->mmio.len, PVM_ARM64_UART_BASE, PVM_ARM64_UART_SIZE))
			return uart_access(dev, run, addr - PVM_ARM64_UART_BASE, ret);
		if (in_range(addr, run->mmio.len, PVM_ARM64_CONTROL_BASE, PVM_ARM64_CONTROL_SIZE))
			return control_access(dev, run, addr - PVM_ARM64_CONTROL_BASE, ret);
		if (!run->mmio.is_write)
			memset(run->mmio.data, 0xff, run->mmio.len);
		ret->kind = PVM_ARM64_EVENT_UNKNOWN_IO;
		snprintf(ret->detail, sizeof(ret->detail), "MMIO %s of %" PRIu32 " bytes at 0x%" PRIx64,
			 run->mmio.is_write ? "write" : "read", run->mmio.len, addr);
		return 0;
	case KVM_EXIT_SYSTEM_EVENT:
		return system_event(run, ret);
	case KVM_EXIT_INTR:
		return 0;
	default:
		break;
	}
	ret->kind = PVM_ARM64_EVENT_FATAL;
	if (run->exit_reason == KVM_EXIT_MMIO)
		snprintf(ret->detail, sizeof(ret->detail), "MMIO access of %" PRIu32 " bytes", run->mmio.len);
	else
		snprintf(ret->detail, sizeof(ret->detail), "unhandled exit reason %" PRIu32,
			 run->exit_reason);
	return 0;
}
