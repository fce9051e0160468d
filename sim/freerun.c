/* freerun.c - free-running CPUs: CPU i on host thread i, no scheduler at all. The
 * seam's scheduling points are no-ops (no hook is installed), the host interleaves
 * the threads, and TSan sees real threads with real synchronisation. */
#include "sim_internal.h"
#include <arch/cpu.h>
#include <pthread.h>
#include <sim/sched.h>
#include <stdio.h>
#include <string.h>

#define MAX_THREADS 64

struct thread_arg {
    unsigned cpu;
    void (*fn)(unsigned, void *);
    void *ctx;
};

static void *thread_main(void *p)
{
    struct thread_arg *a = p;
    sim_current_cpu = a->cpu;
    sim_stack_bounds_init(); /* now, not first inside a fault handler */
    a->fn(a->cpu, a->ctx);
    sim_mmu_cpu_stopped(a->cpu);
    return NULL;
}

int sim_run_cpus(unsigned ncpus, void (*fn)(unsigned cpu, void *ctx), void *ctx)
{
    if (!ncpus || ncpus > arch_cpu_count() || ncpus > MAX_THREADS) {
        fprintf(stderr, "kernsim: sim_run_cpus(%u): the machine has %u CPUs\n", ncpus,
                arch_cpu_count());
        return -1;
    }
    pthread_t th[MAX_THREADS];
    struct thread_arg a[MAX_THREADS];
    unsigned started = 0;
    int rc = 0;
    /* Their TLBs are modelled (a free run sees only the stale uses that fault: the
     * host has one mapping for every thread). */
    sim_mmu_cpus_running(ncpus >= 32 ? ~UINT32_C(0) : (UINT32_C(1) << ncpus) - 1);
    for (; started < ncpus; started++) {
        a[started] = (struct thread_arg){started, fn, ctx};
        int e = pthread_create(&th[started], NULL, thread_main, &a[started]);
        if (e) {
            fprintf(stderr, "kernsim: sim_run_cpus: cannot start CPU %u's thread: %s\n", started,
                    strerror(e));
            rc = -1;
            break;
        }
    }
    for (unsigned i = 0; i < started; i++)
        pthread_join(th[i], NULL);
    sim_mmu_cpus_running(0);
    return rc;
}
