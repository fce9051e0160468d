/* region.c - owned regions (a virtual range, its mappings, maybe its frames) and
 * typed views over them. */
#include "paging_internal.h"
#include <arch/io.h>
#include <arch/mem.h>
#include <arch/panic.h>

static enum pg_err region_map(struct pg_region *r, struct pg_space *as, bool alloc, phys_addr_t pa,
                              uint64_t size, uint64_t page_size, unsigned flags, const char *name)
{
    if (!r || !as || !as->live)
        return PG_ERR_NOT_INITIALISED;
    if (r->live)
        return PG_ERR_ALREADY_INITIALISED;
    if (!size)
        return PG_ERR_ZERO_SIZE;
    if (page_size != ARCH_PAGE_4K && page_size != ARCH_PAGE_2M && page_size != ARCH_PAGE_1G)
        return PG_ERR_COUNT_MISMATCH;
    if (!ARCH_IS_ALIGNED(size, page_size))
        return PG_ERR_MISALIGNED;
    struct pg_ret v = va_alloc(size, page_size);
    if (v.err)
        return v.err;
    struct pg_ret m = alloc ? pg_map_alloc_range(as, v.value, size, page_size, flags)
                            : pg_map_range(as, v.value, pa, size, page_size, flags);
    if (m.err) {
        va_free(v.value, size);
        return m.err;
    }
    arch_mm_annotate(v.value, size, name);
    *r = (struct pg_region){.as = as,
                            .va = v.value,
                            .size = size,
                            .page_size = page_size,
                            .flags = flags,
                            .owns_frames = alloc,
                            .live = true,
                            .gen = r->gen,
                            .name = name};
    return PG_OK;
}

enum pg_err pg_region_alloc(struct pg_region *r, struct pg_space *as, uint64_t size,
                            uint64_t page_size, unsigned flags, const char *name)
{
    return region_map(r, as, true, 0, size, page_size, flags, name);
}

enum pg_err pg_region_map_frames(struct pg_region *r, struct pg_space *as, phys_addr_t pa,
                                 uint64_t size, uint64_t page_size, unsigned flags,
                                 const char *name)
{
    return region_map(r, as, false, pa, size, page_size, flags, name);
}

enum pg_err pg_region_release(struct pg_region *r)
{
    if (!r || !r->as)
        return PG_ERR_NOT_INITIALISED;
    if (!r->live)
        return PG_ERR_RELEASED;
    struct pg_ret u = pg_unmap_range(r->as, r->va, r->size, r->page_size);
    if (u.err)
        return u.err; /* someone unmapped part of it behind the region's back */
    if (va_free(r->va, r->size) != PG_OK)
        arch_panic("pg_region_release: region '%s' at 0x%lx lost its virtual range", r->name,
                   r->va);
    r->live = false;
    r->gen++;
    return PG_OK;
}

enum pg_err pg_region_split(struct pg_region *r, uint64_t offset, struct pg_region *tail)
{
    if (!r || !tail)
        return PG_ERR_NOT_INITIALISED;
    if (!r->live)
        return PG_ERR_RELEASED;
    if (tail->live)
        return PG_ERR_ALREADY_INITIALISED;
    if (!offset || offset >= r->size)
        return PG_ERR_COUNT_MISMATCH;
    if (!ARCH_IS_ALIGNED(offset, r->page_size))
        return PG_ERR_MISALIGNED;
    enum pg_err err = va_split(r->va, r->va + offset);
    if (err)
        return err;
    *tail = *r;
    tail->va = r->va + offset;
    tail->size = r->size - offset;
    tail->gen = 0;
    r->size = offset;
    r->gen++; /* views of the old whole may reach past the new end */
    return PG_OK;
}

enum pg_err pg_region_merge(struct pg_region *a, struct pg_region *b)
{
    if (!a || !b)
        return PG_ERR_NOT_INITIALISED;
    if (!a->live || !b->live)
        return PG_ERR_RELEASED;
    if (a == b)
        return PG_ERR_ADDR_NOT_FREE;
    if (a->as != b->as)
        return PG_ERR_WRONG_ADDRESS_SPACE;
    if (a->va + a->size != b->va || a->page_size != b->page_size || a->flags != b->flags ||
        a->owns_frames != b->owns_frames)
        return PG_ERR_COUNT_MISMATCH;
    enum pg_err err = va_join(a->va, b->va);
    if (err)
        return err;
    a->size += b->size;
    b->live = false;
    b->gen++;
    return PG_OK;
}

/* ---- views ---- */

