/* check_block.c - a checked block's header, its redzones, and what a report says
 * about it: the bottom of checking mode, which check.c builds on.
 *
 * The header is sealed by a check word over every field and its own address, so a
 * header is used only once hdr_open has proven it intact. */
#include "check_internal.h"
#include <arch/console.h>
#include <arch/debug.h>

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

void chk_hdr_seal(struct chk_hdr *h)
{
    h->check = hdr_sum(h);
}

/* The header of the raw block at raw (raw_size bytes) as read, open for reading
 * (hdr_close poisons it again), and whether every field of it is intact. */
struct chk_hdr *chk_hdr_open(uint8_t *raw, size_t raw_size, bool *intact)
{
    struct chk_hdr *h = (struct chk_hdr *)raw;
    arch_san_unpoison(h, sizeof(*h));
    *intact = (h->magic == LIVE_MAGIC || h->magic == FREE_MAGIC) && h->check == hdr_sum(h) &&
              h->front_log2 >= 5 && h->front_log2 < 32 &&
              (UINT64_C(1) << h->front_log2) + (uint64_t)h->size + 16 <= raw_size;
    return h;
}

void chk_hdr_close(struct chk_hdr *h)
{
    arch_san_poison(h, sizeof(*h));
}

/* The raw block holding p (b, resolved once), and whether it is free, from the
 * metadata alone (which is never poisoned); false if p is not inside a raw block the
 * heap handed out. */
bool chk_raw_of(const void *p, struct heap_block *b, bool *raw_free)
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
void chk_report_stacks(const struct chk_hdr *h)
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
void chk_report_header_overwritten(const char *who, const void *p, const uint8_t *raw,
                                   const char *when)
{
    heap_report(HEAP_REPORT_REDZONE,
                "%s(%p): heap overflow before the block at %p: its header at %p was overwritten%s",
                who, p, likely_user(raw, p), (const void *)raw, when);
}

/* Offset of the first byte of p[0..n) that is not v, or n: 32 bytes a step. Not
 * checked by ASan: p is the heap's own memory in the machine's RAM, read inside the
 * bounds an intact header gave, and the shadow checks were most of its cost. */
ARCH_CHECKER __attribute__((no_sanitize("address"))) uint64_t chk_first_not(const uint8_t *p,
                                                                            uint64_t n, uint8_t v)
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
bool chk_redzones_whole(const char *who, const struct chk_hdr *h, size_t raw_size,
                        const char *whose)
{
    const uint8_t *raw = (const uint8_t *)h, *user = user_of(h), *end = raw + raw_size;
    const uint8_t *left = raw + sizeof(*h), *right = user + h->size;
    uint64_t l = chk_first_not(left, (uint64_t)(user - left), RZ_BYTE);
    uint64_t r = chk_first_not(right, (uint64_t)(end - right), RZ_BYTE);
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
    chk_report_stacks(h);
    return false;
}

bool heap_describe(const void *p, const char *indent)
{
    struct heap_block b;
    bool raw_free, intact;
    if (heap_g.mode != HEAP_CHECKING || !chk_raw_of(p, &b, &raw_free))
        return false;
    uint8_t *raw = b.start;
    size_t raw_size = b.usable;
    if (raw_free) {
        kprintf("#%s%p is in a free %zu-byte slot of the kernel heap (never handed out, or "
                "reused and freed)\n",
                indent, p, raw_size);
        return true;
    }
    struct chk_hdr *h = chk_hdr_open(raw, raw_size, &intact);
    if (!intact) {
        kprintf("#%s%p is in the %zu-byte kernel heap slot at %p, whose block header was "
                "overwritten\n",
                indent, p, raw_size, (void *)raw);
        chk_hdr_close(h);
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
    chk_hdr_close(h);
    return true;
}
