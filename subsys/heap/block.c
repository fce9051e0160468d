/* block.c - what a pointer is in the heap, found once: the small block of a span, or
 * a large block, with its index, start and usable size (struct heap_block). The
 * layers above resolve a pointer here once and pass the answer down; this file also
 * picks where a fast-mode block of a size and alignment comes from. */
#include "heap_internal.h"
#include <arch/debug.h>

void *heap_raw_alloc(size_t size, size_t align)
{
    void *p;
    if (align <= HEAP_ALIGN && size <= HEAP_SMALL_MAX) {
        p = span_alloc(heap_class_of(size));
    } else if (size <= HEAP_SMALL_MAX && align <= HEAP_SMALL_MAX) {
        /* Power-of-two classes are aligned to their size. */
        size_t pow2 = 16;
        while (pow2 < size || pow2 < align)
            pow2 <<= 1;
        p = span_alloc(heap_class_of(pow2));
    } else {
        p = large_alloc(size, align);
    }
    if (!p) {
        heap_lock();
        heap_g.oom++;
        heap_unlock();
    }
    return p;
}

/* The chunk p is in (one lookup), the span or large block of it, and (for a span) the
 * block p is in. False, reported if `who`, when p is not in the heap, not in any
 * block, or (`exact`) misaligned for the start of a small block. */
static bool resolve(const void *p, const char *who, bool exact, struct heap_block *b)
{
    char what[96];
    *b = (struct heap_block){0};
    const uint8_t *kind = heap_chunk_of(p);
    if (!kind) {
        if (who)
            heap_report(HEAP_REPORT_NOT_HEAP, "%s(%p): %s", who, p,
                        arch_describe_address(p, what, sizeof(what)));
        return false;
    }
    b->in_heap = true;
    if (exact && !ARCH_IS_ALIGNED((uintptr_t)p, HEAP_ALIGN) && *kind != CHUNK_LARGE_TAIL &&
        *kind != CHUNK_LARGE_HEAD) {
        if (who)
            heap_report(HEAP_REPORT_INTERIOR, "%s(%p): misaligned, so not the start of a block",
                        who, p);
        return false;
    }
    switch (*kind) {
    case CHUNK_SPAN: {
        struct span *s = span_checked(p);
        b->span = s;
        b->index = s->bsize ? span_block_index(s, p) : -1;
        if (b->index >= 0) {
            b->start = s->data + (uint64_t)b->index * s->bsize;
            b->usable = s->bsize;
        }
        return true;
    }
    case CHUNK_LARGE_HEAD:
    case CHUNK_LARGE_TAIL: {
        struct large *l = large_checked(p);
        b->large = l;
        b->start = l->data;
        b->usable = l->usable;
        return true;
    }
    default:
        if (who)
            heap_report(HEAP_REPORT_NOT_ALLOCATED, "%s(%p): nothing is allocated there", who, p);
        return false;
    }
}

bool heap_block_containing(const void *p, struct heap_block *b)
{
    if (!resolve(p, NULL, false, b))
        return false;
    if (b->span)
        return b->index >= 0 && (uint32_t)b->index < span_threaded(b->span);
    return (const uint8_t *)p >= b->start && (const uint8_t *)p < b->start + b->usable;
}

bool heap_block_at(const void *p, const char *who, struct heap_block *b)
{
    if (!resolve(p, who, true, b))
        return false;
    if (b->large) {
        if (b->start != p) {
            heap_report(HEAP_REPORT_INTERIOR, "%s(%p): inside the large block at %p", who, p,
                        (void *)b->start);
            return false;
        }
        return true;
    }
    const struct span *s = b->span;
    if (b->index >= 0 && (uint32_t)b->index >= span_threaded(s) &&
        (uint32_t)b->index < s->nblocks) {
        heap_report(HEAP_REPORT_NOT_ALLOCATED, "%s(%p): nothing is allocated there", who, p);
        return false; /* a block never handed out, as kfree says */
    }
    if (b->index < 0 || (uint32_t)b->index >= s->nblocks || b->start != (const uint8_t *)p) {
        heap_report(HEAP_REPORT_INTERIOR, "%s(%p): not the start of a block", who, p);
        return false;
    }
    const struct block *k = p;
    if (k->key == (s->key ^ (uintptr_t)k)) {
        heap_report(HEAP_REPORT_NOT_ALLOCATED, "%s(%p): the block is free", who, p);
        return false;
    }
    return true;
}

bool heap_block_free(const struct heap_block *b, void *p, bool report)
{
    return b->span ? span_free(b->span, p, report) : large_free(b->large, p, report);
}

void heap_free_raw(void *p, const char *who)
{
    struct heap_block b;
    if (resolve(p, who, true, &b))
        heap_block_free(&b, p, true);
}
