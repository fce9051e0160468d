/* view_after_release.c - a driver keeps a view of its register region after
 * releasing it. The access must stop the kernel with a report naming the region
 * (ctest expects the failure and the message).
 *
 * `view_after_release copy`: the region is released through a copy of its struct,
 * and another region takes the same range before the stale view is used: the view
 * must still be refused, not write into the newcomer. */
#include <arch/cpu.h>
#include <paging/paging.h>
#include <kmachine.h>
#include <sim/sim.h>
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
    static struct sim_timer timer;
    struct kmachine m;
    static struct pg_region regs, copy, next;
    struct pg_view v;
    bool through_copy = argc > 1 && !strcmp(argv[1], "copy");
    if (kmachine_boot(&(struct kmachine_opts){.level = KMACHINE_PAGING}, &m) ||
        sim_timer_attach(&timer, UINT64_C(0xfed00000)) ||
        pg_region_map_frames(&regs, m.space, UINT64_C(0xfed00000), ARCH_PAGE_4K, ARCH_PAGE_4K,
                             PG_MMIO, "timer-regs") ||
        pg_view_get(&regs, 0, SIM_TIMER_SIZE, 4, true, &v)) {
        fprintf(stderr, "view_after_release: set-up failed\n");
        return 2;
    }
    copy = regs;
    if (pg_region_release(through_copy ? &copy : &regs) ||
        (through_copy &&
         (pg_region_alloc(&next, m.space, ARCH_PAGE_4K, ARCH_PAGE_4K, PG_WRITE, "newcomer") ||
          next.va != regs.va))) {
        fprintf(stderr, "view_after_release: release or reuse failed\n");
        return 2;
    }
    pg_view_write32(&v, SIM_TIMER_PERIOD, 10); /* must not return */
    fprintf(stderr, "view_after_release: the write went through\n");
    return 0;
}
