/* check.c - checking mode: redzones, poisoning, a quarantine, stacks in reports.
 *
 * A checked block is a fast-mode block ("raw" block) laid out as
 *   [header: 16 B][left redzone: >= 16 B][user: size][right redzone: >= 16 B]
 * The header is at the raw block's start, which the heap finds from its own
 * metadata (span geometry, the large block's header), never from the user pointer;
 * a check word covers every field of it, so nothing read from a header is used
 * before the header is proven intact. Redzones hold 0xfb, new user bytes 0xa5
 * (HEAP_POISON_NEW), freed ones 0xdf (HEAP_POISON_FREE). Freed blocks wait in the
 * quarantine; when one leaves it, its bytes and redzones must be as they were.
 *
 * The quarantine is shared by every CPU and changed only under its own lock: a free
 * that finds it full takes the oldest entry out, lets go of the lock to check and
 * release that block, and looks again, so an insert always follows a check made
 * under the same hold of the lock. */
#include "heap_internal.h"
#include <arch/console.h>
#include <arch/debug.h>
#include <arch/panic.h>

#define RZ_BYTE    0xfb
#define LIVE_MAGIC 0xa1
#define FREE_MAGIC 0xf9
#define FRONT_MIN  32 /* the header and the smallest left redzone */
#define Q_SLOTS    1024
#define Q_BYTES    (UINT64_C(4) << 20)

struct chk_hdr {
    uint8_t magic;
    uint8_t front_log2; /* user - raw, a power of two (>= FRONT_MIN) */
    uint16_t check;     /* over every other field and the header's address */
    uint32_t size;
    uint32_t alloc_stack;
    uint32_t free_stack; /* while live: the allocation's sequence number (leak checks) */
};
ARCH_STATIC_ASSERT(sizeof(struct chk_hdr) == 16 && sizeof(struct chk_hdr) < FRONT_MIN,
                   "the header fills one 16-byte slot, and a redzone follows it");
ARCH_STATIC_ASSERT(sizeof(struct chk_hdr) == sizeof(struct block),
                   "a raw block's first 16 bytes are its header or its free-list words");

static uint32_t alloc_seq; /* checked allocations so far (wraps after 2^32) */

struct q_entry {
    uint8_t *user;
    uint32_t size; /* as freed: the quarantine's byte count never trusts a header */
};

static struct {
    uint32_t lock_next, lock_owner; /* ticket lock over everything below */
    struct q_entry slot[Q_SLOTS];
    unsigned head, n;
    uint64_t bytes;
} q;

/* With preemption off, as heap_lock. */
static void q_lock(void)
{
    arch_preempt_disable();
    uint32_t me = arch_atomic_fetch_add(&q.lock_next, 1, ARCH_RELAXED);
    /* acquire: pairs with q_unlock's release: the last holder's changes are seen */
    while (arch_atomic_load(&q.lock_owner, ARCH_ACQUIRE) != me)
        arch_cpu_relax();
}

static void q_unlock(void)
{
    /* release: the quarantine as changed under the lock is seen by the next owner */
    arch_atomic_store(&q.lock_owner, q.lock_owner + 1, ARCH_RELEASE);
    arch_preempt_enable();
}

/* Take the oldest entry out (lock held, q.n > 0). */
static struct q_entry q_pop(void)
{
    struct q_entry e = q.slot[q.head];
    q.head = (q.head + 1) % Q_SLOTS;
    q.n--;
    q.bytes -= e.size;
    return e;
}

/* ---- headers ---- */

static uint16_t hdr_sum(const struct chk_hdr *h)
{
    uint64_t x = (uint64_t)h->magic | (uint64_t)h->front_log2 << 8 | (uint64_t)h->size << 16;
    uint64_t y = (uint64_t)h->alloc_stack | (uint64_t)h->free_stack << 32;
    uint64_t z = (x * UINT64_C(0x9e3779b97f4a7c15)) ^ (y * UINT64_C(0xc2b2ae3d27d4eb4f)) ^
                 ((uintptr_t)h * UINT64_C(0x165667b19e3779f9)) ^ heap_g.key;
    z ^= z >> 29;
    z *= UINT64_C(0xbf58476d1ce4e5b9);
    z ^= z >> 32;
    return (uint16_t)(z ^ (z >> 16));
}

static void hdr_seal(struct chk_hdr *h)
{
    h->check = hdr_sum(h);
}

/* The header of the raw block at raw (raw_size bytes) as read, open for reading
 * (hdr_close poisons it again), and whether every field of it is intact. */
