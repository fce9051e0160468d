/* large.c - blocks above HEAP_SMALL_MAX: their own pages, one 64 KiB-aligned chunk
 * run of the heap's area each, with the header at the start of the first chunk. */
#include "heap_internal.h"
#include <arch/cpu.h>
#include <arch/debug.h>
#include <arch/mem.h>
#include <arch/panic.h>
#include <paging/paging.h>

#define HDR 64 /* header size, and the data offset for ordinary alignment */

void *large_alloc(size_t size, size_t align)
{
    if (!heap_g.paging) {
        heap_report(HEAP_REPORT_EARLY_OOM,
                    "kmalloc(%zu): large blocks need paging, and the heap has no pages yet", size);
        return NULL;
    }
    if (align > ARCH_PAGE_1G)
        return NULL;
    uint64_t off = align > HDR ? align : HDR;
    uint64_t chunk_align = align > SPAN_SIZE ? align : SPAN_SIZE;
    if (size > AREA_SIZE)
        return NULL;
    uint64_t mapped = ARCH_ALIGN_UP(off + size, ARCH_PAGE_4K);
    uint64_t span = ARCH_ALIGN_UP(mapped, SPAN_SIZE); /* whole chunks of the area */
    heap_lock();
    long at = heap_area_find(span / SPAN_SIZE, chunk_align / SPAN_SIZE);
    struct pg_ret va = {PG_ERR_OUT_OF_ADDRESS_SPACE, 0}, m = va;
    if (at >= 0) {
        va = (struct pg_ret){PG_OK, heap_g.area + (uint64_t)at * SPAN_SIZE};
        m = pg_map_alloc_range(heap_g.as, va.value, mapped, ARCH_PAGE_4K, PG_WRITE);
    }
    if (!m.err) {
        uint64_t first = (va.value - heap_g.area) / SPAN_SIZE, n = span / SPAN_SIZE;
        for (uint64_t i = 0; i < n; i++)
            heap_g.chunk[first + i] = i ? CHUNK_LARGE_TAIL : CHUNK_LARGE_HEAD;
        heap_chunks_used(first + n);
        struct large *l = (struct large *)(uintptr_t)va.value;
        *l = (struct large){.magic = LARGE_MAGIC ^ (uintptr_t)l,
                            .data = (uint8_t *)l + off,
                            .size = size,
                            .usable = mapped - off,
                            .mapped = mapped,
                            .chunks = (uint32_t)n};
        heap_g.large_blocks++;
        heap_g.large_live_bytes += l->usable;
        heap_g.mapped_bytes += mapped;
        arch_mm_annotate(va.value, mapped, "kernel heap (large block)");
    }
    heap_unlock();
    if (m.err)
        return NULL;
    struct large *l = (struct large *)(uintptr_t)va.value;
    return l->data;
}

struct large *large_of(const void *p)
{
    uint8_t *kind = heap_chunk_of(p);
    uintptr_t a = (uintptr_t)p & ~(SPAN_SIZE - 1);
    while (*kind == CHUNK_LARGE_TAIL) {
        kind--;
        a -= SPAN_SIZE;
    }
    return (struct large *)a;
}

/* The header agrees with the chunk map (which no heap user can write) and with
 * itself: a stray write over it is heap corruption, not a size to believe. */
struct large *large_checked(const void *p)
{
    struct large *l = large_of(p);
    uint64_t first = (uintptr_t)l - heap_g.area, n = 1;
    while (first / SPAN_SIZE + n < AREA_CHUNKS &&
           heap_g.chunk[first / SPAN_SIZE + n] == CHUNK_LARGE_TAIL)
        n++;
    uint64_t off = (uint64_t)(l->data - (uint8_t *)l);
    if (l->magic != (LARGE_MAGIC ^ (uintptr_t)l) || l->chunks != n || off < HDR ||
        (off & (off - 1)) || l->mapped > n * SPAN_SIZE || l->mapped <= (n - 1) * SPAN_SIZE ||
        l->usable != l->mapped - off || l->size > l->usable)
        arch_panic("heap corruption: the header of the large block at %p was overwritten (magic "
                   "0x%lx, %lu bytes, %u chunks where the chunk map has %lu)",
                   (void *)l, l->magic, l->size, l->chunks, n);
    return l;
}

bool large_free(struct large *l, void *p, bool report)
{
    large_checked(l);
    if (l->data != p) {
        if (report)
            heap_report(HEAP_REPORT_INTERIOR,
                        "kfree(%p): interior pointer into the %lu-byte block at %p", p, l->size,
                        (void *)l->data);
        return false;
    }
    heap_lock();
    /* Everything needed from the header is read now: unmapping takes it away. */
    uint64_t va = (uintptr_t)l, mapped = l->mapped, usable = l->usable;
    uint64_t first = (va - heap_g.area) / SPAN_SIZE;
    for (uint64_t i = 0; i < l->chunks; i++)
        heap_g.chunk[first + i] = CHUNK_NONE;
    l->magic = 0;
    struct pg_ret u = pg_unmap_range(heap_g.as, va, mapped, ARCH_PAGE_4K);
    if (u.err)
        arch_panic("kfree: large block at 0x%lx would not unmap: %s (0x%lx)", va,
                   pg_strerror(u.err), u.value);
    heap_g.large_blocks--;
    heap_g.large_live_bytes -= usable;
    heap_g.mapped_bytes -= mapped;
    heap_unlock();
    return true;
}

ARCH_CHECKER bool large_valid(void)
{
    uint64_t n = 0;
    const uint8_t *kinds;
    uintptr_t base;
    size_t used = heap_chunk_range(false, &kinds, &base);
    for (size_t i = 0; i < used; i++) {
        if (kinds[i] != CHUNK_LARGE_HEAD)
            continue;
        const struct large *l = (const struct large *)(heap_g.area + i * SPAN_SIZE);
        if (l->magic != (LARGE_MAGIC ^ (uintptr_t)l) || l->usable < l->size || !l->chunks ||
            i + l->chunks > used)
            return false;
        for (uint32_t k = 1; k < l->chunks; k++) {
            if (heap_g.chunk[i + k] != CHUNK_LARGE_TAIL)
                return false;
        }
        n++;
    }
    return n == heap_g.large_blocks;
}
