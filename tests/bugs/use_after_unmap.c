/* use_after_unmap.c - the firmware log region is released at shutdown, but a late
 * log call still writes through the cursor it kept. Found by the MMU: a page fault
 * naming the address, the level of the walk that refused it, the region the page
 * belonged to, and where it was mapped and unmapped, then the panic's backtrace. */
#include "machine.h"
#include <stdio.h>

static struct pg_region fw_log;
static char *log_cursor;

__attribute__((noinline)) static void fw_log_init(struct pg_space *as)
{
    if (pg_region_alloc(&fw_log, as, 4 * ARCH_PAGE_4K, ARCH_PAGE_4K, PG_WRITE, "fw-log")) {
        fprintf(stderr, "use_after_unmap: set-up failed\n");
        return;
    }
    log_cursor = (char *)(uintptr_t)fw_log.va;
}

__attribute__((noinline)) static void fw_log_shutdown(void)
{
    pg_region_release(&fw_log); /* the bug: log_cursor still points into it */
}

__attribute__((noinline)) static void fw_log_write(const char *s)
{
    while (*s)
        *log_cursor++ = *s++;
}

int main(void)
{
    struct pg_space *as = bug_boot();
    fw_log_init(as);
    fw_log_write("boot ok\n");
    fw_log_shutdown();
    fw_log_write("late message\n");
    return bug_finish("use_after_unmap");
}
