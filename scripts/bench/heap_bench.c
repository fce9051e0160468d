/* heap_bench.c - one allocator, three workloads, median ops/s of --reps runs.
 *
 *   heap_bench --allocator kernsim-fast|kernsim-checking|libc|null [--reps N] [--quick]
 *              [--only abc] [--versus-libc]
 *
 * "libc" is whatever malloc/free the process has: glibc, or a peer put in front of
 * it with LD_PRELOAD (scripts/bench/heap_bench.sh runs them all side by side).
 * "null" is the harness alone: an allocator call that returns one fixed block and a
 * free that does nothing, so its rate is the ceiling any allocator can reach here.
 * Workloads (sizes uniformly random in 16..512 bytes, from a fixed seed):
 *   a  one thread: allocate, write one byte, free; repeated
 *   b  one thread: 1000 allocations, then the 1000 frees, in allocation order
 *   c  two threads: one allocates and passes each block through a ring to the other,
 *      which frees it (every free is a cross-CPU free)
 * Ops are allocations plus frees. Output: "RESULT <allocator> <workload> <ops/s>".
 * --only ab runs just those workloads (for profiling one).
 * --versus-libc measures the allocator against the process's malloc in the same
 * process: each repetition runs libc, the allocator, then libc again, and takes the
 * allocator's rate over the mean of the two libc runs around it. This machine's speed
 * drifts by tens of percent over seconds, so a ratio of runs made apart (in separate
 * processes) carries that drift; paired runs a few milliseconds apart do not. It adds
 * "RESULT libc <workload> <ops/s>" and "RATIO <allocator> <workload> <ratio>" (the
 * median of the repetitions' ratios). */
#include "bench.h"
#include <kmachine.h>
#include <arch/cpu.h>
#include <heap/heap.h>
#include <paging/paging.h>
#include <pthread.h>
#include <sim/sim.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define NSIZES 4096
static size_t sizes[NSIZES];
static bool use_kernsim, use_null;

/* Out of line, and the result hidden from the optimiser, so a null call costs what an
 * allocator's call costs around its work. */
static char null_block[512];
__attribute__((noinline)) void *null_alloc(size_t n)
{
    void *p = null_block;
    __asm__ volatile("" : "+r"(p) : "r"(n) : "memory");
    return p;
}

__attribute__((noinline)) void null_free(void *p)
{
    __asm__ volatile("" : : "r"(p) : "memory");
}

static inline void *a_alloc(size_t n)
{
    return use_kernsim ? kmalloc(n) : use_null ? null_alloc(n) : malloc(n);
}

static inline void a_free(void *p)
{
    if (use_kernsim)
        kfree(p);
    else if (use_null)
        null_free(p);
    else
        free(p);
}

static double workload_a(long n)
{
    double t0 = bench_now();
    for (long i = 0; i < n; i++) {
        char *p = a_alloc(sizes[i & (NSIZES - 1)]);
        p[0] = (char)i;
        a_free(p);
    }
    return 2.0 * (double)n / (bench_now() - t0);
}

static double workload_b(long batches)
{
    static void *p[1000];
    double t0 = bench_now();
    for (long b = 0; b < batches; b++) {
        for (int i = 0; i < 1000; i++) {
            p[i] = a_alloc(sizes[(b * 1000 + i) & (NSIZES - 1)]);
            ((char *)p[i])[0] = (char)i;
        }
        for (int i = 0; i < 1000; i++)
            a_free(p[i]);
    }
    return 2000.0 * (double)batches / (bench_now() - t0);
}

/* A single-producer single-consumer ring for workload c. */
#define RING 4096
static void *ring[RING];
static _Atomic long head, tail;
static long c_total;

static void *consumer(void *arg)
{
    (void)arg;
    if (use_kernsim)
        sim_set_current_cpu(1);
    for (long done = 0; done < c_total;) {
        long h = atomic_load_explicit(&head, memory_order_acquire); /* sees the producer's slots */
        long t = atomic_load_explicit(&tail, memory_order_relaxed);
        if (t == h)
            continue;
        for (; t < h; t++, done++)
            a_free(ring[t & (RING - 1)]);
        atomic_store_explicit(&tail, t, memory_order_release); /* slots may be reused */
    }
    return NULL;
}

