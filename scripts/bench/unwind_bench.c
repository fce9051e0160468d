/* unwind_bench.c - ns per frame for a 32-frame backtrace: kernsim's unwinder beside
 * libgcc's _Unwind_Backtrace, LLVM libunwind's _Unwind_Backtrace and nongnu
 * libunwind's unw_backtrace, in one process (the two libunwinds are dlopen'ed
 * RTLD_LOCAL, so their symbols do not clash with libgcc's).
 *
 *   unwind_bench [--reps N] [--quick]
 *
 * cold: the first backtrace each unwinder takes in this process (its caches empty);
 * warm: the median of --reps batches of repeated backtraces from the same stack.
 * Lines: "RESULT <unwinder> cold|warm <ns per frame>", then the warm ratios. */
#define _GNU_SOURCE
#include "bench.h"
#include <dlfcn.h>
#include <sim/sim.h>
#include <sim/unwind.h>
#include <stdio.h>
#include <string.h>
#include <unwind.h>

#define DEPTH 17 /* about 32 frames in all, with main's and libc's */
#define MAXF  128

int unwind_frames_run(int depth, void (*leaf)(void));

typedef _Unwind_Reason_Code (*bt_fn)(_Unwind_Trace_Fn, void *);
typedef uintptr_t (*getip_fn)(struct _Unwind_Context *);
typedef int (*unw_bt_fn)(void **, int);

static bt_fn llvm_bt;
static getip_fn llvm_getip;
static unw_bt_fn nongnu_bt;

struct acc {
    void *pcs[MAXF];
    int n;
    getip_fn getip;
};

static _Unwind_Reason_Code one(struct _Unwind_Context *ctx, void *arg)
{
    struct acc *a = arg;
    if (a->n == MAXF)
        return _URC_END_OF_STACK;
    a->pcs[a->n++] = (void *)a->getip(ctx);
    return _URC_NO_REASON;
}

enum { KERNSIM, LIBGCC, LLVM, NONGNU, NIMPL };
static const char *names[NIMPL] = {"kernsim", "libgcc", "llvm-libunwind", "nongnu-libunwind"};

/* One backtrace; returns its frame count. */
static int take(int impl)
{
    struct acc a = {.n = 0};
    switch (impl) {
    case KERNSIM: {
        uint64_t pcs[MAXF];
        return unw_backtrace(sim_unwind_lookup, &sim_unwind_stack_mem, pcs, MAXF, NULL);
    }
    case LIBGCC:
        a.getip = (getip_fn)_Unwind_GetIP;
        _Unwind_Backtrace(one, &a);
        return a.n;
    case LLVM:
        a.getip = llvm_getip;
        llvm_bt(one, &a);
        return a.n;
    default:
        return nongnu_bt(a.pcs, MAXF);
    }
}

static int reps = 7, batch = 2000;
static double cold[NIMPL], warm[NIMPL];
static int frames[NIMPL];

static void leaf(void)
{
    for (int i = 0; i < NIMPL; i++) {
        double t0 = bench_now();
        frames[i] = take(i);
        cold[i] = (bench_now() - t0) * 1e9 / frames[i];
    }
    double v[NIMPL][99];
    for (int r = 0; r < reps; r++) {
        for (int i = 0; i < NIMPL; i++) {
            double t0 = bench_now();
            long n = 0;
            for (int k = 0; k < batch; k++)
                n += take(i);
            v[i][r] = (bench_now() - t0) * 1e9 / (double)n;
        }
    }
    for (int i = 0; i < NIMPL; i++)
        warm[i] = bench_median(v[i], reps);
}

int main(int argc, char **argv)
{
    bool quick = false;
    if (bench_args(argc, argv, &reps, &quick))
        return 2;
    if (quick)
        batch = 20, reps = 1;
    void *l = dlopen("libunwind.so.1", RTLD_NOW | RTLD_LOCAL);
    void *g = dlopen("libunwind.so.8", RTLD_NOW | RTLD_LOCAL);
    if (!l || !g) {
        fprintf(stderr, "unwind_bench: %s (scripts/setup installs libunwind-14 and libunwind8)\n",
                dlerror());
        return 2;
    }
    llvm_bt = (bt_fn)dlsym(l, "_Unwind_Backtrace");
    llvm_getip = (getip_fn)dlsym(l, "_Unwind_GetIP");
    nongnu_bt = (unw_bt_fn)dlsym(g, "unw_backtrace");
    if (!llvm_bt || !llvm_getip || !nongnu_bt) {
        fprintf(stderr, "unwind_bench: a peer's entry point is missing\n");
        return 2;
    }
    unwind_frames_run(DEPTH, leaf);
    for (int i = 0; i < NIMPL; i++) {
        printf("RESULT %s frames %d\n", names[i], frames[i]);
        printf("RESULT %s cold %.1f\n", names[i], cold[i]);
        printf("RESULT %s warm %.1f\n", names[i], warm[i]);
    }
    for (int i = 1; i < NIMPL; i++)
        printf("RATIO kernsim/%s warm %.2fx the time\n", names[i], warm[0] / warm[i]);
    printf("TARGET warm kernsim <= 0.5x libgcc: %s\n", warm[0] <= 0.5 * warm[1] ? "met" : "missed");
    return 0;
}
