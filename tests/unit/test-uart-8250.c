/* 8250 model contract: THR writes transmit, the divisor latch hides THR/IER while DLAB is set,
 * LSR always reports an empty transmitter and DR exactly while host input is pending. */
#include <assert.h>
#include <stdio.h>
#include <string.h>

#include "uart-8250.h"

static const char *input = "hi";

static bool rx(void *userdata, uint8_t *ret)
{
	const char **p = userdata;
	if (!**p)
		return false;
	*ret = (uint8_t) * (*p)++;
	return true;
}

int main(void)
{
	uart_8250 u;
	uint8_t tx = 0;
	const char *cursor = input;

	uart_8250_init(&u, rx, &cursor);
	assert(uart_8250_write(&u, 0, 'A', &tx) && tx == 'A');
	/* DLAB: divisor latch, not transmit */
	assert(!uart_8250_write(&u, 3, 0x83, &tx));
	assert(!uart_8250_write(&u, 0, 0x01, &tx));
	assert(!uart_8250_write(&u, 1, 0x00, &tx));
	assert(uart_8250_read(&u, 0) == 0x01);
	assert(!uart_8250_write(&u, 3, 0x03, &tx));
	assert(uart_8250_read(&u, 3) == 0x03);
	/* receive: DR while bytes pending, in order, then clear */
	assert((uart_8250_read(&u, 5) & 0x61) == 0x61);
	assert(uart_8250_read(&u, 0) == 'h');
	assert(uart_8250_read(&u, 5) & 0x01);
	assert(uart_8250_read(&u, 0) == 'i');
	assert((uart_8250_read(&u, 5) & 0x61) == 0x60);
	/* scratch register round-trips (drivers probe with it) */
	assert(!uart_8250_write(&u, 7, 0x5a, &tx));
	assert(uart_8250_read(&u, 7) == 0x5a);
	/* no host input source at all */
	uart_8250_init(&u, NULL, NULL);
	assert((uart_8250_read(&u, 5) & 0x01) == 0);
	printf("test-uart-8250: ok\n");
	return 0;
}
