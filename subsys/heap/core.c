/* core.c - the bottom of the heap: its state, its lock, the chunk maps that say what
 * each 64 KiB of the arena and the area holds, the pool of free spans and the growth
 * that feeds it through paging (and the trim that gives segments back), and reports.
 * Calls nothing above it. */
#include "heap_internal.h"
#include <arch/console.h>
#include <arch/cpu.h>
#include <arch/debug.h>
#include <arch/mem.h>
#include <arch/panic.h>
#include <paging/paging.h>
#include <stdarg.h>

struct heap heap_g;
struct heap_cpu heap_cpus[MAX_CPUS];
/* The bootstrap arena. Its spans must be 64 KiB aligned, and a loader may not honour
 * a large static alignment (Valgrind places the executable at 0x108000), so the
 * aligned part is found at run time. */
static uint8_t arena_space[ARENA_SIZE + SPAN_SIZE];
uint8_t *heap_arena;
static char last_report[256];

/* Held with preemption off, whoever takes it: a CPU that waits for it with preemption
 * off (every slow path) would otherwise spin for ever on a holder switched out. */
void heap_lock(void)
{
    arch_preempt_disable();
    uint32_t me = arch_atomic_fetch_add(&heap_g.lock_next, 1, ARCH_RELAXED);
    /* acquire: pairs with heap_unlock's release: the last holder's work is seen */
    while (arch_atomic_load(&heap_g.lock_owner, ARCH_ACQUIRE) != me)
        arch_cpu_relax();
}

void heap_unlock(void)
{
    /* release: everything done under the lock is seen by the next owner */
    arch_atomic_store(&heap_g.lock_owner, heap_g.lock_owner + 1, ARCH_RELEASE);
    arch_preempt_enable();
}

