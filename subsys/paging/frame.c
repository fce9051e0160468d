/* frame.c - the physical frame allocator: every usable RAM frame owned exactly once.
 *
 * One 16-bit word per 4 KiB frame: 2 bits of state, 1 bit "owned by its mapping",
 * 13 bits of count (map count of an allocated frame, present entries of a table).
 * The words live in RAM carved from the first usable range large enough, so the
 * allocator runs before any heap. */
#include "paging_internal.h"
#include <arch/mem.h>
#include <arch/panic.h>

#define STATE(w)   ((enum frame_state)((w) >> 14))
#define OWNED      0x2000u
#define COUNT(w)   ((unsigned)((w)&FRAME_COUNT_MAX))
#define WORD(s, c) ((uint16_t)(((unsigned)(s) << 14) | (c)))

static struct {
    bool ready;
    uint16_t *words;
    uint64_t n;           /* frames described: [0, n * 4K) */
    uint64_t hint;        /* where the next single-frame search starts */
    uint64_t fail_after;  /* injected failure countdown; UINT64_MAX: off */
    uint64_t tables_left; /* the same for page tables */
    struct frame_stats st;
} fa;

static uint64_t idx(phys_addr_t pa)
{
    return pa >> ARCH_PAGE_SHIFT;
}

bool frame_initialised(void)
{
    return fa.ready;
}

enum pg_err frame_init(void)
{
    if (fa.ready)
        return PG_ERR_ALREADY_INITIALISED;
    size_t n;
    const struct arch_mem_range *r = arch_mem_ranges(&n);
    uint64_t end = 0;
    for (size_t i = 0; i < n; i++) {
        if (r[i].base + r[i].size > end)
            end = r[i].base + r[i].size;
    }
    uint64_t frames = end >> ARCH_PAGE_SHIFT;
    uint64_t bytes = ARCH_ALIGN_UP(frames * sizeof(uint16_t), ARCH_PAGE_4K);
    phys_addr_t book = 0;
    for (size_t i = 0; i < n && !book; i++) {
        if (r[i].type == ARCH_MEM_USABLE && r[i].size >= bytes + ARCH_PAGE_4K)
            book = r[i].base;
    }
    if (!frames || !book)
        return PG_ERR_NO_MEMORY;
    fa.words = arch_phys_to_virt(book);
    fa.n = frames;
    for (uint64_t f = 0; f < frames; f++)
        fa.words[f] = WORD(FS_UNMANAGED, 0);
    fa.st = (struct frame_stats){0};
    for (size_t i = 0; i < n; i++) {
        if (r[i].type != ARCH_MEM_USABLE)
            continue;
        for (phys_addr_t pa = r[i].base; pa < r[i].base + r[i].size; pa += ARCH_PAGE_4K) {
            if (pa >= book && pa < book + bytes)
                continue; /* the bookkeeping itself */
            fa.words[idx(pa)] = WORD(FS_FREE, 0);
            fa.st.managed++;
            fa.st.free++;
        }
    }
    for (size_t i = 0; i < n; i++) {
        if (r[i].type == ARCH_MEM_USABLE)
            arch_mm_frames(r[i].base, r[i].size, false);
    }
    arch_mm_frames(book, bytes, true);
    fa.hint = 0;
    fa.fail_after = UINT64_MAX;
    fa.tables_left = UINT64_MAX;
    fa.ready = true;
    return PG_OK;
}

enum frame_state frame_state_of(phys_addr_t pa)
{
    return fa.ready && idx(pa) < fa.n ? STATE(fa.words[idx(pa)]) : FS_UNMANAGED;
}

unsigned frame_count_of(phys_addr_t pa)
{
    return fa.ready && idx(pa) < fa.n ? COUNT(fa.words[idx(pa)]) : 0;
}

bool frame_owned(phys_addr_t pa)
{
    return fa.ready && idx(pa) < fa.n && STATE(fa.words[idx(pa)]) == FS_ALLOCATED &&
           (fa.words[idx(pa)] & OWNED);
}

