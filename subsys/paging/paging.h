/* paging.h - frames, kernel virtual ranges, the x86_64 4-level mapper, owned regions
 * and typed views. The one public header of subsys/paging.
 *
 * Ownership is explicit. Every RAM frame is owned exactly once: the frame allocator
 * hands it out (Free -> Allocated), a mapping takes it (Allocated -> Mapped), unmapping
 * gives it back (-> Unmapped, and Free again if the mapping owned it). A region owns
 * its virtual range, its mappings and the frames it was given, and releasing it
 * returns all of them.
 *
 * Two error channels (STYLE.md): what a caller can cause returns an enum pg_err (PG_OK
 * first) and changes nothing; a corrupted table or allocator state panics. Calls are
 * not thread-safe: callers serialise them (the sync subsystem's locks, later). A call
 * made before what it needs (frame_init, va_init, a live space, a non-NULL struct)
 * returns PG_ERR_NOT_INITIALISED. */
#ifndef SUBSYS_PAGING_H
#define SUBSYS_PAGING_H

#include <arch/pte.h>
#include <arch/types.h>

enum pg_err {
    PG_OK = 0,
    PG_ERR_ADDR_NOT_FREE,        /* the address or range is (partly) allocated already */
    PG_ERR_ADDR_NOT_FOUND,       /* no allocation is at that address */
    PG_ERR_OUT_OF_ADDRESS_SPACE, /* no free virtual range of that size and alignment */
    PG_ERR_NO_CONTIGUOUS,        /* no run of free frames of that size and alignment */
    PG_ERR_ZERO_SIZE,
    PG_ERR_NOT_INITIALISED,
    PG_ERR_ALREADY_INITIALISED,
    PG_ERR_PAGE_ALREADY_MAPPED, /* value: the frame mapped there */
    PG_ERR_PAGE_NOT_MAPPED,     /* value: the first address found unmapped */
    PG_ERR_PARENT_HUGE,         /* a larger page covers the address; value: its frame */
    PG_ERR_INVALID_FRAME,       /* not RAM, not allocated, or reserved; value: the frame */
    PG_ERR_COUNT_MISMATCH,      /* sizes or page sizes disagree (range vs pages, split point) */
    PG_ERR_WRONG_ADDRESS_SPACE, /* a region or view used with another address space */
    PG_ERR_MISALIGNED,
    PG_ERR_NON_CANONICAL,
    PG_ERR_OVERFLOW,             /* address + size wraps */
    PG_ERR_NO_MEMORY,            /* out of frames (for data or for page tables) */
    PG_ERR_FRAME_ALREADY_MAPPED, /* mapped elsewhere, and PG_SHARED was not asked; value: frame */
    PG_ERR_WRITE_EXEC,           /* writable and executable, without PG_ALLOW_WX */
    PG_ERR_FRAME_NOT_ALLOCATED,  /* freeing a frame that is free or not the allocator's */
    PG_ERR_FRAME_IN_USE,         /* freeing a frame that is still mapped */
    PG_ERR_OUT_OF_BOUNDS,        /* a view outside its region */
    PG_ERR_READ_ONLY,            /* a mutable view of a read-only region */
    PG_ERR_RELEASED,             /* the region was released */
    PG_ERR_COUNT_
};

/* Status first, then the value (an address, a frame), as seL4's *_ret structs. */
struct pg_ret {
    enum pg_err err;
    uint64_t value;
};

/* What an error means, for reports ("unknown error" for a value that is none). */
const char *pg_strerror(enum pg_err err);

/* ---- frames ----------------------------------------------------------------------- */

/* Take over the RAM the seam calls usable. The allocator's own bookkeeping (2 bytes a
 * frame) is carved from that RAM, so this works before any heap. Frames the seam
 * calls reserved, kernel or boot tables are never handed out. Once, at boot: PG_OK,
 * PG_ERR_ALREADY_INITIALISED, or PG_ERR_NO_MEMORY (no usable range holds the
 * bookkeeping). */
