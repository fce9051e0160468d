/* ktest_frames.c - see ktest_frames.h. */
#include "ktest_frames.h"
#include <arch/mem.h>

static phys_addr_t next, end;

phys_addr_t ktest_frame_alloc(uint64_t size)
{
    if (!end) {
        size_t n;
        const struct arch_mem_range *r = arch_mem_ranges(&n);
        uint64_t best = 0;
        for (size_t i = 0; i < n; i++) {
            if (r[i].type == ARCH_MEM_USABLE && r[i].size > best) {
                best = r[i].size;
                next = r[i].base;
                end = r[i].base + r[i].size;
            }
        }
    }
    phys_addr_t pa = ARCH_ALIGN_UP(next, size);
    if (!end || pa < next || pa + size > end || pa + size < pa)
        return 0;
    next = pa + size;
    uint64_t *p = arch_phys_to_virt(pa);
    for (uint64_t i = 0; i < size / 8; i++)
        p[i] = 0;
    return pa;
}
