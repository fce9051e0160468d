/* paging_test.c - the paging subsystem, the same source in the sim and the bare
 * kernel: frames owned once, virtual ranges, the mapper at three page sizes, owned
 * regions and views, and bad input that must change nothing. */
#include "../ktest/ktest.h"
#include "../ktest/ktest_frames.h"
#include <arch/cpu.h>
#include <arch/fault.h>
#include <arch/mem.h>
#include <paging/paging.h>

static struct pg_space *space(struct ktest *t)
{
    return ktest_kernel_space(t);
}

/* Everything a refused request must leave exactly as it was. */
struct snapshot {
    struct frame_stats fs;
    uint64_t va_bytes;
    uint64_t faults;
};

static struct snapshot snap(void)
{
    struct snapshot s;
    frame_get_stats(&s.fs);
    s.va_bytes = va_allocated_bytes();
    s.faults = arch_fault_count();
    return s;
}

static void expect_unchanged(struct ktest *t, const struct snapshot *a)
{
    struct snapshot b = snap();
    KEXPECT_EQ(t, b.fs.free, a->fs.free);
    KEXPECT_EQ(t, b.fs.allocated, a->fs.allocated);
    KEXPECT_EQ(t, b.fs.mapped, a->fs.mapped);
    KEXPECT_EQ(t, b.fs.tables, a->fs.tables);
    KEXPECT_EQ(t, b.va_bytes, a->va_bytes);
    KEXPECT_TRUE(t, frame_valid());
    KEXPECT_TRUE(t, va_valid());
    KEXPECT_TRUE(t, pg_space_valid(ktest_kernel_space(t)));
}

static uint64_t new_va(struct ktest *t, uint64_t size, uint64_t align)
{
    struct pg_ret r = va_alloc(size, align);
    KASSERT_EQ(t, r.err, PG_OK);
    return r.value;
}

/* ---- frames ---- */

static void paging_test_frame_is_owned_once(struct ktest *t)
{
    space(t);
    struct snapshot s = snap();
    struct pg_ret f = frame_alloc(ARCH_PAGE_4K);
    KASSERT_EQ(t, f.err, PG_OK);
    KEXPECT_TRUE(t, ARCH_IS_ALIGNED(f.value, ARCH_PAGE_4K));
    KEXPECT_EQ(t, frame_alloc_at(f.value, ARCH_PAGE_4K), PG_ERR_ADDR_NOT_FREE);
    KEXPECT_EQ(t, frame_free(f.value, ARCH_PAGE_4K), PG_OK);
    KEXPECT_EQ(t, frame_free(f.value, ARCH_PAGE_4K), PG_ERR_FRAME_NOT_ALLOCATED); /* twice */
    KEXPECT_EQ(t, frame_free(0, ARCH_PAGE_4K), PG_ERR_FRAME_NOT_ALLOCATED);       /* never ours */
    KEXPECT_EQ(t, frame_free(f.value + 8, ARCH_PAGE_4K), PG_ERR_MISALIGNED);
    KEXPECT_EQ(t, frame_free(f.value, 0), PG_ERR_ZERO_SIZE);
    KEXPECT_EQ(t, frame_free(UINT64_MAX & ~UINT64_C(0xfff), ARCH_PAGE_2M), PG_ERR_OVERFLOW);
    KEXPECT_EQ(t, frame_init(), PG_ERR_ALREADY_INITIALISED);
    expect_unchanged(t, &s);
}

static void paging_test_contiguous_frames_are_aligned(struct ktest *t)
{
    space(t);
    struct snapshot s = snap();
    struct pg_ret big = frame_alloc(ARCH_PAGE_2M);
    KASSERT_EQ(t, big.err, PG_OK);
    KEXPECT_TRUE(t, ARCH_IS_ALIGNED(big.value, ARCH_PAGE_2M));
    struct pg_ret run = frame_alloc_contig(3, ARCH_PAGE_4K * 4);
    KASSERT_EQ(t, run.err, PG_OK);
    KEXPECT_TRUE(t, ARCH_IS_ALIGNED(run.value, ARCH_PAGE_4K * 4));
    KEXPECT_EQ(t, frame_alloc_at(run.value + ARCH_PAGE_4K, ARCH_PAGE_4K), PG_ERR_ADDR_NOT_FREE);
    KEXPECT_EQ(t, frame_alloc(3 * ARCH_PAGE_4K).err, PG_ERR_COUNT_MISMATCH);
    KEXPECT_EQ(t, frame_alloc_contig(1, 3 * ARCH_PAGE_4K).err, PG_ERR_MISALIGNED);
    KEXPECT_EQ(t, frame_alloc_contig(UINT64_C(1) << 40, ARCH_PAGE_4K).err, PG_ERR_NO_CONTIGUOUS);
    KEXPECT_EQ(t, frame_free(run.value, 3 * ARCH_PAGE_4K), PG_OK);
    KEXPECT_EQ(t, frame_free(big.value, ARCH_PAGE_2M), PG_OK);
    expect_unchanged(t, &s);
}

/* ---- virtual ranges ---- */

