/* heap_internal.h - what the files of subsys/heap share. */
#ifndef SUBSYS_HEAP_INTERNAL_H
#define SUBSYS_HEAP_INTERNAL_H

#include "heap.h"
#include <arch/atomic.h>
#include <arch/cpu.h>

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

/* What each 64 KiB chunk of the heap holds. */
enum chunk_kind { CHUNK_NONE, CHUNK_SPAN, CHUNK_LARGE_HEAD, CHUNK_LARGE_TAIL };

struct block {
    struct block *next;
    uint64_t key; /* key ^ address while free: a double free sees it */
};

/* The first 64 bytes hold everything the inline paths touch: one cache line. */
struct span {
    uint64_t magic; /* SPAN_MAGIC ^ address of this span */
    uint8_t *data;
    struct block *free;       /* owner: allocations pop here */
    struct block *local_free; /* owner: its own frees */
    uint64_t key;
    uint32_t bsize, recip, nblocks; /* live blocks = nblocks - free-list lengths */
    uint16_t cls, owner;
    uint8_t in_partial, is_current;
    uint8_t full;              /* atomic: owner found no free block; remote frees must notify */
    uint8_t notified;          /* atomic: on the owner's remote list */
    struct block *thread_free; /* other CPUs' frees; lock-free stack */
    struct span *next;         /* partial list or pool */
    struct span *remote_next;  /* owner's list of spans that got remote frees */
};
ARCH_STATIC_ASSERT(__builtin_offsetof(struct span, thread_free) == 64,
                   "the span's hot fields fill exactly its first cache line");

struct large {
    uint64_t magic; /* LARGE_MAGIC ^ address */
    uint8_t *data;
    uint64_t size, usable, mapped; /* asked for, usable from data, bytes mapped */
    uint32_t chunks;
    uint32_t pad;
};

/* 1 KiB, so a CPU's entry is one shift away. */
struct heap_cpu {
    /* This CPU's own frees, reused first (any of its spans). Indexed by class + 1,
     * the chunk meta word's class field; entry 0 is unused. */
    struct block *free[NCLASSES + 1];
    struct span *cur[NCLASSES];
    struct span *partial[NCLASSES];
    struct span *remote; /* atomic */
} __attribute__((aligned(1024)));

struct heap {
    enum heap_mode mode;
    bool ready, paging;
    /* The inline paths' one test each. Nonzero only once the heap is ready in fast
     * mode: the largest size kmalloc's inline path serves, and the sizes of the
     * ranges kfree's inline path looks up (0 makes `a - base < size` always false). */
    uint64_t fast_small, fast_area, fast_arena;
    struct pg_space *as;
    uint64_t area; /* base of the virtual area, 0 before paging */
    uint8_t chunk[AREA_SIZE / SPAN_SIZE];
    uint8_t arena_chunk[ARENA_SIZE / SPAN_SIZE];
    /* For spans in use: (owner CPU << 8) | (class + 1); 0 in the pool. Lets kfree
     * check a block without touching its span's header. The area's chunks, then the
     * arena's (from AREA_CHUNKS on), so kfree's inline path indexes one table. */
    uint16_t meta[AREA_CHUNKS + ARENA_SIZE / SPAN_SIZE];
    uintptr_t arena_bias;           /* heap_arena - AREA_SIZE: a - arena_bias indexes meta[] */
    uint64_t key;                   /* free-block marker key, the same for every span */
    uint32_t lock_next, lock_owner; /* ticket lock for growth, pool, large, reports */
    struct span *pool;              /* spans no class uses */
    struct {
        uint64_t va;
        uint32_t pooled; /* spans of it in the pool */
        bool live;
    } seg[MAX_SEGS];
    uint64_t spans, large_blocks, mapped_bytes, oom, large_live_bytes;
    uint64_t reports[HEAP_REPORT_COUNT_];
    uint64_t key_seed;
};
extern struct heap heap_g;
extern struct heap_cpu heap_cpus[MAX_CPUS];
extern uint8_t *heap_arena; /* ARENA_SIZE bytes, 64 KiB aligned */

void heap_lock(void);
void heap_unlock(void);

long heap_area_find(uint64_t n, uint64_t align);

