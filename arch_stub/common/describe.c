/* describe.c - what an address is, asked of each describer a subsystem registered
 * (the heap's blocks, the paging regions): the same in both builds, and below the
 * reports that print it. */
#include <arch/debug.h>
#include <arch/panic.h>

static arch_describer describers[4];

void arch_add_describer(arch_describer fn)
{
    for (unsigned i = 0; i < (sizeof(describers) / sizeof(describers[0])); i++) {
        if (describers[i] == fn)
            return;
        if (!describers[i]) {
            describers[i] = fn;
            return;
        }
    }
    arch_panic("arch_add_describer: all %zu slots are taken",
               (sizeof(describers) / sizeof(describers[0])));
}

bool arch_describe(const void *p, const char *indent)
{
    for (unsigned i = 0; i < (sizeof(describers) / sizeof(describers[0])) && describers[i]; i++) {
        if (describers[i](p, indent))
            return true;
    }
    return false;
}