static void paging_test_virtual_ranges_follow_the_same_rules(struct ktest *t)
{
    space(t);
    struct snapshot s = snap();
    struct arch_kva_window w = arch_kva_window();
    uint64_t a = new_va(t, 3 * ARCH_PAGE_4K, ARCH_PAGE_2M);
    KEXPECT_TRUE(t, ARCH_IS_ALIGNED(a, ARCH_PAGE_2M));
    KEXPECT_EQ(t, va_alloc_at(a + ARCH_PAGE_4K, ARCH_PAGE_4K).err, PG_ERR_ADDR_NOT_FREE);
    struct pg_ret b = va_alloc_at(a + 3 * ARCH_PAGE_4K, ARCH_PAGE_4K); /* right after */
    KEXPECT_EQ(t, b.err, PG_OK);
    struct pg_ret c = va_alloc_within(w.base + ARCH_PAGE_1G, w.base + 2 * ARCH_PAGE_1G,
                                      ARCH_PAGE_4K, ARCH_PAGE_4K);
    KEXPECT_EQ(t, c.err, PG_OK);
    KEXPECT_GE(t, c.value, w.base + ARCH_PAGE_1G);
    KEXPECT_LT(t, c.value, w.base + 2 * ARCH_PAGE_1G);
    KEXPECT_EQ(t, va_alloc(w.size, ARCH_PAGE_4K).err, PG_ERR_OUT_OF_ADDRESS_SPACE);
    KEXPECT_EQ(t, va_alloc(0, ARCH_PAGE_4K).err, PG_ERR_ZERO_SIZE);
    KEXPECT_EQ(t, va_alloc_at(w.base - ARCH_PAGE_4K, ARCH_PAGE_4K).err,
               PG_ERR_OUT_OF_ADDRESS_SPACE);
    KEXPECT_EQ(t, va_free(a, ARCH_PAGE_4K), PG_ERR_COUNT_MISMATCH); /* not the whole of it */
    KEXPECT_EQ(t, va_free(a + ARCH_PAGE_4K, ARCH_PAGE_4K), PG_ERR_ADDR_NOT_FOUND);
    KEXPECT_EQ(t, va_split(a, a + ARCH_PAGE_4K), PG_OK);
    KEXPECT_EQ(t, va_free(a, ARCH_PAGE_4K), PG_OK);
    KEXPECT_EQ(t, va_join(a + ARCH_PAGE_4K, c.value), PG_ERR_COUNT_MISMATCH); /* not adjacent */
    KEXPECT_EQ(t, va_join(a + ARCH_PAGE_4K, b.value), PG_OK); /* [a+4K, a+12K) + [a+12K, +4K) */
    KEXPECT_EQ(t, va_free(b.value, ARCH_PAGE_4K), PG_ERR_ADDR_NOT_FOUND); /* b is in it now */
    KEXPECT_EQ(t, va_free(a + ARCH_PAGE_4K, 3 * ARCH_PAGE_4K), PG_OK);
    KEXPECT_EQ(t, va_free(a + ARCH_PAGE_4K, 3 * ARCH_PAGE_4K), PG_ERR_ADDR_NOT_FOUND); /* twice */
    KEXPECT_EQ(t, va_free(c.value, ARCH_PAGE_4K), PG_OK);
    expect_unchanged(t, &s);
}

/* ---- the mapper ---- */

static void paging_test_map_translate_unmap_4k(struct ktest *t)
{
    struct pg_space *as = space(t);
    struct snapshot s = snap();
    uint64_t va = new_va(t, ARCH_PAGE_4K, ARCH_PAGE_4K);
    struct pg_ret f = frame_alloc(ARCH_PAGE_4K);
    KASSERT_EQ(t, f.err, PG_OK);
    KASSERT_EQ(t, pg_map(as, PAGE_4K(va), FRAME_4K(f.value), PG_WRITE).err, PG_OK);
    struct pg_translation tr;
    KEXPECT_EQ(t, pg_translate(as, va + 0x123, &tr).err, PG_OK);
    KEXPECT_EQ(t, tr.pa, f.value + 0x123);
    KEXPECT_EQ(t, tr.page_size, ARCH_PAGE_4K);
    KEXPECT_EQ(t, tr.flags, PG_WRITE);
    *(volatile uint64_t *)va = 0xabcd;
    KEXPECT_EQ(t, *(volatile uint64_t *)arch_phys_to_virt(f.value), 0xabcd);

    struct pg_ret again = pg_map(as, PAGE_4K(va), FRAME_4K(f.value), PG_WRITE);
    KEXPECT_EQ(t, again.err, PG_ERR_PAGE_ALREADY_MAPPED);
    KEXPECT_EQ(t, again.value, f.value); /* names the frame that is there */

    KEXPECT_EQ(t, pg_unmap(as, PAGE_4K(va)).err, PG_OK);
    KEXPECT_EQ(t, pg_unmap(as, PAGE_4K(va)).err, PG_ERR_PAGE_NOT_MAPPED);
    KEXPECT_EQ(t, pg_translate(as, va, &tr).err, PG_ERR_PAGE_NOT_MAPPED);
    uint64_t v;
    KEXPECT_FALSE(t, arch_probe_read64((void *)(uintptr_t)va, &v, NULL)); /* flushed */
    KEXPECT_EQ(t, frame_free(f.value, ARCH_PAGE_4K), PG_OK);
    KEXPECT_EQ(t, va_free(va, ARCH_PAGE_4K), PG_OK);
    s.faults = arch_fault_count();
    expect_unchanged(t, &s); /* and the tables it made were freed again */
}

/* The first 1 GiB-aligned physical address past every RAM range. */
static phys_addr_t past_ram_1g(void)
{
    size_t n;
    const struct arch_mem_range *r = arch_mem_ranges(&n);
    uint64_t end = 0;
    for (size_t i = 0; i < n; i++) {
        if (r[i].base + r[i].size > end)
            end = r[i].base + r[i].size;
    }
    return ARCH_ALIGN_UP(end, ARCH_PAGE_1G);
}

