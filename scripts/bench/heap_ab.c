/* heap_ab.c - workload (a) of heap_bench on two builds of subsys/heap in one process.
 *
 * Heap A is this tree's (libks_subsys.a); heap B is another tree's, its symbols renamed
 * B_* (scripts/bench/heap_ab.sh builds this). Each repetition runs A, B, glibc, then A
 * again, and B's paired ratio is its rate over the mean of A's two runs: the two
 * builds see the same machine, a few milliseconds apart, so changes of a few percent
 * show, which separate processes on this machine's drifting speed hide. Both heaps
 * share one sim and one address space; each grows in its own area.
 * Output: "AB <A Mops/s> <B Mops/s> <glibc Mops/s> <median B/A> <median A/glibc>". */
#include "bench.h"
#include <kmachine.h>
#include <arch/cpu.h>
#include <heap/heap.h>
#include <paging/paging.h>
#include <sim/sim.h>

void *B_kmalloc(size_t size);
void B_kfree(void *p);
bool B_heap_init(enum heap_mode mode);
/* B's tree may be older, when it said true for attached. */
#ifdef B_ATTACH_BOOL
bool B_heap_attach_paging(struct pg_space *as);
#define B_ATTACHED(as) B_heap_attach_paging(as)
#else
enum heap_err B_heap_attach_paging(struct pg_space *as);
#define B_ATTACHED(as) (B_heap_attach_paging(as) == HEAP_OK)
#endif

#define NSIZES 4096
static size_t sizes[NSIZES];

/* heap_bench's workload (a), with direct calls; the asm keeps the compiler from
 * pairing glibc's malloc with its free and deleting both. */
#define PAIRS(name, alloc, release)                                                                \
    static __attribute__((noinline)) double name(long n)                                           \
    {                                                                                              \
        double t0 = bench_now();                                                                   \
        for (long i = 0; i < n; i++) {                                                             \
            char *p = alloc(sizes[i & (NSIZES - 1)]);                                              \
            __asm__ volatile("" : "+r"(p));                                                        \
            p[0] = (char)i;                                                                        \
            release(p);                                                                            \
        }                                                                                          \
        return 2.0 * (double)n / (bench_now() - t0) / 1e6;                                         \
    }
PAIRS(pairs_a, kmalloc, kfree)
PAIRS(pairs_b, B_kmalloc, B_kfree)
PAIRS(pairs_glibc, malloc, free)

int main(int argc, char **argv)
{
    int reps = 15;
    bool quick = false;
    if (bench_args(argc, argv, &reps, &quick))
        return 2;
    long n = quick ? 100000 : 4000000;
    bench_heap_sizes(sizes, NSIZES);
    struct kmachine_opts o = {
        .heap = KMACHINE_HEAP_FAST, .ram_size = UINT64_C(1) << 30, .ncpus = 2, .no_history = true};
    struct kmachine m;
    if (kmachine_boot(&o, &m))
        return 1;
    if (!B_heap_init(HEAP_FAST) || !B_ATTACHED(m.space)) {
        fprintf(stderr, "heap_ab: the heaps would not start\n");
        return 1;
    }
    double a[99], b[99], g[99], ba[99], ag[99];
    for (int k = 0; k < reps; k++) {
        double a1 = pairs_a(n), rb = pairs_b(n), rg = pairs_glibc(n), a2 = pairs_a(n);
        a[k] = (a1 + a2) / 2, b[k] = rb, g[k] = rg, ba[k] = rb / a[k], ag[k] = a[k] / rg;
    }
    printf("AB %.1f %.1f %.1f %.4f %.4f\n", bench_median(a, reps), bench_median(b, reps),
           bench_median(g, reps), bench_median(ba, reps), bench_median(ag, reps));
    return 0;
}
