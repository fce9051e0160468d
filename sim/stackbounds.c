/* stackbounds.c - which stack the calling code runs on: the host thread's, or the
 * fiber a deterministic run has it on (the scheduler says which). The frame-pointer
 * walks (stackdepot.c) and the host unwinder stop at its ends. Calls nothing of the
 * sim's. */
#define _GNU_SOURCE
#include "sim_internal.h"
#include <pthread.h>

/* The stack the frame-pointer walker may read: the host thread's, or the fiber a
 * deterministic run is on (sim_stack_set_bounds). */
static __thread uintptr_t fp_lo, fp_hi, thread_lo, thread_hi;

void sim_stack_set_bounds(uintptr_t lo, uintptr_t hi)
{
    fp_lo = lo, fp_hi = hi;
}

void sim_stack_bounds_init(void)
{
    if (thread_hi)
        return;
    pthread_attr_t attr;
    void *base;
    size_t size;
    if (!pthread_getattr_np(pthread_self(), &attr)) { /* allocates: never in a handler */
        if (!pthread_attr_getstack(&attr, &base, &size))
            thread_lo = (uintptr_t)base, thread_hi = (uintptr_t)base + size;
        pthread_attr_destroy(&attr);
    }
}

bool sim_stack_bounds_known(uintptr_t *lo, uintptr_t *hi)
{
    *lo = fp_hi ? fp_lo : thread_lo;
    *hi = fp_hi ? fp_hi : thread_hi;
    return *hi != 0;
}

/* The stack the calling code runs on (a fiber's, or the host thread's). Threads that
 * neither booted the machine nor were started by sim_run_cpus learn theirs here. */
void sim_stack_bounds(uintptr_t *lo, uintptr_t *hi)
{
    if (!sim_stack_bounds_known(lo, hi)) {
        sim_stack_bounds_init();
        *lo = thread_lo, *hi = thread_hi;
    }
}
