/* heap_sim_test.c - heap behaviour only the sim can show: frees from another CPU,
 * and frames running out underneath the heap. */
#include "../ktest/ktest.h"
#include "../ktest/ktest_frames.h"
#include <arch/cpu.h>
#include <heap/heap.h>
#include <paging/paging.h>
#include <sim/sim.h>

static void back_to_cpu0(void *arg)
{
    (void)arg;
    sim_set_current_cpu(0);
    frame_fail_after(UINT64_MAX);
    heap_trim();
}

static void heap_sim_test_frees_from_another_cpu_come_back(struct ktest *t)
{
    if (heap_mode() == HEAP_CHECKING)
        ktest_skip(t, "checking mode's quarantine delays reuse; ctest runs this in fast mode too");
    ktest_defer(t, back_to_cpu0, NULL);
    KASSERT_GE(t, arch_cpu_count(), 2);
    enum { N = 200 }; /* 2 KiB blocks: about 7 spans, most retired full on CPU 0 */
    static void *p[N];
    struct heap_stats s0, s1, s2;
    heap_trim();
    heap_get_stats(&s0);
    for (int i = 0; i < N; i++) {
        p[i] = kmalloc(2000);
        KASSERT_TRUE(t, p[i] != NULL);
    }
    heap_get_stats(&s1);
    sim_set_current_cpu(1); /* CPU 1 frees what CPU 0 allocated */
    for (int i = 0; i < N; i++)
        kfree(p[i]);
    KEXPECT_TRUE(t, heap_valid());
    sim_set_current_cpu(0);
    /* CPU 0 gets the blocks back through the remote lists: no new span is needed. */
    for (int i = 0; i < N; i++) {
        p[i] = kmalloc(2000);
        KASSERT_TRUE(t, p[i] != NULL);
    }
    heap_get_stats(&s2);
    KEXPECT_EQ(t, s2.spans, s1.spans);
    KEXPECT_EQ(t, s2.live_blocks, s1.live_blocks);
    sim_set_current_cpu(1);
    kfree(p[0]);
    kfree(p[0]); /* a remote double free is caught too */
    KEXPECT_STR_CONTAINS(t, heap_last_report(), "double free");
    for (int i = 1; i < N; i++)
        kfree(p[i]);
    sim_set_current_cpu(0);
    heap_trim();
    heap_get_stats(&s2);
    KEXPECT_EQ(t, s2.live_blocks, s0.live_blocks);
    KEXPECT_TRUE(t, heap_valid());
}

static void heap_sim_test_no_frames_means_null_and_a_usable_heap(struct ktest *t)
{
    ktest_defer(t, back_to_cpu0, NULL);
    heap_trim();
    struct heap_stats before, after;
    heap_get_stats(&before);
    frame_fail_after(0); /* paging refuses every new frame */
    void *big = kmalloc((size_t)1 << 20);
    KEXPECT_TRUE(t, big == NULL);
    /* Small blocks still come from spans the heap already has, until those run out. */
    static void *p[4096];
    int n = 0;
    while (n < 4096 && (p[n] = kmalloc(1024)) != NULL)
        n++;
    KEXPECT_LT(t, n, 4096); /* it did run out */
    heap_get_stats(&after);
    KEXPECT_GE(t, after.oom, before.oom + 2);
    KEXPECT_TRUE(t, heap_valid());
    frame_fail_after(UINT64_MAX);
    void *again = kmalloc((size_t)1 << 20);
    KEXPECT_TRUE(t, again != NULL); /* and recovers when frames come back */
    kfree(again);
    while (n > 0)
        kfree(p[--n]);
    KEXPECT_TRUE(t, heap_valid());
}

/* Before: a heap whose spans are all used. Now: with its growth failing, small blocks
 * run out (NULL, counted), large ones still come from paging, nothing else changes,
 * and growth comes back when the injection ends. */
static void heap_sim_test_no_growth_means_null_and_a_usable_heap(struct ktest *t)
{
    ktest_defer(t, back_to_cpu0, NULL);
    heap_trim();
    struct heap_stats before, after;
    heap_get_stats(&before);
    heap_fail_growth_after(0);
    static void *p[8192];
    int n = 0;
    while (n < 8192 && (p[n] = kmalloc(1024)) != NULL)
        n++;
    KEXPECT_LT(t, n, 8192); /* the spans it had ran out */
    void *big = kmalloc((size_t)1 << 20);
    KEXPECT_TRUE(t, big != NULL); /* a large block needs no segment */
    heap_get_stats(&after);
    KEXPECT_EQ(t, after.mapped_bytes, before.mapped_bytes + (((size_t)1 << 20) + 4096));
    KEXPECT_GE(t, after.oom, before.oom + 1);
    KEXPECT_TRUE(t, heap_valid());
    heap_fail_growth_after(UINT64_MAX);
    void *again = kmalloc(1024);
    KEXPECT_TRUE(t, again != NULL); /* it grows again */
    kfree(again);
    kfree(big);
    while (n > 0)
        kfree(p[--n]);
    heap_trim();
    heap_get_stats(&after);
    KEXPECT_EQ(t, after.mapped_bytes, before.mapped_bytes);
    KEXPECT_TRUE(t, heap_valid());
}

/* Before: a large block's frames are mapped by the heap, which owns them. Now: no
 * alias of one of them is allowed (shared, untracked or as a device), and the block
 * still frees cleanly. */
static void heap_sim_test_a_large_blocks_frames_are_the_heaps(struct ktest *t)
{
    struct pg_space *as = ktest_kernel_space(t);
    uint8_t *p = kmalloc(3 * ARCH_PAGE_4K);
    KASSERT_TRUE(t, p != NULL);
    struct pg_translation tr;
    KASSERT_EQ(t, pg_translate(as, (uintptr_t)p, &tr).err, PG_OK);
    KEXPECT_TRUE(t, tr.owned);
    phys_addr_t frame = ARCH_ALIGN_DOWN(tr.pa, ARCH_PAGE_4K);
    struct pg_ret va = va_alloc(ARCH_PAGE_4K, ARCH_PAGE_4K);
    KASSERT_EQ(t, va.err, PG_OK);
    const unsigned flags[] = {PG_SHARED | PG_WRITE, PG_UNTRACKED | PG_WRITE, PG_MMIO};
    for (unsigned i = 0; i < sizeof(flags) / sizeof(flags[0]); i++) {
        struct pg_ret m = pg_map_range(as, va.value, frame, ARCH_PAGE_4K, ARCH_PAGE_4K, flags[i]);
        KEXPECT_NE(t, m.err, PG_OK);
        KEXPECT_EQ(t, m.value, frame);
    }
    kfree(p);
    KEXPECT_EQ(t, va_free(va.value, ARCH_PAGE_4K), PG_OK);
    KEXPECT_TRUE(t, heap_valid());
    KEXPECT_TRUE(t, frame_valid());
}

KTEST_SUITE(heap_sim, KTEST_CASE(heap_sim_test_frees_from_another_cpu_come_back),
            KTEST_CASE(heap_sim_test_no_frames_means_null_and_a_usable_heap),
            KTEST_CASE(heap_sim_test_no_growth_means_null_and_a_usable_heap),
            KTEST_CASE(heap_sim_test_a_large_blocks_frames_are_the_heaps));
