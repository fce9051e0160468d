/* span_check.c - distrust of the slabs' metadata: every read of a span header or a
 * free list is checked against what no heap user can write (the chunk's meta entry,
 * the block keys), and heap_valid's walk of every span. A header or list that fails
 * is heap corruption: a panic that names the span, never a wrong answer. */
#include "heap_internal.h"
#include <arch/atomic.h>
#include <arch/console.h>
#include <arch/debug.h>
#include <arch/panic.h>
#include <stdarg.h>

/* The class the chunk's meta entry gives the span at s, or -1 for none (in the pool).
 * The meta entries are outside every block, so no heap user's stray write reaches
 * them: they are what a span header is checked against. */
static int meta_class(const struct span *s)
{
    const struct chunk_meta *m = heap_meta_of(s);
    uint16_t word = m ? chunk_meta_read(m).word : 0;
    return word ? (int)(word >> 8) - 1 : -1;
}

ARCH_CHECKER bool span_header_ok(const struct span *s)
{
    if (s->magic != (SPAN_MAGIC ^ (uintptr_t)s))
        return false;
    int cls = meta_class(s);
    if (cls < 0)
        return !s->bsize; /* in the pool */
    if (cls >= NCLASSES)
        return false;
    const struct heap_class *k = &heap_class[cls];
    uint32_t threaded = span_threaded(s);
    return s->cls == cls && s->bsize == k->size && s->nblocks == k->nblocks && threaded &&
           threaded <= s->nblocks && s->data == (const uint8_t *)s + k->data_off &&
           s->key == heap_g.key && s->recip == (uint32_t)((UINT64_C(1) << 32) / k->size + 1) &&
           s->owner < MAX_CPUS &&
           chunk_meta_read(heap_meta_of(s)).word == chunk_word(s->owner, cls);
}

void heap_corruption(const struct span *s, const char *fmt, ...)
{
    char what[160];
    va_list ap;
    va_start(ap, fmt);
    kvsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    int cls = meta_class(s);
    /* The owner from the meta word, which checking mode leaves without one. */
    unsigned owner = heap_meta_of(s) ? chunk_meta_read(heap_meta_of(s)).word & 0xffu : CHUNK_NO_CPU;
    if (owner == CHUNK_NO_CPU && s->owner < MAX_CPUS)
        owner = s->owner;
    arch_panic("heap corruption: the span at %p (class %d: %u-byte blocks, CPU %u): %s",
               (const void *)s, cls, cls >= 0 && cls < NCLASSES ? heap_class_size[cls] : 0u, owner,
               what);
}

struct span *span_checked(const void *p)
{
    struct span *s = span_of(p);
    if (!span_header_ok(s))
        heap_corruption(s, "its header was overwritten (magic 0x%lx, %u-byte blocks, %u of them)",
                        s->magic, s->bsize, s->nblocks);
    return s;
}

/* b is a free block of the span s: the start of one of its blocks, with the free
 * marker. Checked by arithmetic before b is read. */
ARCH_CHECKER bool span_free_block_ok(const struct span *s, const struct block *b)
{
    uint64_t off = (uintptr_t)b - (uintptr_t)s->data;
    if (off >= (uint64_t)span_threaded(s) * s->bsize || ((off * s->recip) >> 32) * s->bsize != off)
        return false;
    if (heap_g.mode == HEAP_FAST) /* nothing is poisoned */
        return b->key == (s->key ^ (uintptr_t)b);
    arch_san_unpoison(b, sizeof(*b)); /* a free block's words are open; a live one's not */
    if (b->key == (s->key ^ (uintptr_t)b))
        return true;
    arch_san_poison(b, sizeof(*b));
    return false;
}

/* Walk a free list of s (its own or the remote one, `which`) from b: every link a
 * free block of s, at most nblocks of them. Returns the length, and the last block
 * in *last. A link that fails is heap corruption: a panic, or with `quiet` a report
 * and UINT32_MAX (for slab_valid, which answers instead of stopping). */
ARCH_CHECKER uint32_t span_list_walk(const struct span *s, struct block *b, const char *which,
                                     bool quiet, struct block **last)
{
    uint32_t n = 0;
    struct block *prev = NULL;
    for (; b; prev = b, b = b->next) {
        if (!span_free_block_ok(s, b) || ++n > span_threaded(s)) {
            if (!quiet)
                heap_corruption(s, "its %s free list links to %p (after %p), which is %s", which,
                                (void *)b, (void *)prev,
                                n > span_threaded(s) ? "a block seen twice (a cycle)"
                                                     : "not a free block of the span");
            kprintf("# heap corruption: the span at %p (class %d): its %s free list links to %p "
                    "(after %p), not a free block of the span\n",
                    (const void *)s, meta_class(s), which, (void *)b, (void *)prev);
            return UINT32_MAX;
        }
    }
    if (last)
        *last = prev;
    return n;
}