phys_addr_t frame_end(void)
{
    return fa.ready ? fa.n << ARCH_PAGE_SHIFT : 0;
}

uint64_t frame_free_count(void)
{
    return fa.st.free;
}

ARCH_BULK static void take(uint64_t first, uint64_t count, enum frame_state s)
{
    for (uint64_t f = first; f < first + count; f++) {
        ARCH_BUG_ON(STATE(fa.words[f]) != FS_FREE);
        fa.words[f] = WORD(s, 0);
    }
    arch_mm_frames(first << ARCH_PAGE_SHIFT, count << ARCH_PAGE_SHIFT, true);
    fa.st.free -= count;
    if (s == FS_TABLE)
        fa.st.tables += count;
    else
        fa.st.allocated += count;
}

static struct pg_ret alloc_contig(uint64_t count, uint64_t align, bool injectable);

/* The first frame of [first, end) that is not free, or end. */
ARCH_BULK static uint64_t first_not_free(uint64_t first, uint64_t end)
{
    uint64_t g = first;
    while (g < end && STATE(fa.words[g]) == FS_FREE)
        g++;
    return g;
}

/* Why [first, end) cannot be freed (a frame not allocated, or mapped), or PG_OK. */
ARCH_BULK static enum pg_err range_unfreeable(uint64_t first, uint64_t end)
{
    for (uint64_t f = first; f < end; f++) {
        uint16_t w = fa.words[f];
        if (STATE(w) != FS_ALLOCATED)
            return PG_ERR_FRAME_NOT_ALLOCATED;
        if (COUNT(w))
            return PG_ERR_FRAME_IN_USE;
    }
    return PG_OK;
}

ARCH_BULK static void set_free(uint64_t first, uint64_t end)
{
    for (uint64_t f = first; f < end; f++)
        fa.words[f] = WORD(FS_FREE, 0);
}

struct pg_ret frame_alloc_contig(uint64_t count, uint64_t align)
{
    return alloc_contig(count, align, true);
}

/* Tables are exempt from frame_fail_after: the mapper counts them in its check pass,
 * and a failure in its commit pass would break validate-then-commit. Their own
 * injection (frame_fail_tables_after) is one the check pass can see coming. */
static struct pg_ret alloc_contig(uint64_t count, uint64_t align, bool injectable)
{
    if (!fa.ready)
        return (struct pg_ret){PG_ERR_NOT_INITIALISED, 0};
    if (!count)
        return (struct pg_ret){PG_ERR_ZERO_SIZE, 0};
    if (align < ARCH_PAGE_4K || (align & (align - 1)))
        return (struct pg_ret){PG_ERR_MISALIGNED, align};
    if (count > fa.st.free || (injectable && fa.fail_after == 0))
        return (struct pg_ret){count == 1 ? PG_ERR_NO_MEMORY : PG_ERR_NO_CONTIGUOUS, 0};
    uint64_t step = align >> ARCH_PAGE_SHIFT;
    uint64_t start = (count == 1 && step == 1) ? fa.hint : 0;
    for (uint64_t pass = 0; pass < 2; pass++) {
        for (uint64_t f = ARCH_ALIGN_UP(start, step); f + count <= fa.n;) {
            uint64_t bad = first_not_free(f, f + count);
            if (bad == f + count) {
                take(f, count, FS_ALLOCATED);
                if (count == 1)
                    fa.hint = f + 1;
                if (injectable && fa.fail_after != UINT64_MAX)
                    fa.fail_after--; /* counts the allocations that succeed */
                return (struct pg_ret){PG_OK, f << ARCH_PAGE_SHIFT};
            }
            f = ARCH_ALIGN_UP(bad + 1, step); /* nothing that overlaps `bad` can fit */
        }
        if (!start)
            break;
        start = 0; /* wrap around once */
    }
    return (struct pg_ret){count == 1 ? PG_ERR_NO_MEMORY : PG_ERR_NO_CONTIGUOUS, 0};
}

