/* heap_test.c - the kernel heap, the same source in the sim and the bare kernel, in
 * whichever mode the program started it (KERNSIM_HEAP_MODE in the sim, heap.checking=1
 * on the bare kernel's command line). Every case leaves the heap trimmed and checks
 * heap_valid(). */
#include "../ktest/ktest.h"
#include <arch/console.h>
#include <arch/debug.h>
#include <heap/heap.h>
#include <heap/heap_internal.h>
#include <paging/paging.h>

static void trim(void *arg)
{
    (void)arg;
    heap_trim();
}

static void start(struct ktest *t)
{
    ktest_defer(t, trim, NULL);
    KASSERT_TRUE(t, heap_valid());
}

static uint64_t reports(enum heap_report kind)
{
    struct heap_stats s;
    heap_get_stats(&s);
    return s.reports[kind];
}

static void heap_test_small_sizes_round_trip(struct ktest *t)
{
    start(t);
    static uint8_t *p[64];
    for (size_t n = 1, i = 0; n <= 2048; n = n * 3 / 2 + 1, i++) {
        p[i] = kmalloc(n);
        KASSERT_TRUE(t, p[i] != NULL);
        KEXPECT_TRUE(t, ARCH_IS_ALIGNED((uintptr_t)p[i], HEAP_ALIGN));
        KEXPECT_GE(t, kmalloc_usable_size(p[i]), n);
        for (size_t k = 0; k < n; k++)
            p[i][k] = (uint8_t)(i + k);
    }
    for (size_t n = 1, i = 0; n <= 2048; n = n * 3 / 2 + 1, i++) {
        bool intact = true;
        for (size_t k = 0; k < n; k++)
            intact &= p[i][k] == (uint8_t)(i + k);
        KEXPECT_TRUE(t, intact); /* no block overlapped another */
        kfree(p[i]);
    }
    KEXPECT_TRUE(t, heap_valid());
}

static void heap_test_zero_and_huge_sizes_return_null(struct ktest *t)
{
    start(t);
    struct heap_stats before, after;
    heap_get_stats(&before);
    KEXPECT_TRUE(t, kmalloc(0) == NULL);
    KEXPECT_TRUE(t, kzalloc(0) == NULL);
    KEXPECT_TRUE(t, kmalloc(SIZE_MAX) == NULL);
    KEXPECT_TRUE(t, kmalloc(SIZE_MAX - 15) == NULL);
    KEXPECT_TRUE(t, kmalloc_aligned(SIZE_MAX / 2, 64) == NULL);
    KEXPECT_TRUE(t, krealloc(NULL, 0) == NULL);
    heap_get_stats(&after);
    KEXPECT_EQ(t, after.live_blocks, before.live_blocks);
    KEXPECT_TRUE(t, heap_valid());
}

static void heap_test_kzalloc_zeroes_reused_memory(struct ktest *t)
{
    start(t);
    uint8_t *p = kmalloc(200);
    KASSERT_TRUE(t, p != NULL);
    __builtin_memset(p, 0x77, 200);
    kfree(p);
    uint8_t *z = kzalloc(200);
    KASSERT_TRUE(t, z != NULL);
    bool zero = true;
    for (int i = 0; i < 200; i++)
        zero &= z[i] == 0;
    KEXPECT_TRUE(t, zero);
    kfree(z);
}

