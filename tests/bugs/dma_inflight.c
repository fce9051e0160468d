/* dma_inflight.c - the DMA engine works while the CPUs do (under the scheduler it takes
 * one descriptor per step, at points the strategy chooses), so a driver that gives a
 * buffer back before the device is done with it is caught whichever CPU gets the frame.
 *
 * Freed in flight: the driver posts a receive buffer and, closing, frees it without
 * waiting for the device; the device's write lands in a free frame. Freed and reused:
 * the frame is handed out again at once, before the device writes; the device's write
 * lands in someone else's memory (the report names where it was freed and where it
 * was allocated again). The fixed driver waits for the device's completion interrupt
 * before it frees the buffer, and passes every schedule. */
#include "../ktest/ktest_frames.h"
#include "bug_harness.h"
#include <arch/atomic.h>
#include <arch/cpu.h>
#include <arch/io.h>
#include <arch/irq.h>
#include <arch/mem.h>
#include <paging/paging.h>
#include <sim/sim.h>

#define DMA_BASE UINT64_C(0xfed00000)
#define DONE_IRQ 0x48u
#define PATTERN  0x5a

static struct sim_dma dma;
static struct pg_region regs;
static phys_addr_t ring_pa;
static struct {
    phys_addr_t buf, other; /* the receive buffer; what CPU 1 allocated */
    bool buf_freed, other_freed;
    uint32_t done; /* the completion interrupt came */
} D;
static bool fixed;

static void dma_w(uint32_t off, uint32_t v)
{
    arch_mmio_write32((volatile uint8_t *)(uintptr_t)regs.va + off, v);
}

static struct sim_dma_desc *desc0(void)
{
    return arch_phys_to_virt(ring_pa);
}

static void completion(unsigned v, void *ctx)
{
    arch_atomic_store(&D.done, 1, ARCH_RELEASE);
    arch_irq_eoi();
}

static void setup(void *ctx)
{
    D = (typeof(D)){0};
    dma_w(SIM_DMA_RING_LO, (uint32_t)ring_pa);
    dma_w(SIM_DMA_RING_HI, (uint32_t)(ring_pa >> 32));
    dma_w(SIM_DMA_RING_SIZE, 16);                                                    /* HEAD 0 */
    dma_w(SIM_DMA_IRQ, DONE_IRQ);                                                    /* to cpu 0 */
    (void)arch_mmio_read32((volatile uint8_t *)(uintptr_t)regs.va + SIM_DMA_STATUS); /* re-arm */
    D.buf = frame_alloc(ARCH_PAGE_4K).value;
    *desc0() = (struct sim_dma_desc){D.buf, 512, 0};
    arch_irq_register(DONE_IRQ, completion, NULL);
}

__attribute__((noinline)) static void rx_close(void)
{
    if (fixed) {
        while (!arch_atomic_load(&D.done, ARCH_ACQUIRE))
            arch_halt(); /* the completion interrupt wakes it */
    }
    /* the bug: the device may still hold the buffer */
    arch_atomic_store(&D.buf_freed, true, ARCH_RELAXED);
    frame_free(D.buf, ARCH_PAGE_4K);
}

static void driver(void)
{
    arch_irq_enable();
    dma_w(SIM_DMA_DOORBELL, 1);
    rx_close();
}

static void one_cpu(unsigned me, void *ctx)
{
    driver();
}

/* The driver closes and, in the same breath (no scheduling point between, so the
 * device cannot see the frame free), the log buffer takes a page: the same frame. */
static void reuse_cpu(unsigned me, void *ctx)
{
    arch_irq_enable();
    dma_w(SIM_DMA_DOORBELL, 1);
    while (fixed && !arch_atomic_load(&D.done, ARCH_ACQUIRE))
        arch_halt();
    arch_preempt_disable();
    frame_free(D.buf, ARCH_PAGE_4K); /* the bug, as above */
    D.buf_freed = true;
    D.other = frame_alloc(ARCH_PAGE_4K).value;
    arch_preempt_enable();
    uint8_t *p = arch_phys_to_virt(D.other);
    for (int i = 0; i < 512; i += 64)
        arch_atomic_store(&p[i], PATTERN, ARCH_RELAXED);
}

static void teardown(void *ctx)
{
    if (D.buf && !D.buf_freed)
        frame_free(D.buf, ARCH_PAGE_4K);
    if (D.other)
        frame_free(D.other, ARCH_PAGE_4K);
}

static const struct sim_scenario free_sc = {
    .name = "dma_inflight_free", .ncpus = 1, .setup = setup, .cpu = one_cpu, .teardown = teardown};
static const struct sim_scenario reuse_sc = {.name = "dma_inflight_reuse",
                                             .ncpus = 1,
                                             .setup = setup,
                                             .cpu = reuse_cpu,
                                             .teardown = teardown};

static void attach(struct ktest *t)
{
    struct pg_space *as = ktest_kernel_space(t);
    KASSERT_EQ(t, sim_dma_attach(&dma, DMA_BASE), 0);
    KASSERT_EQ(
        t,
        pg_region_map_frames(&regs, as, DMA_BASE, ARCH_PAGE_4K, ARCH_PAGE_4K, PG_MMIO, "dma-regs"),
        PG_OK);
    struct pg_ret r = frame_alloc(ARCH_PAGE_4K);
    KASSERT_EQ(t, r.err, PG_OK);
    ring_pa = r.value;
}

static void detach(void)
{
    pg_region_release(&regs);
    frame_free(ring_pa, ARCH_PAGE_4K);
    sim_mmio_unregister(DMA_BASE);
}

static void bug_dma_freed_in_flight(struct ktest *t)
{
    attach(t);
    fixed = false;
    bug_hunt(t, &free_sc, "# DMA into a freed frame: device 'kernsim-dma'",
             &(struct bug_hunt){
                 .budget = 1000, .preemptions = 2, .pct_must_find = true, .dfs_must_find = true});
    detach();
}

static void bug_dma_into_a_reused_frame(struct ktest *t)
{
    attach(t);
    fixed = false;
    bug_hunt(t, &reuse_sc, "was freed and handed to someone else after the doorbell posted it",
             &(struct bug_hunt){
                 .budget = 1000, .preemptions = 2, .pct_must_find = true, .dfs_must_find = true});
    detach();
}

static void bug_dma_fixed_driver_passes(struct ktest *t)
{
    attach(t);
    fixed = true;
    const struct sim_scenario *scs[] = {&free_sc, &reuse_sc};
    for (unsigned k = 0; k < 2; k++) {
        for (int s = SIM_RANDOM; s <= SIM_DFS; s++) {
            struct sim_explore_opts o = {.strategy = (enum sim_strategy)s,
                                         .seed = 1,
                                         .schedules = 1000,
                                         .preemptions = 2,
                                         .quiet = true};
            static struct sim_explore_result res;
            KEXPECT_EQ(t, sim_explore(scs[k], &o, &res), 0);
            KEXPECT_STREQ(t, res.report, "");
        }
    }
    KEXPECT_EQ(t, dma.freed_frame_reports, 0u);
    fixed = false;
    detach();
}

KTEST_SUITE(bugs_dma_inflight, KTEST_CASE(bug_dma_freed_in_flight),
            KTEST_CASE(bug_dma_into_a_reused_frame), KTEST_CASE(bug_dma_fixed_driver_passes));
