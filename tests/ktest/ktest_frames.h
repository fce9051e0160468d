/* ktest_frames.h - physical frames for tests that build page tables by hand. They
 * come from the frame allocator and are never given back, so a test cannot see
 * another's leftovers. */
#ifndef KTEST_FRAMES_H
#define KTEST_FRAMES_H

#include <arch/types.h>

/* A zeroed frame of `size` bytes (4 KiB, 2 MiB or 1 GiB), aligned to its size, or 0
 * when none is free. */
phys_addr_t ktest_frame_alloc(uint64_t size);

struct ktest;
struct pg_space;
/* The kernel's address space (the loaded root), with the frame and virtual range
 * allocators started: once per program, for tests of subsys/paging. */
struct pg_space *ktest_kernel_space(struct ktest *t);

#endif