static void paging_test_2m_and_1g_pages(struct ktest *t)
{
    struct pg_space *as = space(t);
    struct snapshot s = snap();
    uint64_t va = new_va(t, 2 * ARCH_PAGE_1G, ARCH_PAGE_1G);
    struct pg_ret big = frame_alloc(ARCH_PAGE_2M);
    KASSERT_EQ(t, big.err, PG_OK);
    KASSERT_EQ(t, pg_map(as, PAGE_2M(va), FRAME_2M(big.value), PG_WRITE).err, PG_OK);
    struct pg_translation tr;
    KEXPECT_EQ(t, pg_translate(as, va + 0x1ff008, &tr).err, PG_OK);
    KEXPECT_EQ(t, tr.pa, big.value + 0x1ff008);
    KEXPECT_EQ(t, tr.page_size, ARCH_PAGE_2M);
    *(volatile uint64_t *)(va + 0x1ff008) = 77;
    KEXPECT_EQ(t, *(volatile uint64_t *)arch_phys_to_virt(big.value + 0x1ff008), 77);

    /* A 4K page inside the 2M one, and a 2M unmap of what is not 2M. */
    struct pg_ret f = frame_alloc(ARCH_PAGE_4K);
    KASSERT_EQ(t, f.err, PG_OK);
    struct pg_ret in = pg_map(as, PAGE_4K(va + ARCH_PAGE_4K), FRAME_4K(f.value), 0);
    KEXPECT_EQ(t, in.err, PG_ERR_PARENT_HUGE);
    KEXPECT_EQ(t, in.value, big.value);
    KEXPECT_EQ(t, pg_unmap(as, PAGE_4K(va)).err, PG_ERR_PARENT_HUGE);
    KEXPECT_EQ(t, pg_map(as, PAGE_4K(va + ARCH_PAGE_2M), FRAME_4K(f.value), 0).err, PG_OK);
    KEXPECT_EQ(t, pg_unmap(as, PAGE_2M(va + ARCH_PAGE_2M)).err, PG_ERR_COUNT_MISMATCH);
    KEXPECT_EQ(t, pg_unmap(as, PAGE_4K(va + ARCH_PAGE_2M)).err, PG_OK);
    KEXPECT_EQ(t, pg_unmap(as, PAGE_2M(va)).err, PG_OK);

    /* A 1 GiB page, untracked: refused over RAM the allocator handed out (f and big
     * are somebody's), mapped over frames that are not the allocator's. */
    uint64_t g = va + ARCH_PAGE_1G;
    struct pg_ret over = pg_map(as, PAGE_1G(g), FRAME_1G(0), PG_UNTRACKED);
    KEXPECT_EQ(t, over.err, PG_ERR_INVALID_FRAME);
    KEXPECT_LE(t, over.value, f.value < big.value ? f.value : big.value);
    phys_addr_t past = past_ram_1g();
    KASSERT_EQ(t, pg_map(as, PAGE_1G(g), FRAME_1G(past), PG_UNTRACKED).err, PG_OK);
    KEXPECT_EQ(t, pg_translate(as, g + 0x12345, &tr).err, PG_OK);
    KEXPECT_EQ(t, tr.page_size, ARCH_PAGE_1G);
    KEXPECT_EQ(t, tr.pa, past + 0x12345);
    KEXPECT_EQ(t, pg_map(as, PAGE_1G(g + 7 * ARCH_PAGE_2M), FRAME_1G(past), PG_UNTRACKED).err,
               PG_ERR_MISALIGNED);
    KEXPECT_EQ(t, pg_unmap(as, PAGE_1G(g)).err, PG_OK);

    KEXPECT_EQ(t, frame_free(f.value, ARCH_PAGE_4K), PG_OK);
    KEXPECT_EQ(t, frame_free(big.value, ARCH_PAGE_2M), PG_OK);
    KEXPECT_EQ(t, va_free(va, 2 * ARCH_PAGE_1G), PG_OK);
    s.faults = arch_fault_count();
    expect_unchanged(t, &s);
}

