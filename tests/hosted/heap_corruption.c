/* heap_corruption.c - a runaway write over the heap's own metadata, then a walk of
 * it. Every walk must distrust what it reads: stop with a "heap corruption" panic
 * that names the span, its class and the link it could not trust (heap_valid
 * answers false after the same report), and never crash, hang or hand out memory it
 * cannot vouch for. ctest runs each case under expect-failure.
 *
 *   heap_corruption CASE   (trim, stats, valid, alloc, remote, header, pool)
 *
 * The runaway write is the kind that overruns a block into the next one: the free
 * block after it has its list link at its start, so 8 bytes past the end is enough. */
#include <arch/cpu.h>
#include <arch/debug.h>
#include <heap/heap.h>
#include <heap/heap_internal.h>
#include <paging/paging.h>
#include <kmachine.h>
#include <sim/sim.h>
#include <stdio.h>
#include <string.h>

#define SIZE 64

/* Two blocks of the same span, b right after a (raw blocks of `raw` bytes). */
static void neighbours(size_t raw, uint8_t **a, uint8_t **b)
{
    uint8_t *p[16];
    for (int i = 0; i < 16; i++)
        p[i] = kmalloc(SIZE);
    *a = *b = NULL;
    for (int i = 0; i < 16 && !*a; i++) {
        for (int j = 0; j < 16 && !*a; j++) {
            if (p[i] && p[j] && p[j] - p[i] == (long)raw)
                *a = p[i], *b = p[j], p[i] = p[j] = NULL;
        }
    }
    for (int i = 0; i < 16; i++)
        kfree(p[i]);
}

/* Overrun a by `over` bytes past its raw block's end with 0x41: over the start of
 * the raw block after it. */
static void runaway(uint8_t *a, size_t from, size_t over)
{
    arch_san_unpoison(a + from, over); /* the checkers would stop it first: let it through */
    memset(a + from, 0x41, over);
}

int main(int argc, char **argv)
{
    const char *c = argc == 2 ? argv[1] : "";
    bool checking = !strcmp(c, "alloc") || !strcmp(c, "header");
    if (argc != 2) {
        fprintf(stderr, "usage: heap_corruption trim|stats|valid|alloc|remote|header|pool\n");
        return 2;
    }
    struct kmachine_opts o = {.heap = checking ? KMACHINE_HEAP_CHECKING : KMACHINE_HEAP_FAST};
    if (kmachine_boot(&o, NULL))
        return 2;
    /* A checked block of SIZE is a raw block of the class that holds it with its
     * header and redzones; a fast one is the class itself. */
    size_t raw = heap_class_size[heap_class_of(checking ? SIZE + 32 + 16 : SIZE)];
    uint8_t *a, *b;
    neighbours(raw, &a, &b);
    if (!a) {
        fprintf(stderr, "heap_corruption: no two neighbouring blocks\n");
        return 2;
    }
    size_t a_raw_end = checking ? raw - 32 : SIZE; /* from a's user pointer */
    if (!strcmp(c, "remote")) {
        sim_set_current_cpu(1);
        kfree(b); /* onto the span's remote list */
        sim_set_current_cpu(0);
    } else if (strcmp(c, "header") && strcmp(c, "pool")) {
        kfree(b);
        if (checking)
            heap_trim(); /* out of the quarantine, onto the span's own list */
    }
    if (!strcmp(c, "header")) {
        /* Over the span header itself, from the last block of the span before it. */
        uint8_t *span = (uint8_t *)((uintptr_t)a & ~(SPAN_SIZE - 1));
        arch_san_unpoison(span, 64);
        memset(span + 8, 0x41, 16); /* its data pointer and key */
        heap_leak_check(0);
    } else if (!strcmp(c, "pool")) {
        kfree(a), kfree(b);
        heap_trim(); /* the span goes back to the pool */
        uint8_t *span = (uint8_t *)((uintptr_t)a & ~(SPAN_SIZE - 1));
        memset(span, 0x41, 16); /* its magic and pool link */
        for (int i = 0; i < 4096; i++)
            kmalloc(2048); /* until a new span is taken from the pool */
    } else {
        runaway(a, a_raw_end, 8);
        if (!strcmp(c, "trim") || !strcmp(c, "remote"))
            heap_trim();
        else if (!strcmp(c, "stats")) {
            struct heap_stats st;
            heap_get_stats(&st);
        } else if (!strcmp(c, "valid")) {
            if (!heap_valid())
                return 1;
        } else if (!strcmp(c, "alloc")) {
            for (int i = 0; i < 4; i++)
                kmalloc(SIZE);
        } else {
            fprintf(stderr, "heap_corruption: unknown case '%s'\n", c);
            return 2;
        }
    }
    printf("heap_corruption: the walk trusted what it read\n");
    return 0;
}
