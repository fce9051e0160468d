/* paging_sim_test.c - paging behaviour only the sim can show: a timer driver that
 * reaches its device model through a view, fault reports that remember a released
 * region, and strict mode catching a missing TLB flush. */
#include "../ktest/ktest.h"
#include "../ktest/ktest_frames.h"
#include <arch/console.h>
#include <arch/cpu.h>
#include <arch/fault.h>
#include <arch/io.h>
#include <arch/mem.h>
#include <paging/paging.h>
#include <sim/sim.h>

static struct pg_space *space(struct ktest *t)
{
    return ktest_kernel_space(t);
}

/* The level-1 entry that maps va (which must be mapped with 4 KiB pages). */
static pte_t *leaf_pte(uint64_t va)
{
    phys_addr_t table = arch_read_cr3();
    for (int level = 4; level > 1; level--)
        table = PTE_ADDR(arch_get_pte(&((pte_t *)arch_phys_to_virt(table))[PT_INDEX(va, level)]));
    return &((pte_t *)arch_phys_to_virt(table))[PT_INDEX(va, 1)];
}

/* A driver's view of the timer: what it programs and reads, nothing else. */
struct timer_regs {
    uint32_t period, counter, irq_ctrl, status;
};

static void release(void *r)
{
    pg_region_release(r);
}

static void detach(void *base)
{
    sim_mmio_unregister((phys_addr_t)(uintptr_t)base);
}

static void paging_sim_test_timer_driver_through_a_view(struct ktest *t)
{
    static struct sim_timer timer;
    static struct pg_region regs;
    const phys_addr_t base = UINT64_C(0xfed00000);
    KASSERT_EQ(t, sim_timer_attach(&timer, base), 0);
    ktest_defer(t, detach, (void *)(uintptr_t)base);
    regs = (struct pg_region){0};
    KASSERT_EQ(t,
               pg_region_map_frames(&regs, space(t), base, ARCH_PAGE_4K, ARCH_PAGE_4K, PG_MMIO,
                                    "timer-regs"),
               PG_OK);
    ktest_defer(t, release, &regs);
    struct pg_translation tr;
    KEXPECT_EQ(t, pg_translate(space(t), regs.va, &tr).err, PG_OK);
    KEXPECT_TRUE(t, tr.flags & PG_UNCACHED); /* device memory is mapped uncached */

    struct pg_view v;
    KASSERT_EQ(t, PG_VIEW_OF(&regs, 0, struct timer_regs, true, &v), PG_OK);
    pg_view_write32(&v, SIM_TIMER_PERIOD, 10);
    pg_view_write32(&v, SIM_TIMER_IRQ_CTRL, SIM_TIMER_IRQ_ENABLE);
    KEXPECT_EQ(t, pg_view_read32(&v, SIM_TIMER_COUNTER), 10);
    sim_timer_advance(&timer, 25); /* two expiries, 5 ticks into the third period */
    KEXPECT_EQ(t, pg_view_read32(&v, SIM_TIMER_COUNTER), 5);
    KEXPECT_EQ(t, pg_view_read32(&v, SIM_TIMER_STATUS), (2u << 8) | 1);
    KEXPECT_EQ(t, pg_view_read32(&v, SIM_TIMER_STATUS), 0); /* cleared by the read */
    KEXPECT_EQ(t, pg_view_read32(&v, SIM_TIMER_IRQ_CTRL),
               SIM_TIMER_IRQ_ENABLE | SIM_TIMER_IRQ_PENDING);
    pg_view_write32(&v, SIM_TIMER_IRQ_CTRL, SIM_TIMER_IRQ_ENABLE | SIM_TIMER_IRQ_PENDING);
    KEXPECT_EQ(t, pg_view_read32(&v, SIM_TIMER_IRQ_CTRL), SIM_TIMER_IRQ_ENABLE);
    pg_view_write32(&v, SIM_TIMER_COUNTER, 99); /* read-only: the model ignores it */
    KEXPECT_EQ(t, pg_view_read32(&v, SIM_TIMER_COUNTER), 5);
    KEXPECT_EQ(t, timer.expiries, 2);

    /* A plain load from the register page is not a device access; it is reported. */
    struct arch_fault f;
    uint64_t x;
    KEXPECT_FALSE(t, arch_probe_read64((void *)(uintptr_t)regs.va, &x, &f));
    KEXPECT_EQ(t, f.reason, ARCH_FAULT_NO_BACKING);
}