static struct chk_hdr *hdr_open(uint8_t *raw, size_t raw_size, bool *intact)
{
    struct chk_hdr *h = (struct chk_hdr *)raw;
    arch_san_unpoison(h, sizeof(*h));
    *intact = (h->magic == LIVE_MAGIC || h->magic == FREE_MAGIC) && h->check == hdr_sum(h) &&
              h->front_log2 >= 5 && h->front_log2 < 32 &&
              (UINT64_C(1) << h->front_log2) + (uint64_t)h->size + 16 <= raw_size;
    return h;
}

static void hdr_close(struct chk_hdr *h)
{
    arch_san_poison(h, sizeof(*h));
}

static uint8_t *user_of(const struct chk_hdr *h)
{
    return (uint8_t *)h + (UINT64_C(1) << h->front_log2);
}

/* The raw block holding p (b, resolved once), and whether it is free, from the
 * metadata alone (which is never poisoned); false if p is not inside a raw block the
 * heap handed out. */
static bool raw_of(const void *p, struct heap_block *b, bool *raw_free)
{
    if (!heap_block_containing(p, b))
        return false;
    *raw_free = false;
    if (b->span) {
        arch_san_unpoison(b->start, sizeof(struct block));
        const struct block *k = (const struct block *)b->start;
        *raw_free = k->key == (b->span->key ^ (uintptr_t)k);
        if (!*raw_free)
            arch_san_poison(b->start, sizeof(struct block)); /* a header: closed unless opened */
    }
    return true;
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

/* A report's stacks, printed with it (heap_set_reports). */
static void report_stacks(const struct chk_hdr *h)
{
    if (heap_reports_printed())
        report_stacks_at(h, "   ");
}

/* The user pointer a raw block with an overwritten header most likely had: p if p is
 * where one could start, else where the smallest front puts it. For reports only. */
static const void *likely_user(const uint8_t *raw, const void *p)
{
    uint64_t off = (uint64_t)((const uint8_t *)p - raw);
    return off >= FRONT_MIN && !(off & (off - 1)) ? p : raw + FRONT_MIN;
}

/* The header at raw was overwritten: from below the user block (a heap overflow
 * before it) or by a runaway write from the block before. Nothing in it can be used;
 * the block stays as it is. */
static void report_header_overwritten(const char *who, const void *p, const uint8_t *raw,
                                      const char *when)
{
    heap_report(HEAP_REPORT_REDZONE,
                "%s(%p): heap overflow before the block at %p: its header at %p was overwritten%s",
                who, p, likely_user(raw, p), (const void *)raw, when);
}

/* Offset of the first byte of p[0..n) that is not v, or n: 32 bytes a step. Not
 * checked by ASan: p is the heap's own memory in the machine's RAM, read inside the
 * bounds an intact header gave, and the shadow checks were most of its cost. */
ARCH_CHECKER __attribute__((no_sanitize("address"))) static uint64_t
first_not(const uint8_t *p, uint64_t n, uint8_t v)
{
    uint64_t pattern = v * UINT64_C(0x0101010101010101), w[4], i = 0;
    for (; i + 32 <= n; i += 32) {
        __builtin_memcpy(w, p + i, 32);
        if ((w[0] ^ pattern) | (w[1] ^ pattern) | (w[2] ^ pattern) | (w[3] ^ pattern))
            break;
    }
    for (; i + 8 <= n; i += 8) {
        __builtin_memcpy(w, p + i, 8);
        if (w[0] != pattern)
            break;
    }
    while (i < n && p[i] == v)
        i++;
    return i;
}

/* The redzones of the block (header h intact, bytes open): a report for the first
 * byte that is not a redzone byte, before or after the block; true if both are whole. */
static bool redzones_whole(const char *who, const struct chk_hdr *h, size_t raw_size,
                           const char *whose)
{
    const uint8_t *raw = (const uint8_t *)h, *user = user_of(h), *end = raw + raw_size;
    const uint8_t *left = raw + sizeof(*h), *right = user + h->size;
    uint64_t l = first_not(left, (uint64_t)(user - left), RZ_BYTE);
    uint64_t r = first_not(right, (uint64_t)(end - right), RZ_BYTE);
    if (left + l < user) {
        heap_report(HEAP_REPORT_REDZONE,
                    "%s(%p): heap overflow before the block at %p: the redzone before the "
                    "%s%u-byte block was written at -%ld",
                    who, (const void *)user, (const void *)user, whose, h->size,
                    (long)(user - (left + l)));
    } else if (right + r < end) {
        heap_report(HEAP_REPORT_REDZONE,
                    "%s(%p): the redzone after the %s%u-byte block was written at +%lu", who,
                    (const void *)user, whose, h->size, (unsigned long)r);
    } else {
        return true;
    }
    report_stacks(h);
    return false;
}

/* Call fn for every raw block in use (live or quarantined) in spans and large blocks. */
static void for_each_raw(void (*fn)(uint8_t *raw, size_t raw_size, void *ctx), void *ctx)
{
    for (struct heap_chunk_it it = {0}; heap_chunk_next(&it);) {
        if (it.kind == CHUNK_LARGE_HEAD) {
            const struct large *l = large_checked((const void *)it.addr);
            fn(l->data, l->usable, ctx);
        }
        if (it.kind != CHUNK_SPAN)
            continue;
        const struct span *s = span_checked((const void *)it.addr);
        for (uint32_t k = 0; s->bsize && k < span_threaded(s); k++) {
            uint8_t *raw = s->data + (uint64_t)k * s->bsize;
            struct heap_block b;
            bool raw_free;
            if (raw_of(raw, &b, &raw_free) && !raw_free)
                fn(raw, b.usable, ctx);
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
    bool intact;
    struct chk_hdr *h = hdr_open(raw, raw_size, &intact);
    if (!intact)
        report_header_overwritten("heap_leak_check", raw + FRONT_MIN, raw, "");
    else if (h->magic == LIVE_MAGIC && (uint32_t)(h->free_stack - ls->mark) < UINT32_C(1) << 31) {
        ls->found++;
        heap_report(HEAP_REPORT_LEAK, "the %u-byte block at %p was never freed", h->size,
                    (void *)user_of(h));
        report_stacks(h);
    }
    hdr_close(h);
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
    struct heap_block b;
    bool raw_free, intact;
    if (heap_g.mode != HEAP_CHECKING || !raw_of(p, &b, &raw_free))
        return false;
    uint8_t *raw = b.start;
    size_t raw_size = b.usable;
    if (raw_free) {
        kprintf("#%s%p is in a free %zu-byte slot of the kernel heap (never handed out, or "
                "reused and freed)\n",
                indent, p, raw_size);
        return true;
    }
    struct chk_hdr *h = hdr_open(raw, raw_size, &intact);
    if (!intact) {
        kprintf("#%s%p is in the %zu-byte kernel heap slot at %p, whose block header was "
                "overwritten\n",
                indent, p, raw_size, (void *)raw);
        hdr_close(h);
        return true;
    }
    const uint8_t *user = user_of(h), *q = p;
    const uint8_t *end = user + h->size;
    const char *where = q < user ? "before" : q < end ? "inside" : "after";
    long dist = q < user ? (long)(user - q) : q < end ? (long)(q - user) : (long)(q - end);
    kprintf("#%s%p is %ld bytes %s the %u-byte kernel heap block at %p (%s)\n", indent, p, dist,
            where, h->size, (const void *)user,
            h->magic == LIVE_MAGIC ? "live" : "freed, in quarantine");
    char in[16];
    ksnprintf(in, sizeof(in), "%s  ", indent);
    report_stacks_at(h, in);
    hdr_close(h);
    return true;
}

void *chk_alloc(size_t size, size_t align, bool zero)
{
    size_t front = align > FRONT_MIN ? align : FRONT_MIN;
    if (size > UINT32_MAX || front >= (UINT64_C(1) << 31))
        return NULL;
    size_t total = front + size + 16;
    uint8_t *raw = heap_raw_alloc(total, align);
    if (!raw)
        return NULL;
    uint8_t *user = raw + front;
    struct heap_block b;
    bool raw_free;
    if (!raw_of(raw, &b, &raw_free) || b.start != raw)
        arch_panic("chk_alloc: the heap handed out %p, which is not a block start", (void *)raw);
    size_t raw_size = b.usable;
    uint8_t *end = b.start + raw_size;
    arch_san_unpoison(raw, raw_size);
    struct chk_hdr *h = (struct chk_hdr *)raw;
    __builtin_memset(raw + sizeof(*h), RZ_BYTE, front - sizeof(*h));
    __builtin_memset(user, zero ? 0 : HEAP_POISON_NEW, size);
    __builtin_memset(user + size, RZ_BYTE, (size_t)(end - user - size));
    *h = (struct chk_hdr){LIVE_MAGIC,
                          (uint8_t)__builtin_ctzl(front),
                          0,
                          (uint32_t)size,
                          arch_stack_capture(2),
                          arch_atomic_fetch_add(&alloc_seq, 1, ARCH_RELAXED)};
    hdr_seal(h);
    arch_san_poison(raw, front);
    arch_san_poison(user + size, (size_t)(end - user - size));
    arch_san_alloc(user, size, 16, zero);
    return user;
}

/* The live checked block p starts; reports and returns NULL if there is none. The
 * header comes back open (the caller closes it) and intact. */
static struct chk_hdr *live_hdr(const void *p, const char *who, uint8_t **raw, size_t *raw_size)
{
    char what[96];
    bool raw_free, intact;
    struct heap_block b;
    if (!raw_of(p, &b, &raw_free) || raw_free) {
        if (!b.in_heap)
            heap_report(HEAP_REPORT_NOT_HEAP, "%s(%p): %s", who, p,
                        arch_describe_address(p, what, sizeof(what)));
        else
            heap_report(HEAP_REPORT_NOT_ALLOCATED, "%s(%p): nothing is allocated there", who, p);
        return NULL;
    }
    *raw = b.start;
    *raw_size = b.usable;
    struct chk_hdr *h = hdr_open(*raw, *raw_size, &intact);
    if (!intact) {
        report_header_overwritten(who, p, *raw, "; the block is left as it is");
        hdr_close(h);
        return NULL;
    }
    uint8_t *user = user_of(h);
    if (user != p) {
        hdr_close(h);
        heap_report(HEAP_REPORT_INTERIOR, "%s(%p): not the start of the block at %p", who, p,
                    (void *)user);
        heap_describe(p, "   ");
        return NULL;
    }
    if (h->magic == FREE_MAGIC) {
        heap_report(HEAP_REPORT_DOUBLE_FREE, "%s(%p): the %u-byte block was already freed", who, p,
                    h->size);
        report_stacks(h);
        hdr_close(h);
        return NULL;
    }
    return h;
}

/* Give a quarantined block back to its span or pages, checking that nothing wrote it
 * or its redzones while it waited. */
static void evict(struct q_entry e)
{
    struct heap_block b;
    bool raw_free, intact;
    if (!raw_of(e.user, &b, &raw_free) || raw_free)
        arch_panic("heap quarantine: block %p (%u bytes) is no longer a block the heap handed "
                   "out",
                   (void *)e.user, e.size);
    uint8_t *raw = b.start;
    size_t raw_size = b.usable;
    arch_san_unpoison(raw, raw_size);
    struct chk_hdr *h = hdr_open(raw, raw_size, &intact);
    if (!intact || h->magic != FREE_MAGIC || user_of(h) != e.user || h->size != e.size) {
        report_header_overwritten("heap quarantine", e.user, raw, " while the block was freed");
    } else {
        uint64_t i = first_not(e.user, h->size, HEAP_POISON_FREE);
        if (i < h->size) {
            heap_report(HEAP_REPORT_USE_AFTER_FREE,
                        "block %p (%u bytes) was written after it was freed: byte +%lu is 0x%02x",
                        (void *)e.user, h->size, (unsigned long)i, e.user[i]);
            report_stacks(h);
        } else {
            redzones_whole("heap quarantine", h, raw_size, "freed ");
        }
    }
    heap_block_free(&b, raw, false);
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
        hdr_close(h);
        return;
    }
    uint8_t *user = p;
    uint32_t n = h->size;
    arch_san_unpoison(raw, raw_size);
    if (!redzones_whole(who, h, raw_size, "")) { /* said once: repaint, so the quarantine
                                                     reports only what is written later */
        __builtin_memset(raw + sizeof(*h), RZ_BYTE, (size_t)(user - raw) - sizeof(*h));
        __builtin_memset(user + n, RZ_BYTE, raw_size - (size_t)(user - raw) - n);
    }
    h->magic = FREE_MAGIC;
    h->free_stack = at;
    hdr_seal(h);
    heap_set_report_at(0);
    __builtin_memset(user, HEAP_POISON_FREE, n);
    arch_san_free(user, n);
    arch_san_poison(raw, raw_size);
    for (;;) {
        q_lock();
        if (q.n && (q.n == Q_SLOTS || q.bytes + n > Q_BYTES)) {
            struct q_entry old = q_pop();
            q_unlock();
            evict(old); /* then look again: others may have filled it meanwhile */
            continue;
        }
        /* Room, or an empty quarantine: a block larger than Q_BYTES waits alone. */
        q.slot[(q.head + q.n) % Q_SLOTS] = (struct q_entry){user, n};
        q.n++;
        q.bytes += n;
        q_unlock();
        return;
    }
}

size_t chk_usable(const void *p)
{
    uint8_t *raw;
    size_t raw_size;
    struct chk_hdr *h = live_hdr(p, "kmalloc_usable_size", &raw, &raw_size);
    if (!h)
        return 0;
    size_t n = h->size;
    hdr_close(h);
    return n;
}

size_t chk_quarantined(void)
{
    q_lock();
    size_t n = q.n;
    q_unlock();
    return n;
}

void chk_trim(void)
{
    for (;;) {
        q_lock();
        if (!q.n) {
            q_unlock();
            return;
        }
        struct q_entry old = q_pop();
        q_unlock();
        evict(old);
    }
}