enum pg_err frame_init(void);
bool frame_initialised(void);

/* A frame of `size` (4 KiB, 2 MiB or 1 GiB), aligned to its size. value: its address.
 * Another size is PG_ERR_COUNT_MISMATCH (0: PG_ERR_ZERO_SIZE), value: the size; none
 * free is PG_ERR_NO_MEMORY for 4 KiB, PG_ERR_NO_CONTIGUOUS for the larger sizes. The
 * frame's contents are whatever they were. */
struct pg_ret frame_alloc(uint64_t size);
/* `count` contiguous 4 KiB frames starting at a multiple of `align` (bytes, a power of
 * two >= 4 KiB, else PG_ERR_MISALIGNED with value: align). count 0 is
 * PG_ERR_ZERO_SIZE; no such run, PG_ERR_NO_CONTIGUOUS (PG_ERR_NO_MEMORY for one). */
struct pg_ret frame_alloc_contig(uint64_t count, uint64_t align);
/* Exactly [pa, pa+size), 4 KiB aligned: PG_ERR_ADDR_NOT_FREE if any of it is taken,
 * PG_ERR_INVALID_FRAME if any is not the allocator's, PG_ERR_MISALIGNED,
 * PG_ERR_ZERO_SIZE, PG_ERR_OVERFLOW. */
enum pg_err frame_alloc_at(phys_addr_t pa, uint64_t size);
/* Give back [pa, pa+size), 4 KiB aligned. Every frame must be allocated and unmapped:
 * PG_ERR_FRAME_NOT_ALLOCATED (free, a table, not the allocator's) or
 * PG_ERR_FRAME_IN_USE (mapped) otherwise, and PG_ERR_MISALIGNED, PG_ERR_ZERO_SIZE or
 * PG_ERR_OVERFLOW for a bad range; nothing is freed then. */
enum pg_err frame_free(phys_addr_t pa, uint64_t size);

/* Fault injection for tests and fuzzers: after `n` more successful allocations
 * (any size), every allocation fails until this is called again; UINT64_MAX turns
 * it off. Frees and frame_alloc_at are not affected. Page tables are not counted here
 * (see below). */
void frame_fail_after(uint64_t n);
/* The same for the mapper's page tables: after `n` more, no table can be had. A map
 * that would need more tables than are left is refused whole (PG_ERR_NO_MEMORY,
 * value: the tables it needs) before anything is written, as when frames run out. */
void frame_fail_tables_after(uint64_t n);

struct frame_stats {
    uint64_t managed; /* usable frames the allocator owns (its bookkeeping's excluded) */
    uint64_t free;
    uint64_t allocated; /* handed out, mapped or not */
    uint64_t mapped;    /* allocated and mapped at least once */
    uint64_t tables;    /* used as page tables by the mapper */
};
/* The counters as they are (all 0 before frame_init). */
void frame_get_stats(struct frame_stats *out);
/* Recount everything from the per-frame states and compare with the counters; false
 * before frame_init. */
bool frame_valid(void);

/* ---- kernel virtual ranges (the seam's kernel VA window) --------------------------- */

#define VA_MAX_RANGES 1024 /* live allocations; a static table, usable before any heap */

/* Once, at boot: PG_OK or PG_ERR_ALREADY_INITIALISED. */
enum pg_err va_init(void);
/* A range of `size` (a 4 KiB multiple) aligned to `align` (a power of two >= 4 KiB),
 * first fit; value: its address. PG_ERR_ZERO_SIZE, PG_ERR_MISALIGNED, or
 * PG_ERR_OUT_OF_ADDRESS_SPACE (no gap, or VA_MAX_RANGES live). _within clamps [lo, hi)
 * to the window; _at takes exactly [va, va+size) (4 KiB aligned): outside the window
 * PG_ERR_OUT_OF_ADDRESS_SPACE, over another PG_ERR_ADDR_NOT_FREE with value: that
 * one's start. */
