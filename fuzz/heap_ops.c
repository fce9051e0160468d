/* heap_ops.c - libFuzzer target: the kernel heap against a model.
 *
 * Each 4-byte operation works on one of 32 slots: kmalloc, kzalloc, kmalloc_aligned,
 * krealloc, kfree, kfree_sized (right or wrong size), a second free of a stale
 * pointer, or a failure injected underneath the heap (frames, or its growth). Every live block is
 * filled with its slot's tag, and the tag must be intact when the block is freed or moved:
 * overlapping blocks show up here even when no invariant check sees them. Alignment, zeroing and
 * realloc's copy are checked; NULL is accepted only while failures are injected (of frames, or of
 * the heap's growth). At the end everything is freed and the heap, the frames and the mapped bytes
 * must be back where they started. KERNSIM_HEAP_MODE=checking fuzzes checking mode. */
#include <kmachine.h>
#include <arch/cpu.h>
#include <arch/fault.h>
#include <heap/heap.h>
#include <paging/paging.h>
#include <sim/sim.h>
#include <emmintrin.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SLOTS 32

struct slot {
    uint8_t *p;
    size_t size, align;
    uint8_t tag;
    uint8_t *stale; /* what this slot last freed */
};

static struct slot slot[SLOTS];
static bool injecting_frames, injecting_growth; /* failures injected: NULL is allowed */
#define injecting (injecting_frames || injecting_growth)
static struct heap_stats base;
static struct frame_stats base_frames;

static void die(const char *what, uint64_t a, uint64_t b)
{
    fprintf(stderr, "heap_ops: %s (0x%llx, 0x%llx)\n", what, (unsigned long long)a,
            (unsigned long long)b);
    abort();
}

static void fill(struct slot *s)
{
    memset(s->p, s->tag, s->size);
}

/* The first of p[0..n) that is not v, or n. Not traced for coverage: its loop's
 * comparisons, a byte each, cost the fuzzer more than everything else it ran and give
 * it nothing to learn from. */
__attribute__((no_sanitize("coverage", "address"), noinline)) static size_t
first_not(const uint8_t *p, size_t n, uint8_t v)
{
    /* 64 bytes a step, compared 16 at a time (SSE2, every x86_64 has it). */
    const __m128i pattern = _mm_set1_epi8((char)v);
    size_t i = 0;
    for (; i + 64 <= n; i += 64) {
        __m128i a = _mm_cmpeq_epi8(_mm_loadu_si128((const __m128i *)(p + i)), pattern);
        __m128i b = _mm_cmpeq_epi8(_mm_loadu_si128((const __m128i *)(p + i + 16)), pattern);
        __m128i c = _mm_cmpeq_epi8(_mm_loadu_si128((const __m128i *)(p + i + 32)), pattern);
        __m128i d = _mm_cmpeq_epi8(_mm_loadu_si128((const __m128i *)(p + i + 48)), pattern);
        if (_mm_movemask_epi8(_mm_and_si128(_mm_and_si128(a, b), _mm_and_si128(c, d))) != 0xffff)
            break;
    }
    while (i < n && p[i] == v)
        i++;
    return i;
}

static void check_tag(const struct slot *s, size_t n)
{
    size_t i = first_not(s->p, n, s->tag);
    if (i < n)
        die("a live block's bytes changed (overlap?)", (uintptr_t)s->p + i, s->p[i]);
}

static size_t size_of(const uint8_t *op)
{
    /* Mostly small, sometimes across the 2 KiB edge, sometimes large: a page or two,
     * now and then more than a 64 KiB chunk (a block over several chunks). Every page
     * of a large block costs the sim a host page and the target a fill and a check,
     * and a larger one takes no other path. */
    switch (op[3] >> 6) {
    case 0:
    case 1:
        return (size_t)op[2] + 1;
    case 2:
        return 1500 + (size_t)op[2] * 8;
    default:
        return 2049 + (size_t)(op[2] & 0x3f) * 96 + ((op[2] & 0xc0) == 0xc0 ? 64u << 10 : 0);
    }
}

static void got_block(struct slot *s, uint8_t *p, size_t size, size_t align, uint8_t tag, bool zero)
{
    if (!p) {
        if (!injecting)
            die("NULL without an injected failure", size, align);
        return;
    }
    if (!ARCH_IS_ALIGNED((uintptr_t)p, align < HEAP_ALIGN ? HEAP_ALIGN : align))
        die("misaligned block", (uintptr_t)p, align);
    if (kmalloc_usable_size(p) < size)
        die("usable size below the size asked for", kmalloc_usable_size(p), size);
    size_t nz;
    if (zero && (nz = first_not(p, size, 0)) < size)
        die("kzalloc memory is not zero", (uintptr_t)p + nz, p[nz]);
    *s = (struct slot){p, size, align, tag, NULL};
    fill(s);
}

static void release(struct slot *s)
{
    check_tag(s, s->size);
    kfree(s->p);
    *s = (struct slot){.stale = s->p};
}

/* Free a pointer that was freed before: unless the heap gave that address to a live
 * slot again (reuse, not a double free), it must be reported and change nothing. */
