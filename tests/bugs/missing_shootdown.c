/* missing_shootdown.c - a missing TLB shootdown. CPU 1 fills a buffer through its
 * mapping, so its TLB caches the translation. CPU 0 moves the buffer to another frame
 * by rewriting the PTE, flushes with a local invlpg only, and tells CPU 1 to go on.
 * CPU 1's next write goes through the translation its own TLB still holds, into the
 * old frame: the new one never sees it. The scheduler reports the write (both CPUs,
 * the PTE write's stack and the use's) in every schedule. The fix flushes the page on
 * every CPU (arch_tlb_shootdown) and passes over the same schedules. */
#include "../ktest/ktest_frames.h"
#include "bug_harness.h"
#include <arch/atomic.h>
#include <arch/console.h>
#include <arch/cpu.h>
#include <arch/mem.h>
#include <arch/ptwalk.h>
#include <paging/paging.h>
#include <sim/sim.h>

static uint64_t buf_va;
static phys_addr_t old_frame, new_frame;
static struct pg_space *space;
static uint32_t filled, moved;
static bool fixed;

static pte_t *pte_of(uint64_t va)
{
    struct pt_walk w;
    pt_walk(arch_read_cr3(), va, ARCH_ACCESS_READ, &w);
    return (pte_t *)arch_phys_to_virt(w.table[1]) + PT_INDEX(va, 1);
}

static void setup(void *ctx)
{
    filled = moved = 0;
    *(uint64_t *)arch_phys_to_virt(old_frame) = 0;
    *(uint64_t *)arch_phys_to_virt(new_frame) = 0;
    pg_map_4k(space, PAGE_4K(buf_va), FRAME_4K(old_frame), PG_WRITE);
}

/* Point the buffer's page at the new frame. */
__attribute__((noinline)) static void move_buffer(void)
{
    pte_t *pte = pte_of(buf_va);
    arch_set_pte(pte, (arch_get_pte(pte) & ~PTE_ADDR_MASK) | new_frame);
    if (fixed)
        arch_tlb_shootdown((const void *)(uintptr_t)buf_va, ARCH_PAGE_4K);
    else
        arch_invlpg((const void *)(uintptr_t)buf_va); /* the bug: this CPU's TLB only */
}

__attribute__((noinline)) static void fill(uint64_t v)
{
    *(volatile uint64_t *)(uintptr_t)buf_va = v;
}

static void cpu(unsigned me, void *ctx)
{
    if (me == 1) {
        fill(1); /* its TLB now holds the translation */
        arch_atomic_store(&filled, 1, ARCH_RELEASE);
        while (!arch_atomic_load(&moved, ARCH_ACQUIRE))
            arch_cpu_relax();
        fill(2); /* meant for the new frame */
        return;
    }
    while (!arch_atomic_load(&filled, ARCH_ACQUIRE))
        arch_cpu_relax();
    move_buffer();
    arch_atomic_store(&moved, 1, ARCH_RELEASE);
}

static bool final(void *ctx, char *why, size_t size)
{
    uint64_t got = *(volatile uint64_t *)arch_phys_to_virt(new_frame);
    if (got == 2)
        return true;
    ksnprintf(why, size, "the new frame holds %lu, not the 2 written after the move\n",
              (unsigned long)got);
    return false;
}

static void teardown(void *ctx)
{
    /* The mapper counted the old frame as mapped: give it back before the unmap. */
    pte_t *pte = pte_of(buf_va);
    arch_set_pte(pte, (arch_get_pte(pte) & ~PTE_ADDR_MASK) | old_frame);
    pg_unmap_range(space, buf_va, ARCH_PAGE_4K, ARCH_PAGE_4K);
}

static const struct sim_scenario sc = {.name = "missing_shootdown",
                                       .ncpus = 2,
                                       .setup = setup,
                                       .cpu = cpu,
                                       .final = final,
                                       .teardown = teardown};

static void attach(struct ktest *t)
{
    space = ktest_kernel_space(t);
    buf_va = va_alloc(ARCH_PAGE_4K, ARCH_PAGE_4K).value;
    old_frame = frame_alloc(ARCH_PAGE_4K).value;
    new_frame = frame_alloc(ARCH_PAGE_4K).value;
    KASSERT_NE(t, buf_va, 0);
    KASSERT_NE(t, new_frame, 0);
}

static void detach(void)
{
    frame_free(old_frame, ARCH_PAGE_4K);
    frame_free(new_frame, ARCH_PAGE_4K);
    va_free(buf_va, ARCH_PAGE_4K);
}

static void bug_missing_shootdown(struct ktest *t)
{
    attach(t);
    fixed = false;
    bug_hunt(t, &sc, "# missing TLB shootdown: cpu 1: write at",
             &(struct bug_hunt){
                 .budget = 1000, .preemptions = 2, .pct_must_find = true, .dfs_must_find = true});
    detach();
}

static void bug_missing_shootdown_fixed_passes(struct ktest *t)
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

KTEST_SUITE(bugs_missing_shootdown, KTEST_CASE(bug_missing_shootdown),
            KTEST_CASE(bug_missing_shootdown_fixed_passes));
