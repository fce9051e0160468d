/* misaligned_access.c - a trace buffer of variable-length records: a one-byte tag,
 * then a 32-bit counter the code bumps in place. The counter's address is odd.
 *   atomic: the counter is bumped with a seam atomic. Found by the seam in both builds
 *           (a split lock on x86, or no atomicity at all): a panic naming the address.
 *   plain:  the counter is read with a plain load. Found by UBSan's alignment check
 *           (the asan preset). */
#include "machine.h"
#include <arch/atomic.h>
#include <stdio.h>
#include <string.h>

static uint8_t trace_buf[64] __attribute__((aligned(64)));

/* A record: [tag: 1 byte][count: 4 bytes]; the bug is treating count as a uint32_t. */
__attribute__((noinline)) static uint32_t *record_counter(uint8_t *rec)
{
    return (uint32_t *)(rec + 1);
}

__attribute__((noinline)) static void trace_hit_atomic(uint8_t *rec)
{
    arch_atomic_fetch_add(record_counter(rec), 1, ARCH_RELAXED);
}

__attribute__((noinline)) static uint32_t trace_read_plain(uint8_t *rec)
{
    return *record_counter(rec);
}

int main(int argc, char **argv)
{
    if (argc != 2 || (strcmp(argv[1], "atomic") && strcmp(argv[1], "plain"))) {
        fprintf(stderr, "usage: misaligned_access atomic|plain\n");
        return 2;
    }
    bug_boot();
    trace_buf[0] = 'R';
    if (!strcmp(argv[1], "atomic"))
        trace_hit_atomic(trace_buf);
    else
        printf("count %u\n", trace_read_plain(trace_buf));
    return bug_finish("misaligned_access");
}