struct pg_ret va_alloc(uint64_t size, uint64_t align); /* anywhere */
struct pg_ret va_alloc_at(uint64_t va, uint64_t size); /* exactly there */
struct pg_ret va_alloc_within(uint64_t lo, uint64_t hi, uint64_t size,
                              uint64_t align); /* in [lo, hi) */
/* Free an allocation: [va, va+size) must be exactly one live allocation
 * (PG_ERR_ADDR_NOT_FOUND if none starts at va, PG_ERR_COUNT_MISMATCH if its size
 * differs). */
enum pg_err va_free(uint64_t va, uint64_t size);
/* Cut the allocation at va into [va, at) and [at, end); join two adjacent ones. Either
 * is PG_ERR_ADDR_NOT_FOUND unless va (and next) start allocations; a split needs `at`
 * 4 KiB aligned strictly inside (PG_ERR_MISALIGNED, PG_ERR_COUNT_MISMATCH) and room
 * for one more (PG_ERR_OUT_OF_ADDRESS_SPACE); a join needs next to start where va's
 * ends (PG_ERR_COUNT_MISMATCH). */
enum pg_err va_split(uint64_t va, uint64_t at);
enum pg_err va_join(uint64_t va, uint64_t next);
/* Bytes allocated; whether the table is sorted, disjoint and inside the window (false
 * before va_init). */
uint64_t va_allocated_bytes(void);
bool va_valid(void);

/* ---- the mapper ----------------------------------------------------------------------- */

/* Mapping flags. Default: read-only, no-execute, cached, frames tracked. */
#define PG_WRITE     (1u << 0)
#define PG_EXEC      (1u << 1)
#define PG_UNCACHED  (1u << 2) /* PCD|PWT: device memory */
#define PG_SHARED    (1u << 3) /* the frames may already be mapped elsewhere */
#define PG_ALLOW_WX  (1u << 4) /* permit PG_WRITE|PG_EXEC together */
#define PG_UNTRACKED (1u << 5) /* frames are not the allocator's (image, direct map, MMIO) */
#define PG_GLOBAL    (1u << 6)
#define PG_MMIO      (PG_UNCACHED | PG_UNTRACKED | PG_WRITE)

/* A 4-level hierarchy. `id` tells address spaces apart in regions and views. */
struct pg_space {
    phys_addr_t root;
    uint32_t id;
    bool live;
};

/* Wrap an existing root (e.g. arch_read_cr3()). The root stays the caller's. *as
 * must not be live (zero it first): PG_ERR_ALREADY_INITIALISED; a root that is not a
 * 4 KiB aligned RAM frame is PG_ERR_INVALID_FRAME. Needs no frame_init. */
enum pg_err pg_space_adopt(struct pg_space *as, phys_addr_t root);
/* A new root whose top-level entries outside the kernel VA window are copied from
 * `kernel` (so kernel mappings are shared); the window part starts empty. With
 * kernel == NULL the new root is empty (a kernel building its first tables). The copy
 * is made once: later top-level changes in `kernel` are not seen. *as must not be live
 * (PG_ERR_ALREADY_INITIALISED); PG_ERR_NO_MEMORY if no table can be had. */
enum pg_err pg_space_create(struct pg_space *as, const struct pg_space *kernel);
/* Free a created space's root. Its window part must be empty and it must not be
 * loaded (PG_ERR_FRAME_IN_USE); an adopted root is never freed
 * (PG_ERR_WRONG_ADDRESS_SPACE). */
enum pg_err pg_space_destroy(struct pg_space *as);

/* Map [va, va+size) to [pa, pa+size) with pages of `page_size`. Walks the tables once
 * for the whole range; allocates intermediate tables as needed. value: va. Refused
 * (nothing written): page_size not 4K/2M/1G (PG_ERR_COUNT_MISMATCH, value: it);
 * PG_ERR_ZERO_SIZE, PG_ERR_OVERFLOW, PG_ERR_NON_CANONICAL (or the range crosses the
 * canonical hole), PG_ERR_MISALIGNED (va, pa or size not page aligned);
 * PG_ERR_WRITE_EXEC; PG_ERR_PAGE_ALREADY_MAPPED or PG_ERR_PARENT_HUGE (value: the frame
 * in the way); PG_ERR_INVALID_FRAME or PG_ERR_FRAME_ALREADY_MAPPED (value: the frame;
 * see pg_set_reports); PG_ERR_NO_MEMORY (value: the tables needed). */
