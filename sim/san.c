/* san.c - arch/debug.h's checker annotations in the sim: what the heap tells ASan,
 * MSan and Valgrind about its blocks. Every sanitizer entry point is weak (san.h), so
 * one build serves all; below every other file (it calls only the checkers). */
#include "san.h"
#include <arch/debug.h>
#include <valgrind/memcheck.h>

void arch_san_alloc(const void *p, size_t size, size_t redzone, bool zeroed)
{
    if (__asan_unpoison_memory_region)
        __asan_unpoison_memory_region(p, size);
    VALGRIND_MALLOCLIKE_BLOCK(p, size, redzone, zeroed);
    if (!zeroed) {
        if (__msan_allocated_memory) /* poisoned, with this allocation as its origin */
            __msan_allocated_memory(p, size);
        else if (__msan_poison)
            __msan_poison(p, size); /* reading it before writing is a report */
    } else if (__msan_unpoison) {
        __msan_unpoison(p, size);
    }
}

void arch_san_free(const void *p, size_t size)
{
    VALGRIND_FREELIKE_BLOCK(p, 0);
    if (__asan_poison_memory_region)
        __asan_poison_memory_region(p, size);
}

void arch_san_poison(const void *p, size_t size)
{
    if (__asan_poison_memory_region)
        __asan_poison_memory_region(p, size);
    VALGRIND_MAKE_MEM_NOACCESS(p, size);
}

void arch_san_no_return(void)
{
    if (__asan_handle_no_return)
        __asan_handle_no_return();
}

void arch_san_unpoison(const void *p, size_t size)
{
    if (__asan_unpoison_memory_region)
        __asan_unpoison_memory_region(p, size);
    VALGRIND_MAKE_MEM_DEFINED(p, size);
    if (__msan_unpoison)
        __msan_unpoison(p, size);
}
