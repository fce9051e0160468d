/* arch/types.h - basic types and page-size facts shared by every build. */
#ifndef ARCH_TYPES_H
#define ARCH_TYPES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef uint64_t phys_addr_t;

#define ARCH_PAGE_SHIFT 12
#define ARCH_PAGE_4K    (UINT64_C(1) << 12)
#define ARCH_PAGE_2M    (UINT64_C(1) << 21)
#define ARCH_PAGE_1G    (UINT64_C(1) << 30)

/* `a` must be a power of two; the result is a uint64_t. ALIGN_UP wraps to 0 near
 * UINT64_MAX. */
#define ARCH_ALIGN_DOWN(x, a) ((x) & ~((uint64_t)(a)-1))
#define ARCH_ALIGN_UP(x, a)   ARCH_ALIGN_DOWN((uint64_t)(x) + (a)-1, (a))
#define ARCH_IS_ALIGNED(x, a) ((((uint64_t)(x)) & ((uint64_t)(a)-1)) == 0)

#define ARCH_STATIC_ASSERT(cond, msg) _Static_assert(cond, msg)

ARCH_STATIC_ASSERT(ARCH_PAGE_2M == 512 * ARCH_PAGE_4K, "a 2 MiB page is 512 4 KiB pages");
ARCH_STATIC_ASSERT(ARCH_PAGE_1G == 512 * ARCH_PAGE_2M, "a 1 GiB page is 512 2 MiB pages");

#define ARCH_NORETURN     __attribute__((noreturn))
#define ARCH_PRINTF(f, a) __attribute__((format(printf, f, a)))
/* A consistency checker's walk (frame_valid, slab_valid...): a fuzzer's coverage
 * tracing learns nothing from its loops, and their comparisons were most of what the
 * fuzzers spent. Never inlined, or the caller's tracing would cover it again. No
 * effect where nothing traces coverage. */
#define ARCH_CHECKER      __attribute__((no_sanitize("coverage"), noinline))
/* The same for a loop over every frame or entry of a range (freeing 512 frames, say):
 * one more iteration is no new behaviour, and tracing each cost the fuzzers a fifth
 * of their time. What the loop decides reaches traced code as its result. */
#define ARCH_BULK         ARCH_CHECKER

#endif
