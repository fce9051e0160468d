/* heap_internal.h - what the files of subsys/heap share. */
#ifndef SUBSYS_HEAP_INTERNAL_H
#define SUBSYS_HEAP_INTERNAL_H

#include "heap.h"
#include <arch/atomic.h>
#include <arch/cpu.h>

/* Everything declared below is the heap's own, shared by its files: hidden, so a
 * position-independent build reaches it directly, not through the GOT (one load less
 * on kmalloc's inline path, which reads heap_cpus). */
#pragma GCC visibility push(hidden)

#define SPAN_SIZE   (UINT64_C(64) << 10)
#define SEG_SIZE    (UINT64_C(4) << 20) /* growth unit: 64 spans, two 2 MiB pages */
#define SEG_SPANS   (SEG_SIZE / SPAN_SIZE)
#define AREA_SIZE   (UINT64_C(1) << 30) /* virtual area the heap grows in */
#define ARENA_SIZE  (UINT64_C(1) << 20) /* static bootstrap arena: 16 spans */
#define NCLASSES    24
#define MAX_CPUS    64
#define MAX_SEGS    (AREA_SIZE / SEG_SIZE)
#define AREA_CHUNKS (AREA_SIZE / SPAN_SIZE)
#define SPAN_MAGIC  UINT64_C(0x5350414e6b736870) /* xor'd with the span's address */
#define LARGE_MAGIC UINT64_C(0x4c524745686b7367)

/* Per chunk: whose span is there, and the geometry kfree's inline path checks a block
 * against (a copy of its class's, so that check needs no second, dependent load).
 * Block q of the span starts at data_off + q * size for q < nblocks. With
 * size = odd << shift and inv the inverse of odd modulo 2^16, the 16-bit rotation
 * ror16((a - data_off) * inv, shift) is exactly q when a is block q's start, and at
 * least nblocks otherwise (divisibility by the multiplicative inverse: a non-multiple
 * of 2^shift rotates a set bit to the top; a non-multiple of odd gives more than
 * (2^(16-shift) - 1) / odd; an address before data_off wraps to an offset past the
 * last block). So one compare checks range, block start and alignment. */
struct chunk_meta {
    uint16_t word;     /* (class + 1) << 8 | owner CPU for a span in use, else 0 */
    uint16_t data_off; /* these three only while word is nonzero */
    uint16_t inv;
    uint16_t lim; /* threaded << 4 | shift: blocks past the threaded ones are refused */
} __attribute__((aligned(8)));

/* A meta entry read with one 8-byte load (the inline free's only load of it), then
 * split in registers. Atomic (a plain load on x86): the owner rewrites lim as it
 * threads more of its span while any CPU's kfree may read the entry. */
static inline struct chunk_meta chunk_meta_read(const struct chunk_meta *m)
{
    uint64_t w = __atomic_load_n((const uint64_t *)(const void *)m, __ATOMIC_RELAXED);
    return (struct chunk_meta){(uint16_t)w, (uint16_t)(w >> 16), (uint16_t)(w >> 32),
                               (uint16_t)(w >> 48)};
}

static inline void chunk_meta_write(struct chunk_meta *m, struct chunk_meta v)
{
    uint64_t w = (uint64_t)v.word | (uint64_t)v.data_off << 16 | (uint64_t)v.inv << 32 |
                 (uint64_t)v.lim << 48;
    __atomic_store_n((uint64_t *)(void *)m, w, __ATOMIC_RELAXED);
}
ARCH_STATIC_ASSERT(sizeof(struct chunk_meta) == 8 &&
                       __builtin_offsetof(struct chunk_meta, inv) == 4,
                   "chunk_meta_read splits the fields of one little-endian word");

/* The block index chunk_meta describes for address a, or a number >= its nblocks. */
static inline unsigned chunk_block_index(const struct chunk_meta *m, uintptr_t a)
{
    unsigned x = (uint16_t)((unsigned)(uint16_t)(a - m->data_off) * m->inv), sh = m->lim & 15u;
    return (uint16_t)((x >> sh) | (x << ((16 - sh) & 15)));
}

/* What each 64 KiB chunk of the heap holds. */
enum chunk_kind { CHUNK_NONE, CHUNK_SPAN, CHUNK_LARGE_HEAD, CHUNK_LARGE_TAIL };

struct block {
    struct block *next;
    uint64_t key; /* key ^ address while free: a double free sees it */
};

/* A span's header. Neither inline path reads it: kmalloc and kfree work from the
 * chunk tables (heap.meta, heap.head), whose entries' addresses follow from the
 * pointer alone. Other CPUs' frees write thread_free, on a line of its own. */
