/* region.c - owned regions (a virtual range, its mappings, maybe its frames) and
 * typed views over them.
 *
 * The mapper keeps a record of every live region; a caller's struct pg_region holds
 * the record's id and a copy of what it said. Every call goes by the id, so a stale
 * copy can neither release nor reach a region that reused its range. */
#include "paging_internal.h"
#include <arch/console.h>
#include <arch/debug.h>
#include <arch/io.h>
#include <arch/mem.h>
#include <arch/panic.h>

#define SLOT_BITS 16
ARCH_STATIC_ASSERT(PG_MAX_REGIONS <= (1u << SLOT_BITS), "a slot fits in an id's low bits");

struct record {
    uint64_t id; /* 0: the slot is free */
    struct pg_space *as;
    uint64_t va, size, page_size;
    unsigned flags;
    bool owns_frames;
    const char *name;
};

static struct record rec[PG_MAX_REGIONS];
static uint64_t next_gen = 1;

static struct record *lookup(uint64_t id)
{
    uint64_t slot = id & ((1u << SLOT_BITS) - 1);
    return id && slot < PG_MAX_REGIONS && rec[slot].id == id ? &rec[slot] : NULL;
}

static struct record *free_slot(void)
{
    for (size_t i = 0; i < PG_MAX_REGIONS; i++) {
        if (!rec[i].id)
            return &rec[i];
    }
    return NULL;
}

/* A fresh id for the record: any id it had before is stale from now on. */
static void renew(struct record *x)
{
    x->id = next_gen++ << SLOT_BITS | (uint64_t)(x - rec);
}

/* Give the caller's struct what the record says. */
static void describe(struct pg_region *r, const struct record *x)
{
    *r = (struct pg_region){.id = x->id,
                            .as = x->as,
                            .va = x->va,
                            .size = x->size,
                            .page_size = x->page_size,
                            .flags = x->flags,
                            .owns_frames = x->owns_frames,
                            .name = x->name};
}

bool pg_region_live(const struct pg_region *r)
{
    return r && lookup(r->id);
}

/* The live record r names; NULL (PG_ERR_NOT_INITIALISED for a struct that never named
 * a region, PG_ERR_RELEASED and a report for a stale one) otherwise. */
__attribute__((noinline)) static struct record *live(const struct pg_region *r, const char *fn,
                                                     enum pg_err *err)
{
    struct record *x = r ? lookup(r->id) : NULL;
    if (x)
        return x;
    *err = r && r->id ? PG_ERR_RELEASED : PG_ERR_NOT_INITIALISED;
    if (*err == PG_ERR_RELEASED && pg_reports_on()) {
        kprintf("# paging: stale region handle: %s(region '%s' at 0x%lx, %lu bytes): the "
                "region was released, split or merged through this or another handle\n",
                fn, r->name ? r->name : "?", r->va, r->size);
        kprintf("#   the stale handle was used at:\n");
        arch_stack_print(arch_stack_capture(2), "     "); /* live, the pg_region call */
    }
    return NULL;
}

static enum pg_err region_map(struct pg_region *r, struct pg_space *as, bool alloc, phys_addr_t pa,
                              uint64_t size, uint64_t page_size, unsigned flags, const char *name)
{
    if (!r || !as || !as->live)
        return PG_ERR_NOT_INITIALISED;
    if (lookup(r->id))
        return PG_ERR_ALREADY_INITIALISED;
    if (!size)
        return PG_ERR_ZERO_SIZE;
    if (page_size != ARCH_PAGE_4K && page_size != ARCH_PAGE_2M && page_size != ARCH_PAGE_1G)
        return PG_ERR_COUNT_MISMATCH;
    if (!ARCH_IS_ALIGNED(size, page_size))
        return PG_ERR_MISALIGNED;
    struct record *x = free_slot();
    if (!x)
        return PG_ERR_OUT_OF_ADDRESS_SPACE;
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
    *x = (struct record){.as = as,
                         .va = v.value,
                         .size = size,
                         .page_size = page_size,
                         .flags = flags,
                         .owns_frames = alloc,
                         .name = name};
    renew(x);
    describe(r, x);
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
    enum pg_err err;
    struct record *x = live(r, "pg_region_release", &err);
    if (!x)
        return err;
    struct pg_ret u = pg_unmap_range(x->as, x->va, x->size, x->page_size);
    if (u.err)
        return u.err; /* someone unmapped part of it behind the region's back */
    if (va_free(x->va, x->size) != PG_OK)
        arch_panic("pg_region_release: region '%s' at 0x%lx lost its virtual range", x->name,
                   x->va);
    x->id = 0; /* r keeps its id: stale now, as every copy is */
    return PG_OK;
}