struct pg_ret pg_map_range(struct pg_space *as, uint64_t va, phys_addr_t pa, uint64_t size,
                           uint64_t page_size, unsigned flags);
/* As pg_map_range, with new zeroed frames that the mapping owns (freed on unmap).
 * PG_SHARED is ignored; PG_UNTRACKED is PG_ERR_INVALID_FRAME. Too few frames is
 * PG_ERR_NO_MEMORY (or frame_alloc's error), with every frame taken given back. */
struct pg_ret pg_map_alloc_range(struct pg_space *as, uint64_t va, uint64_t size,
                                 uint64_t page_size, unsigned flags);
/* Unmap [va, va+size), all pages of `page_size`; flush each page if `as` is loaded;
 * free the frames the mappings owned and the tables that became empty. value: va.
 * Argument errors as pg_map_range; every page must be mapped with that size:
 * PG_ERR_PAGE_NOT_MAPPED (value: the first address unmapped), PG_ERR_PARENT_HUGE (a
 * larger page covers it) or PG_ERR_COUNT_MISMATCH (smaller pages), nothing unmapped. */
struct pg_ret pg_unmap_range(struct pg_space *as, uint64_t va, uint64_t size, uint64_t page_size);
/* Set the rights of every page in [va, va+size) (PG_WRITE, PG_EXEC, PG_UNCACHED; the
 * others are ignored, PG_GLOBAL stays as mapped), flushing each changed page if `as`
 * is loaded. 4 KiB aligned; every page mapped (PG_ERR_PAGE_NOT_MAPPED) and no huge
 * page only partly inside (PG_ERR_PARENT_HUGE); PG_ERR_WRITE_EXEC as for a map. */
struct pg_ret pg_protect_range(struct pg_space *as, uint64_t va, uint64_t size, unsigned flags);

struct pg_translation {
    phys_addr_t pa;     /* of va itself */
    uint64_t page_size; /* of the leaf */
    unsigned flags;     /* PG_WRITE/PG_EXEC/PG_UNCACHED/PG_GLOBAL as mapped */
    bool owned;         /* the mapping owns the frame */
};
/* What va maps to in `as`: PG_OK, value the physical address, and *out; or
 * PG_ERR_NON_CANONICAL, or PG_ERR_PAGE_NOT_MAPPED for any walk that refuses (value: va)
 * with *out untouched. Reads only. */
struct pg_ret pg_translate(const struct pg_space *as, uint64_t va, struct pg_translation *out);

/* Typed pages and frames: the single-page forms only accept a frame of the page's own
 * size, checked by the compiler (pg_map(as, PAGE_2M(va), FRAME_4K(pa), f) does not
 * build). Alignment is still checked at run time (PG_ERR_MISALIGNED). */
typedef struct {
    uint64_t va;
} page4k_t;
typedef struct {
    uint64_t va;
} page2m_t;
typedef struct {
    uint64_t va;
} page1g_t;
typedef struct {
    phys_addr_t pa;
} frame4k_t;
typedef struct {
    phys_addr_t pa;
} frame2m_t;
typedef struct {
    phys_addr_t pa;
} frame1g_t;
#define PAGE_4K(x)  ((page4k_t){(x)})
#define PAGE_2M(x)  ((page2m_t){(x)})
#define PAGE_1G(x)  ((page1g_t){(x)})
#define FRAME_4K(x) ((frame4k_t){(x)})
#define FRAME_2M(x) ((frame2m_t){(x)})
#define FRAME_1G(x) ((frame1g_t){(x)})

