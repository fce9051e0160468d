/* check.c - checking mode: redzones, poisoning, a quarantine, stacks in reports.
 *
 * A checked block is a fast-mode block laid out as
 *   [front redzone][header: 16 B][user: size][tail redzone: >= 16 B]
 * with the header just before the user pointer. Redzones hold 0xfb, new user bytes
 * 0xa5 (HEAP_POISON_NEW), freed ones 0xdf (HEAP_POISON_FREE). Freed blocks wait in
 * the quarantine; when one leaves it, its bytes must still be 0xdf. */
#include "heap_internal.h"
#include <arch/console.h>
#include <arch/debug.h>
#include <arch/panic.h>

#define RZ_BYTE    0xfb
#define LIVE_MAGIC 0xa1
#define FREE_MAGIC 0xf9
#define HDR_CHECK  0x6b68
#define Q_SLOTS    1024
#define Q_BYTES    (UINT64_C(4) << 20)

struct chk_hdr {
    uint8_t magic;
    uint8_t front_log2; /* user - raw block start, a power of two (>= 16) */
    uint16_t check;     /* HDR_CHECK: one more thing a stray pointer must get right */
    uint32_t size;
    uint32_t alloc_stack;
    uint32_t free_stack; /* while live: the allocation's sequence number (leak checks) */
};
ARCH_STATIC_ASSERT(sizeof(struct chk_hdr) == 16, "the checked header fills one 16-byte slot");

static uint32_t alloc_seq; /* checked allocations so far (wraps after 2^32) */

static struct {
    uint8_t *slot[Q_SLOTS];
    unsigned head, n;
    uint64_t bytes;
} q;

static struct chk_hdr *hdr_of(const void *p)
{
    return (struct chk_hdr *)((uintptr_t)p - sizeof(struct chk_hdr));
}

/* The raw block holding p and its usable size, from the metadata alone (which is
 * never poisoned); false if p is not inside a raw block the heap handed out. */
static bool raw_of(const void *p, uint8_t **raw, size_t *raw_size, bool *raw_free)
{
    uint8_t *kind = heap_chunk_of(p);
    if (!kind || *kind == CHUNK_NONE)
        return false;
    if (*kind == CHUNK_SPAN) {
        struct span *s = span_of(p);
        if (s->magic != (SPAN_MAGIC ^ (uintptr_t)s))
            arch_panic("kfree: span metadata at %p is corrupted", (void *)s);
        long i = s->bsize ? span_block_index(s, p) : -1;
        if (i < 0 || (uint32_t)i >= s->nblocks)
            return false;
        *raw = s->data + (uint64_t)i * s->bsize;
        *raw_size = s->bsize;
        arch_san_unpoison(*raw, sizeof(struct block));
        const struct block *b = (const struct block *)*raw;
        *raw_free = b->key == (s->key ^ (uintptr_t)b);
        return true;
    }
    struct large *l = large_of(p);
    if (l->magic != (LARGE_MAGIC ^ (uintptr_t)l))
        arch_panic("kfree: large block header at %p is corrupted", (void *)l);
    *raw = l->data;
    *raw_size = l->usable;
    *raw_free = false;
    return (const uint8_t *)p >= l->data && (const uint8_t *)p < l->data + l->usable;
}

static void report_stacks_at(const struct chk_hdr *h, const char *indent)
{
    char deeper[16];
    ksnprintf(deeper, sizeof(deeper), "%s  ", indent);
    kprintf("#%sallocated at:\n", indent);
    arch_stack_print(h->alloc_stack, deeper);
    if (h->magic == FREE_MAGIC) {
        kprintf("#%sfreed at:\n", indent);
        arch_stack_print(h->free_stack, deeper);
    }
}

static void report_stacks(const struct chk_hdr *h)
{
    report_stacks_at(h, "   ");
}

/* The header of the checked block in the raw block at raw (not free), or NULL: it
 * sits just below the user pointer, raw + 2^front_log2. Left unpoisoned; the caller
 * poisons it again with hdr_done(). */
