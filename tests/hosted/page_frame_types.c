/* page_frame_types.c - compiled, never run: a 2 MiB page takes only a 2 MiB frame.
 * ctest builds it as is (must compile) and with KS_SIZE_MISMATCH (must not). */
#include <paging/paging.h>

struct pg_ret map_one(struct pg_space *as);

struct pg_ret map_one(struct pg_space *as)
{
#ifdef KS_SIZE_MISMATCH
    return pg_map(as, PAGE_2M(0x200000), FRAME_4K(0x1000), PG_WRITE);
#else
    return pg_map(as, PAGE_2M(0x200000), FRAME_2M(0x200000), PG_WRITE);
#endif
}
