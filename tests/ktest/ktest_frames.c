/* ktest_frames.c - see ktest_frames.h. Frames come from the paging subsystem's frame
 * allocator (started on first use), so tests never collide with it. */
#include "ktest_frames.h"
#include <arch/mem.h>
#include <paging/paging.h>

phys_addr_t ktest_frame_alloc(uint64_t size)
{
    if (!frame_initialised() && frame_init() != PG_OK)
        return 0;
    struct pg_ret r = frame_alloc(size);
    if (r.err)
        return 0;
    __builtin_memset(arch_phys_to_virt(r.value), 0, size);
    return r.value;
}