static void paging_test_bad_requests_change_nothing(struct ktest *t)
{
    struct pg_space *as = space(t);
    uint64_t va = new_va(t, 4 * ARCH_PAGE_4K, ARCH_PAGE_4K);
    struct pg_ret f = frame_alloc_contig(2, ARCH_PAGE_4K);
    KASSERT_EQ(t, f.err, PG_OK);
    KASSERT_EQ(t, pg_map_range(as, va, f.value, ARCH_PAGE_4K, ARCH_PAGE_4K, PG_WRITE).err, PG_OK);
    struct snapshot s = snap();
    uint64_t pa = f.value + ARCH_PAGE_4K;
    KEXPECT_EQ(t, pg_map_range(as, va + 1, pa, ARCH_PAGE_4K, ARCH_PAGE_4K, 0).err,
               PG_ERR_MISALIGNED);
    KEXPECT_EQ(t, pg_map_range(as, va + ARCH_PAGE_4K, pa, 0, ARCH_PAGE_4K, 0).err,
               PG_ERR_ZERO_SIZE);
    KEXPECT_EQ(
        t, pg_map_range(as, UINT64_C(0x0000800000000000), pa, ARCH_PAGE_4K, ARCH_PAGE_4K, 0).err,
        PG_ERR_NON_CANONICAL);
    KEXPECT_EQ(
        t,
        pg_map_range(as, UINT64_MAX & ~UINT64_C(0xfff), pa, 2 * ARCH_PAGE_4K, ARCH_PAGE_4K, 0).err,
        PG_ERR_OVERFLOW);
    KEXPECT_EQ(t, pg_map_range(as, va + ARCH_PAGE_4K, pa, ARCH_PAGE_4K, 3 * ARCH_PAGE_4K, 0).err,
               PG_ERR_COUNT_MISMATCH);
    KEXPECT_EQ(
        t,
        pg_map_range(as, va + ARCH_PAGE_4K, pa, ARCH_PAGE_4K, ARCH_PAGE_4K, PG_WRITE | PG_EXEC).err,
        PG_ERR_WRITE_EXEC);
    /* Overlapping: the second page is free but the first is taken. */
    struct pg_ret o = pg_map_range(as, va, pa, 2 * ARCH_PAGE_4K, ARCH_PAGE_4K, 0);
    KEXPECT_EQ(t, o.err, PG_ERR_PAGE_ALREADY_MAPPED);
    KEXPECT_EQ(t, o.value, f.value);
    /* A frame already mapped, a free frame, a frame outside RAM. */
    struct pg_ret twice =
        pg_map_range(as, va + ARCH_PAGE_4K, f.value, ARCH_PAGE_4K, ARCH_PAGE_4K, 0);
    KEXPECT_EQ(t, twice.err, PG_ERR_FRAME_ALREADY_MAPPED);
    KEXPECT_EQ(t, twice.value, f.value);
    struct pg_ret spare = frame_alloc(ARCH_PAGE_4K);
    KASSERT_EQ(t, spare.err, PG_OK);
    KEXPECT_EQ(t, frame_free(spare.value, ARCH_PAGE_4K), PG_OK); /* now it is free */
    s = snap();
    KEXPECT_EQ(t,
               pg_map_range(as, va + ARCH_PAGE_4K, spare.value, ARCH_PAGE_4K, ARCH_PAGE_4K, 0).err,
               PG_ERR_INVALID_FRAME);
    KEXPECT_EQ(
        t,
        pg_map_range(as, va + ARCH_PAGE_4K, UINT64_C(1) << 45, ARCH_PAGE_4K, ARCH_PAGE_4K, 0).err,
        PG_ERR_INVALID_FRAME);
    /* Unmapping a range with a hole in it unmaps nothing. */
    KEXPECT_EQ(t, pg_unmap_range(as, va, 2 * ARCH_PAGE_4K, ARCH_PAGE_4K).err,
               PG_ERR_PAGE_NOT_MAPPED);
    KEXPECT_EQ(t, pg_protect_range(as, va, 2 * ARCH_PAGE_4K, 0).err, PG_ERR_PAGE_NOT_MAPPED);
    struct pg_translation tr;
    KEXPECT_EQ(t, pg_translate(as, va, &tr).err, PG_OK); /* still there */
    KEXPECT_EQ(t, tr.flags, PG_WRITE);
    expect_unchanged(t, &s);

    KEXPECT_EQ(t, pg_unmap_range(as, va, ARCH_PAGE_4K, ARCH_PAGE_4K).err, PG_OK);
    KEXPECT_EQ(t, frame_free(f.value, 2 * ARCH_PAGE_4K), PG_OK);
    KEXPECT_EQ(t, va_free(va, 4 * ARCH_PAGE_4K), PG_OK);
}

static void paging_test_shared_mapping_only_when_asked(struct ktest *t)
{
    struct pg_space *as = space(t);
    uint64_t va = new_va(t, 2 * ARCH_PAGE_4K, ARCH_PAGE_4K);
    struct pg_ret f = frame_alloc(ARCH_PAGE_4K);
    KASSERT_EQ(t, f.err, PG_OK);
    KASSERT_EQ(t, pg_map_range(as, va, f.value, ARCH_PAGE_4K, ARCH_PAGE_4K, PG_WRITE).err, PG_OK);
    KEXPECT_EQ(t, pg_map_range(as, va + ARCH_PAGE_4K, f.value, ARCH_PAGE_4K, ARCH_PAGE_4K, 0).err,
               PG_ERR_FRAME_ALREADY_MAPPED);
    KEXPECT_EQ(
        t, pg_map_range(as, va + ARCH_PAGE_4K, f.value, ARCH_PAGE_4K, ARCH_PAGE_4K, PG_SHARED).err,
        PG_OK);
    *(volatile uint64_t *)va = 5;
    KEXPECT_EQ(t, *(volatile uint64_t *)(va + ARCH_PAGE_4K), 5); /* the alias, asked for */
    KEXPECT_EQ(t, frame_free(f.value, ARCH_PAGE_4K), PG_ERR_FRAME_IN_USE);
    KEXPECT_EQ(t, pg_unmap_range(as, va, 2 * ARCH_PAGE_4K, ARCH_PAGE_4K).err, PG_OK);
    KEXPECT_EQ(t, frame_free(f.value, ARCH_PAGE_4K), PG_OK);
    KEXPECT_EQ(t, va_free(va, 2 * ARCH_PAGE_4K), PG_OK);
}

