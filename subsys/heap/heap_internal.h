/* heap_internal.h - what the files of subsys/heap share. */
#ifndef SUBSYS_HEAP_INTERNAL_H
#define SUBSYS_HEAP_INTERNAL_H

#include "heap.h"
#include <arch/atomic.h>

#define SPAN_SIZE   (UINT64_C(64) << 10)
#define SEG_SIZE    (UINT64_C(4) << 20) /* growth unit: 64 spans, two 2 MiB pages */
#define SEG_SPANS   (SEG_SIZE / SPAN_SIZE)
#define AREA_SIZE   (UINT64_C(1) << 30) /* virtual area the heap grows in */
#define ARENA_SIZE  (UINT64_C(1) << 20) /* static bootstrap arena: 16 spans */
#define NCLASSES    24
#define MAX_CPUS    64
#define MAX_SEGS    (AREA_SIZE / SEG_SIZE)
#define SPAN_MAGIC  UINT64_C(0x5350414e6b736870) /* xor'd with the span's address */
#define LARGE_MAGIC UINT64_C(0x4c524745686b7367)

/* What each 64 KiB chunk of the heap holds. */
enum chunk_kind { CHUNK_NONE, CHUNK_SPAN, CHUNK_LARGE_HEAD, CHUNK_LARGE_TAIL };

struct block {
    struct block *next;
    uint64_t key; /* key ^ address while free: a double free sees it */
};

struct span {
    uint64_t magic; /* SPAN_MAGIC ^ address of this span */
    uint8_t *data;
    struct block *free;        /* owner: allocations pop here */
    struct block *local_free;  /* owner: its own frees */
    struct block *thread_free; /* other CPUs' frees; lock-free stack */
    struct span *next;         /* partial list or pool */
    struct span *remote_next;  /* owner's list of spans that got remote frees */
    uint64_t key;
    uint32_t bsize, recip, nblocks, used; /* used: handed out, minus frees collected */
    uint16_t cls, owner;
    uint8_t in_partial, is_current;
    uint8_t full;     /* atomic: owner found no free block; remote frees must notify */
    uint8_t notified; /* atomic: on the owner's remote list */
};

struct large {
    uint64_t magic; /* LARGE_MAGIC ^ address */
    uint8_t *data;
    uint64_t size, usable, mapped; /* asked for, usable from data, bytes mapped */
    uint32_t chunks;
    uint32_t pad;
};

struct heap_cpu {
    struct span *cur[NCLASSES];
    struct span *partial[NCLASSES];
    struct span *remote; /* atomic */
    uint64_t allocs, frees, live_blocks, live_bytes;
} __attribute__((aligned(64)));

struct heap {
    enum heap_mode mode;
    bool ready, paging;
    struct pg_space *as;
    uint64_t area; /* base of the virtual area, 0 before paging */
    uint8_t chunk[AREA_SIZE / SPAN_SIZE];
    uint8_t arena_chunk[ARENA_SIZE / SPAN_SIZE];
    uint32_t lock_next, lock_owner; /* ticket lock for growth, pool, large, reports */
    struct span *pool;              /* spans no class uses */
    uint64_t pool_n;
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
int heap_class_of(size_t size);
void *span_alloc(int cls);
/* Validate a block of span s and free it; false if it was not a live block. */
bool span_free(struct span *s, void *p, bool report);
struct span *span_of(const void *p);
/* Index of the block containing p, or -1 if p is before the first block. */
long span_block_index(const struct span *s, const void *p);
void slab_trim(void);
bool slab_valid(void);
/* Give the span a new class and owner (under the lock). */
void span_format(struct span *s, int cls, unsigned owner);

/* large.c */
void *large_alloc(size_t size, size_t align);
bool large_free(struct large *l, void *p, bool report);
struct large *large_of(const void *p);
bool large_valid(void);

/* heap.c */
struct span *heap_get_span(void); /* from the pool, growing if needed; NULL if none */
void heap_put_span(struct span *s);
void heap_report(enum heap_report kind, const char *fmt, ...) ARCH_PRINTF(2, 3);
uint64_t heap_next_key(void);

/* check.c */
void *chk_alloc(size_t size, size_t align, bool zero);
void chk_free(void *p, size_t size, bool sized);
size_t chk_usable(const void *p);
void chk_trim(void);
size_t chk_quarantined(void);

#endif