/* Blocks on the span's free lists (its own and the other CPUs'). */
ARCH_CHECKER uint32_t span_free_blocks(const struct span *s)
{
    uint32_t own = span_list_walk(s, *span_head(s), "own", false, NULL);
    /* acquire: the pushed blocks' next words are seen by the walk */
    uint32_t remote =
        span_list_walk(s, arch_atomic_load(&s->thread_free, ARCH_ACQUIRE), "remote", false, NULL);
    if (own + remote > span_threaded(s))
        heap_corruption(s, "its free lists hold %u blocks of %u", own + remote, span_threaded(s));
    return own + remote + (s->nblocks - span_threaded(s)); /* the untouched ones are free too */
}

/* A span on one of CPU cpu's lists for class cls must be one of its spans of that
 * class; n counts the list so far (a cycle is corruption too). */
ARCH_CHECKER static uint32_t list_len(const struct span *s, struct block *b, const char *which,
                                      bool *ok)
{
    uint32_t n = span_list_walk(s, b, which, true, NULL);
    if (n == UINT32_MAX)
        *ok = false;
    return n == UINT32_MAX ? 0 : n;
}

/* Quiescent only: every span's lists are made of its own free blocks, every CPU's
 * current spans are its own and of their class, and the counts add up. */
ARCH_CHECKER bool slab_valid(void)
{
    bool ok = true;
    for (unsigned cpu = 0, ncpus = heap_cpus_used(); cpu < ncpus && ok; cpu++) {
        for (unsigned i = 0; i < HEAP_SMALL_MAX / 16; i++) {
            int cls = heap_class_lut[i];
            const struct span *s = heap_cpus[cpu].cur[cls];
            if (s ? heap_cpus[cpu].curh[i] != curh_of(span_head(s)) || !s->is_current ||
                        s->owner != cpu || s->cls != cls
                  : heap_cpus[cpu].curh[i] != NULL)
                return false;
        }
    }
    /* Visit spans through the chunk maps, which see every span whatever list it is on. */
    for (struct heap_chunk_it it = {0}; ok && heap_chunk_next(&it);) {
        /* kfree's inline path trusts a nonzero meta word to mean "a span in use, of
         * this owner and class". */
        const struct chunk_meta m = chunk_meta_read(&heap_g.meta[it.slot]), *cm = &m;
        uint16_t meta = cm->word;
        struct block *head = heap_g.head[it.slot];
        bool zero = !meta && !cm->data_off && !cm->inv && !cm->lim && !head;
        if (it.kind != CHUNK_SPAN) {
            if (!zero)
                return false;
            continue;
        }
        struct span *s = (struct span *)it.addr;
        if (!span_header_ok(s)) {
            kprintf("# heap corruption: the span at %p: its header was overwritten\n", (void *)s);
            return false;
        }
        if (!s->bsize) {
            if (!zero)
                return false;
            continue; /* in the pool */
        }
        const struct heap_class *k = &heap_class[s->cls];
        if (s->cls >= NCLASSES || meta != chunk_word(s->owner, s->cls) ||
            cm->data_off != k->data_off || cm->inv != k->inv ||
            cm->lim != (span_threaded(s) << 4 | (k->lim & 15u)))
            return false;
        uint32_t f = list_len(s, head, "own", &ok) + list_len(s, s->thread_free, "remote", &ok);
        if (s->bsize != heap_class_size[s->cls] || f > span_threaded(s))
            ok = false;
    }
    return ok;
}

ARCH_CHECKER void slab_count_live(uint64_t *blocks_out, uint64_t *bytes_out)
{
    uint64_t bytes = 0, blocks = 0;
    for (struct heap_chunk_it it = {0}; heap_chunk_next(&it);) {
        const struct span *s = (const struct span *)it.addr;
        if (it.kind == CHUNK_SPAN && span_checked(s)->bsize) {
            uint64_t live = s->nblocks - span_free_blocks(s);
            blocks += live;
            bytes += live * s->bsize;
        }
    }
    *blocks_out = blocks;
    *bytes_out = bytes;
}
