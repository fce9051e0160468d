/* ktest_frames.h - physical frames for tests that build page tables by hand.
 * A bump allocator over the highest usable RAM range: frames are never reused
 * within one test program, so a test cannot see another's leftovers. */
#ifndef KTEST_FRAMES_H
#define KTEST_FRAMES_H

#include <arch/types.h>

/* A zeroed frame of `size` bytes (4 KiB, 2 MiB or 1 GiB), aligned to its size, or 0
 * when the usable RAM is exhausted. */
phys_addr_t ktest_frame_alloc(uint64_t size);

#endif