static void paging_test_range_map_then_protect(struct ktest *t)
{
    struct pg_space *as = space(t);
    struct snapshot s = snap();
    const uint64_t n = 600; /* crosses a page-table boundary */
    uint64_t va = new_va(t, n * ARCH_PAGE_4K, ARCH_PAGE_2M);
    struct pg_ret f = frame_alloc_contig(n, ARCH_PAGE_4K);
    KASSERT_EQ(t, f.err, PG_OK);
    KASSERT_EQ(t, pg_map_range(as, va, f.value, n * ARCH_PAGE_4K, ARCH_PAGE_4K, PG_WRITE).err,
               PG_OK);
    for (uint64_t i = 0; i < n; i += 97)
        *(volatile uint64_t *)(va + i * ARCH_PAGE_4K) = i;
    for (uint64_t i = 0; i < n; i += 97)
        KEXPECT_EQ(t, *(volatile uint64_t *)arch_phys_to_virt(f.value + i * ARCH_PAGE_4K), i);
    KEXPECT_EQ(t, pg_protect_range(as, va, n * ARCH_PAGE_4K, 0).err, PG_OK);
    struct arch_fault fault;
    KEXPECT_FALSE(t, arch_probe_write64((void *)(uintptr_t)(va + 599 * ARCH_PAGE_4K), 1, &fault));
    KEXPECT_EQ(t, fault.reason, ARCH_FAULT_NOT_WRITABLE);
    uint64_t v;
    KEXPECT_TRUE(t, arch_probe_read64((void *)(uintptr_t)(va + 97 * ARCH_PAGE_4K), &v, NULL));
    KEXPECT_EQ(t, v, 97);
    KEXPECT_EQ(t, pg_unmap_range(as, va, n * ARCH_PAGE_4K, ARCH_PAGE_4K).err, PG_OK);
    KEXPECT_EQ(t, frame_free(f.value, n * ARCH_PAGE_4K), PG_OK);
    KEXPECT_EQ(t, va_free(va, n * ARCH_PAGE_4K), PG_OK);
    s.faults = arch_fault_count();
    expect_unchanged(t, &s);
}

/* Before: a region owns a 2 MiB page. Now: no other mapping of any of its frames is
 * allowed, shared or not, tracked or not, and a device mapping of RAM never is. */
static void paging_test_owned_frames_are_nobody_elses(struct ktest *t)
{
    struct pg_space *as = space(t);
    struct snapshot s = snap();
    static struct pg_region r;
    r = (struct pg_region){0};
    KASSERT_EQ(t, pg_region_alloc(&r, as, ARCH_PAGE_2M, ARCH_PAGE_2M, PG_WRITE, "owner"), PG_OK);
    struct pg_translation tr;
    KASSERT_EQ(t, pg_translate(as, r.va, &tr).err, PG_OK);
    phys_addr_t inner = tr.pa + 5 * ARCH_PAGE_4K; /* a frame inside the 2 MiB page */
    uint64_t va = new_va(t, ARCH_PAGE_4K, ARCH_PAGE_4K);
    struct snapshot mid = snap();
    const unsigned refused[] = {PG_SHARED | PG_WRITE, PG_SHARED, 0, PG_UNTRACKED, PG_MMIO};
    const enum pg_err why[] = {PG_ERR_FRAME_ALREADY_MAPPED, PG_ERR_FRAME_ALREADY_MAPPED,
                               PG_ERR_FRAME_ALREADY_MAPPED, PG_ERR_INVALID_FRAME,
                               PG_ERR_INVALID_FRAME};
    for (unsigned i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
        struct pg_ret m = pg_map_range(as, va, inner, ARCH_PAGE_4K, ARCH_PAGE_4K, refused[i]);
        KEXPECT_EQ(t, m.err, why[i]);
        KEXPECT_EQ(t, m.value, inner);
    }
    KEXPECT_EQ(t, frame_free(inner, ARCH_PAGE_4K), PG_ERR_FRAME_IN_USE);
    mid.faults = arch_fault_count();
    expect_unchanged(t, &mid);

    /* A frame the caller allocated is the caller's to map tracked, not untracked; a
     * free one may be mapped untracked (as a direct map does), but not as a device. */
    struct pg_ret f = frame_alloc(ARCH_PAGE_4K);
    KASSERT_EQ(t, f.err, PG_OK);
    KEXPECT_EQ(t, pg_map_range(as, va, f.value, ARCH_PAGE_4K, ARCH_PAGE_4K, PG_UNTRACKED).err,
               PG_ERR_INVALID_FRAME);
    KEXPECT_EQ(t, frame_free(f.value, ARCH_PAGE_4K), PG_OK);
    KEXPECT_EQ(t, pg_map_range(as, va, f.value, ARCH_PAGE_4K, ARCH_PAGE_4K, PG_MMIO).err,
               PG_ERR_INVALID_FRAME);
    KEXPECT_EQ(t, pg_map_range(as, va, f.value, ARCH_PAGE_4K, ARCH_PAGE_4K, PG_UNTRACKED).err,
               PG_OK);
    KEXPECT_EQ(t, pg_unmap_range(as, va, ARCH_PAGE_4K, ARCH_PAGE_4K).err, PG_OK);

    KEXPECT_EQ(t, pg_region_release(&r), PG_OK); /* nothing in its way */
    KEXPECT_EQ(t, va_free(va, ARCH_PAGE_4K), PG_OK);
    s.faults = arch_fault_count();
    expect_unchanged(t, &s);
}

/* Before: no tables under a fresh 1 GiB of the window. Now: a map that needs more
 * tables than the injected budget leaves is refused whole, naming how many it needs
 * (a PD and a PT at least, a PDPT too if the window has none yet); with that many it
 * goes through. */
