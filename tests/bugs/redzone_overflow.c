/* redzone_overflow.c - a string duplicated into a block one byte too small: the
 * terminating NUL lands in the redzone after it. Found by: ASan and Valgrind at the
 * write, the heap's redzone check at kfree in every build (checking mode). */
#include "machine.h"
#include <string.h>

__attribute__((noinline)) static char *dev_name_dup(const char *s)
{
    size_t n = strlen(s);
    char *d = kmalloc(n); /* the bug: n + 1 */
    memcpy(d, s, n + 1);
    return d;
}

int main(void)
{
    bug_boot();
    char *name = dev_name_dup("eth0-uplink");
    kfree(name);
    return bug_finish("redzone_overflow");
}
