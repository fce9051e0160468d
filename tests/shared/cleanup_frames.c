/* cleanup_frames.c - functions with cleanups, built with -fexceptions (see
 * cmake/hosted.cmake), for catch_unwind to unwind through. */
#include <arch/panic.h>
#include <heap/heap.h>

char cleanup_log[64];
int cleanup_n;

static void note(const char *c)
{
    if (cleanup_n < 63)
        cleanup_log[cleanup_n++] = *c;
}

static void free_it(void **p)
{
    kfree(*p);
    note("f");
}

__attribute__((noinline)) static void innermost(int panic)
{
    char c __attribute__((cleanup(note), unused)) = 'c';
    void *block __attribute__((cleanup(free_it))) = kmalloc(100);
    (void)block;
    if (panic)
        arch_panic("innermost gives up with %d", panic);
}

__attribute__((noinline)) static void middle(int panic)
{
    char b __attribute__((cleanup(note), unused)) = 'b';
    innermost(panic);
}

void cleanup_outer(void *arg)
{
    char a __attribute__((cleanup(note), unused)) = 'a';
    middle((int)(intptr_t)arg);
}