static void paging_test_no_tables_means_no_map_and_no_change(struct ktest *t)
{
    struct pg_space *as = space(t);
    uint64_t va = new_va(t, ARCH_PAGE_1G, ARCH_PAGE_1G) + ARCH_PAGE_2M;
    struct pg_ret f = frame_alloc(ARCH_PAGE_4K);
    KASSERT_EQ(t, f.err, PG_OK);
    struct snapshot s = snap();
    frame_fail_tables_after(1);
    struct pg_ret m = pg_map_range(as, va, f.value, ARCH_PAGE_4K, ARCH_PAGE_4K, 0);
    KEXPECT_EQ(t, m.err, PG_ERR_NO_MEMORY);
    KEXPECT_GE(t, m.value, 2);
    KEXPECT_LE(t, m.value, 3);
    s.faults = arch_fault_count();
    expect_unchanged(t, &s);
    struct pg_translation tr;
    KEXPECT_EQ(t, pg_translate(as, va, &tr).err, PG_ERR_PAGE_NOT_MAPPED);
    frame_fail_tables_after(m.value - 1);
    KEXPECT_EQ(t, pg_map_range(as, va, f.value, ARCH_PAGE_4K, ARCH_PAGE_4K, 0).err,
               PG_ERR_NO_MEMORY);
    /* New frames over 4 MiB need one page table more than that page: with one table
     * too few the map is refused before it takes any, so the tables left are all
     * still there for the page. */
    frame_fail_tables_after(0);
    struct pg_ret big = pg_map_alloc_range(as, va, 2 * ARCH_PAGE_2M, ARCH_PAGE_4K, PG_WRITE);
    KEXPECT_EQ(t, big.err, PG_ERR_NO_MEMORY);
    KEXPECT_EQ(t, big.value, m.value + 1);
    frame_fail_tables_after(m.value);
    s = snap();
    big = pg_map_alloc_range(as, va, 2 * ARCH_PAGE_2M, ARCH_PAGE_4K, PG_WRITE);
    KEXPECT_EQ(t, big.err, PG_ERR_NO_MEMORY);
    s.faults = arch_fault_count();
    expect_unchanged(t, &s);
    KEXPECT_EQ(t, pg_map_range(as, va, f.value, ARCH_PAGE_4K, ARCH_PAGE_4K, 0).err, PG_OK);
    frame_fail_tables_after(UINT64_MAX);
    KEXPECT_EQ(t, pg_unmap_range(as, va, ARCH_PAGE_4K, ARCH_PAGE_4K).err, PG_OK);
    KEXPECT_EQ(t, frame_free(f.value, ARCH_PAGE_4K), PG_OK);
    KEXPECT_EQ(t, va_free(va - ARCH_PAGE_2M, ARCH_PAGE_1G), PG_OK);
}

/* Frames that run out part way through pg_map_alloc_range (the sixth of sixteen): the
 * five it took go back, nothing was mapped, no table was left behind; with frames
 * enough the same call maps all sixteen, zeroed. */
static void paging_test_alloc_range_that_runs_out_changes_nothing(struct ktest *t)
{
    struct pg_space *as = space(t);
    uint64_t va = new_va(t, ARCH_PAGE_1G, ARCH_PAGE_1G);
    struct snapshot s = snap();
    frame_fail_after(5);
    struct pg_ret r = pg_map_alloc_range(as, va, 16 * ARCH_PAGE_4K, ARCH_PAGE_4K, PG_WRITE);
    frame_fail_after(UINT64_MAX);
    KEXPECT_EQ(t, r.err, PG_ERR_NO_MEMORY);
    s.faults = arch_fault_count();
    expect_unchanged(t, &s);
    struct pg_translation tr;
    for (uint64_t i = 0; i < 16; i++)
        KEXPECT_EQ(t, pg_translate(as, va + i * ARCH_PAGE_4K, &tr).err, PG_ERR_PAGE_NOT_MAPPED);
    KASSERT_EQ(t, pg_map_alloc_range(as, va, 16 * ARCH_PAGE_4K, ARCH_PAGE_4K, PG_WRITE).err, PG_OK);
    uint64_t nonzero = 0;
    for (uint64_t i = 0; i < 16 * ARCH_PAGE_4K / 8; i++)
        nonzero += ((volatile uint64_t *)(uintptr_t)va)[i] != 0;
    KEXPECT_EQ(t, nonzero, 0);
    KEXPECT_EQ(t, pg_translate(as, va + 15 * ARCH_PAGE_4K, &tr).err, PG_OK);
    KEXPECT_TRUE(t, tr.owned);
    KEXPECT_EQ(t, pg_unmap_range(as, va, 16 * ARCH_PAGE_4K, ARCH_PAGE_4K).err, PG_OK);
    s.faults = arch_fault_count();
    expect_unchanged(t, &s);
    KEXPECT_EQ(t, va_free(va, ARCH_PAGE_1G), PG_OK);
}

/* ---- regions and views ---- */