enum pg_err pg_region_split(struct pg_region *r, uint64_t offset, struct pg_region *tail)
{
    if (!r || !tail)
        return PG_ERR_NOT_INITIALISED;
    enum pg_err err;
    struct record *x = live(r, "pg_region_split", &err), *t;
    if (!x)
        return err;
    if (lookup(tail->id))
        return PG_ERR_ALREADY_INITIALISED;
    if (!offset || offset >= x->size)
        return PG_ERR_COUNT_MISMATCH;
    if (!ARCH_IS_ALIGNED(offset, x->page_size))
        return PG_ERR_MISALIGNED;
    if (!(t = free_slot()))
        return PG_ERR_OUT_OF_ADDRESS_SPACE;
    if ((err = va_split(x->va, x->va + offset)))
        return err;
    *t = *x;
    t->va = x->va + offset;
    t->size = x->size - offset;
    x->size = offset;
    renew(x); /* views of the old whole may reach past the new end */
    renew(t);
    describe(r, x);
    describe(tail, t);
    return PG_OK;
}

enum pg_err pg_region_merge(struct pg_region *a, struct pg_region *b)
{
    if (!a || !b)
        return PG_ERR_NOT_INITIALISED;
    enum pg_err err;
    struct record *x = live(a, "pg_region_merge", &err), *y;
    if (!x)
        return err;
    if (!(y = live(b, "pg_region_merge", &err)))
        return err;
    if (x == y)
        return PG_ERR_ADDR_NOT_FREE;
    if (x->as != y->as)
        return PG_ERR_WRONG_ADDRESS_SPACE;
    if (x->va + x->size != y->va || x->page_size != y->page_size || x->flags != y->flags ||
        x->owns_frames != y->owns_frames)
        return PG_ERR_COUNT_MISMATCH;
    if ((err = va_join(x->va, y->va)))
        return err;
    x->size += y->size;
    y->id = 0; /* b keeps its id: stale now */
    renew(x);
    describe(a, x);
    return PG_OK;
}

/* ---- views ---- */

enum pg_err pg_view_get(const struct pg_region *r, uint64_t offset, uint64_t size, uint64_t align,
                        bool mutable_, struct pg_view *v)
{
    if (!r || !v)
        return PG_ERR_NOT_INITIALISED;
    enum pg_err err;
    const struct record *x = live(r, "pg_view_get", &err);
    if (!x)
        return err;
    if (!size)
        return PG_ERR_ZERO_SIZE;
    /* Overflow-safe: offset <= size of region, then the rest must hold `size`. */
    if (offset > x->size || size > x->size - offset)
        return PG_ERR_OUT_OF_BOUNDS;
    if (!align || (align & (align - 1)) || !ARCH_IS_ALIGNED(x->va + offset, align))
        return PG_ERR_MISALIGNED;
    if (mutable_ && !(x->flags & PG_WRITE))
        return PG_ERR_READ_ONLY;
    *v = (struct pg_view){.region = x->id,
                          .name = x->name,
                          .offset = offset,
                          .size = size,
                          .mutable_ = mutable_,
                          .ptr = (volatile void *)(uintptr_t)(x->va + offset)};
    return PG_OK;
}

static volatile uint8_t *access(const struct pg_view *v, uint64_t off, unsigned width, bool write)
{
    const char *name = v->name ? v->name : "?";
    if (!lookup(v->region))
        arch_panic("pg_view: view of region '%s' used after the region was released or resized",
                   name);
    if (off > v->size || width > v->size - off)
        arch_panic("pg_view: %u-byte access at +0x%lx outside the view of '%s' (0x%lx bytes)",
                   width, off, name, v->size);
    if (!ARCH_IS_ALIGNED((uintptr_t)v->ptr + off, width))
        arch_panic("pg_view: misaligned %u-byte access at +0x%lx in '%s'", width, off, name);
    if (write && !v->mutable_)
        arch_panic("pg_view: write through a read-only view of '%s'", name);
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