/* pg_map_range and pg_unmap_range of one page, with their results. */
struct pg_ret pg_map_4k(struct pg_space *as, page4k_t p, frame4k_t f, unsigned flags);
struct pg_ret pg_map_2m(struct pg_space *as, page2m_t p, frame2m_t f, unsigned flags);
struct pg_ret pg_map_1g(struct pg_space *as, page1g_t p, frame1g_t f, unsigned flags);
struct pg_ret pg_unmap_4k(struct pg_space *as, page4k_t p);
struct pg_ret pg_unmap_2m(struct pg_space *as, page2m_t p);
struct pg_ret pg_unmap_1g(struct pg_space *as, page1g_t p);

#define pg_map(as, page, frame, flags)                                                             \
    _Generic((page), page4k_t                                                                      \
             : pg_map_4k, page2m_t                                                                 \
             : pg_map_2m, page1g_t                                                                 \
             : pg_map_1g)(as, page, frame, flags)
#define pg_unmap(as, page)                                                                         \
    _Generic((page), page4k_t                                                                      \
             : pg_unmap_4k, page2m_t                                                               \
             : pg_unmap_2m, page1g_t                                                               \
             : pg_unmap_1g)(as, page)

/* Refusals that name a bug are reported on the console as well as returned: where the
 * frame is mapped, that page's history (sim) and who asked.
 *  - a frame already mapped, without PG_SHARED (PG_ERR_FRAME_ALREADY_MAPPED);
 *  - a frame that a mapping owns (pg_map_alloc_range, a region, the heap): nobody
 *    else may map it, even with PG_SHARED (PG_ERR_FRAME_ALREADY_MAPPED);
 *  - PG_UNTRACKED over a frame the allocator handed out: it is somebody's, so the
 *    mapping must be tracked (PG_ERR_INVALID_FRAME; free frames and page tables may be
 *    mapped untracked, as a direct map does);
 *  - a device mapping (PG_UNCACHED with PG_UNTRACKED, as PG_MMIO) over RAM
 *    (PG_ERR_INVALID_FRAME, value: the first RAM address);
 *  - a region handle used after its region was released, split or merged through
 *    another handle (PG_ERR_RELEASED).
 * Fuzzers, whose models predict every refusal, turn the reports off. */
void pg_set_reports(bool on);
bool pg_reports_on(void);
/* Check every table reachable in the window: present counts match, no leaf maps a
 * free frame, no table frame is anything but a table. false for a space not live. */
bool pg_space_valid(const struct pg_space *as);

/* ---- owned regions and typed views ----------------------------------------------------- */

/* A region is named by an id the mapper issues (a slot in its table and a generation
 * that is never reused), not by the struct that holds it: a copy of a struct names
 * the same region, and once the region is released, split or merged through any
 * copy, every copy and every view taken before is stale. A stale handle is refused
 * (PG_ERR_RELEASED, reported), a stale view panics, and neither can touch whatever
 * later lives in the range. */
#define PG_MAX_REGIONS VA_MAX_RANGES

struct pg_region {
    uint64_t id; /* 0: none yet */
    /* The region as it was when a call through this struct last saw it, for reading;
     * the mapper's own record is what every call uses. */
    struct pg_space *as;
    uint64_t va, size, page_size;
    unsigned flags;
    bool owns_frames;
    const char *name;
};

/* True while r names a live region (false for a zeroed struct and a stale copy). */
bool pg_region_live(const struct pg_region *r);

/* A new region of `size` anywhere in the window, backed by new frames it owns. r must
 * not name a live region (PG_ERR_ALREADY_INITIALISED). `name` is kept, not copied
 * (static storage). Refused with *r untouched and nothing left mapped or allocated:
 * PG_ERR_ZERO_SIZE; page_size not 4K/2M/1G (PG_ERR_COUNT_MISMATCH); size not a
 * multiple of it (PG_ERR_MISALIGNED); PG_ERR_OUT_OF_ADDRESS_SPACE (no region slot or
 * no virtual range); or the mapper's error. */
