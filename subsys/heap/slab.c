/* slab.c - size classes in 64 KiB spans, cached per CPU.
 *
 * Each span belongs to one CPU. That CPU allocates from and frees into the span's
 * list (its heap.head entry) with plain loads and stores. Another CPU frees with one
 * compare-exchange onto span->thread_free; if the owner had given up on the span as
 * full, the freeing CPU also puts the span on the owner's remote list. */
#include "heap_internal.h"
#include <arch/console.h>
#include <arch/cpu.h>
#include <arch/debug.h>
#include <arch/panic.h>

void span_set_curh(struct heap_cpu *c, int cls, struct block **h)
{
    struct block **e = curh_of(h);
    for (unsigned i = cls ? heap_class_size[cls - 1] / 16u : 0; i < heap_class_size[cls] / 16u; i++)
        c->curh[i] = e;
}

void span_format(struct span *s, int cls, unsigned owner)
{
    uint32_t hi = heap_cpus_used();
    while (owner >= hi &&
           !arch_atomic_cmpxchg(&heap_g.cpu_hi, &hi, owner + 1, ARCH_RELAXED, ARCH_RELAXED))
        ; /* a high-water mark: nothing is ordered by it */
    uint32_t bsize = heap_class_size[cls];
    const struct heap_class *k = &heap_class[cls];
    uint8_t *data = (uint8_t *)s + k->data_off;
    *s = (struct span){
        .magic = SPAN_MAGIC ^ (uintptr_t)s,
        .data = data,
        .key = heap_g.key,
        .bsize = bsize,
        .recip = (uint32_t)((UINT64_C(1) << 32) / bsize + 1),
        .nblocks = k->nblocks,
        .cls = (uint16_t)cls,
        .owner = (uint16_t)owner,
    };
    *span_head(s) = NULL;
    span_thread_more(s);
}

/* Put the next untouched blocks of s on its (empty) own list, in address order: a page
 * or so at a time, so a span costs what is used of it (mimalloc's free-list
 * extension). The meta entry's bound moves with them: kfree refuses the rest. Owner
 * only. */
void span_thread_more(struct span *s)
{
    uint32_t from = s->threaded, n = 4096 / s->bsize < 8 ? 8 : 4096 / s->bsize;
    uint32_t to = from + n < s->nblocks ? from + n : s->nblocks;
    struct block *prev = NULL;
    for (uint32_t i = to; i-- > from;) {
        struct block *b = (struct block *)(s->data + (uint64_t)i * s->bsize);
        b->next = prev;
        b->key = s->key ^ (uintptr_t)b;
        prev = b;
    }
    *span_head(s) = prev;
    __atomic_store_n(&s->threaded, to, __ATOMIC_RELAXED);
    const struct heap_class *k = &heap_class[s->cls];
    chunk_meta_write(heap_meta_of(s),
                     (struct chunk_meta){chunk_word(s->owner, s->cls), k->data_off, k->inv,
                                         (uint16_t)(to << 4 | (k->lim & 15u))});
}

long span_block_index(const struct span *s, const void *p)
{
    if ((const uint8_t *)p < s->data)
        return -1;
    uint64_t off = (uint64_t)((const uint8_t *)p - s->data);
    return (long)((off * s->recip) >> 32); /* exact for off < 64 KiB, bsize < 4 KiB */
}

/* Move the other CPUs' frees onto the span's own list. */
static void collect(struct span *s)
{
    /* acquire: pairs with the release in a remote free, so the block's words are seen */
    struct block *t = arch_atomic_xchg(&s->thread_free, (struct block *)NULL, ARCH_ACQUIRE);
    if (!t)
        return;
    struct block *last, **h = span_head(s);
    span_list_walk(s, t, "remote", false, &last);
    last->next = *h;
    *h = t;
}

static void partial_push(struct heap_cpu *c, struct span *s)
{
    if (s->in_partial || s->is_current)
        return;
    s->in_partial = 1;
    s->next = c->partial[s->cls];
    c->partial[s->cls] = s;
}

/* The owner gives up on s for now: no block to hand out. Remote frees from here on
 * must tell it (Dekker with the remote side: both sides are sequentially consistent). */