struct span {
    uint64_t magic; /* SPAN_MAGIC ^ address of this span */
    uint8_t *data;
    uint64_t key;
    uint32_t bsize, recip, nblocks; /* live blocks = threaded - free-list lengths */
    uint32_t threaded; /* blocks [0, threaded) have been on a list; the rest are untouched */
    uint16_t cls, owner;
    uint8_t in_partial, is_current;
    uint8_t full;             /* atomic: owner found no free block; remote frees must notify */
    uint8_t notified;         /* atomic: on the owner's remote list */
    struct span *next;        /* partial list or pool */
    struct span *remote_next; /* owner's list of spans that got remote frees */
    struct block *thread_free __attribute__((aligned(64))); /* other CPUs' frees; lock-free stack */
};
ARCH_STATIC_ASSERT(__builtin_offsetof(struct span, thread_free) == 64,
                   "remote frees write a cache line the owner's fields are not on");

struct large {
    uint64_t magic; /* LARGE_MAGIC ^ address */
    uint8_t *data;
    uint64_t size, usable, mapped; /* asked for, usable from data, bytes mapped */
    uint32_t chunks;
    uint32_t pad;
};

/* s->threaded, which the owner raises while any CPU's kfree may check a block
 * against it: every read but the owner's own in span_thread_more is one of these. */
static inline uint32_t span_threaded(const struct span *s)
{
    return __atomic_load_n(&s->threaded, __ATOMIC_RELAXED);
}

/* 2 KiB, so a CPU's entry is one shift away. */
struct heap_cpu {
    /* Per 16-byte size step ((size - 1) / 16), where kmalloc's inline path pops: the
     * free-list head of its class's current span (that span's heap.head entry), or
     * NULL: what the heap starts with (so kmalloc needs no "ready" test), what a class
     * with no current span has, and what checking mode keeps (so its allocations all
     * take the slow path). */
    struct block **curh[HEAP_SMALL_MAX / 16];
    struct span *cur[NCLASSES];
    struct span *partial[NCLASSES];
    struct span *remote; /* atomic */
} __attribute__((aligned(2048)));

struct heap {
    enum heap_mode mode;
    bool ready, paging;
    struct pg_space *as;
    uint64_t area; /* base of the virtual area, 0 before paging */
    uint8_t chunk[AREA_SIZE / SPAN_SIZE];
    uint8_t arena_chunk[ARENA_SIZE / SPAN_SIZE];
    /* Lets kfree check a block without touching its span's header. The area's
     * chunks, then the arena's (from AREA_CHUNKS on), so kfree's inline path indexes
     * one table. */
    struct chunk_meta meta[AREA_CHUNKS + ARENA_SIZE / SPAN_SIZE];
    /* Per chunk, the same indexing: the free list of the span there, written by its
     * owner only (other CPUs' frees go to the span's thread_free). kfree's inline path
     * pushes here, at an address that follows from the pointer with no load. */
    struct block *head[AREA_CHUNKS + ARENA_SIZE / SPAN_SIZE];
    uintptr_t arena_bias;           /* heap_arena - AREA_SIZE: a - arena_bias indexes meta[] */
    uint64_t key;                   /* free-block marker key, the same for every span */
    uint32_t lock_next, lock_owner; /* ticket lock for growth, pool, large, reports */
    struct span *pool;              /* spans no class uses */
    struct {
        uint64_t va;
        uint32_t pooled; /* spans of it in the pool */
        bool live;
    } seg[MAX_SEGS];
    /* High-water marks, so walks cover what was ever used, not the whole 1 GiB area
     * and every possible CPU: chunks of the area (under the lock), and CPUs that own a
     * span (atomic). */
    uint32_t chunk_hi, cpu_hi;
    uint64_t spans, large_blocks, mapped_bytes, oom, large_live_bytes;
    uint64_t reports[HEAP_REPORT_COUNT_];
    uint64_t key_seed;
    uint64_t grow_left; /* growths before an injected failure; UINT64_MAX: no injection */
};
extern struct heap heap_g;
extern struct heap_cpu heap_cpus[MAX_CPUS];
extern uint8_t *heap_arena; /* ARENA_SIZE bytes, 64 KiB aligned */

void heap_lock(void);
void heap_unlock(void);

long heap_area_find(uint64_t n, uint64_t align);

/* The chunk map of the arena or the area: its kinds, the address of its chunk 0, and
 * how many of its chunks a walk must visit (every later one was never used). */
static inline size_t heap_chunk_range(bool arena, const uint8_t **kinds, uintptr_t *base)
{
    *kinds = arena ? heap_g.arena_chunk : heap_g.chunk;
    *base = arena ? (uintptr_t)heap_arena : heap_g.area;
    return arena ? sizeof(heap_g.arena_chunk) : heap_g.area ? heap_g.chunk_hi : 0;
}
/* A walk of every chunk a span or large block may hold, the area's then the arena's:
 *   for (struct heap_chunk_it it = {0}; heap_chunk_next(&it);) ... it.kind, it.addr
 * it.slot is the chunk's index in heap.meta and heap.head. */