static struct chk_hdr *hdr_in(uint8_t *raw, size_t raw_size)
{
    for (unsigned f = 4; f < 64 && (UINT64_C(1) << f) + sizeof(struct chk_hdr) <= raw_size; f++) {
        struct chk_hdr *h = hdr_of(raw + (UINT64_C(1) << f));
        arch_san_unpoison(h, sizeof(*h));
        if ((h->magic == LIVE_MAGIC || h->magic == FREE_MAGIC) && h->check == HDR_CHECK &&
            h->front_log2 == f)
            return h;
        bool redzone = ((const uint8_t *)h)[0] == RZ_BYTE; /* read before poisoning again */
        arch_san_poison(h, sizeof(*h));
        if (!redzone)
            return NULL; /* only redzone bytes lie between raw and a larger front */
    }
    return NULL;
}

static void hdr_done(struct chk_hdr *h)
{
    arch_san_poison(h, sizeof(*h));
}

/* Call fn for every raw block in use (live or quarantined) in spans and large blocks. */
static void for_each_raw(void (*fn)(uint8_t *raw, size_t raw_size, void *ctx), void *ctx)
{
    for (int arena = 0; arena < 2; arena++) {
        const uint8_t *kinds = arena ? heap_g.arena_chunk : heap_g.chunk;
        size_t n = arena ? sizeof(heap_g.arena_chunk) : (heap_g.area ? sizeof(heap_g.chunk) : 0);
        uintptr_t base = arena ? (uintptr_t)heap_arena : heap_g.area;
        for (size_t i = 0; i < n; i++) {
            if (kinds[i] == CHUNK_LARGE_HEAD) {
                const struct large *l = (const struct large *)(base + i * SPAN_SIZE);
                fn(l->data, l->usable, ctx);
            }
            const struct span *s = (const struct span *)(base + i * SPAN_SIZE);
            if (kinds[i] != CHUNK_SPAN || !s->bsize)
                continue;
            for (uint32_t k = 0; k < s->nblocks; k++) {
                uint8_t *raw = s->data + (uint64_t)k * s->bsize, *r;
                size_t rs;
                bool raw_free;
                if (raw_of(raw, &r, &rs, &raw_free) && !raw_free) {
                    fn(raw, rs, ctx);
                    /* raw_of unpoisoned the first bytes: a live or quarantined block's
                     * header or front redzone. (A free block's stay open: the free
                     * lists run through them.) */
                    arch_san_poison(raw, sizeof(struct block));
                }
            }
        }
    }
}

struct leak_scan {
    uint32_t mark;
    uint64_t found;
};

static void leak_one(uint8_t *raw, size_t raw_size, void *ctx)
{
    struct leak_scan *ls = ctx;
    struct chk_hdr *h = hdr_in(raw, raw_size);
    if (!h)
        return;
    if (h->magic == LIVE_MAGIC && (uint32_t)(h->free_stack - ls->mark) < UINT32_C(1) << 31) {
        ls->found++;
        heap_report(HEAP_REPORT_LEAK, "the %u-byte block at %p was never freed", h->size,
                    (void *)(h + 1));
        report_stacks(h);
    }
    hdr_done(h);
}

uint64_t heap_leak_mark(void)
{
    return heap_g.mode == HEAP_CHECKING ? arch_atomic_load(&alloc_seq, ARCH_RELAXED) : 0;
}

uint64_t heap_leak_check(uint64_t mark)
{
    if (heap_g.mode != HEAP_CHECKING) {
        kprintf("# heap: leak check: not in checking mode, blocks carry no history\n");
        return 0;
    }
    struct leak_scan ls = {(uint32_t)mark, 0};
    arch_preempt_disable();
    for_each_raw(leak_one, &ls);
    arch_preempt_enable();
    return ls.found;
}

bool heap_describe(const void *p, const char *indent)
{
    uint8_t *raw;
    size_t raw_size;
    bool raw_free;
    if (heap_g.mode != HEAP_CHECKING || !heap_chunk_of(p) || !raw_of(p, &raw, &raw_size, &raw_free))
        return false;
    if (raw_free) {
        kprintf("#%s%p is in a free %zu-byte slot of the kernel heap (never handed out, or "
                "reused and freed)\n",
                indent, p, raw_size);
        return true;
    }
    struct chk_hdr *h = hdr_in(raw, raw_size);
    if (!h) {
        arch_san_poison(raw, sizeof(struct block)); /* as for_each_raw */
        return false;
    }
    const uint8_t *user = (const uint8_t *)(h + 1), *q = p;
    const uint8_t *end = user + h->size;
    const char *where = q < user ? "before" : q < end ? "inside" : "after";
    long dist = q < user ? (long)(user - q) : q < end ? (long)(q - user) : (long)(q - end);
    kprintf("#%s%p is %ld bytes %s the %u-byte kernel heap block at %p (%s)\n", indent, p, dist,
            where, h->size, (const void *)user,
            h->magic == LIVE_MAGIC ? "live" : "freed, in quarantine");
    char in[16];
    ksnprintf(in, sizeof(in), "%s  ", indent);
    report_stacks_at(h, in);
    hdr_done(h);
    arch_san_poison(raw, sizeof(struct block));
    return true;
}

