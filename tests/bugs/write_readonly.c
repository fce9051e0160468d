/* write_readonly.c - the routing table is sealed read-only after init, but a hot path
 * still updates a counter in it. Found by the MMU: a protection fault on the write,
 * with the region and where its pages were last mapped (the seal), then the panic's
 * backtrace. */
#include "machine.h"
#include <stdio.h>

struct route {
    uint32_t dst, gateway, hits;
};

static struct pg_region table_region;
static struct route *routes;

__attribute__((noinline)) static void routes_init(struct pg_space *as)
{
    if (pg_region_alloc(&table_region, as, ARCH_PAGE_4K, ARCH_PAGE_4K, PG_WRITE, "route-table")) {
        fprintf(stderr, "write_readonly: set-up failed\n");
        return;
    }
    routes = (struct route *)(uintptr_t)table_region.va;
    routes[0] = (struct route){0x0a000000, 0x0a000001, 0};
}

__attribute__((noinline)) static void routes_seal(void)
{
    pg_protect_range(table_region.as, table_region.va, table_region.size, 0);
}

__attribute__((noinline)) static uint32_t route_lookup(uint32_t dst)
{
    routes[0].hits++; /* the bug: the table is read-only now */
    return dst == routes[0].dst ? routes[0].gateway : 0;
}

int main(void)
{
    struct pg_space *as = bug_boot();
    routes_init(as);
    routes_seal();
    printf("gateway 0x%x\n", route_lookup(0x0a000000));
    return bug_finish("write_readonly");
}
