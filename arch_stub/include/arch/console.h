/* arch/console.h - console output and the freestanding formatter.
 *
 * arch_console_write goes to COM1 in the bare build and to stdout in the sim. The
 * formatter is kernsim's own (both builds print byte-identical text). It supports
 * %c %s %d %i %u %x %X %p %% with flags '-' '0', a width, the precision ".N" for
 * strings, and the length modifiers l, ll, z. */
#ifndef ARCH_CONSOLE_H
#define ARCH_CONSOLE_H

#include <arch/types.h>
#include <stdarg.h>

void arch_console_write(const char *s, size_t n);

int kvsnprintf(char *buf, size_t size, const char *fmt, va_list ap);
int ksnprintf(char *buf, size_t size, const char *fmt, ...) ARCH_PRINTF(3, 4);
/* Format and write to the console; lines are written whole. */
int kprintf(const char *fmt, ...) ARCH_PRINTF(1, 2);

size_t kstrlen(const char *s);
int kstrcmp(const char *a, const char *b);
int kstrncmp(const char *a, const char *b, size_t n);
const char *kstrstr(const char *hay, const char *needle);

#endif