struct heap_chunk_it {
    int map;     /* 0: the area, 1: the arena */
    size_t i, n; /* within the map */
    const uint8_t *kinds;
    uintptr_t base;
    uint8_t kind; /* the current chunk's */
    uintptr_t addr;
    size_t slot;
};
static inline bool heap_chunk_next(struct heap_chunk_it *it)
{
    if (!it->kinds) /* the first call: the area */
        it->n = heap_chunk_range(false, &it->kinds, &it->base);
    while (it->i == it->n) {
        if (it->map == 1)
            return false;
        it->map = 1, it->i = 0;
        it->n = heap_chunk_range(true, &it->kinds, &it->base);
    }
    it->kind = it->kinds[it->i];
    it->addr = it->base + it->i * SPAN_SIZE;
    it->slot = it->map ? AREA_CHUNKS + it->i : it->i;
    it->i++;
    return true;
}
/* The area's chunk at index end - 1 is used: walks must reach it. Lock held. */
static inline void heap_chunks_used(uint64_t end)
{
    if (end > heap_g.chunk_hi)
        heap_g.chunk_hi = (uint32_t)end;
}
/* CPUs [0, n) a walk of per-CPU state must visit. */
static inline unsigned heap_cpus_used(void)
{
    return arch_atomic_load(&heap_g.cpu_hi, ARCH_RELAXED);
}

/* Which chunk p is in: its kind byte, or NULL if p is not in the heap at all. */
uint8_t *heap_chunk_of(const void *p);

/* class.c: the size classes (heap_build_classes fills them at heap_init). */
extern const uint16_t heap_class_size[NCLASSES];
extern uint8_t heap_class_lut[HEAP_SMALL_MAX / 16]; /* (size - 1) / 16 -> class */
/* A class's geometry; span_format copies it to the chunk_meta of each span. */
struct heap_class {
    uint16_t size, data_off, nblocks, inv, lim;
};
extern struct heap_class heap_class[NCLASSES];
void heap_build_classes(void);
/* The class of a small size (1..HEAP_SMALL_MAX), or -1 for a larger one. */
int heap_class_of(size_t size);

/* slab.c */
void *span_alloc_slow(struct heap_cpu *c, int cls);
/* A local free into a span that is not its CPU's current one. */
void span_free_retired(struct heap_cpu *c, struct span *s);
/* kfree's inline path pushed b onto an empty span list: a retired span has a free
 * block again, so it goes back on its owner's partial list. */
void span_refilled(struct block *b);
/* Validate a block of span s and free it; false if it was not a live block. */
bool span_free(struct span *s, void *p, bool report);
/* The span a small block's address lies in (spans are SPAN_SIZE-aligned). */
static inline struct span *span_of(const void *p)
{
    return (struct span *)((uintptr_t)p & ~(SPAN_SIZE - 1));
}
/* The span header at s agrees with its chunk's meta entry (which no heap user can
 * write): magic, class, geometry, key, owner. */
bool span_header_ok(const struct span *s);
/* A free block of s: inside its blocks, at a block's start, with its free key. */
bool span_free_block_ok(const struct span *s, const struct block *b);
/* Walk a free list of s from b, checking every link: its length and (in *last) its
 * last block; a bad link panics, or with `quiet` reports and gives UINT32_MAX. */
uint32_t span_list_walk(const struct span *s, struct block *b, const char *which, bool quiet,
                        struct block **last);
/* Blocks on s's free lists (its own and the other CPUs'). */
uint32_t span_free_blocks(const struct span *s);
/* span_of(p), after span_header_ok; a header that fails is heap corruption. Never
 * NULL (p is in the heap's area: the chunk that holds it). */
__attribute__((returns_nonnull)) struct span *span_checked(const void *p);
/* Heap metadata that cannot be trusted: panic with "heap corruption", naming the span
 * at s, its class and owner (from its meta entry) and what was wrong. */
ARCH_NORETURN void heap_corruption(const struct span *s, const char *fmt, ...) ARCH_PRINTF(2, 3);
/* Index of the block containing p, or -1 if p is before the first block. */
long span_block_index(const struct span *s, const void *p);
void slab_trim(void);
/* Live small blocks and their usable bytes, counted from the spans' free lists.
 * Quiescent callers get exact numbers; others a snapshot. */
void slab_count_live(uint64_t *blocks, uint64_t *bytes);
bool slab_valid(void);
/* Give the span a new class and owner (under the lock). */
void span_format(struct span *s, int cls, unsigned owner);
void span_thread_more(struct span *s);

