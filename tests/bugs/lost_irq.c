/* lost_irq.c - a lost interrupt: the DMA engine's completion interrupt is
 * edge-triggered (it comes when STATUS.DONE goes on; reading STATUS re-arms it), and
 * the handler reads how far the device got before it acknowledges. A descriptor that
 * completes between the two sets nothing new (DONE is still on), and the read that
 * follows clears it: no interrupt will ever say so. The driver, halted until every
 * packet is in, waits for ever: the scheduler reports the halted CPU with nothing
 * pending. The fix acknowledges first and then reads HEAD, and passes every schedule. */
#include "../ktest/ktest_frames.h"
#include "bug_harness.h"
#include <arch/atomic.h>
#include <arch/cpu.h>
#include <arch/io.h>
#include <arch/irq.h>
#include <arch/mem.h>
#include <paging/paging.h>
#include <sim/sim.h>

#define DMA_BASE UINT64_C(0xfed10000)
#define RX_IRQ   0x58u
#define PACKETS  3

static struct sim_dma dma;
static struct pg_region regs;
static phys_addr_t ring_pa, bufs[PACKETS];
static uint32_t seen, handled; /* descriptors the driver has taken in */
static bool fixed;

static uint32_t dma_r(uint32_t off)
{
    return arch_mmio_read32((volatile uint8_t *)(uintptr_t)regs.va + off);
}

static void dma_w(uint32_t off, uint32_t v)
{
    arch_mmio_write32((volatile uint8_t *)(uintptr_t)regs.va + off, v);
}

/* Take in the descriptors from `seen` up to HEAD. */
static void take_in(uint32_t head)
{
    while (arch_atomic_load(&seen, ARCH_RELAXED) != head)
        arch_atomic_fetch_add(&seen, 1, ARCH_RELAXED);
}

__attribute__((noinline)) static void rx_irq(unsigned v, void *ctx)
{
    arch_atomic_fetch_add(&handled, 1, ARCH_RELAXED);
    if (fixed) {
        (void)dma_r(SIM_DMA_STATUS); /* acknowledge (re-arm) first */
        take_in(dma_r(SIM_DMA_HEAD));
    } else {
        take_in(dma_r(SIM_DMA_HEAD));
        (void)dma_r(SIM_DMA_STATUS); /* the bug: a completion since HEAD was read is lost */
    }
    arch_irq_eoi();
}

static void setup(void *ctx)
{
    seen = handled = 0;
    struct sim_dma_desc *d = arch_phys_to_virt(ring_pa);
    for (int i = 0; i < PACKETS; i++)
        d[i] = (struct sim_dma_desc){bufs[i], 64, 0};
    dma_w(SIM_DMA_RING_LO, (uint32_t)ring_pa);
    dma_w(SIM_DMA_RING_HI, (uint32_t)(ring_pa >> 32));
    dma_w(SIM_DMA_RING_SIZE, 4); /* HEAD 0 */
    dma_w(SIM_DMA_IRQ, RX_IRQ);  /* to cpu 0 */
    (void)dma_r(SIM_DMA_STATUS); /* armed */
    arch_irq_register(RX_IRQ, rx_irq, NULL);
}

static void cpu(unsigned me, void *ctx)
{
    arch_irq_enable();
    dma_w(SIM_DMA_DOORBELL, PACKETS);
    while (arch_atomic_load(&seen, ARCH_ACQUIRE) != PACKETS)
        arch_halt(); /* the next completion interrupt wakes it */
    arch_irq_disable();
}

static const struct sim_scenario sc = {.name = "lost_irq", .ncpus = 1, .setup = setup, .cpu = cpu};

static void attach(struct ktest *t)
{
    KASSERT_EQ(t, sim_dma_attach(&dma, DMA_BASE), 0);
    KASSERT_EQ(t,
               pg_region_map_frames(&regs, ktest_kernel_space(t), DMA_BASE, ARCH_PAGE_4K,
                                    ARCH_PAGE_4K, PG_MMIO, "dma-regs"),
               PG_OK);
    ring_pa = frame_alloc(ARCH_PAGE_4K).value;
    for (int i = 0; i < PACKETS; i++)
        bufs[i] = frame_alloc(ARCH_PAGE_4K).value;
    KASSERT_NE(t, ring_pa, 0);
    KASSERT_NE(t, bufs[PACKETS - 1], 0);
}

static void detach(void)
{
    pg_region_release(&regs);
    frame_free(ring_pa, ARCH_PAGE_4K);
    for (int i = 0; i < PACKETS; i++)
        frame_free(bufs[i], ARCH_PAGE_4K);
    sim_mmio_unregister(DMA_BASE);
}

static void bug_lost_interrupt(struct ktest *t)
{
    attach(t);
    fixed = false;
    bug_hunt(t, &sc, "cpu 0: halted, waiting for an interrupt\n    nothing will wake it",
             &(struct bug_hunt){
                 .budget = 1000, .preemptions = 2, .pct_must_find = true, .dfs_must_find = true});
    detach();
}

static void bug_lost_interrupt_fixed_handler_passes(struct ktest *t)
{
    attach(t);
    fixed = true;
    for (int s = SIM_RANDOM; s <= SIM_DFS; s++) {
        struct sim_explore_opts o = {.strategy = (enum sim_strategy)s,
                                     .seed = 1,
                                     .schedules = 1000,
                                     .preemptions = 2,
                                     .quiet = true};
        static struct sim_explore_result res;
        KEXPECT_EQ(t, sim_explore(&sc, &o, &res), 0);
        KEXPECT_STREQ(t, res.report, "");
        KEXPECT_TRUE(t, s == SIM_DFS ? res.exhausted : res.schedules == 1000);
    }
    fixed = false;
    detach();
}

KTEST_SUITE(bugs_lost_irq, KTEST_CASE(bug_lost_interrupt),
            KTEST_CASE(bug_lost_interrupt_fixed_handler_passes));
