/* catch_test.c - catch_unwind in the sim: a panic becomes an error return with its
 * message, every cleanup on the way runs in order, and the kernel goes on. */
#include "../ktest/ktest.h"
#include <heap/heap.h>
#include <unwind/unwind.h>

extern char cleanup_log[64];
extern int cleanup_n;
void cleanup_outer(void *arg);

static void reset(void)
{
    __builtin_memset(cleanup_log, 0, sizeof(cleanup_log));
    cleanup_n = 0;
}

static uint64_t live_blocks(void)
{
    struct heap_stats s;
    heap_trim(); /* empties checking mode's quarantine */
    heap_get_stats(&s);
    return s.live_blocks;
}

static void catch_test_panic_becomes_an_error_and_cleanups_run(struct ktest *t)
{
    char msg[128] = "";
    reset();
    uint64_t before = live_blocks();
    KEXPECT_EQ(t, catch_unwind(cleanup_outer, (void *)(intptr_t)7, msg, sizeof(msg)), -1);
    KEXPECT_STREQ(t, msg, "innermost gives up with 7");
    KEXPECT_STREQ(t, cleanup_log, "fcba"); /* innermost first, each frame's in reverse */
    KEXPECT_EQ(t, live_blocks(), before);  /* the cleanup freed the block */
    KEXPECT_TRUE(t, heap_valid());
}

static void catch_test_no_panic_returns_zero(struct ktest *t)
{
    char msg[16] = "untouched";
    reset();
    KEXPECT_EQ(t, catch_unwind(cleanup_outer, (void *)0, msg, sizeof(msg)), 0);
    KEXPECT_STREQ(t, msg, "untouched");
    KEXPECT_STREQ(t, cleanup_log, "fcba"); /* the ordinary scope exits */
}

static void nested(void *arg)
{
    char *inner_msg = arg;
    int r = catch_unwind(cleanup_outer, (void *)(intptr_t)3, inner_msg, 64);
    if (r == -1)
        cleanup_outer((void *)(intptr_t)4); /* panics again: the outer catcher takes it */
}

static void catch_test_nested_catchers_and_the_kernel_goes_on(struct ktest *t)
{
    char outer[64] = "", inner[64] = "";
    reset();
    KEXPECT_EQ(t, catch_unwind(nested, inner, outer, sizeof(outer)), -1);
    KEXPECT_STREQ(t, inner, "innermost gives up with 3");
    KEXPECT_STREQ(t, outer, "innermost gives up with 4");
    KEXPECT_STREQ(t, cleanup_log, "fcbafcba");
    /* And again, many times: nothing leaks, nothing is left behind. */
    for (int i = 0; i < 100; i++) {
        reset();
        KEXPECT_EQ(t, catch_unwind(cleanup_outer, (void *)(intptr_t)1, NULL, 0), -1);
    }
    KEXPECT_STREQ(t, cleanup_log, "fcba");
    KEXPECT_TRUE(t, heap_valid());
}

KTEST_SUITE(catch_unwind, KTEST_CASE(catch_test_panic_becomes_an_error_and_cleanups_run),
            KTEST_CASE(catch_test_no_panic_returns_zero),
            KTEST_CASE(catch_test_nested_catchers_and_the_kernel_goes_on));