static void free_stale(struct slot *s)
{
    if (!s->stale)
        return;
    for (unsigned k = 0; k < SLOTS; k++) {
        if (slot[k].p && s->stale >= slot[k].p && s->stale < slot[k].p + slot[k].size)
            return;
    }
    /* The live count is checked at the end of the input (a stale free that freed a
     * block shows there, and in the tags of whatever reuses it): the walk that counts
     * live blocks is too dear for every operation. */
    uint64_t before[HEAP_REPORT_COUNT_], after[HEAP_REPORT_COUNT_], r = 0;
    heap_get_reports(before);
    kfree(s->stale);
    heap_get_reports(after);
    for (int k = 0; k < HEAP_REPORT_COUNT_; k++)
        r += after[k] - before[k];
    if (r != 1)
        die("a stale free was not reported exactly once", r, 0);
    for (unsigned k = 0; k < SLOTS; k++) {
        if (slot[k].p)
            check_tag(&slot[k], slot[k].size);
    }
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    /* KERNSIM_HEAP_MODE=checking fuzzes checking mode; a value that is neither mode
     * is refused, not read as fast. */
    struct kmachine_opts o = {
        .heap = KMACHINE_HEAP_ENV_OR_FAST, .ram_size = UINT64_C(128) << 20, .no_history = true};
    if (kmachine_boot(&o, NULL))
        abort();
    arch_fault_set_reports(false); /* expected faults, thousands a second */
    heap_set_reports(false);       /* the model predicts every report; printing them costs */
    heap_trim();
    heap_get_stats(&base);
    frame_get_stats(&base_frames);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
    for (size_t i = 0; i + 4 <= len && i < 4 * 256; i += 4) {
        const uint8_t *op = data + i;
        struct slot *s = &slot[op[1] % SLOTS];
        uint8_t tag = (uint8_t)(op[1] | 1);
        switch (op[0] % 9) {
        case 0:
        case 1:
            if (!s->p)
                got_block(s, kmalloc(size_of(op)), size_of(op), 0, tag, false);
            break;
        case 2:
            if (!s->p)
                got_block(s, kzalloc(size_of(op)), size_of(op), 0, tag, true);
            break;
        case 3:
            if (!s->p) {
                size_t align = (size_t)1 << (4 + op[3] % 13); /* 16 .. 64 KiB */
                got_block(s, kmalloc_aligned(size_of(op), align), size_of(op), align, tag, false);
            }
            break;
        case 4: {
            if (!s->p)
                break;
            size_t n = size_of(op);
            uint8_t *q = krealloc(s->p, n);
            if (!q) {
                if (!injecting)
                    die("krealloc failed without an injected failure", n, 0);
                check_tag(s, s->size); /* the old block is untouched */
                break;
            }
            s->p = q;
            check_tag(s, n < s->size ? n : s->size); /* contents moved with it */
            s->size = n;
            s->align = 0;
            fill(s);
            break;
        }
        case 5:
            if (s->p)
                release(s);
            break;
        case 6: {
            if (!s->p)
                break;
            uint64_t before[HEAP_REPORT_COUNT_], after[HEAP_REPORT_COUNT_];
            heap_get_reports(before);
            bool wrong = op[3] & 1;
            check_tag(s, s->size);
            kfree_sized(s->p, wrong ? s->size + 4096 : s->size);
            heap_get_reports(after);
            uint64_t reported =
                after[HEAP_REPORT_SIZE_MISMATCH] - before[HEAP_REPORT_SIZE_MISMATCH];
            if (reported != (wrong ? 1u : 0u))
                die("kfree_sized report count", reported, wrong);
            if (wrong)
                check_tag(s, s->size); /* refused: still allocated, still intact */
            else
                *s = (struct slot){.stale = s->p};
            break;
        }
        case 7:
            if (op[2] & 1) {
                free_stale(s);
                break;
            }
            /* fall through */
        default: /* inject failures: of frames, or of the heap's growth */
            if (op[3] & 0x80) {
                injecting_growth = op[2] & 1;
                heap_fail_growth_after(injecting_growth ? op[3] % 4 : UINT64_MAX);
            } else {
                injecting_frames = op[2] & 1;
                frame_fail_after(injecting_frames ? op[3] % 8 : UINT64_MAX);
            }
            break;
        }
    }
    frame_fail_after(UINT64_MAX);
    heap_fail_growth_after(UINT64_MAX);
    injecting_frames = injecting_growth = false;
    for (unsigned k = 0; k < SLOTS; k++) {
        if (slot[k].p)
            release(&slot[k]);
        slot[k].stale = NULL;
    }
    heap_trim();
    struct heap_stats st;
    struct frame_stats fs;
    heap_get_stats(&st);
    frame_get_stats(&fs);
    if (st.live_blocks != base.live_blocks || st.mapped_bytes != base.mapped_bytes)
        die("memory not returned", st.live_blocks, st.mapped_bytes);
    if (fs.free != base_frames.free)
        die("frames not returned", fs.free, base_frames.free);
    if (!heap_valid())
        die("heap_valid failed", 0, 0);
    return 0;
}
