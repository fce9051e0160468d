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
 * not thread-safe: callers serialise them (the sync subsystem's locks, later). */
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

const char *pg_strerror(enum pg_err err);

/* ---- frames ----------------------------------------------------------------------- */

/* Take over the RAM the seam calls usable. The allocator's own bookkeeping (2 bytes a
 * frame) is carved from that RAM, so this works before any heap. Frames the seam
 * calls reserved, kernel or boot tables are never handed out. */
enum pg_err frame_init(void);
bool frame_initialised(void);

/* A frame of `size` (4 KiB, 2 MiB or 1 GiB), aligned to its size. value: its address. */
struct pg_ret frame_alloc(uint64_t size);
/* `count` contiguous 4 KiB frames starting at a multiple of `align`. */
struct pg_ret frame_alloc_contig(uint64_t count, uint64_t align);
/* Exactly [pa, pa+size): PG_ERR_ADDR_NOT_FREE if any of it is taken. */
enum pg_err frame_alloc_at(phys_addr_t pa, uint64_t size);
/* Give back [pa, pa+size). Every frame must be allocated and unmapped. */
enum pg_err frame_free(phys_addr_t pa, uint64_t size);

/* Fault injection for tests and fuzzers: after `n` more successful allocations
 * (any size), every allocation fails until this is called again; UINT64_MAX turns
 * it off. Frees are not affected. Page tables are not counted here (see below). */
void frame_fail_after(uint64_t n);
/* The same for the mapper's page tables: after `n` more, no table can be had. A map
 * that would need more tables than are left is refused whole (PG_ERR_NO_MEMORY,
 * value: the tables it needs) before anything is written, as when frames run out. */
void frame_fail_tables_after(uint64_t n);

struct frame_stats {
    uint64_t managed; /* usable frames the allocator owns (bookkeeping included) */
    uint64_t free;
    uint64_t allocated; /* handed out, mapped or not */
    uint64_t mapped;    /* allocated and mapped at least once */
    uint64_t tables;    /* used as page tables by the mapper */
};
void frame_get_stats(struct frame_stats *out);
/* Recount everything from the per-frame states and compare with the counters. */
bool frame_valid(void);

/* ---- kernel virtual ranges (the seam's kernel VA window) --------------------------- */

#define VA_MAX_RANGES 1024 /* live allocations; a static table, usable before any heap */

enum pg_err va_init(void);
struct pg_ret va_alloc(uint64_t size, uint64_t align); /* anywhere */
struct pg_ret va_alloc_at(uint64_t va, uint64_t size); /* exactly there */
struct pg_ret va_alloc_within(uint64_t lo, uint64_t hi, uint64_t size,
                              uint64_t align); /* in [lo, hi) */
/* Free an allocation: [va, va+size) must be exactly one live allocation. */
enum pg_err va_free(uint64_t va, uint64_t size);
/* Cut the allocation at va into [va, at) and [at, end); join two adjacent ones. */
enum pg_err va_split(uint64_t va, uint64_t at);
enum pg_err va_join(uint64_t va, uint64_t next);
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

/* Wrap an existing root (e.g. arch_read_cr3()). The root stays the caller's. */
enum pg_err pg_space_adopt(struct pg_space *as, phys_addr_t root);
/* A new root whose top-level entries outside the kernel VA window are copied from
 * `kernel` (so kernel mappings are shared); the window part starts empty. With
 * kernel == NULL the new root is empty (a kernel building its first tables). */
enum pg_err pg_space_create(struct pg_space *as, const struct pg_space *kernel);
/* Free a created space's root. Its window part must be empty; not while loaded. */
enum pg_err pg_space_destroy(struct pg_space *as);

/* Map [va, va+size) to [pa, pa+size) with pages of `page_size`. Walks the tables once
 * for the whole range; allocates intermediate tables as needed. */
struct pg_ret pg_map_range(struct pg_space *as, uint64_t va, phys_addr_t pa, uint64_t size,
                           uint64_t page_size, unsigned flags);
/* As pg_map_range, with new frames that the mapping owns (freed on unmap). */
struct pg_ret pg_map_alloc_range(struct pg_space *as, uint64_t va, uint64_t size,
                                 uint64_t page_size, unsigned flags);
/* Unmap [va, va+size), all pages of `page_size`; flush each page if `as` is loaded;
 * free the frames the mappings owned and the tables that became empty. */
struct pg_ret pg_unmap_range(struct pg_space *as, uint64_t va, uint64_t size, uint64_t page_size);
/* Set the rights of every page in [va, va+size) (PG_WRITE, PG_EXEC, PG_UNCACHED). */
struct pg_ret pg_protect_range(struct pg_space *as, uint64_t va, uint64_t size, unsigned flags);

struct pg_translation {
    phys_addr_t pa;     /* of va itself */
    uint64_t page_size; /* of the leaf */
    unsigned flags;     /* PG_WRITE/PG_EXEC/PG_UNCACHED/PG_GLOBAL as mapped */
    bool owned;         /* the mapping owns the frame */
};
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
 * free frame, no table frame is anything but a table. */
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
 * not name a live region (PG_ERR_ALREADY_INITIALISED). */
enum pg_err pg_region_alloc(struct pg_region *r, struct pg_space *as, uint64_t size,
                            uint64_t page_size, unsigned flags, const char *name);
/* A region over the caller's frames [pa, pa+size) (not owned), e.g. a device's
 * registers with PG_MMIO. */
enum pg_err pg_region_map_frames(struct pg_region *r, struct pg_space *as, phys_addr_t pa,
                                 uint64_t size, uint64_t page_size, unsigned flags,
                                 const char *name);
/* Unmap every page (flushing each), free the owned frames and the virtual range. A
 * second release, through this struct or a copy, is PG_ERR_RELEASED. */
enum pg_err pg_region_release(struct pg_region *r);
/* Cut r at `offset` (a multiple of its page size): r keeps the head, *tail the rest.
 * Both get new ids: copies of r and views of the whole are stale from then on. */
enum pg_err pg_region_split(struct pg_region *r, uint64_t offset, struct pg_region *tail);
/* Append b to a when b starts where a ends and both are alike (space, page size,
 * flags, ownership). b is consumed; a gets a new id. */
enum pg_err pg_region_merge(struct pg_region *a, struct pg_region *b);

struct pg_view {
    uint64_t region; /* the id of the region the view was taken of */
    const char *name;
    uint64_t offset, size;
    bool mutable_;
    volatile void *ptr;
};

/* A view of [offset, offset+size) of r: in bounds (overflow-safe), the address aligned
 * to `align`, writable if `mutable_`. On error *v is untouched and r is as it was. */
enum pg_err pg_view_get(const struct pg_region *r, uint64_t offset, uint64_t size, uint64_t align,
                        bool mutable_, struct pg_view *v);
#define PG_VIEW_OF(r, offset, type, mutable_, v)                                                   \
    pg_view_get((r), (offset), sizeof(type), _Alignof(type), (mutable_), (v))

/* Register access through a view (MMIO accessors underneath). A view whose region
 * was released, an access outside it, a misaligned one, or a write through an
 * immutable view is a bug: it panics and names the region. */
uint32_t pg_view_read32(const struct pg_view *v, uint64_t off);
void pg_view_write32(const struct pg_view *v, uint64_t off, uint32_t val);
uint64_t pg_view_read64(const struct pg_view *v, uint64_t off);
void pg_view_write64(const struct pg_view *v, uint64_t off, uint64_t val);
/* The plain pointer of a RAM view, after the same liveness check. */
volatile void *pg_view_ptr(const struct pg_view *v);

#endif
