/* frame_alias.c - a driver wants an uncached view of the receive buffer it already
 * has mapped, and maps the same frame a second time without asking for a shared
 * mapping. Two pages on one frame with different cache attributes is undefined on
 * x86. Found by the mapper in both builds: refused (the state is unchanged), and
 * reported with where the frame is already mapped and who asked. */
#include "machine.h"
#include <stdio.h>

static struct pg_region rx_buf;

__attribute__((noinline)) static int rx_setup(struct pg_space *as)
{
    return pg_region_alloc(&rx_buf, as, ARCH_PAGE_4K, ARCH_PAGE_4K, PG_WRITE, "rx-buffer");
}

__attribute__((noinline)) static int rx_map_uncached(struct pg_space *as, uint64_t *va)
{
    struct pg_translation t;
    if (pg_translate(as, rx_buf.va, &t).err)
        return -1;
    *va = va_alloc(ARCH_PAGE_4K, ARCH_PAGE_4K).value;
    /* the bug: the frame is rx_buf's; an alias must say PG_SHARED (and should not
     * differ in caching; and since the region owns the frame, even PG_SHARED is
     * refused) */
    struct pg_ret r =
        pg_map_range(as, *va, t.pa, ARCH_PAGE_4K, ARCH_PAGE_4K, PG_WRITE | PG_UNCACHED);
    if (r.err) {
        printf("rx: the uncached view was refused: %s (frame 0x%lx)\n", pg_strerror(r.err),
               (unsigned long)r.value);
        return -1;
    }
    return 0;
}

int main(void)
{
    struct pg_space *as = bug_boot();
    uint64_t va;
    if (rx_setup(as))
        return 2;
    if (rx_map_uncached(as, &va) == 0) {
        printf("frame_alias: the alias was allowed\n");
        return 0;
    }
    if (!pg_space_valid(as) || !frame_valid())
        return 3;
    return 1; /* refused and reported */
}