void *chk_alloc(size_t size, size_t align, bool zero)
{
    size_t front = align > sizeof(struct chk_hdr) ? align : sizeof(struct chk_hdr);
    if (size > UINT32_MAX)
        return NULL;
    size_t total = front + size + 16;
    void *raw = heap_raw_alloc(total, align);
    if (!raw)
        return NULL;
    uint8_t *user = (uint8_t *)raw + front, *start;
    size_t raw_size;
    bool raw_free;
    raw_of(raw, &start, &raw_size, &raw_free); /* raw is a block start: start == raw */
    uint8_t *end = start + raw_size;
    arch_san_unpoison(raw, raw_size);
    __builtin_memset(raw, RZ_BYTE, front - sizeof(struct chk_hdr));
    __builtin_memset(user, zero ? 0 : HEAP_POISON_NEW, size);
    __builtin_memset(user + size, RZ_BYTE, (size_t)(end - user - size));
    *hdr_of(user) = (struct chk_hdr){LIVE_MAGIC,
                                     (uint8_t)__builtin_ctzl(front),
                                     HDR_CHECK,
                                     (uint32_t)size,
                                     arch_stack_capture(2),
                                     arch_atomic_fetch_add(&alloc_seq, 1, ARCH_RELAXED)};
    arch_san_poison(raw, front);
    arch_san_poison(user + size, (size_t)(end - user - size));
    arch_san_alloc(user, size, 16, zero);
    return user;
}

/* Find the live checked block at p; reports and returns NULL if there is none. */
static struct chk_hdr *live_hdr(const void *p, const char *who, uint8_t **raw, size_t *raw_size)
{
    char what[96];
    bool raw_free;
    if (!heap_chunk_of(p)) {
        heap_report(HEAP_REPORT_NOT_HEAP, "%s(%p): %s", who, p,
                    arch_describe_address(p, what, sizeof(what)));
        return NULL;
    }
    if (!raw_of(p, raw, raw_size, &raw_free) || raw_free) {
        heap_report(HEAP_REPORT_NOT_ALLOCATED, "%s(%p): nothing is allocated there", who, p);
        return NULL;
    }
    const uint8_t *h = (const uint8_t *)hdr_of(p);
    if (!ARCH_IS_ALIGNED((uintptr_t)p, HEAP_ALIGN) || h < *raw) {
        heap_report(HEAP_REPORT_INTERIOR, "%s(%p): not the start of the block at %p", who, p,
                    (void *)*raw);
        heap_describe(p, "   ");
        return NULL;
    }
    arch_san_unpoison(h, sizeof(struct chk_hdr));
    struct chk_hdr *hd = hdr_of(p);
    if ((hd->magic != LIVE_MAGIC && hd->magic != FREE_MAGIC) || hd->check != HDR_CHECK ||
        hd->front_log2 > 40 || *raw + (UINT64_C(1) << hd->front_log2) != p) {
        arch_san_poison(h, sizeof(struct chk_hdr));
        heap_report(HEAP_REPORT_INTERIOR, "%s(%p): not the start of the block at %p", who, p,
                    (void *)*raw);
        heap_describe(p, "   ");
        return NULL;
    }
    if (hd->magic == FREE_MAGIC) {
        heap_report(HEAP_REPORT_DOUBLE_FREE, "%s(%p): the %u-byte block was already freed", who, p,
                    hd->size);
        report_stacks(hd);
        arch_san_poison(h, sizeof(struct chk_hdr));
        return NULL;
    }
    return hd;
}

