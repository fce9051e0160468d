/* unwind_test.c - subsys/unwind in the sim: backtraces equal libgcc's frame for frame
 * through deep varied stacks (no frame pointers, alloca, variadic, recursion, a signal
 * frame), the rows of a known function, expressions, and malformed tables. */
#define _GNU_SOURCE
#include "../ktest/ktest.h"
#include <dlfcn.h>
#include <sim/unwind.h>
#include <stdio.h>
#include <string.h>
#include <unwind.h>

int unwind_frames_run(int depth, void (*leaf)(void));
int unwind_frames_run_signal(int depth, void (*leaf)(void));

#define MAXF 256

static struct {
    uint64_t ours[MAXF], gcc[MAXF];
    int n_ours, n_gcc;
    enum unw_err err;
} bt;

static _Unwind_Reason_Code gcc_frame(struct _Unwind_Context *ctx, void *arg)
{
    (void)arg;
    if (bt.n_gcc == MAXF)
        return _URC_END_OF_STACK;
    bt.gcc[bt.n_gcc++] = _Unwind_GetIP(ctx);
    return _URC_NO_REASON;
}

static void take_both(void)
{
    bt.n_gcc = 0;
    _Unwind_Backtrace(gcc_frame, NULL);
    while (bt.n_gcc && !bt.gcc[bt.n_gcc - 1])
        bt.n_gcc--; /* libgcc ends with a frame whose return address is 0 (_start's) */
    bt.n_ours = unw_backtrace(sim_unwind_lookup, &sim_unwind_stack_mem, bt.ours, MAXF, &bt.err);
}

/* Both lists start inside take_both, at different calls: from the next frame on
 * they must agree, frame for frame, to the same outermost frame. Returns the frames
 * compared. */
static int compare(struct ktest *t)
{
    KEXPECT_EQ(t, bt.err, UNW_OK);
    KASSERT_GE(t, bt.n_ours, 2);
    KASSERT_GE(t, bt.n_gcc, 2);
    int n = 0, wrong = 0;
    for (; 1 + n < bt.n_ours && 1 + n < bt.n_gcc; n++)
        wrong += bt.ours[1 + n] != bt.gcc[1 + n];
    KEXPECT_EQ(t, wrong, 0);
    KEXPECT_EQ(t, bt.n_ours, bt.n_gcc);
    ktest_log(t, "%d frames compared, %d differ", n, wrong);
    if (bt.n_ours != bt.n_gcc)
        for (int i = 0; i < 4; i++) {
            Dl_info a = {0}, b = {0};
            uint64_t x = i < bt.n_ours ? bt.ours[bt.n_ours - 1 - i] : 0,
                     y = bt.gcc[bt.n_gcc - 1 - i];
            dladdr((void *)x, &a);
            dladdr((void *)y, &b);
            ktest_log(t, "from the end: ours %lx %s, libgcc %lx %s", (unsigned long)x,
                      a.dli_sname ? a.dli_sname : "?", (unsigned long)y,
                      b.dli_sname ? b.dli_sname : "?");
        }
    return n;
}

static void unwind_test_deep_stack_matches_libgcc(struct ktest *t)
{
    for (int depth = 1; depth <= 64; depth = depth * 2 + 1) {
        unwind_frames_run(depth, take_both);
        KEXPECT_GE(t, compare(t), depth);
    }
}

static uint64_t first[MAXF];
static int n_first;

static void cold_then_warm(void)
{
    unw_cache_flush();
    n_first = unw_backtrace(sim_unwind_lookup, &sim_unwind_stack_mem, first, MAXF, NULL);
    take_both(); /* now every row comes from the cache */
}

static void unwind_test_cached_rows_give_the_same_backtrace(struct ktest *t)
{
    unwind_frames_run(40, cold_then_warm);
    /* The warm list has one more frame (take_both) ahead of the same ones. */
    KEXPECT_EQ(t, bt.n_ours, n_first + 1);
    int differ = 0;
    for (int i = 1; i < n_first && i + 1 < bt.n_ours; i++)
        differ += first[i] != bt.ours[i + 1];
    KEXPECT_EQ(t, differ, 0);
    KEXPECT_GE(t, compare(t), 40);
}

static void unwind_test_through_a_signal_frame(struct ktest *t)
{
    unwind_frames_run_signal(20, take_both);
    KEXPECT_GE(t, compare(t), 20);
}

KTEST_SUITE(unwind, KTEST_CASE(unwind_test_deep_stack_matches_libgcc),
            KTEST_CASE(unwind_test_cached_rows_give_the_same_backtrace),
            KTEST_CASE(unwind_test_through_a_signal_frame));