static void heap_test_aligned_allocations(struct ktest *t)
{
    start(t);
    static const size_t aligns[] = {16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 65536, 1 << 21};
    for (unsigned i = 0; i < sizeof(aligns) / sizeof(aligns[0]); i++) {
        void *p = kmalloc_aligned(100, aligns[i]);
        KASSERT_TRUE(t, p != NULL);
        KEXPECT_TRUE(t, ARCH_IS_ALIGNED((uintptr_t)p, aligns[i]));
        __builtin_memset(p, 1, 100);
        kfree(p);
    }
    uint64_t bad = reports(HEAP_REPORT_BAD_ALIGN);
    KEXPECT_TRUE(t, kmalloc_aligned(64, 24) == NULL);
    KEXPECT_TRUE(t, kmalloc_aligned(64, 0) == NULL);
    KEXPECT_TRUE(t, kmalloc_aligned(64, 3) == NULL);
    KEXPECT_EQ(t, reports(HEAP_REPORT_BAD_ALIGN), bad + 3);
    KEXPECT_STR_CONTAINS(t, heap_last_report(), "not a power of two");
    KEXPECT_TRUE(t, heap_valid());
}

static void heap_test_large_blocks_come_and_go_with_their_pages(struct ktest *t)
{
    start(t);
    struct heap_stats before, mid, after;
    heap_trim();
    heap_get_stats(&before);
    static const size_t sizes[] = {3000, 100000, (size_t)5 << 20};
    uint8_t *p[3];
    for (int i = 0; i < 3; i++) {
        p[i] = kmalloc(sizes[i]);
        KASSERT_TRUE(t, p[i] != NULL);
        p[i][0] = 1;
        p[i][sizes[i] - 1] = 2;
        KEXPECT_GE(t, kmalloc_usable_size(p[i]), sizes[i]);
    }
    heap_get_stats(&mid);
    KEXPECT_EQ(t, mid.large_blocks, before.large_blocks + 3);
    KEXPECT_GE(t, mid.mapped_bytes, before.mapped_bytes + sizes[2]);
    for (int i = 0; i < 3; i++)
        kfree(p[i]);
    heap_trim();
    heap_get_stats(&after);
    KEXPECT_EQ(t, after.large_blocks, before.large_blocks);
    KEXPECT_EQ(t, after.mapped_bytes, before.mapped_bytes); /* pages went back */
    KEXPECT_TRUE(t, heap_valid());
}

static void heap_test_realloc_keeps_contents(struct ktest *t)
{
    start(t);
    uint8_t *p = kmalloc(40);
    KASSERT_TRUE(t, p != NULL);
    for (int i = 0; i < 40; i++)
        p[i] = (uint8_t)i;
    p = krealloc(p, 5000); /* small to large */
    KASSERT_TRUE(t, p != NULL);
    bool same = true;
    for (int i = 0; i < 40; i++)
        same &= p[i] == (uint8_t)i;
    KEXPECT_TRUE(t, same);
    p = krealloc(p, 20); /* and back down */
    KASSERT_TRUE(t, p != NULL);
    same = true;
    for (int i = 0; i < 20; i++)
        same &= p[i] == (uint8_t)i;
    KEXPECT_TRUE(t, same);
    KEXPECT_TRUE(t, krealloc(p, SIZE_MAX) == NULL); /* fails, p untouched */
    KEXPECT_EQ(t, p[19], 19);
    KEXPECT_TRUE(t, krealloc(p, 0) == NULL); /* frees */
    KEXPECT_TRUE(t, heap_valid());
}

static int a_global;