/* Give a quarantined block back to its span or pages, checking nothing wrote it. */
/* Offset of the first byte of p[0..n) that is not v, or n: eight bytes a step. */
static uint32_t first_not(const uint8_t *p, uint32_t n, uint8_t v)
{
    uint64_t pattern = v * UINT64_C(0x0101010101010101), w;
    uint32_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __builtin_memcpy(&w, p + i, 8);
        if (w != pattern)
            break;
    }
    while (i < n && p[i] == v)
        i++;
    return i;
}

static void evict(uint8_t *user)
{
    uint8_t *raw;
    size_t raw_size;
    bool raw_free;
    if (!raw_of(user, &raw, &raw_size, &raw_free))
        arch_panic("heap quarantine: block %p vanished", (void *)user);
    arch_san_unpoison(raw, raw_size);
    struct chk_hdr *h = hdr_of(user);
    uint32_t i = first_not(user, h->size, HEAP_POISON_FREE);
    if (i < h->size) {
        heap_report(HEAP_REPORT_USE_AFTER_FREE,
                    "block %p (%u bytes) was written after it was freed: byte +%u is 0x%02x",
                    (void *)user, h->size, i, user[i]);
        report_stacks(h);
    }
    q.bytes -= h->size;
    struct span *s;
    uint8_t *kind = heap_chunk_of(raw);
    if (*kind == CHUNK_SPAN && (s = span_of(raw)))
        span_free(s, raw, false);
    else
        large_free(large_of(raw), raw, false);
}

void chk_free(void *p, size_t size, bool sized)
{
    uint8_t *raw;
    size_t raw_size;
    const char *who = sized ? "kfree_sized" : "kfree";
    uint32_t at = arch_stack_capture(2); /* the free's stack, or the bad call's */
    heap_set_report_at(at);
    struct chk_hdr *h = live_hdr(p, who, &raw, &raw_size);
    if (!h)
        return;
    if (sized && size != h->size) {
        heap_report(HEAP_REPORT_SIZE_MISMATCH, "kfree_sized(%p, %zu): the block is %u bytes", p,
                    size, h->size);
        report_stacks(h);
        arch_san_poison(h, sizeof(*h));
        return;
    }
    uint8_t *user = p, *end = raw + raw_size;
    arch_san_unpoison(raw, raw_size);
    const uint8_t *bad = NULL;
    for (const uint8_t *b = raw; b < (uint8_t *)h && !bad; b++)
        bad = *b != RZ_BYTE ? b : NULL;
    for (const uint8_t *b = user + h->size; b < end && !bad; b++)
        bad = *b != RZ_BYTE ? b : NULL;
    if (bad) {
        heap_report(HEAP_REPORT_REDZONE,
                    "kfree(%p): the redzone %s the %u-byte block was written at %s%ld", p,
                    bad < user ? "before" : "after", h->size, bad < user ? "-" : "+",
                    (long)(bad < user ? user - bad : bad - (user + h->size)));
        report_stacks(h);
    }
    uint32_t n = h->size; /* the header is poisoned from here on */
    h->magic = FREE_MAGIC;
    h->free_stack = at;
    heap_set_report_at(0);
    __builtin_memset(user, HEAP_POISON_FREE, n);
    arch_san_free(user, n);
    arch_san_poison(raw, raw_size);
    heap_lock();
    if (q.n == Q_SLOTS || q.bytes + n > Q_BYTES) {
        uint8_t *old = q.slot[q.head];
        q.head = (q.head + 1) % Q_SLOTS;
        q.n--;
        heap_unlock();
        evict(old);
        heap_lock();
    }
    q.slot[(q.head + q.n) % Q_SLOTS] = user;
    q.n++;
    q.bytes += n;
    heap_unlock();
}

size_t chk_usable(const void *p)
{
    uint8_t *raw;
    size_t raw_size;
    struct chk_hdr *h = live_hdr(p, "kmalloc_usable_size", &raw, &raw_size);
    if (!h)
        return 0;
    size_t n = h->size;
    arch_san_poison(h, sizeof(*h));
    return n;
}

size_t chk_quarantined(void)
{
    return q.n;
}

void chk_trim(void)
{
    while (q.n) {
        uint8_t *old = q.slot[q.head];
        q.head = (q.head + 1) % Q_SLOTS;
        q.n--;
        evict(old);
    }
}