enum pg_err pg_region_alloc(struct pg_region *r, struct pg_space *as, uint64_t size,
                            uint64_t page_size, unsigned flags, const char *name);
/* A region over the caller's frames [pa, pa+size) (not owned), e.g. a device's
 * registers with PG_MMIO. As pg_region_alloc, with pg_map_range's frame checks. */
enum pg_err pg_region_map_frames(struct pg_region *r, struct pg_space *as, phys_addr_t pa,
                                 uint64_t size, uint64_t page_size, unsigned flags,
                                 const char *name);
/* Unmap every page (flushing each), free the owned frames and the virtual range. A
 * second release, through this struct or a copy, is PG_ERR_RELEASED (reported); a
 * struct that never named a region is PG_ERR_NOT_INITIALISED. If part of the range was
 * unmapped behind the region's back the unmap's error comes back and the region stays
 * as it was. */
enum pg_err pg_region_release(struct pg_region *r);
/* Cut r at `offset` (a multiple of its page size): r keeps the head, *tail the rest.
 * Both get new ids: copies of r and views of the whole are stale from then on. Refused
 * with both unchanged: r stale (PG_ERR_RELEASED, reported) or never live
 * (PG_ERR_NOT_INITIALISED); *tail live (PG_ERR_ALREADY_INITIALISED); offset 0 or past
 * the end (PG_ERR_COUNT_MISMATCH), not a page multiple (PG_ERR_MISALIGNED); no region
 * slot or VA record left (PG_ERR_OUT_OF_ADDRESS_SPACE). */
enum pg_err pg_region_split(struct pg_region *r, uint64_t offset, struct pg_region *tail);
/* Append b to a when b starts where a ends and both are alike (space, page size,
 * flags, ownership). b is consumed; a gets a new id (a's name is kept). Refused with
 * both unchanged: either stale (PG_ERR_RELEASED, reported) or never live
 * (PG_ERR_NOT_INITIALISED); a and b the same region (PG_ERR_ADDR_NOT_FREE); other
 * spaces (PG_ERR_WRONG_ADDRESS_SPACE); not adjacent or not alike
 * (PG_ERR_COUNT_MISMATCH). */
enum pg_err pg_region_merge(struct pg_region *a, struct pg_region *b);

struct pg_view {
    uint64_t region; /* the id of the region the view was taken of */
    const char *name;
    uint64_t offset, size;
    bool mutable_;
    volatile void *ptr;
};

/* A view of [offset, offset+size) of r: in bounds (overflow-safe), the address aligned
 * to `align`, writable if `mutable_`. On error *v is untouched and r is as it was:
 * PG_ERR_RELEASED (stale r, reported), PG_ERR_ZERO_SIZE, PG_ERR_OUT_OF_BOUNDS,
 * PG_ERR_MISALIGNED (align not a power of two, or the address), PG_ERR_READ_ONLY
 * (mutable_ on a region without PG_WRITE). */
enum pg_err pg_view_get(const struct pg_region *r, uint64_t offset, uint64_t size, uint64_t align,
                        bool mutable_, struct pg_view *v);
#define PG_VIEW_OF(r, offset, type, mutable_, v)                                                   \
    pg_view_get((r), (offset), sizeof(type), _Alignof(type), (mutable_), (v))

/* Register access through a view (MMIO accessors underneath). A view whose region
 * was released, split or merged, an access outside it, a misaligned one, or a write
 * through an immutable view is a bug: it panics and names the region. */
uint32_t pg_view_read32(const struct pg_view *v, uint64_t off);
void pg_view_write32(const struct pg_view *v, uint64_t off, uint32_t val);
uint64_t pg_view_read64(const struct pg_view *v, uint64_t off);
void pg_view_write64(const struct pg_view *v, uint64_t off, uint64_t val);
/* The plain pointer of a RAM view, after the same liveness check (a stale view
 * panics). Accesses through the pointer are not checked. */
volatile void *pg_view_ptr(const struct pg_view *v);

#endif