static void heap_test_invalid_frees_are_reported_and_change_nothing(struct ktest *t)
{
    start(t);
    struct heap_stats before, after;
    uint8_t *p = kmalloc(64), *keep = kmalloc(64);
    KASSERT_TRUE(t, p && keep);
    keep[0] = 42;
    heap_get_stats(&before);

    kfree(p + 16);
    KEXPECT_STR_CONTAINS(t, heap_last_report(), "interior");
    int local;
    kfree(&local);
    KEXPECT_STR_CONTAINS(t, heap_last_report(), "not a heap pointer");
    kfree(&a_global);
    KEXPECT_STR_CONTAINS(t, heap_last_report(), "not a heap pointer");
    kfree((void *)(uintptr_t)8);
    KEXPECT_STR_CONTAINS(t, heap_last_report(), "not a heap pointer");
    KEXPECT_EQ(t, kmalloc_usable_size(&local), 0);

    heap_get_stats(&after);
    KEXPECT_EQ(t, after.reports[HEAP_REPORT_INTERIOR], before.reports[HEAP_REPORT_INTERIOR] + 1);
    KEXPECT_EQ(t, after.reports[HEAP_REPORT_NOT_HEAP], before.reports[HEAP_REPORT_NOT_HEAP] + 4);
    KEXPECT_EQ(t, after.live_blocks, before.live_blocks);

    kfree(p);
    kfree(p); /* twice */
    KEXPECT_STR_CONTAINS(t, heap_last_report(), "double free");
    KEXPECT_EQ(t, reports(HEAP_REPORT_DOUBLE_FREE), before.reports[HEAP_REPORT_DOUBLE_FREE] + 1);
    KEXPECT_EQ(t, keep[0], 42); /* the heap is still usable, and nothing else moved */
    void *q = kmalloc(64);
    KEXPECT_TRUE(t, q != NULL);
    kfree(q);
    kfree(keep);
    KEXPECT_TRUE(t, heap_valid());
}

/* A span threads its blocks onto its free list a page at a time: the rest were never
 * handed out. A pointer to one, or into one, is "nothing is allocated there" to every
 * entry point, as to kfree, and changes nothing. */
static void heap_test_a_block_never_handed_out_is_not_allocated(struct ktest *t)
{
    start(t);
    if (heap_g.mode == HEAP_CHECKING) {
        ktest_skip(t, "fast mode: a checked block's raw block is not the pointer");
    }
    uint8_t *p = kmalloc(64);
    KASSERT_TRUE(t, p != NULL);
    const struct span *s = span_of(p);
    KASSERT_LT(t, span_threaded(s), s->nblocks);
    uint8_t *q = s->data + (uint64_t)(s->nblocks - 1) * s->bsize; /* the last block */
    struct heap_stats before, after;
    heap_get_stats(&before);
    KEXPECT_EQ(t, kmalloc_usable_size(q), 0);
    KEXPECT_STR_CONTAINS(t, heap_last_report(), "nothing is allocated there");
    kfree_sized(q, 64);
    KEXPECT_STR_CONTAINS(t, heap_last_report(), "nothing is allocated there");
    kfree(q + 16); /* inside it */
    KEXPECT_STR_CONTAINS(t, heap_last_report(), "nothing is allocated there");
    KEXPECT_TRUE(t, krealloc(q, 32) == NULL);
    KEXPECT_STR_CONTAINS(t, heap_last_report(), "nothing is allocated there");
    heap_get_stats(&after);
    KEXPECT_EQ(t, after.reports[HEAP_REPORT_NOT_ALLOCATED],
               before.reports[HEAP_REPORT_NOT_ALLOCATED] + 4);
    KEXPECT_EQ(t, after.reports[HEAP_REPORT_INTERIOR], before.reports[HEAP_REPORT_INTERIOR]);
    KEXPECT_EQ(t, after.live_blocks, before.live_blocks);
    kfree(p);
    KEXPECT_TRUE(t, heap_valid());
}

static void heap_test_kfree_sized_checks_the_size(struct ktest *t)
{
    start(t);
    void *p = kmalloc(100);
    KASSERT_TRUE(t, p != NULL);
    uint64_t before = reports(HEAP_REPORT_SIZE_MISMATCH);
    kfree_sized(p, 5000);
    KEXPECT_EQ(t, reports(HEAP_REPORT_SIZE_MISMATCH), before + 1);
    KEXPECT_STR_CONTAINS(t, heap_last_report(), "size mismatch");
    KEXPECT_GE(t, kmalloc_usable_size(p), 100); /* still allocated */
    kfree_sized(p, 100);
    KEXPECT_EQ(t, reports(HEAP_REPORT_SIZE_MISMATCH), before + 1);
    void *big = kmalloc(10000);
    KASSERT_TRUE(t, big != NULL);
    kfree_sized(big, 9999);
    KEXPECT_EQ(t, reports(HEAP_REPORT_SIZE_MISMATCH), before + 2);
    kfree_sized(big, 10000);
    KEXPECT_TRUE(t, heap_valid());
}

