/* view_after_release.c - a driver keeps a view of its register region after
 * releasing it. The access must stop the kernel with a report naming the region
 * (ctest expects the failure and the message). */
#include <arch/cpu.h>
#include <paging/paging.h>
#include <sim/sim.h>
#include <stdio.h>

int main(void)
{
    static struct sim_timer timer;
    static struct pg_space as;
    static struct pg_region regs;
    struct pg_view v;
    if (sim_boot(NULL) || sim_timer_attach(&timer, UINT64_C(0xfed00000)) || frame_init() ||
        va_init() || pg_space_adopt(&as, arch_read_cr3()) ||
        pg_region_map_frames(&regs, &as, UINT64_C(0xfed00000), ARCH_PAGE_4K, ARCH_PAGE_4K, PG_MMIO,
                             "timer-regs") ||
        pg_view_get(&regs, 0, SIM_TIMER_SIZE, 4, true, &v) || pg_region_release(&regs)) {
        fprintf(stderr, "view_after_release: set-up failed\n");
        return 2;
    }
    pg_view_write32(&v, SIM_TIMER_PERIOD, 10); /* must not return */
    fprintf(stderr, "view_after_release: the write went through\n");
    return 0;
}
