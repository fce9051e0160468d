/* ktest_frames.c - see ktest_frames.h. Frames come from the paging subsystem's frame
 * allocator (started on first use), so tests never collide with it. */
#include "ktest_frames.h"
#include "ktest.h"
#include <arch/cpu.h>
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

struct pg_space *ktest_kernel_space(struct ktest *t)
{
    static struct pg_space kspace;
    if (!frame_initialised())
        KASSERT_EQ(t, frame_init(), PG_OK);
    enum pg_err v = va_init();
    KASSERT_TRUE(t, v == PG_OK || v == PG_ERR_ALREADY_INITIALISED);
    if (!kspace.live)
        KASSERT_EQ(t, pg_space_adopt(&kspace, arch_read_cr3()), PG_OK);
    return &kspace;
}
