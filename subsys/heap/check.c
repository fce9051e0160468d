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
#include "check_internal.h"
#include <arch/console.h>
#include <arch/debug.h>
#include <arch/panic.h>

#define Q_SLOTS 1024
#define Q_BYTES (UINT64_C(4) << 20)

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
            if (chk_raw_of(raw, &b, &raw_free) && !raw_free)
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
    struct chk_hdr *h = chk_hdr_open(raw, raw_size, &intact);
    if (!intact)
        chk_report_header_overwritten("heap_leak_check", raw + FRONT_MIN, raw, "");
    else if (h->magic == LIVE_MAGIC && (uint32_t)(h->free_stack - ls->mark) < UINT32_C(1) << 31) {
        ls->found++;
        heap_report(HEAP_REPORT_LEAK, "the %u-byte block at %p was never freed", h->size,
                    (void *)user_of(h));
        chk_report_stacks(h);
    }
    chk_hdr_close(h);
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
    if (!chk_raw_of(raw, &b, &raw_free) || b.start != raw)
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
    chk_hdr_seal(h);
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
    if (!chk_raw_of(p, &b, &raw_free) || raw_free) {
        if (!b.in_heap)
            heap_report(HEAP_REPORT_NOT_HEAP, "%s(%p): %s", who, p,
                        arch_describe_address(p, what, sizeof(what)));
        else
            heap_report(HEAP_REPORT_NOT_ALLOCATED, "%s(%p): nothing is allocated there", who, p);
        return NULL;
    }
    *raw = b.start;
    *raw_size = b.usable;
    struct chk_hdr *h = chk_hdr_open(*raw, *raw_size, &intact);
    if (!intact) {
        chk_report_header_overwritten(who, p, *raw, "; the block is left as it is");
        chk_hdr_close(h);
        return NULL;
    }
    uint8_t *user = user_of(h);
    if (user != p) {
        chk_hdr_close(h);
        heap_report(HEAP_REPORT_INTERIOR, "%s(%p): not the start of the block at %p", who, p,
                    (void *)user);
        heap_describe(p, "   ");
        return NULL;
    }
    if (h->magic == FREE_MAGIC) {
        heap_report(HEAP_REPORT_DOUBLE_FREE, "%s(%p): the %u-byte block was already freed", who, p,
                    h->size);
        chk_report_stacks(h);
        chk_hdr_close(h);
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
    if (!chk_raw_of(e.user, &b, &raw_free) || raw_free)
        arch_panic("heap quarantine: block %p (%u bytes) is no longer a block the heap handed "
                   "out",
                   (void *)e.user, e.size);
    uint8_t *raw = b.start;
    size_t raw_size = b.usable;
    arch_san_unpoison(raw, raw_size);
    struct chk_hdr *h = chk_hdr_open(raw, raw_size, &intact);
    if (!intact || h->magic != FREE_MAGIC || user_of(h) != e.user || h->size != e.size) {
        chk_report_header_overwritten("heap quarantine", e.user, raw, " while the block was freed");
    } else {
        uint64_t i = chk_first_not(e.user, h->size, HEAP_POISON_FREE);
        if (i < h->size) {
            heap_report(HEAP_REPORT_USE_AFTER_FREE,
                        "block %p (%u bytes) was written after it was freed: byte +%lu is 0x%02x",
                        (void *)e.user, h->size, (unsigned long)i, e.user[i]);
            chk_report_stacks(h);
        } else {
            chk_redzones_whole("heap quarantine", h, raw_size, "freed ");
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
        chk_report_stacks(h);
        chk_hdr_close(h);
        return;
    }
    uint8_t *user = p;
    uint32_t n = h->size;
    arch_san_unpoison(raw, raw_size);
    if (!chk_redzones_whole(who, h, raw_size, "")) { /* said once: repaint, so the quarantine
                                                     reports only what is written later */
        __builtin_memset(raw + sizeof(*h), RZ_BYTE, (size_t)(user - raw) - sizeof(*h));
        __builtin_memset(user + n, RZ_BYTE, raw_size - (size_t)(user - raw) - n);
    }
    h->magic = FREE_MAGIC;
    h->free_stack = at;
    chk_hdr_seal(h);
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
    chk_hdr_close(h);
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
