/* console.c - the console: the bare kernel's serial port, stdout here. Below every
 * other file of the sim (kprintf and the reports write through it). */
#include <arch/console.h>
#include <unistd.h>

void arch_console_write(const char *s, size_t n)
{
    while (n) {
        ssize_t w = write(1, s, n);
        if (w <= 0)
            return;
        s += w;
        n -= (size_t)w;
    }
}