/* Which chunk p is in: its kind byte, or NULL if p is not in the heap at all. */
uint8_t *heap_chunk_of(const void *p);

/* slab.c */
extern const uint16_t heap_class_size[NCLASSES];
extern uint8_t heap_class_lut[HEAP_SMALL_MAX / 16]; /* (size - 1) / 16 -> class */
/* Everything the inline free needs about a class, in one 16-byte entry. Indexed by
 * class + 1, which is what the chunk meta word holds: entry 0 has no blocks, so a
 * chunk with no class fails the block check without a test of its own.
 * A block starts at data_off + q * size for q < nblocks. With size = odd << shift and
 * inv the inverse of odd modulo 2^32, ror(off * inv, shift) is exactly q when off is
 * q * size and is at least 2^32 / size otherwise (divisibility by the multiplicative
 * inverse), so one compare with nblocks checks range, block start and alignment. */
struct heap_class {
    uint32_t size, inv;
    uint16_t data_off, nblocks;
    uint8_t shift, pad[3];
};
extern struct heap_class heap_class[NCLASSES + 1];
#define HEAP_CLASS(cls) heap_class[(cls) + 1]
/* Index of the block at offset off from the class's first block, or a number
 * >= nblocks if off is not a block start. */
static inline uint32_t heap_class_index(const struct heap_class *k, uint32_t off)
{
    uint32_t x = off * k->inv;
    return (x >> k->shift) | (x << ((32 - k->shift) & 31));
}
/* The meta word of the chunk holding p (NULL outside the heap). */
uint16_t *heap_meta_of(const void *p);
void heap_build_classes(void);
int heap_class_of(size_t size);
void *span_alloc_slow(struct heap_cpu *c, int cls);
/* A local free into a span that is not its CPU's current one. */
void span_free_retired(struct heap_cpu *c, struct span *s);
/* Validate a block of span s and free it; false if it was not a live block. */
bool span_free(struct span *s, void *p, bool report);
struct span *span_of(const void *p);
/* Index of the block containing p, or -1 if p is before the first block. */
long span_block_index(const struct span *s, const void *p);
void slab_trim(void);
/* Live small blocks and their usable bytes, counted from the spans' free lists.
 * Quiescent callers get exact numbers; others a snapshot. */
void slab_count_live(uint64_t *blocks, uint64_t *bytes);
bool slab_valid(void);
/* Give the span a new class and owner (under the lock). */
void span_format(struct span *s, int cls, unsigned owner);

/* large.c */
void *large_alloc(size_t size, size_t align);
bool large_free(struct large *l, void *p, bool report);
struct large *large_of(const void *p);
bool large_valid(void);

/* heap.c */
/* A fast-mode block of `size` bytes aligned to `align` (small class, power-of-two
 * class, or large), or NULL counted as out of memory. */
void *heap_raw_alloc(size_t size, size_t align);
struct span *heap_get_span(void); /* from the pool, growing if needed; NULL if none */
void heap_put_span(struct span *s);
void heap_report(enum heap_report kind, const char *fmt, ...) ARCH_PRINTF(2, 3);
uint64_t heap_next_key(void);

/* check.c */
/* The stack the next report on this CPU names as the bad call (0: capture one). */
void heap_set_report_at(uint32_t stack);
void *chk_alloc(size_t size, size_t align, bool zero);
void chk_free(void *p, size_t size, bool sized);
size_t chk_usable(const void *p);
void chk_trim(void);
size_t chk_quarantined(void);

/* A block of class cls from this CPU's free list or current span; NULL if both are
 * empty. */
static inline void *span_alloc_fast(int cls)
{
    struct heap_cpu *c = &heap_cpus[arch_cpu_id()];
    struct block *b = c->free[cls + 1];
    if (__builtin_expect(b != NULL, 1)) {
        c->free[cls + 1] = b->next;
        b->key = 0;
        return b;
    }
    struct span *s = c->cur[cls];
    if (__builtin_expect(s != NULL && (b = s->free) != NULL, 1)) {
        s->free = b->next;
        b->key = 0;
        return b;
    }
    return NULL;
}

static inline void *span_alloc(int cls)
{
    void *p = span_alloc_fast(cls);
    return p ? p : span_alloc_slow(&heap_cpus[arch_cpu_id()], cls);
}

#endif
