/* 8250 UART register model: enough of the chip for a polled driver. The transmitter is always
 * empty (bytes leave at once), so LSR reports THRE|TEMT; DR follows the host's input queue. */
#include <string.h>

#include "uart-8250.h"

enum {
	UART_RBR_THR = 0, /* DLAB=1: DLL */
	UART_IER = 1,	  /* DLAB=1: DLM */
	UART_IIR_FCR = 2,
	UART_LCR = 3,
	UART_MCR = 4,
	UART_LSR = 5,
	UART_MSR = 6,
	UART_SCR = 7,
};

#define UART_LCR_DLAB 0x80
#define UART_LSR_DR 0x01
#define UART_LSR_THRE 0x20
#define UART_LSR_TEMT 0x40
#define UART_IIR_NO_INT 0x01
#define UART_MSR_DCD_DSR_CTS 0xb0

void uart_8250_init(uart_8250 *u, bool (*rx)(void *userdata, uint8_t *ret_byte), void *userdata)
{
	memset(u, 0, sizeof(*u));
	u->lcr = 0x03; /* 8N1 */
	u->rx = rx;
	u->userdata = userdata;
}

static bool uart_8250_rx_ready(uart_8250 *u)
{
	if (!u->has_rx && u->rx && u->rx(u->userdata, &u->rx_byte))
		u->has_rx = true;
	return u->has_rx;
}

uint8_t uart_8250_read(uart_8250 *u, unsigned offset)
{
	bool dlab = u->lcr & UART_LCR_DLAB;

	switch (offset) {
	case UART_RBR_THR:
		if (dlab)
			return u->dll;
		if (uart_8250_rx_ready(u)) {
			u->has_rx = false;
			return u->rx_byte;
		}
		return 0;
	case UART_IER:
		return dlab ? u->dlm : u->ier;
	case UART_IIR_FCR:
		return UART_IIR_NO_INT;
	case UART_LCR:
		return u->lcr;
	case UART_MCR:
		return u->mcr;
	case UART_LSR:
		return UART_LSR_THRE | UART_LSR_TEMT | (uart_8250_rx_ready(u) ? UART_LSR_DR : 0);
	case UART_MSR:
		return UART_MSR_DCD_DSR_CTS;
	case UART_SCR:
		return u->scr;
	default:
		return 0xff;
	}
}

bool uart_8250_write(uart_8250 *u, unsigned offset, uint8_t value, uint8_t *ret_tx)
{
	bool dlab = u->lcr & UART_LCR_DLAB;

	switch (offset) {
	case UART_RBR_THR:
		if (dlab) {
			u->dll = value;
			return false;
		}
		*ret_tx = value;
		return true;
	case UART_IER:
		if (dlab)
			u->dlm = value;
		else
			u->ier = value & 0x0f;
		return false;
	case UART_LCR:
		u->lcr = value;
		return false;
	case UART_MCR:
		u->mcr = value & 0x1f;
		return false;
	case UART_SCR:
		u->scr = value;
		return false;
	default: /* FCR, LSR, MSR: writes ignored */
		return false;
	}
}
