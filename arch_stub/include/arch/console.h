/* arch/console.h - console output and the freestanding formatter.
 *
 * arch_console_write goes to COM1 in the bare build and to stdout in the sim. The
 * formatter is kernsim's own (both builds print byte-identical text). It supports
 * %c %s %d %i %u %x %X %p %% with flags '-' '0', a width, the precision ".N" or ".*"
 * for strings, and the length modifiers l, ll, z; an unknown conversion is printed as
 * written, taking no argument. %s of NULL prints "(null)". */
#ifndef ARCH_CONSOLE_H
#define ARCH_CONSOLE_H

#include <arch/types.h>
#include <stdarg.h>

/* Write n bytes of s as they are. Any CPU, any context. */
void arch_console_write(const char *s, size_t n);

/* Format into buf, at most size - 1 bytes and a NUL (nothing is written when size is
 * 0, and buf may then be NULL). Returns the whole text's length, as snprintf does. */
int kvsnprintf(char *buf, size_t size, const char *fmt, va_list ap);
int ksnprintf(char *buf, size_t size, const char *fmt, ...) ARCH_PRINTF(3, 4);
/* Format and write to the console in one arch_console_write (a line is written
 * whole); text past 511 bytes is dropped. Returns the whole text's length, as
 * ksnprintf. Any CPU, any context (fault and panic reports use it). */
int kprintf(const char *fmt, ...) ARCH_PRINTF(1, 2);

/* As the C library's, on NUL-terminated strings. kstrstr(hay, "") is hay. */
size_t kstrlen(const char *s);
int kstrcmp(const char *a, const char *b);
int kstrncmp(const char *a, const char *b, size_t n);
const char *kstrstr(const char *hay, const char *needle);

#endif