/* large.c */
void *large_alloc(size_t size, size_t align);
bool large_free(struct large *l, void *p, bool report);
struct large *large_of(const void *p);
/* large_of(p), after checking its header against the chunk map; heap corruption
 * (a panic) if it does not agree. Never NULL. */
__attribute__((returns_nonnull)) struct large *large_checked(const void *p);
bool large_valid(void);

/* block.c: what a pointer is, resolved once and passed down. */
struct heap_block {
    bool in_heap;        /* p is in a chunk of the heap (which may hold nothing) */
    struct span *span;   /* a small block's span, or NULL */
    struct large *large; /* a large block, or NULL */
    long index;          /* small: the block's index in its span (-1: p is in none) */
    uint8_t *start;      /* the block's first byte (NULL: none) */
    size_t usable;       /* its usable size: the class size, or the large block's */
};
/* A fast-mode block of `size` bytes aligned to `align` (small class, power-of-two
 * class, or large), or NULL counted as out of memory. */
void *heap_raw_alloc(size_t size, size_t align);
/* The live fast-mode block p starts; false, reported as `who`'s bad call, if there is
 * none (not the heap, not allocated, free, interior, misaligned). */
bool heap_block_at(const void *p, const char *who, struct heap_block *b);
/* The block handed out (live, free or quarantined) that p points anywhere inside,
 * from the metadata alone; false, silently, if none. For checking mode. */
bool heap_block_containing(const void *p, struct heap_block *b);
/* Free p, the start of block b, into its span or pages; false (reported if `report`)
 * if it was not a live block. */
bool heap_block_free(const struct heap_block *b, void *p, bool report);
/* kfree in fast mode when the inline path declined: resolve, report or free. */
void heap_free_raw(void *p, const char *who);

/* core.c: state, locks, chunk maps, the span pool and growth, reports. */
/* The meta entry of the chunk holding p (NULL outside the heap). */
struct chunk_meta *heap_meta_of(const void *p);
/* The free-list head of the span s (in heap.head). */
struct block **span_head(const struct span *s);
/* s is the start of a chunk that holds a span (in use or in the pool). */
bool heap_at_span(const void *s);
void heap_core_init(enum heap_mode mode);
/* Give whole segments of pooled spans back to paging (heap_trim's last step). */
void heap_core_trim(void);
struct span *heap_get_span(void); /* from the pool, growing if needed; NULL if none */
void heap_put_span(struct span *s);
void heap_report(enum heap_report kind, const char *fmt, ...) ARCH_PRINTF(2, 3);
/* Whether reports print (heap_set_reports): their stacks follow them or not. */
bool heap_reports_printed(void);
uint64_t heap_next_key(void);
/* The stack the next report on this CPU names as the bad call (0: capture one). */
void heap_set_report_at(uint32_t stack);

/* check.c */
void *chk_alloc(size_t size, size_t align, bool zero);
void chk_free(void *p, size_t size, bool sized);
size_t chk_usable(const void *p);
void chk_trim(void);
size_t chk_quarantined(void);

/* The meta word of a span in use: its owner and class. kfree's inline path frees
 * only into spans whose owner matches the calling CPU, so checking mode, where every
 * free takes the slow path, writes an owner no CPU has. Chunks with no span in use
 * are all zero, and their 0 blocks refuse every address. */
#define CHUNK_NO_CPU 0xffu
ARCH_STATIC_ASSERT(MAX_CPUS <= CHUNK_NO_CPU, "a CPU number fits below CHUNK_NO_CPU");
static inline uint16_t chunk_word(unsigned owner, int cls)
{
    unsigned who = heap_g.mode == HEAP_FAST ? owner : CHUNK_NO_CPU;
    return (uint16_t)((unsigned)(cls + 1) << 8 | who);
}

/* The curh entry for free-list head h (NULL: none): none in checking mode. */
static inline struct block **curh_of(struct block **h)
{
    return heap_g.mode == HEAP_FAST ? h : NULL;
}

/* Point the curh entries of class cls at h (NULL: none). */
void span_set_curh(struct heap_cpu *c, int cls, struct block **h);

/* A block of `size` bytes (1..HEAP_SMALL_MAX) from this CPU's current span of its
 * class; NULL if it has none free, or in checking mode. */
static inline void *span_alloc_size(size_t size)
{
    struct block **h = heap_cpus[arch_cpu_id()].curh[(size - 1) / 16], *b;
    if (__builtin_expect(h && (b = *h) != NULL, 1)) {
        *h = b->next;
        b->key = 0;
        return b;
    }
    return NULL;
}

static inline void *span_alloc(int cls)
{
    void *p = span_alloc_size(heap_class_size[cls]);
    return p ? p : span_alloc_slow(&heap_cpus[arch_cpu_id()], cls);
}

#pragma GCC visibility pop

#endif