void frame_fail_after(uint64_t n)
{
    fa.fail_after = n;
}

void frame_fail_tables_after(uint64_t n)
{
    fa.tables_left = n;
}

uint64_t frame_tables_left(void)
{
    return fa.tables_left;
}

struct pg_ret frame_alloc(uint64_t size)
{
    if (size != ARCH_PAGE_4K && size != ARCH_PAGE_2M && size != ARCH_PAGE_1G)
        return (struct pg_ret){size ? PG_ERR_COUNT_MISMATCH : PG_ERR_ZERO_SIZE, size};
    return frame_alloc_contig(size >> ARCH_PAGE_SHIFT, size);
}

/* Checks shared by alloc_at and free: alignment, size, range. */
static enum pg_err check_range(phys_addr_t pa, uint64_t size)
{
    if (!fa.ready)
        return PG_ERR_NOT_INITIALISED;
    if (!size)
        return PG_ERR_ZERO_SIZE;
    if (!ARCH_IS_ALIGNED(pa, ARCH_PAGE_4K) || !ARCH_IS_ALIGNED(size, ARCH_PAGE_4K))
        return PG_ERR_MISALIGNED;
    if (pa + size < pa)
        return PG_ERR_OVERFLOW;
    if (idx(pa + size - 1) >= fa.n)
        return PG_ERR_INVALID_FRAME;
    return PG_OK;
}

enum pg_err frame_alloc_at(phys_addr_t pa, uint64_t size)
{
    enum pg_err err = check_range(pa, size);
    if (err)
        return err;
    for (uint64_t f = idx(pa); f < idx(pa + size); f++) {
        enum frame_state s = STATE(fa.words[f]);
        if (s == FS_UNMANAGED)
            return PG_ERR_INVALID_FRAME;
        if (s != FS_FREE)
            return PG_ERR_ADDR_NOT_FREE;
    }
    take(idx(pa), size >> ARCH_PAGE_SHIFT, FS_ALLOCATED);
    return PG_OK;
}

enum pg_err frame_free(phys_addr_t pa, uint64_t size)
{
    enum pg_err err = check_range(pa, size);
    if (err)
        return err == PG_ERR_INVALID_FRAME ? PG_ERR_FRAME_NOT_ALLOCATED : err;
    if ((err = range_unfreeable(idx(pa), idx(pa + size))))
        return err;
    set_free(idx(pa), idx(pa + size));
    arch_mm_frames(pa, size, false);
    fa.st.free += size >> ARCH_PAGE_SHIFT;
    fa.st.allocated -= size >> ARCH_PAGE_SHIFT;
    if (idx(pa) < fa.hint)
        fa.hint = idx(pa);
    return PG_OK;
}

ARCH_BULK void frame_map_get(phys_addr_t pa, uint64_t n, bool owned)
{
    for (uint64_t f = idx(pa); f < idx(pa) + n; f++) {
        uint16_t w = fa.words[f];
        ARCH_BUG_ON(STATE(w) != FS_ALLOCATED || COUNT(w) == FRAME_COUNT_MAX || (w & OWNED) ||
                    (owned && COUNT(w)));
        if (!COUNT(w))
            fa.st.mapped++;
        fa.words[f] = (uint16_t)((w + 1) | (owned ? OWNED : 0));
    }
}

ARCH_BULK void frame_map_put(phys_addr_t pa, uint64_t n)
{
    for (uint64_t f = idx(pa); f < idx(pa) + n; f++) {
        uint16_t w = fa.words[f];
        if (STATE(w) != FS_ALLOCATED || !COUNT(w))
            arch_panic("frame_map_put: frame 0x%lx is not mapped (state %u)", f << ARCH_PAGE_SHIFT,
                       (unsigned)STATE(w));
        if (COUNT(w) == 1) {
            fa.st.mapped--;
            w &= ~OWNED; /* the owner was the last mapping */
        }
        fa.words[f] = (uint16_t)(w - 1);
    }
}