static void paging_sim_test_fault_after_release_names_the_region(struct ktest *t)
{
    static struct pg_region buf;
    buf = (struct pg_region){0};
    KASSERT_EQ(t,
               pg_region_alloc(&buf, space(t), 2 * ARCH_PAGE_4K, ARCH_PAGE_4K, PG_WRITE, "dma-buf"),
               PG_OK);
    uint64_t va = buf.va + ARCH_PAGE_4K;
    struct sim_page_history h = sim_page_history(va);
    KEXPECT_TRUE(t, h.region && !kstrcmp(h.region, "dma-buf"));
    KEXPECT_TRUE(t, h.mapped);
    KEXPECT_FALSE(t, h.unmapped);
    KASSERT_EQ(t, pg_region_release(&buf), PG_OK);
    h = sim_page_history(va);
    KEXPECT_TRUE(t, h.unmapped);
    /* The stale pointer faults (the release flushed), and the report can say whose it was. */
    struct arch_fault f;
    uint64_t x;
    KEXPECT_FALSE(t, arch_probe_read64((void *)(uintptr_t)va, &x, &f));
    KEXPECT_EQ(t, f.reason, ARCH_FAULT_NOT_PRESENT);
    KEXPECT_TRUE(t, h.region && !kstrcmp(h.region, "dma-buf"));
}

static void strict_off(void *arg)
{
    (void)arg;
    sim_set_strict_tlb(false);
}

static void paging_sim_test_strict_mode_reports_a_missing_flush(struct ktest *t)
{
    static struct pg_region r;
    r = (struct pg_region){0};
    KASSERT_EQ(t, pg_region_alloc(&r, space(t), ARCH_PAGE_4K, ARCH_PAGE_4K, PG_WRITE, "stale-buf"),
               PG_OK);
    ktest_defer(t, release, &r);
    sim_set_strict_tlb(true);
    ktest_defer(t, strict_off, NULL);
    volatile uint64_t *p = (volatile uint64_t *)(uintptr_t)r.va;
    p[0] = 1;

    /* A buggy driver makes the page read-only by hand and forgets invlpg. */
    pte_t *pte = leaf_pte(r.va);
    struct sim_mmu_stats before, after;
    sim_mmu_get_stats(&before);
    arch_set_pte(pte, arch_get_pte(pte) & ~PTE_W);
    KEXPECT_EQ(t, p[0], 1); /* reads were never taken away: no report */
    sim_mmu_get_stats(&after);
    KEXPECT_EQ(t, after.stale_uses, before.stale_uses);
    KEXPECT_TRUE(t, arch_probe_write64((void *)(uintptr_t)r.va, 2, NULL)); /* works, as on hw... */
    sim_mmu_get_stats(&after);
    KEXPECT_EQ(t, after.stale_uses, before.stale_uses + 1); /* ...but is reported */
    arch_invlpg((const void *)p);
    struct arch_fault f;
    KEXPECT_FALSE(t, arch_probe_write64((void *)(uintptr_t)r.va, 3, &f)); /* flushed: faults */
    KEXPECT_EQ(t, f.reason, ARCH_FAULT_NOT_WRITABLE);
    arch_set_pte(pte, arch_get_pte(pte) | PTE_W);
    arch_invlpg((const void *)p);

    /* The mapper itself always flushes: unmapping through it is never reported. */
    sim_mmu_get_stats(&before);
    KEXPECT_EQ(t, pg_protect_range(space(t), r.va, ARCH_PAGE_4K, 0).err, PG_OK);
    KEXPECT_FALSE(t, arch_probe_write64((void *)(uintptr_t)r.va, 4, NULL));
    sim_mmu_get_stats(&after);
    KEXPECT_EQ(t, after.stale_uses, before.stale_uses);
}

static void paging_sim_test_without_strict_mode_stale_use_is_silent(struct ktest *t)
{
    static struct pg_region r;
    r = (struct pg_region){0};
    KASSERT_EQ(t, pg_region_alloc(&r, space(t), ARCH_PAGE_4K, ARCH_PAGE_4K, PG_WRITE, "quiet"),
               PG_OK);
    ktest_defer(t, release, &r);
    struct sim_mmu_stats before, after;
    sim_mmu_get_stats(&before);
    /* Clear the PTE by hand without a flush: the stale entry still serves reads. */
    pte_t *pte = leaf_pte(r.va);
    pte_t saved = arch_get_pte(pte);
    arch_set_pte(pte, 0);
    uint64_t x;
    KEXPECT_TRUE(t, arch_probe_read64((void *)(uintptr_t)r.va, &x, NULL));
    sim_mmu_get_stats(&after);
    KEXPECT_EQ(t, after.stale_uses, before.stale_uses);
    arch_set_pte(pte, saved);
    arch_invlpg((const void *)(uintptr_t)r.va);
}

KTEST_SUITE(paging_sim, KTEST_CASE(paging_sim_test_timer_driver_through_a_view),
            KTEST_CASE(paging_sim_test_fault_after_release_names_the_region),
            KTEST_CASE(paging_sim_test_strict_mode_reports_a_missing_flush),
            KTEST_CASE(paging_sim_test_without_strict_mode_stale_use_is_silent));
