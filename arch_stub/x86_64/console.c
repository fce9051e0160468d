/* console.c - COM1 (16550 UART at 0x3f8), polled. */
#include "x86.h"
#include <arch/console.h>
#include <arch/io.h>

#define COM1 0x3f8

void x86_serial_init(void)
{
    arch_outb(COM1 + 1, 0x00); /* no UART interrupts */
    arch_outb(COM1 + 3, 0x80); /* DLAB: set the divisor */
    arch_outb(COM1 + 0, 0x01); /* 115200 baud */
    arch_outb(COM1 + 1, 0x00);
    arch_outb(COM1 + 3, 0x03); /* 8N1 */
    arch_outb(COM1 + 2, 0xc7); /* FIFO on, cleared, 14-byte threshold */
    arch_outb(COM1 + 4, 0x03); /* DTR, RTS */
}

void arch_console_write(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        while (!(arch_inb(COM1 + 5) & 0x20)) /* wait for THR empty */
            ;
        arch_outb(COM1, (uint8_t)s[i]);
    }
}

void x86_exit(uint8_t code)
{
    arch_outb(X86_EXIT_PORT, code);
    /* Without the isa-debug-exit device we are still here: stop for good. */
    for (;;)
        __asm__ volatile("cli; hlt");
}
