/* vaddr.c - kernel virtual ranges in the seam's window. A sorted static table of the
 * live allocations; free space is whatever lies between them. */
#include "paging_internal.h"
#include <arch/mem.h>

struct extent {
    uint64_t va, size;
};

static struct {
    bool ready;
    uint64_t lo, hi;
    size_t n;
    struct extent e[VA_MAX_RANGES];
} vs;

enum pg_err va_init(void)
{
    if (vs.ready)
        return PG_ERR_ALREADY_INITIALISED;
    struct arch_kva_window w = arch_kva_window();
    vs.lo = w.base;
    vs.hi = w.base + w.size;
    vs.n = 0;
    vs.ready = true;
    return PG_OK;
}

/* Index of the first extent ending after va. */
static size_t lower(uint64_t va)
{
    size_t a = 0, b = vs.n;
    while (a < b) {
        size_t m = (a + b) / 2;
        if (vs.e[m].va + vs.e[m].size <= va)
            a = m + 1;
        else
            b = m;
    }
    return a;
}

static enum pg_err check(uint64_t va, uint64_t size, uint64_t align)
{
    if (!vs.ready)
        return PG_ERR_NOT_INITIALISED;
    if (!size)
        return PG_ERR_ZERO_SIZE;
    if (align < ARCH_PAGE_4K || (align & (align - 1)) || !ARCH_IS_ALIGNED(size, ARCH_PAGE_4K) ||
        !ARCH_IS_ALIGNED(va, ARCH_PAGE_4K))
        return PG_ERR_MISALIGNED;
    if (va + size < va)
        return PG_ERR_OVERFLOW;
    return PG_OK;
}

static struct pg_ret insert(size_t at, uint64_t va, uint64_t size)
{
    if (vs.n == VA_MAX_RANGES)
        return (struct pg_ret){PG_ERR_OUT_OF_ADDRESS_SPACE, 0};
    for (size_t i = vs.n; i > at; i--)
        vs.e[i] = vs.e[i - 1];
    vs.e[at] = (struct extent){va, size};
    vs.n++;
    return (struct pg_ret){PG_OK, va};
}

struct pg_ret va_alloc_within(uint64_t lo, uint64_t hi, uint64_t size, uint64_t align)
{
    enum pg_err err = check(0, size, align);
    if (err)
        return (struct pg_ret){err, 0};
    if (lo < vs.lo)
        lo = vs.lo;
    if (hi > vs.hi || hi < lo)
        hi = hi < lo ? lo : vs.hi;
    /* First fit over the gaps, in address order. */
    uint64_t cand = ARCH_ALIGN_UP(lo, align);
    for (size_t i = lower(lo); cand >= lo; i++) {
        uint64_t gap_end = i < vs.n ? vs.e[i].va : hi;
        if (gap_end > hi)
            gap_end = hi;
        if (cand <= gap_end && gap_end - cand >= size)
            return insert(i, cand, size);
        if (i >= vs.n || vs.e[i].va >= hi)
            break;
        uint64_t next = ARCH_ALIGN_UP(vs.e[i].va + vs.e[i].size, align);
        if (next > cand)
            cand = next;
    }
    return (struct pg_ret){PG_ERR_OUT_OF_ADDRESS_SPACE, 0};
}

struct pg_ret va_alloc(uint64_t size, uint64_t align)
{
    return va_alloc_within(vs.lo, vs.hi, size, align);
}

struct pg_ret va_alloc_at(uint64_t va, uint64_t size)
{
    enum pg_err err = check(va, size, ARCH_PAGE_4K);
    if (err)
        return (struct pg_ret){err, va};
    if (va < vs.lo || va + size > vs.hi)
        return (struct pg_ret){PG_ERR_OUT_OF_ADDRESS_SPACE, va};
    size_t i = lower(va);
    if (i < vs.n && vs.e[i].va < va + size)
        return (struct pg_ret){PG_ERR_ADDR_NOT_FREE, vs.e[i].va};
    return insert(i, va, size);
}

static size_t find(uint64_t va)
{
    size_t i = lower(va);
    return i < vs.n && vs.e[i].va == va ? i : vs.n;
}

enum pg_err va_free(uint64_t va, uint64_t size)
{
    enum pg_err err = check(va, size, ARCH_PAGE_4K);
    if (err)
        return err;
    size_t i = find(va);
    if (i == vs.n)
        return PG_ERR_ADDR_NOT_FOUND;
    if (vs.e[i].size != size)
        return PG_ERR_COUNT_MISMATCH;
    for (; i + 1 < vs.n; i++)
        vs.e[i] = vs.e[i + 1];
    vs.n--;
    return PG_OK;
}

enum pg_err va_split(uint64_t va, uint64_t at)
{
    if (!vs.ready)
        return PG_ERR_NOT_INITIALISED;
    size_t i = find(va);
    if (i == vs.n)
        return PG_ERR_ADDR_NOT_FOUND;
    if (!ARCH_IS_ALIGNED(at, ARCH_PAGE_4K))
        return PG_ERR_MISALIGNED;
    if (at <= va || at >= va + vs.e[i].size)
        return PG_ERR_COUNT_MISMATCH;
    uint64_t end = va + vs.e[i].size;
    struct pg_ret r = insert(i + 1, at, end - at);
    if (r.err)
        return r.err;
    vs.e[i].size = at - va;
    return PG_OK;
}

enum pg_err va_join(uint64_t va, uint64_t next)
{
    if (!vs.ready)
        return PG_ERR_NOT_INITIALISED;
    size_t i = find(va), j = find(next);
    if (i == vs.n || j == vs.n)
        return PG_ERR_ADDR_NOT_FOUND;
    if (j != i + 1 || vs.e[i].va + vs.e[i].size != next)
        return PG_ERR_COUNT_MISMATCH;
    vs.e[i].size += vs.e[j].size;
    for (; j + 1 < vs.n; j++)
        vs.e[j] = vs.e[j + 1];
    vs.n--;
    return PG_OK;
}

uint64_t va_allocated_bytes(void)
{
    uint64_t sum = 0;
    for (size_t i = 0; i < vs.n; i++)
        sum += vs.e[i].size;
    return sum;
}

ARCH_CHECKER bool va_valid(void)
{
    for (size_t i = 0; i < vs.n; i++) {
        if (!vs.e[i].size || vs.e[i].va < vs.lo || vs.e[i].va + vs.e[i].size > vs.hi)
            return false;
        if (i && vs.e[i - 1].va + vs.e[i - 1].size > vs.e[i].va)
            return false;
    }
    return vs.ready;
}