phys_addr_t frame_table_alloc(void)
{
    if (!fa.tables_left)
        return 0;
    struct pg_ret r = alloc_contig(1, ARCH_PAGE_4K, false);
    if (r.err)
        return 0;
    if (fa.tables_left != UINT64_MAX)
        fa.tables_left--;
    uint64_t f = idx(r.value);
    fa.words[f] = WORD(FS_TABLE, 0);
    fa.st.allocated--;
    fa.st.tables++;
    __builtin_memset(arch_phys_to_virt(r.value), 0, ARCH_PAGE_4K);
    return r.value;
}

void frame_table_free(phys_addr_t pa)
{
    uint16_t w = fa.words[idx(pa)];
    if (STATE(w) != FS_TABLE || COUNT(w))
        arch_panic("frame_table_free: 0x%lx is not an empty table (state %u, %u entries)", pa,
                   (unsigned)STATE(w), COUNT(w));
    fa.words[idx(pa)] = WORD(FS_FREE, 0);
    arch_mm_frames(pa, ARCH_PAGE_4K, false);
    fa.st.tables--;
    fa.st.free++;
    if (idx(pa) < fa.hint)
        fa.hint = idx(pa);
}

unsigned frame_table_adjust(phys_addr_t pa, int delta)
{
    uint16_t w = fa.words[idx(pa)];
    int c = (int)COUNT(w) + delta;
    if (STATE(w) != FS_TABLE || c < 0 || c > PTE_ENTRIES)
        arch_panic("frame_table_adjust: table 0x%lx: state %u, count %u, change %d", pa,
                   (unsigned)STATE(w), COUNT(w), delta);
    fa.words[idx(pa)] = WORD(FS_TABLE, (unsigned)c);
    return (unsigned)c;
}

void frame_get_stats(struct frame_stats *out)
{
    *out = fa.st;
}

/* Not under ASan or UBSan either: it reads the allocator's own words, page aligned,
 * within their bound, and is most of what a fuzzer that calls it often spends (UBSan's
 * pointer and alignment checks were most of its loop: paging_ops 1.09x without). */
ARCH_CHECKER __attribute__((no_sanitize("address", "undefined"))) bool frame_valid(void)
{
    if (!fa.ready)
        return false;
    struct frame_stats c = {0};
    const uint64_t free4 = UINT64_C(0x0001000100010001) * WORD(FS_FREE, 0);
    for (uint64_t f = 0; f < fa.n; f++) {
        /* Runs of free or unmanaged frames, sixteen (32 bytes) a step: most of a
         * machine is one or the other. The words are page aligned. */
        while (!(f & 15) && f + 16 <= fa.n) {
            const uint64_t *q = (const uint64_t *)(const void *)&fa.words[f];
            uint64_t a = q[0], b = q[1], d = q[2], e = q[3];
            if (a == free4 && b == free4 && d == free4 && e == free4)
                c.free += 16;
            else if (!(a | b | d | e))
                ;
            else
                break;
            f += 16;
        }
        if (f >= fa.n)
            break;
        uint16_t w = fa.words[f];
        switch (STATE(w)) {
        case FS_UNMANAGED:
            if (w & (OWNED | FRAME_COUNT_MAX))
                return false;
            break;
        case FS_FREE:
            if (w & (OWNED | FRAME_COUNT_MAX))
                return false;
            c.free++;
            break;
        case FS_ALLOCATED:
            if ((w & OWNED) && COUNT(w) != 1)
                return false; /* an owned frame has its owner's mapping and no other */
            c.allocated++;
            c.mapped += COUNT(w) != 0;
            break;
        case FS_TABLE:
            if (COUNT(w) > PTE_ENTRIES || (w & OWNED))
                return false;
            c.tables++;
            break;
        }
    }
    return c.free == fa.st.free && c.allocated == fa.st.allocated && c.mapped == fa.st.mapped &&
           c.tables == fa.st.tables && c.free + c.allocated + c.tables == fa.st.managed;
}