static void paging_test_region_owns_and_returns_everything(struct ktest *t)
{
    struct pg_space *as = space(t);
    struct snapshot s = snap();
    static struct pg_region r, tail;
    r = (struct pg_region){0};
    tail = (struct pg_region){0};
    KASSERT_EQ(t, pg_region_alloc(&r, as, 4 * ARCH_PAGE_4K, ARCH_PAGE_4K, PG_WRITE, "test-buf"),
               PG_OK);
    struct frame_stats fs;
    frame_get_stats(&fs);
    KEXPECT_GE(t, fs.mapped, s.fs.mapped + 4);
    volatile uint64_t *p = (volatile uint64_t *)(uintptr_t)r.va;
    KEXPECT_EQ(t, p[1], 0); /* new frames are zeroed */
    p[1] = 11;
    p[512 * 3] = 33;

    KEXPECT_EQ(t, pg_region_split(&r, ARCH_PAGE_4K + 8, &tail), PG_ERR_MISALIGNED);
    KEXPECT_EQ(t, pg_region_split(&r, 4 * ARCH_PAGE_4K, &tail), PG_ERR_COUNT_MISMATCH);
    KASSERT_EQ(t, pg_region_split(&r, 3 * ARCH_PAGE_4K, &tail), PG_OK);
    KEXPECT_EQ(t, r.size, 3 * ARCH_PAGE_4K);
    KEXPECT_EQ(t, tail.va, r.va + 3 * ARCH_PAGE_4K);
    KEXPECT_EQ(t, *(volatile uint64_t *)(uintptr_t)tail.va, 33);
    KEXPECT_EQ(t, pg_region_merge(&tail, &r), PG_ERR_COUNT_MISMATCH); /* wrong order */
    KEXPECT_EQ(t, pg_region_merge(&r, &tail), PG_OK);
    KEXPECT_EQ(t, r.size, 4 * ARCH_PAGE_4K);
    KEXPECT_FALSE(t, pg_region_live(&tail));

    uint64_t va = r.va;
    KEXPECT_EQ(t, pg_region_release(&r), PG_OK);
    KEXPECT_EQ(t, pg_region_release(&r), PG_ERR_RELEASED);
    struct arch_fault f;
    uint64_t v;
    KEXPECT_FALSE(t, arch_probe_read64((void *)(uintptr_t)(va + 8), &v, &f));
    KEXPECT_EQ(t, f.reason, ARCH_FAULT_NOT_PRESENT);
    s.faults = arch_fault_count();
    expect_unchanged(t, &s); /* frames, tables and range all came back */
}

static void paging_test_regions_merge_only_when_alike(struct ktest *t)
{
    struct pg_space *as = space(t);
    static struct pg_region a, b, c;
    a = b = c = (struct pg_region){0};
    KASSERT_EQ(t, pg_region_alloc(&a, as, ARCH_PAGE_4K, ARCH_PAGE_4K, PG_WRITE, "a"), PG_OK);
    KASSERT_EQ(t, pg_region_alloc(&b, as, ARCH_PAGE_4K, ARCH_PAGE_4K, 0, "b"), PG_OK);
    KEXPECT_EQ(t, pg_region_merge(&a, &b), PG_ERR_COUNT_MISMATCH); /* flags differ */
    static struct pg_space other;
    other = (struct pg_space){0};
    KASSERT_EQ(t, pg_space_create(&other, as), PG_OK);
    KASSERT_EQ(t, pg_region_alloc(&c, &other, ARCH_PAGE_4K, ARCH_PAGE_4K, PG_WRITE, "c"), PG_OK);
    KEXPECT_EQ(t, pg_region_merge(&a, &c), PG_ERR_WRONG_ADDRESS_SPACE);
    KEXPECT_EQ(t, pg_region_release(&c), PG_OK);
    KEXPECT_EQ(t, pg_space_destroy(&other), PG_OK);
    KEXPECT_EQ(t, pg_region_release(&a), PG_OK);
    KEXPECT_EQ(t, pg_region_release(&b), PG_OK);
}

/* Before: one region, a copy of its struct, a view. Now: whatever handle releases it,
 * every other handle is stale, refused, and cannot reach the region that reuses the
 * range; a split or a merge renews the ids in the same way. */
static void paging_test_stale_region_handles_are_refused(struct ktest *t)
{
    struct pg_space *as = space(t);
    struct snapshot s = snap();
    static struct pg_region r, copy, next, tail;
    r = copy = next = tail = (struct pg_region){0};
    KEXPECT_FALSE(t, pg_region_live(&r));
    KEXPECT_EQ(t, pg_region_release(&r), PG_ERR_NOT_INITIALISED); /* never a region */
    KASSERT_EQ(t, pg_region_alloc(&r, as, 2 * ARCH_PAGE_4K, ARCH_PAGE_4K, PG_WRITE, "first"),
               PG_OK);
    copy = r;
    KEXPECT_EQ(t, pg_region_alloc(&copy, as, ARCH_PAGE_4K, ARCH_PAGE_4K, 0, "again"),
               PG_ERR_ALREADY_INITIALISED);
    KEXPECT_EQ(t, pg_region_release(&copy), PG_OK); /* through the copy: the region is gone */
    KEXPECT_FALSE(t, pg_region_live(&r));
    KEXPECT_EQ(t, pg_region_release(&r), PG_ERR_RELEASED);
    KEXPECT_EQ(t, pg_region_release(&copy), PG_ERR_RELEASED);

    KASSERT_EQ(t, pg_region_alloc(&next, as, 2 * ARCH_PAGE_4K, ARCH_PAGE_4K, PG_WRITE, "second"),
               PG_OK);
    struct snapshot mid = snap();
    struct pg_view v = {0};
    KEXPECT_EQ(t, pg_region_release(&r), PG_ERR_RELEASED);
    KEXPECT_EQ(t, pg_view_get(&r, 0, 8, 8, true, &v), PG_ERR_RELEASED);
    KEXPECT_EQ(t, v.region, 0);
    KEXPECT_EQ(t, pg_region_split(&r, ARCH_PAGE_4K, &tail), PG_ERR_RELEASED);
    KEXPECT_EQ(t, pg_region_merge(&next, &r), PG_ERR_RELEASED);
    KEXPECT_TRUE(t, pg_region_live(&next));
    struct pg_translation tr;
    KEXPECT_EQ(t, pg_translate(as, next.va, &tr).err, PG_OK);
    expect_unchanged(t, &mid);

    copy = next;
    KASSERT_EQ(t, pg_region_split(&next, ARCH_PAGE_4K, &tail), PG_OK);
    KEXPECT_FALSE(t, pg_region_live(&copy));
    KEXPECT_EQ(t, pg_region_release(&copy), PG_ERR_RELEASED);
    KEXPECT_TRUE(t, pg_region_live(&next) && pg_region_live(&tail));
    copy = tail;
    KASSERT_EQ(t, pg_region_merge(&next, &tail), PG_OK);
    KEXPECT_FALSE(t, pg_region_live(&copy));
    KEXPECT_EQ(t, next.size, 2 * ARCH_PAGE_4K);
    KEXPECT_EQ(t, pg_region_release(&next), PG_OK);
    s.faults = arch_fault_count();
    expect_unchanged(t, &s);
}

