/* heap.c - the heap's public API: what kmalloc, kfree and their kin promise, in fast
 * and checking mode. Everything below is reached from here and never calls back up:
 * check.c (checking mode), block.c (what a pointer is), slab.c and large.c (the
 * blocks), core.c (state, locks, chunk maps, growth, reports). */
#include "heap_internal.h"
#include <arch/console.h>
#include <arch/cpu.h>
#include <arch/debug.h>

bool heap_init(enum heap_mode mode)
{
    if (heap_g.ready || (mode != HEAP_FAST && mode != HEAP_CHECKING))
        return false;
    heap_build_classes();
    heap_core_init(mode);
    if (mode == HEAP_CHECKING)
        arch_add_describer(heap_describe);
    return true;
}

enum heap_mode heap_mode(void)
{
    return heap_g.mode;
}

/* ---- the API ---- */

static void *alloc_unlocked(size_t size, size_t align, bool zero)
{
    if (!heap_g.ready || !size || size > (SIZE_MAX >> 2))
        return NULL;
    if (align & (align - 1)) {
        heap_report(HEAP_REPORT_BAD_ALIGN, "kmalloc_aligned(%zu, %zu): not a power of two", size,
                    align);
        return NULL;
    }
    if (heap_g.mode == HEAP_CHECKING)
        return chk_alloc(size, align, zero);
    void *p = heap_raw_alloc(size, align);
    if (!p)
        return NULL;
    if (zero)
        __builtin_memset(p, 0, size);
    return p;
}

/* Every slow path runs with preemption off: see arch_preempt_disable. */
static void *alloc(size_t size, size_t align, bool zero)
{
    arch_preempt_disable();
    void *p = alloc_unlocked(size, align, zero);
    arch_preempt_enable();
    return p;
}

/* kmalloc when its inline path misses: a span refill, a large block, checking mode. */
static __attribute__((noinline)) void *kmalloc_slow(size_t size)
{
    return alloc(size, 0, false);
}

/* The inline path pops a small block off this CPU's current span of its class, found
 * by size step, and touches nothing else. Before heap_init and in checking mode every
 * size step has no block (struct heap_cpu), so those calls go to kmalloc_slow. */
void *kmalloc(size_t size)
{
    if (__builtin_expect(size - 1 < HEAP_SMALL_MAX, 1)) {
        void *p = span_alloc_size(size);
        if (__builtin_expect(p != NULL, 1))
            return p;
    }
    return kmalloc_slow(size);
}

void *kzalloc(size_t size)
{
    return alloc(size, 0, true);
}

void *kmalloc_aligned(size_t size, size_t align)
{
    if (!align) {
        heap_report(HEAP_REPORT_BAD_ALIGN, "kmalloc_aligned(%zu, 0): not a power of two", size);
        return NULL;
    }
    return alloc(size, align, false);
}

static __attribute__((noinline)) void kfree_slow(void *p)
{
    arch_preempt_disable();
    if (heap_g.mode == HEAP_CHECKING)
        chk_free(p, 0, false);
    else
        heap_free_raw(p, "kfree");
    arch_preempt_enable();
}

/* The inline path frees p if it is a live block of a span this CPU owns (the common
 * case), checking everything kfree promises from the chunk's meta entry, which no
 * heap user can overwrite: inside the heap, a span in use and this CPU's (a chunk with
 * none has an all-zero entry, so 0 blocks), the start of a block (so aligned), not
 * already free. Anything else goes to kfree_slow, which checks again (the span's
 * back-pointer too) and reports.
 * The ranges are constants, with no "ready" or mode test: before heap_init or paging
 * a base is 0 and its range's entries are all zero, and checking mode's entries name
 * no CPU (chunk_word), so those frees all go to kfree_slow. The entry is one load.
 * The block goes onto its span's list in heap.head, whose address follows from p by
 * arithmetic: the checks' loads decide only branches, so the store's address does not
 * wait for them, and the next kmalloc's loads need not wait for the store. (A per-CPU
 * list found through the meta word's class cost the benchmark's pairs about a sixth:
 * docs/benchmarks.md.) */
