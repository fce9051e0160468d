/* machine.c - see machine.h. */
#include "machine.h"
#include <kmachine.h>
#include <sim/sim.h>
#include <stdio.h>
#include <stdlib.h>

struct pg_space *bug_boot(void)
{
    struct kmachine m;
    setvbuf(stdout, NULL, _IONBF, 0);
    if (kmachine_boot(&(struct kmachine_opts){.heap = KMACHINE_HEAP_CHECKING}, &m))
        exit(2);
    return m.space;
}

int bug_finish(const char *name)
{
    heap_trim();
    struct heap_stats st;
    heap_get_stats(&st);
    uint64_t n = sim_report_count();
    for (int k = 0; k < HEAP_REPORT_COUNT_; k++)
        n += st.reports[k];
    if (!heap_valid()) {
        printf("%s: the heap is corrupted\n", name);
        return 3;
    }
    printf("%s: %lu report%s\n", name, (unsigned long)n, n == 1 ? "" : "s");
    return n ? 1 : 0;
}