uint64_t heap_next_key(void)
{
    /* splitmix64: keys differ per span, so a stale marker from another span never matches */
    uint64_t z = (heap_g.key_seed += UINT64_C(0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

void heap_core_init(enum heap_mode mode)
{
    heap_g.mode = mode;
    heap_arena = (uint8_t *)ARCH_ALIGN_UP((uintptr_t)arena_space, SPAN_SIZE);
    heap_g.arena_bias = (uintptr_t)heap_arena - AREA_SIZE;
    heap_g.key_seed = (uintptr_t)&heap_g ^ UINT64_C(0x6b65726e73696d);
    heap_g.key = heap_next_key();
    /* The arena's spans go to the pool: the heap works before paging is up. */
    for (uint64_t i = 0; i < ARENA_SIZE / SPAN_SIZE; i++) {
        struct span *s = (struct span *)(heap_arena + i * SPAN_SIZE);
        heap_g.arena_chunk[i] = CHUNK_SPAN;
        *s = (struct span){.magic = SPAN_MAGIC ^ (uintptr_t)s, .next = heap_g.pool};
        heap_g.pool = s;
    }
    heap_g.grow_left = UINT64_MAX;
    heap_g.ready = true;
}

const char *heap_strerror(enum heap_err err)
{
    static const char *const names[HEAP_ERR_COUNT_] = {
        [HEAP_OK] = "ok",
        [HEAP_ERR_NOT_INITIALISED] = "heap not initialised",
        [HEAP_ERR_NO_SPACE] = "no live address space",
        [HEAP_ERR_ALREADY_ATTACHED] = "already attached to paging",
        [HEAP_ERR_NO_PAGING] = "frame allocator not initialised",
        [HEAP_ERR_NO_ADDRESS_SPACE] = "no room for the heap's area in the kernel window",
    };
    return (unsigned)err < HEAP_ERR_COUNT_ ? names[err] : "unknown error";
}

enum heap_err heap_attach_paging(struct pg_space *as)
{
    if (!heap_g.ready)
        return HEAP_ERR_NOT_INITIALISED;
    if (!as || !as->live)
        return HEAP_ERR_NO_SPACE;
    if (heap_g.paging)
        return HEAP_ERR_ALREADY_ATTACHED;
    if (!frame_initialised())
        return HEAP_ERR_NO_PAGING;
    /* The top half of the kernel window: the bottom is where tests map by hand. */
    struct arch_kva_window w = arch_kva_window();
    struct pg_ret va = va_alloc_within(w.base + w.size / 2, w.base + w.size, AREA_SIZE, SEG_SIZE);
    if (va.err)
        return HEAP_ERR_NO_ADDRESS_SPACE;
    heap_lock();
    heap_g.as = as;
    heap_g.area = va.value;
    heap_g.paging = true;
    heap_unlock();
    return HEAP_OK;
}

/* Where p's chunk is described: its index, and whether it is in the arena. */
static bool chunk_index(const void *p, size_t *i, bool *arena)
{
    uintptr_t a = (uintptr_t)p;
    if (heap_arena && a - (uintptr_t)heap_arena < ARENA_SIZE) {
        *i = (a - (uintptr_t)heap_arena) / SPAN_SIZE, *arena = true;
        return true;
    }
    if (heap_g.area && a - heap_g.area < AREA_SIZE) {
        *i = (a - heap_g.area) / SPAN_SIZE, *arena = false;
        return true;
    }
    return false;
}

/* p's chunk's index in heap.meta and heap.head (area chunks, then arena chunks), or
 * -1 outside the heap. */
static long chunk_slot(const void *p)
{
    size_t i;
    bool arena;
    if (!chunk_index(p, &i, &arena))
        return -1;
    return (long)(arena ? AREA_CHUNKS + i : i);
}

struct chunk_meta *heap_meta_of(const void *p)
{
    long i = chunk_slot(p);
    return i < 0 ? NULL : &heap_g.meta[i];
}

struct block **span_head(const struct span *s)
{
    long i = chunk_slot(s);
    if (i < 0)
        arch_panic("heap: span %p is not in the heap", (const void *)s);
    return &heap_g.head[i];
}

uint8_t *heap_chunk_of(const void *p)
{
    size_t i;
    bool arena;
    if (!chunk_index(p, &i, &arena))
        return NULL;
    return arena ? &heap_g.arena_chunk[i] : &heap_g.chunk[i];
}

bool heap_at_span(const void *s)
{
    uint8_t *kind = heap_chunk_of(s);
    return kind && *kind == CHUNK_SPAN && !((uintptr_t)s & (SPAN_SIZE - 1));
}

/* s is a span in the pool: a span chunk's start, its header sealed, no class, and its
 * meta entry all zero (which no heap user can write). */
static bool pooled_ok(const struct span *s)
{
    const struct chunk_meta *m = heap_at_span(s) ? heap_meta_of(s) : NULL;
    return m && s->magic == (SPAN_MAGIC ^ (uintptr_t)s) && !s->bsize && !chunk_meta_read(m).word;
}

/* First fit in the area's chunk map: `n` free chunks starting at a multiple of
 * `align` chunks. Returns the first chunk's index, or -1. Lock held. */
long heap_area_find(uint64_t n, uint64_t align)
{
    uint64_t total = AREA_SIZE / SPAN_SIZE;
    for (uint64_t i = 0; i + n <= total; i += align) {
        uint64_t k = 0;
        while (k < n && heap_g.chunk[i + k] == CHUNK_NONE)
            k++;
        if (k == n)
            return (long)i;
        i = ARCH_ALIGN_DOWN(i + k, align); /* skip what is in the way */
    }
    return -1;
}

void heap_fail_growth_after(uint64_t n)
{
    heap_lock();
    heap_g.grow_left = n;
    heap_unlock();
}

/* Map one more segment of spans into the pool. Lock held. */
static bool grow(void)
{
    if (!heap_g.paging || !heap_g.grow_left)
        return false;
    long at = heap_area_find(SEG_SPANS, SEG_SPANS);
    if (at < 0)
        return false;
    {
        unsigned i = (unsigned)(at / (long)SEG_SPANS);
        uint64_t va = heap_g.area + i * SEG_SIZE;
        struct pg_ret m = pg_map_alloc_range(heap_g.as, va, SEG_SIZE, ARCH_PAGE_2M, PG_WRITE);
        if (m.err) /* no 2 MiB frames: try 4 KiB ones before giving up */
            m = pg_map_alloc_range(heap_g.as, va, SEG_SIZE, ARCH_PAGE_4K, PG_WRITE);
        if (m.err)
            return false;
        arch_mm_annotate(va, SEG_SIZE, "kernel heap");
        heap_g.seg[i] = (typeof(heap_g.seg[i])){va, SEG_SPANS, true};
        if (heap_g.grow_left != UINT64_MAX)
            heap_g.grow_left--;
        heap_chunks_used((uint64_t)at + SEG_SPANS);
        heap_g.mapped_bytes += SEG_SIZE;
        for (uint64_t k = SEG_SPANS; k-- > 0;) {
            struct span *s = (struct span *)(va + k * SPAN_SIZE);
            heap_g.chunk[(va - heap_g.area) / SPAN_SIZE + k] = CHUNK_SPAN;
            *s = (struct span){.magic = SPAN_MAGIC ^ (uintptr_t)s, .next = heap_g.pool};
            heap_g.pool = s;
        }
        return true;
    }
    return false;
}

static int seg_of(const struct span *s)
{
    uintptr_t a = (uintptr_t)s;
    return heap_g.area && a - heap_g.area < AREA_SIZE ? (int)((a - heap_g.area) / SEG_SIZE) : -1;
}

struct span *heap_get_span(void)
{
    heap_lock();
    if (!heap_g.pool && !grow()) {
        heap_unlock();
        return NULL;
    }
    struct span *s = heap_g.pool;
    if (!pooled_ok(s))
        arch_panic("heap corruption: the pool of free spans links to %p, which is not a free "
                   "span",
                   (void *)s);
    heap_g.pool = s->next;
    heap_g.spans++;
    int g = seg_of(s);
    if (g >= 0)
        heap_g.seg[g].pooled--;
    heap_unlock();
    return s;
}

void heap_put_span(struct span *s)
{
    heap_lock();
    chunk_meta_write(heap_meta_of(s),
                     (struct chunk_meta){0}); /* no owner: the inline kfree refuses it */
    *span_head(s) = NULL;
    *s = (struct span){.magic = SPAN_MAGIC ^ (uintptr_t)s, .next = heap_g.pool};
    heap_g.pool = s;
    heap_g.spans--;
    int g = seg_of(s);
    if (g >= 0)
        heap_g.seg[g].pooled++;
    heap_unlock();
}

/* Where the bad call came from, when its caller already captured it (checking mode
 * captures every free's stack anyway); per CPU, used by the next report. */
static uint32_t report_at[MAX_CPUS];

void heap_set_report_at(uint32_t stack)
{
    report_at[arch_cpu_id() % MAX_CPUS] = stack;
}

static bool print_reports = true;

void heap_set_reports(bool print)
{
    print_reports = print;
}

bool heap_reports_printed(void)
{
    return print_reports;
}

void heap_report(enum heap_report kind, const char *fmt, ...)
{
    static const char *const names[HEAP_REPORT_COUNT_] = {
        "not a heap pointer",  "not allocated", "interior pointer",    "double free",
        "size mismatch",       "bad alignment", "redzone overwritten", "use after free",
        "out of early memory", "memory leak"};
    char msg[200];
    va_list ap;
    va_start(ap, fmt);
    kvsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    heap_lock();
    heap_g.reports[kind]++;
    ksnprintf(last_report, sizeof(last_report), "%s: %s", names[kind], msg);
    heap_unlock();
    uint32_t *at = &report_at[arch_cpu_id() % MAX_CPUS];
    if (!print_reports) {
        *at = 0;
        return;
    }
    kprintf("# heap: %s: %s\n", names[kind], msg);
    if (kind != HEAP_REPORT_LEAK) { /* a leak has no bad call, only its allocation */
        kprintf("#   at:\n");
        arch_stack_print(*at ? *at : arch_stack_capture(1), "     ");
    }
    *at = 0;
}

const char *heap_last_report(void)
{
    return last_report;
}

void heap_get_reports(uint64_t counts[HEAP_REPORT_COUNT_])
{
    heap_lock();
    for (int k = 0; k < HEAP_REPORT_COUNT_; k++)
        counts[k] = heap_g.reports[k];
    heap_unlock();
}

/* Whole segments back to paging: take their spans out of the pool, then unmap. */
void heap_core_trim(void)
{
    heap_lock();
    for (unsigned i = 0; i < MAX_SEGS; i++) {
        if (!heap_g.seg[i].live || heap_g.seg[i].pooled != SEG_SPANS)
            continue;
        uint64_t va = heap_g.seg[i].va;
        struct span **pp = &heap_g.pool;
        for (uint64_t n = 0; *pp; n++) {
            if (!pooled_ok(*pp) || n > AREA_CHUNKS + ARENA_SIZE / SPAN_SIZE)
                arch_panic("heap corruption: the pool of free spans links to %p, which is not a "
                           "free span",
                           (void *)*pp);
            if ((uintptr_t)*pp - va < SEG_SIZE) {
                *pp = (*pp)->next;
            } else {
                pp = &(*pp)->next;
            }
        }
        for (uint64_t k = 0; k < SEG_SPANS; k++)
            heap_g.chunk[(va - heap_g.area) / SPAN_SIZE + k] = CHUNK_NONE;
        struct pg_translation tr;
        uint64_t ps = pg_translate(heap_g.as, va, &tr).err ? ARCH_PAGE_4K : tr.page_size;
        if (pg_unmap_range(heap_g.as, va, SEG_SIZE, ps).err)
            arch_panic("heap_trim: segment 0x%lx would not unmap", va);
        heap_g.seg[i].live = false;
        heap_g.mapped_bytes -= SEG_SIZE;
    }
    heap_unlock();
}