static double workload_c(long n)
{
    pthread_t th;
    c_total = n;
    atomic_store(&head, 0);
    atomic_store(&tail, 0);
    double t0 = bench_now();
    pthread_create(&th, NULL, consumer, NULL);
    for (long i = 0; i < n; i++) {
        while (i - atomic_load_explicit(&tail, memory_order_acquire) >= RING)
            ;
        char *p = a_alloc(sizes[i & (NSIZES - 1)]);
        p[0] = (char)i;
        ring[i & (RING - 1)] = p;
        atomic_store_explicit(&head, i + 1, memory_order_release); /* publish the slot */
    }
    pthread_join(th, NULL);
    return 2.0 * (double)n / (bench_now() - t0);
}

int main(int argc, char **argv)
{
    const char *alloc = NULL, *only = "abc";
    int reps = 5;
    bool quick = false, versus = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--allocator") && i + 1 < argc)
            alloc = argv[++i];
        else if (!strcmp(argv[i], "--reps") && i + 1 < argc && atoi(argv[i + 1]) > 0 &&
                 atoi(argv[i + 1]) <= 99)
            reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--quick"))
            quick = true;
        else if (!strcmp(argv[i], "--only") && i + 1 < argc)
            only = argv[++i];
        else if (!strcmp(argv[i], "--versus-libc"))
            versus = true;
        else
            alloc = NULL, i = argc;
    }
    if (!alloc ||
        (strcmp(alloc, "kernsim-fast") && strcmp(alloc, "kernsim-checking") &&
         strcmp(alloc, "libc") && strcmp(alloc, "null")) ||
        (versus && !strcmp(alloc, "libc")) || only[strspn(only, "abc")]) {
        fprintf(stderr,
                "usage: %s --allocator kernsim-fast|kernsim-checking|libc|null [--reps N] "
                "[--quick] [--only a|b|c|ab...] [--versus-libc (not with libc)]\n",
                argv[0]);
        return 2;
    }
    bench_heap_sizes(sizes, NSIZES);
    use_null = strcmp(alloc, "null") == 0;
    if (strncmp(alloc, "kernsim", 7) == 0) {
        use_kernsim = true;
        struct kmachine_opts o = {.heap = strcmp(alloc, "kernsim-fast") ? KMACHINE_HEAP_CHECKING
                                                                        : KMACHINE_HEAP_FAST,
                                  .ram_size = UINT64_C(1) << 30,
                                  .ncpus = 2,
                                  .no_history = true};
        if (kmachine_boot(&o, NULL))
            return 1;
    }
    long n[3] = {quick ? 100000 : 4000000, quick ? 100 : 2000, quick ? 100000 : 2000000};
    double (*const work[3])(long) = {workload_a, workload_b, workload_c};
    double r[3][99], libc[3][99], ratio[3][99];
    bool run[3] = {strchr(only, 'a') != NULL, strchr(only, 'b') != NULL, strchr(only, 'c') != NULL};
    bool kernsim = use_kernsim, null = use_null;
    for (int k = 0; k < reps; k++) {
        for (int w = 0; w < 3; w++) {
            if (!run[w])
                continue;
            if (!versus) {
                r[w][k] = work[w](n[w]);
                continue;
            }
            use_kernsim = use_null = false;
            double before = work[w](n[w]);
            use_kernsim = kernsim, use_null = null;
            r[w][k] = work[w](n[w]);
            use_kernsim = use_null = false;
            double after = work[w](n[w]);
            use_kernsim = kernsim, use_null = null;
            libc[w][k] = (before + after) / 2;
            ratio[w][k] = r[w][k] / libc[w][k];
        }
    }
    for (int w = 0; w < 3; w++) {
        if (!run[w])
            continue;
        printf("RESULT %s %c %.0f\n", alloc, 'a' + w, bench_median(r[w], reps));
        if (versus) {
            printf("RESULT libc %c %.0f\n", 'a' + w, bench_median(libc[w], reps));
            printf("RATIO %s %c %.4f\n", alloc, 'a' + w, bench_median(ratio[w], reps));
        }
    }
    if (use_kernsim && !heap_valid()) {
        fprintf(stderr, "heap_bench: heap_valid failed\n");
        return 1;
    }
    return 0;
}