static bool retire_full(struct span *s)
{
    s->is_current = 0;
    /* seq_cst, both: the owner's half of the handshake (full up, then look for frees) */
    arch_atomic_store(&s->full, 1, ARCH_SEQ_CST);
    if (arch_atomic_load(&s->thread_free, ARCH_SEQ_CST)) {
        arch_atomic_store(&s->full, 0, ARCH_RELAXED);
        return false; /* a free raced in: keep using it */
    }
    return true;
}

/* Spans that other CPUs freed into while they were retired. */
static void take_remote(struct heap_cpu *c)
{
    /* acquire: pairs with the notifying free's release push, so each span's
     * remote_next is seen */
    struct span *s = arch_atomic_xchg(&c->remote, (struct span *)NULL, ARCH_ACQUIRE);
    unsigned cpu = (unsigned)(c - heap_cpus);
    for (uint64_t n = 0; s; n++) {
        if (!heap_at_span(s) || n > AREA_CHUNKS + ARENA_SIZE / SPAN_SIZE ||
            span_checked(s)->owner != cpu)
            arch_panic("heap corruption: CPU %u's list of spans with remote frees links to %p, "
                       "which is not one of its spans in use",
                       cpu, (void *)s);
        struct span *next = s->remote_next;
        arch_atomic_store(&s->full, 0, ARCH_RELAXED);
        /* release: full = 0 above is seen by the free that wins the next notification
         * (its acq_rel compare-exchange reads this 0) */
        arch_atomic_store(&s->notified, 0, ARCH_RELEASE);
        partial_push(c, s);
        s = next;
    }
}

__attribute__((noinline)) static void *alloc_slow(struct heap_cpu *c, int cls, unsigned cpu)
{
    struct span *s = c->cur[cls];
    for (;;) {
        if (s) {
            if (!*span_head(s)) /* checking mode comes here with blocks left */
                collect(s);
            if (!*span_head(s) && span_threaded(s) < s->nblocks)
                span_thread_more(s);
            if (*span_head(s))
                break;
            if (retire_full(s))
                s = NULL;
            else
                continue;
        }
        take_remote(c);
        s = c->partial[cls];
        if (s) {
            c->partial[cls] = s->next;
            s->in_partial = 0;
            continue;
        }
        s = heap_get_span();
        if (!s) {
            c->cur[cls] = NULL;
            span_set_curh(c, cls, NULL);
            return NULL;
        }
        span_format(s, cls, cpu);
    }
    struct block **h = span_head(s), *b = *h;
    if (!span_free_block_ok(s, b))
        heap_corruption(s, "its free list's head %p is not a free block of the span", (void *)b);
    s->is_current = 1;
    c->cur[cls] = s;
    span_set_curh(c, cls, h);
    *h = b->next;
    b->key = 0;
    return b;
}

void *span_alloc_slow(struct heap_cpu *c, int cls)
{
    return alloc_slow(c, cls, (unsigned)(c - heap_cpus));
}

void span_free_retired(struct heap_cpu *c, struct span *s)
{
    if (s->full)
        arch_atomic_store(&s->full, 0, ARCH_RELAXED);
    partial_push(c, s);
}

/* Every slow path runs with preemption off: see arch_preempt_disable. */
void span_refilled(struct block *b)
{
    struct span *s = span_of(b);
    if (s->is_current)
        return;
    arch_preempt_disable();
    span_free_retired(&heap_cpus[s->owner], s);
    arch_preempt_enable();
}

