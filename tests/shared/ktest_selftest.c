/* ktest_selftest.c - the test framework checks itself, in both builds: an ASSERT
 * stops its case, deferred actions still run, and an expected failure is matched. */
#include "../ktest/ktest.h"

static int after_assert;
static int deferred_ran;

static void mark_deferred(void *arg)
{
    *(int *)arg = 1;
}

static void ktest_selftest_assert_stops_the_case(struct ktest *t)
{
    after_assert = 0;
    deferred_ran = 0;
    ktest_defer(t, mark_deferred, &deferred_ran);
    KASSERT_EQ(t, 1 + 1, 3);
    after_assert = 1; /* never reached */
}

static void ktest_selftest_assert_did_stop_and_defer_ran(struct ktest *t)
{
    KEXPECT_EQ(t, after_assert, 0);
    KEXPECT_EQ(t, deferred_ran, 1);
}

static void ktest_selftest_expect_continues(struct ktest *t)
{
    int reached = 0;
    KEXPECT_EQ(t, -1, 1);
    reached = 1;
    KEXPECT_EQ(t, reached, 1); /* passes: the failed EXPECT did not stop us */
}

static void ktest_selftest_signed_comparisons(struct ktest *t)
{
    KEXPECT_LT(t, -1, 0);
    KEXPECT_GT(t, (uint64_t)-1, 0u);
    KEXPECT_LE(t, (int64_t)INT64_MIN, -5);
}

KTEST_SUITE(ktest_selftest,
            KTEST_CASE_XFAIL(ktest_selftest_assert_stops_the_case, "expected 1 + 1 == 3"),
            KTEST_CASE(ktest_selftest_assert_did_stop_and_defer_ran),
            KTEST_CASE_XFAIL(ktest_selftest_expect_continues, "expected -1 == 1"),
            KTEST_CASE(ktest_selftest_signed_comparisons));