static void heap_test_checking_mode_catches_overflow_and_use_after_free(struct ktest *t)
{
    if (heap_mode() != HEAP_CHECKING)
        ktest_skip(t, "needs checking mode (KERNSIM_HEAP_MODE=checking, heap.checking=1)");
    start(t);
    uint8_t *p = kmalloc(24);
    KASSERT_TRUE(t, p != NULL);
    arch_san_unpoison(p, 1); /* reading fresh memory is itself a finding: say it is meant */
    KEXPECT_EQ(t, p[0], HEAP_POISON_NEW); /* new memory carries its pattern */
    uint64_t rz = reports(HEAP_REPORT_REDZONE);
    arch_san_unpoison(p + 24, 1); /* let the deliberate overflow past the checkers */
    p[24] = 1;
    kfree(p);
    KEXPECT_EQ(t, reports(HEAP_REPORT_REDZONE), rz + 1);
    KEXPECT_STR_CONTAINS(t, heap_last_report(), "redzone");

    uint8_t *q = kmalloc(32);
    KASSERT_TRUE(t, q != NULL);
    kfree(q);
    struct heap_stats s;
    heap_get_stats(&s);
    KEXPECT_GE(t, s.quarantined, 1); /* not reused yet */
    uint64_t uaf = reports(HEAP_REPORT_USE_AFTER_FREE);
    arch_san_unpoison(q + 5, 1);
    KEXPECT_EQ(t, q[5], HEAP_POISON_FREE);
    q[5] = 0;
    heap_trim(); /* empties the quarantine, which checks what waited in it */
    KEXPECT_EQ(t, reports(HEAP_REPORT_USE_AFTER_FREE), uaf + 1);
    KEXPECT_STR_CONTAINS(t, heap_last_report(), "written after it was freed: byte +5 ");
    /* The check goes eight bytes a step: a write in the odd tail is found too. */
    uint8_t *r = kmalloc(37);
    KASSERT_TRUE(t, r != NULL);
    kfree(r);
    arch_san_unpoison(r + 36, 1);
    r[36] = 0;
    heap_trim();
    KEXPECT_EQ(t, reports(HEAP_REPORT_USE_AFTER_FREE), uaf + 2);
    KEXPECT_STR_CONTAINS(t, heap_last_report(), "byte +36 ");
    KEXPECT_TRUE(t, heap_valid());
}

/* Two checked blocks of `size` that sit next to each other in one span (b's raw block
 * right after a's): from a few allocations, the rest freed again. */
static bool neighbours(size_t size, uint8_t **a, uint8_t **b)
{
    uint8_t *p[8];
    bool found = false;
    long raw = heap_class_size[heap_class_of(size + 32 + 16)]; /* header, redzones */
    for (int i = 0; i < 8; i++)
        p[i] = kmalloc(size);
    for (int i = 0; i < 8 && !found; i++) {
        for (int j = 0; j < 8 && !found; j++) {
            if (p[i] && p[j] && p[j] - p[i] == raw) {
                *a = p[i], *b = p[j], found = true;
                p[i] = p[j] = NULL;
            }
        }
    }
    for (int i = 0; i < 8; i++)
        kfree(p[i]);
    return found;
}

/* Before: a live block. Now: a write of 1 to 8 bytes just before it lands in its left
 * redzone and is reported as a heap overflow before the block; a write over its
 * header is reported the same way at its kfree, which then leaves the block alone, so
 * the neighbour it came from is not poisoned over and frees as it should. */
