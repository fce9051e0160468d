/* arch/debug.h - what a checking allocator tells the build's checkers, and asks it.
 *
 * In the sim these drive AddressSanitizer's manual poisoning, Valgrind's client
 * requests (blocks become malloc-like to memcheck: leaks, invalid and uninitialised
 * accesses in kernel-heap memory are reported) and MemorySanitizer's poisoning. On
 * hardware they do nothing (stack capture is not available there yet). Any CPU. */
#ifndef ARCH_DEBUG_H
#define ARCH_DEBUG_H

#include <arch/types.h>

/* A block of `size` bytes at p was handed out, with `redzone` bytes around it. */
void arch_san_alloc(const void *p, size_t size, size_t redzone, bool zeroed);
/* The block at p (size bytes) was given back: no access until handed out again. */
void arch_san_free(const void *p, size_t size);
/* Memory that no one may touch (redzones, metadata, free blocks) / that may be. */
void arch_san_poison(const void *p, size_t size);
void arch_san_unpoison(const void *p, size_t size);
/* Control is about to leave frames without returning through them (an unwinder
 * jumping to a landing pad): the checkers forget what they knew of those frames. */
void arch_san_no_return(void);

/* Capture the caller's stack (skipping `skip` frames); 0 when none can be taken (the
 * bare build, a full depot). Stacks are interned: equal stacks get the same id, valid
 * for the process's life. */
uint32_t arch_stack_capture(unsigned skip);
/* Print a captured stack as KTAP diagnostic lines after `indent`; id 0 prints a line
 * saying there is none. */
void arch_stack_print(uint32_t id, const char *indent);

/* Who can say more about an address than arch_describe_address (the checked heap:
 * which block, live or freed, allocated and freed where). Describers print "#" lines
 * after `indent` and return whether p was theirs. The checkers' reports call them: a
 * page fault in both builds, an AddressSanitizer report in the sim. */
typedef bool (*arch_describer)(const void *p, const char *indent);
/* At boot, before any fault can ask: up to four; adding one again does nothing, a
 * fifth panics. */
void arch_add_describer(arch_describer fn);
/* Ask each in the order added until one says p is its; false if none does. */
bool arch_describe(const void *p, const char *indent);

/* Say in a few words what `p` is (a global and its name, this thread's stack, host
 * memory from another allocator, the direct map, ...), for reports: into buf (size
 * bytes, NUL terminated if size > 0), which it returns. Any p. */
char *arch_describe_address(const void *p, char *buf, size_t size);

#endif
