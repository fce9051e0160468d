/* bench.h - what every benchmark program here needs: a clock and a median. */
#ifndef KS_BENCH_H
#define KS_BENCH_H

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Monotonic time in seconds. */
static inline double bench_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int bench_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* The median of v[0..n) (sorts v). */
static inline double bench_median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof(*v), bench_cmp);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* The heap benchmarks' sizes: uniform in 16..512 bytes, from xorshift64 with a fixed
 * seed, so heap_bench and heap_ab run the same sequence. */
static inline void bench_heap_sizes(size_t *sizes, int n)
{
    unsigned long long x = 88172645463325252ull;
    for (int i = 0; i < n; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        sizes[i] = 16 + x % 497;
    }
}

/* The options every benchmark here takes: --reps N (1-99) and --quick. 0, or 2 after
 * printing the usage line for anything else. */
static inline int bench_args(int argc, char **argv, int *reps, bool *quick)
{
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--reps") && i + 1 < argc && atoi(argv[i + 1]) > 0 &&
            atoi(argv[i + 1]) < 100)
            *reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--quick"))
            *quick = true;
        else {
            fprintf(stderr, "usage: %s [--reps N (1-99)] [--quick]\n", argv[0]);
            return 2;
        }
    }
    return 0;
}

#endif