static void heap_test_checking_mode_sees_writes_before_the_block(struct ktest *t)
{
    if (heap_mode() != HEAP_CHECKING)
        ktest_skip(t, "needs checking mode (KERNSIM_HEAP_MODE=checking, heap.checking=1)");
    start(t);
    for (int k = 1; k <= 8; k++) {
        uint8_t *p = kmalloc(40);
        KASSERT_TRUE(t, p != NULL);
        uint64_t rz = reports(HEAP_REPORT_REDZONE);
        arch_san_unpoison(p - k, 1); /* let the deliberate underflow past the checkers */
        p[-k] = 0;
        kfree(p);
        KEXPECT_EQ(t, reports(HEAP_REPORT_REDZONE), rz + 1);
        KEXPECT_STR_CONTAINS(t, heap_last_report(), "heap overflow before the block at");
    }
    uint8_t *a, *b;
    KASSERT_TRUE(t, neighbours(40, &a, &b)); /* a's raw block is 96 bytes, then b's */
    uint64_t rz = reports(HEAP_REPORT_REDZONE), live = 0;
    struct heap_stats st;
    heap_get_stats(&st);
    live = st.live_blocks;
    /* A runaway write from a's end over its right redzone and b's header (b - 32). */
    arch_san_unpoison(a + 40, (size_t)(b - (a + 40)));
    __builtin_memset(a + 40, 0x41, (size_t)(b - 16 - (a + 40)));
    static uint8_t *kept; /* b cannot be freed now: kept reachable, not leaked */
    kept = b;
    kfree(kept);
    KEXPECT_EQ(t, reports(HEAP_REPORT_REDZONE), rz + 1);
    KEXPECT_STR_CONTAINS(t, heap_last_report(), "heap overflow before the block at");
    KEXPECT_STR_CONTAINS(t, heap_last_report(), "header");
    kfree(a); /* a's right redzone was written: said so, and a is freed */
    KEXPECT_EQ(t, reports(HEAP_REPORT_REDZONE), rz + 2);
    KEXPECT_STR_CONTAINS(t, heap_last_report(), "the redzone after the 40-byte block");
    heap_get_stats(&st);
    KEXPECT_EQ(t, st.live_blocks, live); /* b is kept (its size cannot be trusted), a freed */
    KEXPECT_TRUE(t, heap_valid());
}

/* Before: a block larger than the quarantine's byte limit. Now: its free waits in an
 * otherwise empty quarantine, and the next free or a trim gives it back. */
static void heap_test_a_block_larger_than_the_quarantine_is_freed(struct ktest *t)
{
    start(t);
    struct heap_stats st;
    heap_trim();
    heap_get_stats(&st);
    uint64_t mapped = st.mapped_bytes;
    uint8_t *p = kmalloc(5u << 20), *q = kmalloc(5u << 20);
    KASSERT_TRUE(t, p != NULL && q != NULL);
    kfree(p);
    kfree(q);
    uint8_t *r = kmalloc(64);
    KASSERT_TRUE(t, r != NULL);
    kfree(r);
    heap_trim();
    heap_get_stats(&st);
    KEXPECT_EQ(t, st.mapped_bytes, mapped);
    KEXPECT_EQ(t, st.quarantined, 0);
    KEXPECT_TRUE(t, heap_valid());
}

static void heap_test_stats_balance(struct ktest *t)
{
    start(t);
    struct heap_stats a, b;
    heap_get_stats(&a);
    static void *p[1000];
    for (int i = 0; i < 1000; i++) {
        p[i] = kmalloc((size_t)(16 + (i * 37) % 500));
        KASSERT_TRUE(t, p[i] != NULL);
    }
    heap_get_stats(&b);
    KEXPECT_EQ(t, b.live_blocks, a.live_blocks + 1000);
    for (int i = 999; i >= 0; i--)
        kfree(p[i]);
    heap_trim();
    heap_get_stats(&b);
    KEXPECT_EQ(t, b.live_blocks, a.live_blocks);
    KEXPECT_EQ(t, b.live_bytes, a.live_bytes);
    KEXPECT_TRUE(t, heap_valid());
}