struct regs {
    uint32_t ctrl, status;
    uint64_t count;
};

static void paging_test_views_check_bounds_alignment_and_rights(struct ktest *t)
{
    struct pg_space *as = space(t);
    static struct pg_region rw, ro;
    rw = ro = (struct pg_region){0};
    KASSERT_EQ(t, pg_region_alloc(&rw, as, ARCH_PAGE_4K, ARCH_PAGE_4K, PG_WRITE, "regs"), PG_OK);
    KASSERT_EQ(t, pg_region_alloc(&ro, as, ARCH_PAGE_4K, ARCH_PAGE_4K, 0, "rom"), PG_OK);
    struct pg_view v, untouched = {0};
    KEXPECT_EQ(t, PG_VIEW_OF(&rw, 0x100, struct regs, true, &v), PG_OK);
    pg_view_write32(&v, 0, 0xc0ffee);
    KEXPECT_EQ(t, pg_view_read32(&v, 0), 0xc0ffee);
    KEXPECT_EQ(t, ((volatile struct regs *)(uintptr_t)(rw.va + 0x100))->ctrl, 0xc0ffee);
    pg_view_write64(&v, 8, 0x1122334455667788);
    KEXPECT_EQ(t, pg_view_read64(&v, 8), 0x1122334455667788);

    struct pg_view w = untouched;
    KEXPECT_EQ(t, PG_VIEW_OF(&rw, ARCH_PAGE_4K - 8, struct regs, false, &w), PG_ERR_OUT_OF_BOUNDS);
    KEXPECT_EQ(t, pg_view_get(&rw, UINT64_MAX - 4, 16, 4, false, &w), PG_ERR_OUT_OF_BOUNDS);
    KEXPECT_EQ(t, pg_view_get(&rw, 8, UINT64_MAX, 4, false, &w), PG_ERR_OUT_OF_BOUNDS);
    KEXPECT_EQ(t, PG_VIEW_OF(&rw, 0x102, struct regs, false, &w), PG_ERR_MISALIGNED);
    KEXPECT_EQ(t, PG_VIEW_OF(&ro, 0, struct regs, true, &w), PG_ERR_READ_ONLY);
    KEXPECT_EQ(t, pg_view_get(&rw, 0, 0, 4, false, &w), PG_ERR_ZERO_SIZE);
    KEXPECT_EQ(t, w.region, 0);           /* failed views leave *v alone */
    KEXPECT_TRUE(t, pg_region_live(&rw)); /* and the region as it was */
    KEXPECT_EQ(t, PG_VIEW_OF(&ro, 0, struct regs, false, &w), PG_OK);
    KEXPECT_EQ(t, pg_view_read32(&w, 4), 0);

    uint64_t where = rw.va + 0x100;
    KEXPECT_EQ(t, pg_region_release(&rw), PG_OK);
    KEXPECT_EQ(t, PG_VIEW_OF(&rw, 0, uint32_t, false, &w), PG_ERR_RELEASED);
    uint64_t x;
    KEXPECT_FALSE(t, arch_probe_read64((void *)(uintptr_t)where, &x, NULL)); /* gone, not stale */
    KEXPECT_EQ(t, pg_region_release(&ro), PG_OK);
}

KTEST_SUITE(paging, KTEST_CASE(paging_test_frame_is_owned_once),
            KTEST_CASE(paging_test_contiguous_frames_are_aligned),
            KTEST_CASE(paging_test_virtual_ranges_follow_the_same_rules),
            KTEST_CASE(paging_test_map_translate_unmap_4k), KTEST_CASE(paging_test_2m_and_1g_pages),
            KTEST_CASE(paging_test_bad_requests_change_nothing),
            KTEST_CASE(paging_test_shared_mapping_only_when_asked),
            KTEST_CASE(paging_test_range_map_then_protect),
            KTEST_CASE(paging_test_no_tables_means_no_map_and_no_change),
            KTEST_CASE(paging_test_alloc_range_that_runs_out_changes_nothing),
            KTEST_CASE(paging_test_region_owns_and_returns_everything),
            KTEST_CASE(paging_test_owned_frames_are_nobody_elses),
            KTEST_CASE(paging_test_regions_merge_only_when_alike),
            KTEST_CASE(paging_test_stale_region_handles_are_refused),
            KTEST_CASE(paging_test_views_check_bounds_alignment_and_rights));