enum pg_err pg_view_get(const struct pg_region *r, uint64_t offset, uint64_t size, uint64_t align,
                        bool mutable_, struct pg_view *v)
{
    if (!r || !v)
        return PG_ERR_NOT_INITIALISED;
    if (!r->live)
        return PG_ERR_RELEASED;
    if (!size)
        return PG_ERR_ZERO_SIZE;
    /* Overflow-safe: offset <= size of region, then the rest must hold `size`. */
    if (offset > r->size || size > r->size - offset)
        return PG_ERR_OUT_OF_BOUNDS;
    if (!align || (align & (align - 1)) || !ARCH_IS_ALIGNED(r->va + offset, align))
        return PG_ERR_MISALIGNED;
    if (mutable_ && !(r->flags & PG_WRITE))
        return PG_ERR_READ_ONLY;
    *v = (struct pg_view){.r = r,
                          .gen = r->gen,
                          .offset = offset,
                          .size = size,
                          .mutable_ = mutable_,
                          .ptr = (volatile void *)(uintptr_t)(r->va + offset)};
    return PG_OK;
}

static volatile uint8_t *access(const struct pg_view *v, uint64_t off, unsigned width, bool write)
{
    const struct pg_region *r = v->r;
    if (!r || !r->live || r->gen != v->gen)
        arch_panic("pg_view: view of region '%s' used after the region was released or resized",
                   r ? r->name : "?");
    if (off > v->size || width > v->size - off)
        arch_panic("pg_view: %u-byte access at +0x%lx outside the view of '%s' (0x%lx bytes)",
                   width, off, r->name, v->size);
    if (!ARCH_IS_ALIGNED((uintptr_t)v->ptr + off, width))
        arch_panic("pg_view: misaligned %u-byte access at +0x%lx in '%s'", width, off, r->name);
    if (write && !v->mutable_)
        arch_panic("pg_view: write through a read-only view of '%s'", r->name);
    return (volatile uint8_t *)v->ptr + off;
}

uint32_t pg_view_read32(const struct pg_view *v, uint64_t off)
{
    return arch_mmio_read32(access(v, off, 4, false));
}

void pg_view_write32(const struct pg_view *v, uint64_t off, uint32_t val)
{
    arch_mmio_write32(access(v, off, 4, true), val);
}

uint64_t pg_view_read64(const struct pg_view *v, uint64_t off)
{
    return arch_mmio_read64(access(v, off, 8, false));
}

void pg_view_write64(const struct pg_view *v, uint64_t off, uint64_t val)
{
    arch_mmio_write64(access(v, off, 8, true), val);
}

volatile void *pg_view_ptr(const struct pg_view *v)
{
    return access(v, 0, 1, false);
}

const char *pg_strerror(enum pg_err err)
{
    static const char *const names[PG_ERR_COUNT_] = {
        [PG_OK] = "ok",
        [PG_ERR_ADDR_NOT_FREE] = "address not free",
        [PG_ERR_ADDR_NOT_FOUND] = "address not found",
        [PG_ERR_OUT_OF_ADDRESS_SPACE] = "out of address space",
        [PG_ERR_NO_CONTIGUOUS] = "no contiguous chunk",
        [PG_ERR_ZERO_SIZE] = "zero size",
        [PG_ERR_NOT_INITIALISED] = "not initialised",
        [PG_ERR_ALREADY_INITIALISED] = "already initialised",
        [PG_ERR_PAGE_ALREADY_MAPPED] = "page already mapped",
        [PG_ERR_PAGE_NOT_MAPPED] = "page not mapped",
        [PG_ERR_PARENT_HUGE] = "parent entry is a huge page",
        [PG_ERR_INVALID_FRAME] = "invalid frame address",
        [PG_ERR_COUNT_MISMATCH] = "count mismatch",
        [PG_ERR_WRONG_ADDRESS_SPACE] = "wrong address space",
        [PG_ERR_MISALIGNED] = "misaligned",
        [PG_ERR_NON_CANONICAL] = "non-canonical address",
        [PG_ERR_OVERFLOW] = "size overflows",
        [PG_ERR_NO_MEMORY] = "out of memory",
        [PG_ERR_FRAME_ALREADY_MAPPED] = "frame already mapped",
        [PG_ERR_WRITE_EXEC] = "writable and executable",
        [PG_ERR_FRAME_NOT_ALLOCATED] = "frame not allocated",
        [PG_ERR_FRAME_IN_USE] = "frame in use",
        [PG_ERR_OUT_OF_BOUNDS] = "out of bounds",
        [PG_ERR_READ_ONLY] = "read-only",
        [PG_ERR_RELEASED] = "region released",
    };
    return (unsigned)err < PG_ERR_COUNT_ && names[err] ? names[err] : "unknown error";
}
