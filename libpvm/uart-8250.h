/* A minimal 8250/16550 UART register model for a polled guest console: transmit, receive from
 * a host queue, and the registers a polled driver touches (IER, LCR, divisor latch, MCR, LSR,
 * MSR, SCR). No interrupts, no FIFOs. Used by x86 (I/O port 0x3f8) and by 8250-MMIO on arm64. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#define UART_8250_REGS 8

typedef struct uart_8250 {
	uint8_t ier, lcr, mcr, scr, dll, dlm;
	/* host side: where received bytes come from */
	bool (*rx)(void *userdata, uint8_t *ret_byte);
	void *userdata;
	bool has_rx; /* a byte fetched from rx() and not yet read by the guest */
	uint8_t rx_byte;
} uart_8250;

void uart_8250_init(uart_8250 *u, bool (*rx)(void *userdata, uint8_t *ret_byte), void *userdata);

/* Guest read of register `offset` (0..7). */
uint8_t uart_8250_read(uart_8250 *u, unsigned offset);
/* Guest write of register `offset`; returns true with *ret_tx set when the write transmits a
 * byte (THR with DLAB clear). */
bool uart_8250_write(uart_8250 *u, unsigned offset, uint8_t value, uint8_t *ret_tx);