/* The inline free's one-compare block check, against division, at every address a
 * span can hold a block at (the check sees only an address's low 16 bits), for every
 * class's geometry as span_format copies it into a chunk's meta entry. */
static void heap_test_block_index_is_exact(struct ktest *t)
{
    start(t);
    uint32_t wrong = 0, starts = 0, blocks = 0;
    for (int cls = 0; cls < NCLASSES; cls++) {
        const struct heap_class *k = &heap_class[cls];
        const struct chunk_meta m = {1, k->data_off, k->inv, k->lim};
        KEXPECT_EQ(t, (unsigned)k->lim >> 4, (unsigned)k->nblocks);
        blocks += k->nblocks;
        for (uint32_t a = 0; a < SPAN_SIZE; a++) {
            uint32_t off = a - k->data_off; /* wraps below the first block */
            bool start_of_block =
                a >= k->data_off && off % k->size == 0 && off / k->size < k->nblocks;
            unsigned i = chunk_block_index(&m, SPAN_SIZE * 7 + a);
            starts += start_of_block;
            wrong += start_of_block ? i != off / k->size : i < k->nblocks;
        }
    }
    KEXPECT_EQ(t, wrong, 0u);
    KEXPECT_EQ(t, starts, blocks); /* every block of every class was seen */
    KEXPECT_TRUE(t, blocks > 10000);
    /* A chunk with no span in use has an all-zero entry: 0 blocks, so nothing matches. */
    const struct chunk_meta none = {0};
    KEXPECT_TRUE(t, chunk_block_index(&none, SPAN_SIZE * 7) >= (unsigned)(none.lim >> 4));
}

/* Attaching to no space, or to one that is not live, is refused by name and changes
 * nothing. */
static void heap_test_attach_paging_says_why_not(struct ktest *t)
{
    start(t);
    static struct pg_space dead; /* never adopted or created: not live */
    KEXPECT_EQ(t, heap_attach_paging(NULL), HEAP_ERR_NO_SPACE);
    KEXPECT_EQ(t, heap_attach_paging(&dead), HEAP_ERR_NO_SPACE);
    KEXPECT_STREQ(t, heap_strerror(HEAP_ERR_NO_SPACE), "no live address space");
    KEXPECT_STREQ(t, heap_strerror(HEAP_ERR_COUNT_), "unknown error");
    void *p = kmalloc(100000);
    KEXPECT_TRUE(t, p != NULL);
    kfree(p);
    KEXPECT_TRUE(t, heap_valid());
}

KTEST_SUITE(heap, KTEST_CASE(heap_test_small_sizes_round_trip),
            KTEST_CASE(heap_test_attach_paging_says_why_not),
            KTEST_CASE(heap_test_zero_and_huge_sizes_return_null),
            KTEST_CASE(heap_test_kzalloc_zeroes_reused_memory),
            KTEST_CASE(heap_test_aligned_allocations),
            KTEST_CASE(heap_test_large_blocks_come_and_go_with_their_pages),
            KTEST_CASE(heap_test_realloc_keeps_contents),
            KTEST_CASE(heap_test_invalid_frees_are_reported_and_change_nothing),
            KTEST_CASE(heap_test_a_block_never_handed_out_is_not_allocated),
            KTEST_CASE(heap_test_kfree_sized_checks_the_size),
            KTEST_CASE(heap_test_checking_mode_catches_overflow_and_use_after_free),
            KTEST_CASE(heap_test_checking_mode_sees_writes_before_the_block),
            KTEST_CASE(heap_test_a_block_larger_than_the_quarantine_is_freed),
            KTEST_CASE(heap_test_stats_balance), KTEST_CASE(heap_test_block_index_is_exact));