void kfree(void *p)
{
    uintptr_t a = (uintptr_t)p, i = a - heap_g.area;
    if (__builtin_expect(i >= AREA_SIZE, 0)) {
        i = a - heap_g.arena_bias; /* AREA_SIZE + offset in the arena */
        if (i - AREA_SIZE >= ARENA_SIZE)
            goto slow;
    }
    size_t j = i / SPAN_SIZE;
    const struct chunk_meta m = chunk_meta_read(&heap_g.meta[j]), *cm = &m;
    if (__builtin_expect((uint8_t)cm->word != arch_cpu_id(), 0))
        goto slow; /* another CPU's span, or checking mode (no span: 0 blocks, below) */
    struct block *b = p, *old = heap_g.head[j];
    uint64_t key = heap_g.key ^ a;
    if (__builtin_expect(chunk_block_index(cm, a) >= cm->lim >> 4u || b->key == key, 0))
        goto slow;
    b->key = key;
    b->next = old;
    heap_g.head[j] = b;
    if (__builtin_expect(old == NULL, 0))
        span_refilled(b); /* maybe a retired span: its owner must see it again */
    return;
slow:
    if (p)
        kfree_slow(p);
}

static void kfree_sized_unlocked(void *p, size_t size)
{
    if (!p)
        return;
    if (heap_g.mode == HEAP_CHECKING) {
        chk_free(p, size, true);
        return;
    }
    struct heap_block b;
    if (!heap_block_at(p, "kfree_sized", &b))
        return;
    /* Fast mode knows the class, not the size asked for: the size must map to the
     * block's class (or, for a power-of-two class an aligned allocation may have
     * picked, fit in it). Large blocks know their size exactly. */
    const struct span *s = b.span;
    bool ok;
    if (s) {
        bool pow2 = (s->bsize & (s->bsize - 1)) == 0;
        ok = size && (heap_class_of(size) == (int)s->cls || (pow2 && size <= s->bsize));
    } else {
        ok = size == b.large->size;
    }
    if (!ok) {
        heap_report(HEAP_REPORT_SIZE_MISMATCH,
                    "kfree_sized(%p, %zu): the block was allocated for %s%zu bytes", p, size,
                    s ? "up to " : "", s ? b.usable : (size_t)b.large->size);
        return;
    }
    heap_block_free(&b, p, true);
}

void kfree_sized(void *p, size_t size)
{
    arch_preempt_disable();
    kfree_sized_unlocked(p, size);
    arch_preempt_enable();
}

size_t kmalloc_usable_size(const void *p)
{
    if (!p)
        return 0;
    arch_preempt_disable();
    struct heap_block b;
    size_t n = heap_g.mode == HEAP_CHECKING                  ? chk_usable(p)
               : heap_block_at(p, "kmalloc_usable_size", &b) ? b.usable
                                                             : 0;
    arch_preempt_enable();
    return n;
}

void *krealloc(void *p, size_t size)
{
    if (!p)
        return kmalloc(size);
    if (!size) {
        kfree(p);
        return NULL;
    }
    size_t old;
    if (heap_g.mode == HEAP_FAST) {
        struct heap_block b;
        arch_preempt_disable();
        bool live = heap_block_at(p, "kmalloc_usable_size", &b); /* as checking mode says */
        arch_preempt_enable();
        if (!live)
            return NULL; /* not a live block: reported, and nothing else happens */
        old = b.usable;
        /* Stay in place only where kfree_sized(p, size) will then agree: the same
         * size class, or a large block that records its new size. */
        if (size <= old && b.span && heap_class_of(size) == (int)b.span->cls)
            return p;
        if (size <= old && b.large && size > HEAP_SMALL_MAX && size > old / 2) {
            b.large->size = size;
            return p;
        }
    } else if (!(old = kmalloc_usable_size(p))) {
        return NULL; /* not a live block: reported, and nothing else happens */
    }
    void *n = kmalloc(size);
    if (!n)
        return NULL; /* p stays as it was */
    __builtin_memcpy(n, p, old < size ? old : size);
    kfree(p);
    return n;
}

void heap_get_stats(struct heap_stats *out)
{
    *out = (struct heap_stats){0};
    uint64_t blocks, bytes;
    slab_count_live(&blocks, &bytes);
    heap_lock();
    out->live_blocks = blocks + heap_g.large_blocks;
    out->live_bytes = bytes + heap_g.large_live_bytes;
    out->spans = heap_g.spans;
    out->large_blocks = heap_g.large_blocks;
    out->mapped_bytes = heap_g.mapped_bytes;
    out->oom = heap_g.oom;
    for (int k = 0; k < HEAP_REPORT_COUNT_; k++)
        out->reports[k] = heap_g.reports[k];
    heap_unlock();
    if (heap_g.mode == HEAP_CHECKING)
        out->quarantined = chk_quarantined();
}

bool heap_valid(void)
{
    return heap_g.ready && slab_valid() && large_valid();
}

void heap_trim(void)
{
    if (!heap_g.ready)
        return;
    if (heap_g.mode == HEAP_CHECKING)
        chk_trim();
    slab_trim();
    heap_core_trim();
}