bool span_free(struct span *s, void *p, bool report)
{
    span_checked(s);
    if (!s->bsize) {
        if (report)
            heap_report(HEAP_REPORT_NOT_ALLOCATED, "kfree(%p): nothing is allocated there", p);
        return false;
    }
    long i = span_block_index(s, p);
    uint8_t *start = i < 0 ? NULL : s->data + (uint64_t)i * s->bsize;
    if (i >= 0 && (uint32_t)i >= span_threaded(s) && (uint32_t)i < s->nblocks) {
        if (report) /* never handed out: no block is there yet */
            heap_report(HEAP_REPORT_NOT_ALLOCATED, "kfree(%p): nothing is allocated there", p);
        return false;
    }
    if (i < 0 || (uint32_t)i >= s->nblocks || start != (uint8_t *)p) {
        if (report)
            heap_report(HEAP_REPORT_INTERIOR,
                        "kfree(%p): interior pointer, %ld bytes into the %u-byte block at %p", p,
                        i < 0 ? 0 : (long)((uint8_t *)p - start), s->bsize, (void *)start);
        return false;
    }
    struct block *b = p;
    if (b->key == (s->key ^ (uintptr_t)b)) {
        if (report)
            heap_report(HEAP_REPORT_DOUBLE_FREE, "kfree(%p): double free of a %u-byte block", p,
                        s->bsize);
        return false;
    }
    unsigned cpu = arch_cpu_id();
    struct heap_cpu *c = &heap_cpus[cpu];
    b->key = s->key ^ (uintptr_t)b;
    if (s->owner == cpu) {
        struct block **h = span_head(s);
        b->next = *h;
        *h = b;
        if (!s->is_current)
            span_free_retired(c, s);
        return true;
    }
    /* Another CPU's span: push, then tell the owner if it had retired the span. */
    struct block *old = arch_atomic_load(&s->thread_free, ARCH_RELAXED);
    do {
        b->next = old;
        /* seq_cst: the free's half of the Dekker handshake with retire_full (push, then
         * look at full); its release half publishes b's words to collect's acquire */
    } while (!arch_atomic_cmpxchg(&s->thread_free, &old, b, ARCH_SEQ_CST, ARCH_RELAXED));
    uint8_t zero = 0;
    /* seq_cst: the handshake's load. acq_rel: one free notifies per retirement;
     * acquire pairs with take_remote's release of notified, release orders the push
     * above before the owner takes the span */
    if (arch_atomic_load(&s->full, ARCH_SEQ_CST) &&
        arch_atomic_cmpxchg(&s->notified, &zero, 1, ARCH_ACQ_REL, ARCH_RELAXED)) {
        struct heap_cpu *o = &heap_cpus[s->owner];
        struct span *head = arch_atomic_load(&o->remote, ARCH_RELAXED);
        do {
            s->remote_next = head;
            /* release: remote_next, written above, is seen by take_remote's acquire */
        } while (!arch_atomic_cmpxchg(&o->remote, &head, s, ARCH_RELEASE, ARCH_RELAXED));
    }
    return true;
}

static struct span *list_span(struct span *s, unsigned cpu, int cls, const char *list, uint64_t n)
{
    if (!s)
        return NULL;
    if (!heap_at_span(s) || n > AREA_CHUNKS + ARENA_SIZE / SPAN_SIZE)
        arch_panic("heap corruption: CPU %u's %s list of class %d links to %p, which is not a "
                   "span",
                   cpu, list, cls, (void *)s);
    if (span_checked(s)->owner != cpu || s->cls != cls)
        heap_corruption(s, "it is on CPU %u's %s list of class %d", cpu, list, cls);
    return s;
}

/* Quiescent only: return every span with no live block to the pool. */
void slab_trim(void)
{
    for (unsigned cpu = 0, ncpus = heap_cpus_used(); cpu < ncpus; cpu++) {
        struct heap_cpu *c = &heap_cpus[cpu];
        take_remote(c);
        for (int cls = 0; cls < NCLASSES; cls++) {
            struct span *keep = NULL, *s = c->partial[cls];
            c->partial[cls] = NULL;
            if (c->cur[cls]) {
                c->cur[cls]->is_current = 0;
                c->cur[cls]->next = s;
                s = c->cur[cls];
                c->cur[cls] = NULL;
                span_set_curh(c, cls, NULL);
            }
            for (uint64_t n = 0; list_span(s, cpu, cls, "partial", n); n++) {
                struct span *next = s->next;
                s->in_partial = 0;
                collect(s);
                if (span_free_blocks(s) == s->nblocks) {
                    heap_put_span(s);
                } else {
                    s->next = keep;
                    keep = s;
                }
                s = next;
            }
            for (s = keep; s; s = keep) {
                keep = s->next;
                partial_push(c, s);
            }
        }
    }
}
