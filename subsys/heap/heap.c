/* heap.c - the heap's state, growth, the public API and reports. */
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

bool heap_init(enum heap_mode mode)
{
    if (heap_g.ready)
        return false;
    heap_g.mode = mode;
    heap_build_classes();
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
    if (mode == HEAP_CHECKING)
        arch_add_describer(heap_describe);
    return true;
}

enum heap_mode heap_mode(void)
{
    return heap_g.mode;
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
    if (!heap_at_span(s) || !span_header_ok(s) || s->bsize)
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

/* ---- the API ---- */

void *heap_raw_alloc(size_t size, size_t align)
{
    void *p;
    if (align <= HEAP_ALIGN && size <= HEAP_SMALL_MAX) {
        p = span_alloc(heap_class_of(size));
    } else if (size <= HEAP_SMALL_MAX && align <= HEAP_SMALL_MAX) {
        /* Power-of-two classes are aligned to their size. */
        size_t pow2 = 16;
        while (pow2 < size || pow2 < align)
            pow2 <<= 1;
        p = span_alloc(heap_class_of(pow2));
    } else {
        p = large_alloc(size, align);
    }
    if (!p) {
        heap_lock();
        heap_g.oom++;
        heap_unlock();
    }
    return p;
}

static void *alloc_unlocked(size_t size, size_t align, bool zero)
{
    if (!heap_g.ready || !size || size > (SIZE_MAX >> 2))
        return NULL;
    if (align & (align - 1)) {
        heap_report(HEAP_REPORT_BAD_ALIGN, "kmalloc_aligned(%zu, %zu): not a power of two", size,
                    align);
        return NULL;
    }
    if (heap_g.mode == HEAP_CHECKING)
        return chk_alloc(size, align, zero);
    void *p = heap_raw_alloc(size, align);
    if (!p)
        return NULL;
    if (zero)
        __builtin_memset(p, 0, size);
    return p;
}

/* Every slow path runs with preemption off: see arch_preempt_disable. */
static void *alloc(size_t size, size_t align, bool zero)
{
    arch_preempt_disable();
    void *p = alloc_unlocked(size, align, zero);
    arch_preempt_enable();
    return p;
}

/* kmalloc when its inline path misses: a span refill, a large block, checking mode. */
static __attribute__((noinline)) void *kmalloc_slow(size_t size)
{
    return alloc(size, 0, false);
}

/* The inline path pops a small block off this CPU's current span of its class, found
 * by size step, and touches nothing else. Before heap_init and in checking mode every
 * size step has no block (struct heap_cpu), so those calls go to kmalloc_slow. */
void *kmalloc(size_t size)
{
    if (__builtin_expect(size - 1 < HEAP_SMALL_MAX, 1)) {
        void *p = span_alloc_size(size);
        if (__builtin_expect(p != NULL, 1))
            return p;
    }
    return kmalloc_slow(size);
}

void *kzalloc(size_t size)
{
    return alloc(size, 0, true);
}

void *kmalloc_aligned(size_t size, size_t align)
{
    if (!align) {
        heap_report(HEAP_REPORT_BAD_ALIGN, "kmalloc_aligned(%zu, 0): not a power of two", size);
        return NULL;
    }
    return alloc(size, align, false);
}

/* What p is in the heap: a live small block (*s), a large block (*l), or neither
 * (reported as such when `report`). */
static bool locate(const void *p, struct span **s, struct large **l, const char *who, bool report)
{
    *s = NULL, *l = NULL;
    char what[96];
    uint8_t *kind = heap_chunk_of(p);
    if (!kind) {
        if (report)
            heap_report(HEAP_REPORT_NOT_HEAP, "%s(%p): %s", who, p,
                        arch_describe_address(p, what, sizeof(what)));
        return false;
    }
    if (!ARCH_IS_ALIGNED((uintptr_t)p, HEAP_ALIGN) && *kind != CHUNK_LARGE_TAIL &&
        *kind != CHUNK_LARGE_HEAD) {
        if (report)
            heap_report(HEAP_REPORT_INTERIOR, "%s(%p): misaligned, so not the start of a block",
                        who, p);
        return false;
    }
    switch (*kind) {
    case CHUNK_SPAN:
        *s = span_checked(p);
        return true;
    case CHUNK_LARGE_HEAD:
    case CHUNK_LARGE_TAIL:
        *l = large_checked(p);
        return true;
    default:
        if (report)
            heap_report(HEAP_REPORT_NOT_ALLOCATED, "%s(%p): nothing is allocated there", who, p);
        return false;
    }
}

static void free_raw(void *p, const char *who)
{
    struct span *s;
    struct large *l;
    if (!locate(p, &s, &l, who, true))
        return;
    if (s)
        span_free(s, p, true);
    else
        large_free(l, p, true);
}

static __attribute__((noinline)) void kfree_slow(void *p)
{
    arch_preempt_disable();
    if (heap_g.mode == HEAP_CHECKING)
        chk_free(p, 0, false);
    else
        free_raw(p, "kfree");
    arch_preempt_enable();
}

/* The inline path frees p if it is a live block of a span this CPU owns (the common
 * case), checking everything kfree promises from the chunk's meta entry, which no
 * heap user can overwrite: inside the heap, a span in use and this CPU's (a chunk with
 * none has an all-zero entry, so 0 blocks), the start of a block (so aligned), not
 * already free. Anything else goes to kfree_slow, which checks again (the span's
 * back-pointer too) and reports.
 * The ranges are constants, with no "ready" or mode test: before heap_init or paging
 * a base is 0 and its range's entries are all zero, and checking mode's entries name
 * no CPU (chunk_word), so those frees all go to kfree_slow. The entry is one load.
 * The block goes onto its span's list in heap.head, whose address follows from p by
 * arithmetic: the checks' loads decide only branches, so the store's address does not
 * wait for them, and the next kmalloc's loads need not wait for the store. (A per-CPU
 * list found through the meta word's class cost the benchmark's pairs about a sixth:
 * docs/benchmarks.md.) */
void kfree(void *p)
{
    uintptr_t a = (uintptr_t)p, i = a - heap_g.area;
    if (__builtin_expect(i >= AREA_SIZE, 0)) {
        i = a - heap_g.arena_bias; /* AREA_SIZE + offset in the arena */
        if (i - AREA_SIZE >= ARENA_SIZE)
            goto slow;
    }
    size_t j = i / SPAN_SIZE;
    const struct chunk_meta m = chunk_meta_read(&heap_g.meta[j]), *cm = &m;
    if (__builtin_expect((uint8_t)cm->word != arch_cpu_id(), 0))
        goto slow; /* another CPU's span, or checking mode (no span: 0 blocks, below) */
    struct block *b = p, *old = heap_g.head[j];
    uint64_t key = heap_g.key ^ a;
    if (__builtin_expect(chunk_block_index(cm, a) >= cm->lim >> 4u || b->key == key, 0))
        goto slow;
    b->key = key;
    b->next = old;
    heap_g.head[j] = b;
    if (__builtin_expect(old == NULL, 0))
        span_refilled(b); /* maybe a retired span: its owner must see it again */
    return;
slow:
    if (p)
        kfree_slow(p);
}

/* Usable size of a live fast-mode block, or 0 (reported) if p is not one. */
static size_t usable_raw(const void *p, const char *who)
{
    struct span *s;
    struct large *l;
    if (!locate(p, &s, &l, who, true))
        return 0;
    if (s) {
        long i = s->bsize ? span_block_index(s, p) : -1;
        const struct block *b = p;
        if (i >= 0 && (uint32_t)i >= span_threaded(s) && (uint32_t)i < s->nblocks) {
            heap_report(HEAP_REPORT_NOT_ALLOCATED, "%s(%p): nothing is allocated there", who, p);
            return 0; /* a block never handed out, as kfree says */
        }
        if (i < 0 || (uint32_t)i >= s->nblocks ||
            s->data + (uint64_t)i * s->bsize != (const uint8_t *)p) {
            heap_report(HEAP_REPORT_INTERIOR, "%s(%p): not the start of a block", who, p);
            return 0;
        }
        if (b->key == (s->key ^ (uintptr_t)b)) {
            heap_report(HEAP_REPORT_NOT_ALLOCATED, "%s(%p): the block is free", who, p);
            return 0;
        }
        return s->bsize;
    }
    /* Not a span, so locate set l from large_checked, which is never NULL (it panics on
     * a header it cannot trust); clang 14's analyzer does not read returns_nonnull. */
    if (l->data != p) { // NOLINT(clang-analyzer-core.NullDereference)
        heap_report(HEAP_REPORT_INTERIOR, "%s(%p): inside the large block at %p", who, p,
                    (void *)l->data);
        return 0;
    }
    return l->usable;
}

static void kfree_sized_unlocked(void *p, size_t size)
{
    if (!p)
        return;
    if (heap_g.mode == HEAP_CHECKING) {
        chk_free(p, size, true);
        return;
    }
    size_t usable = usable_raw(p, "kfree_sized");
    if (!usable)
        return;
    /* Fast mode knows the class, not the size asked for: the size must map to the
     * block's class (or, for a power-of-two class an aligned allocation may have
     * picked, fit in it). Large blocks know their size exactly. */
    struct span *s;
    struct large *l;
    locate(p, &s, &l, "kfree_sized", false);
    bool ok;
    if (s) {
        bool pow2 = (s->bsize & (s->bsize - 1)) == 0;
        ok = size && (heap_class_of(size) == (int)s->cls || (pow2 && size <= s->bsize));
    } else {
        ok = size == l->size;
    }
    if (!ok) {
        heap_report(HEAP_REPORT_SIZE_MISMATCH,
                    "kfree_sized(%p, %zu): the block was allocated for %s%zu bytes", p, size,
                    s ? "up to " : "", s ? usable : (size_t)l->size);
        return;
    }
    free_raw(p, "kfree_sized");
}

void kfree_sized(void *p, size_t size)
{
    arch_preempt_disable();
    kfree_sized_unlocked(p, size);
    arch_preempt_enable();
}

size_t kmalloc_usable_size(const void *p)
{
    if (!p)
        return 0;
    arch_preempt_disable();
    size_t n = heap_g.mode == HEAP_CHECKING ? chk_usable(p) : usable_raw(p, "kmalloc_usable_size");
    arch_preempt_enable();
    return n;
}

void *krealloc(void *p, size_t size)
{
    if (!p)
        return kmalloc(size);
    if (!size) {
        kfree(p);
        return NULL;
    }
    size_t old = kmalloc_usable_size(p);
    if (!old)
        return NULL; /* not a live block: reported, and nothing else happens */
    if (heap_g.mode == HEAP_FAST && size <= old) {
        /* Stay in place only where kfree_sized(p, size) will then agree: the same
         * size class, or a large block that records its new size. */
        struct span *sp;
        struct large *l;
        locate(p, &sp, &l, "krealloc", false);
        if (sp && heap_class_of(size) == (int)sp->cls)
            return p;
        if (l && size > HEAP_SMALL_MAX && size > old / 2) {
            l->size = size;
            return p;
        }
    }
    void *n = kmalloc(size);
    if (!n)
        return NULL; /* p stays as it was */
    __builtin_memcpy(n, p, old < size ? old : size);
    kfree(p);
    return n;
}

void heap_get_stats(struct heap_stats *out)
{
    *out = (struct heap_stats){0};
    uint64_t blocks, bytes;
    slab_count_live(&blocks, &bytes);
    heap_lock();
    out->live_blocks = blocks + heap_g.large_blocks;
    out->live_bytes = bytes + heap_g.large_live_bytes;
    out->spans = heap_g.spans;
    out->large_blocks = heap_g.large_blocks;
    out->mapped_bytes = heap_g.mapped_bytes;
    out->oom = heap_g.oom;
    for (int k = 0; k < HEAP_REPORT_COUNT_; k++)
        out->reports[k] = heap_g.reports[k];
    heap_unlock();
    if (heap_g.mode == HEAP_CHECKING)
        out->quarantined = chk_quarantined();
}

void heap_get_reports(uint64_t counts[HEAP_REPORT_COUNT_])
{
    heap_lock();
    for (int k = 0; k < HEAP_REPORT_COUNT_; k++)
        counts[k] = heap_g.reports[k];
    heap_unlock();
}

bool heap_valid(void)
{
    return heap_g.ready && slab_valid() && large_valid();
}

void heap_trim(void)
{
    if (!heap_g.ready)
        return;
    if (heap_g.mode == HEAP_CHECKING)
        chk_trim();
    slab_trim();
    heap_lock();
    /* Whole segments back to paging: take their spans out of the pool, then unmap. */
    for (unsigned i = 0; i < MAX_SEGS; i++) {
        if (!heap_g.seg[i].live || heap_g.seg[i].pooled != SEG_SPANS)
            continue;
        uint64_t va = heap_g.seg[i].va;
        struct span **pp = &heap_g.pool;
        for (uint64_t n = 0; *pp; n++) {
            if (!heap_at_span(*pp) || !span_header_ok(*pp) || (*pp)->bsize ||
                n > AREA_CHUNKS + ARENA_SIZE / SPAN_SIZE)
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
