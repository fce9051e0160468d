/* ringdev_ring_test.c - the ringdev driver's ring arithmetic, in both builds (the
 * part of the worked example that needs no device, so it also runs in QEMU). */
#include "../ktest/ktest.h"
#include <ringdev/ringdev.h>

static void ringdev_ring_test_space_across_index_wrap(struct ktest *t)
{
    KEXPECT_EQ(t, ringdev_space(0, 0, 4096), 4096u);
    KEXPECT_EQ(t, ringdev_space(0, 4096, 4096), 0u);
    KEXPECT_EQ(t, ringdev_space(100, 4000, 4096), 196u);
    /* free-running 32-bit indexes: the tail has wrapped past 2^32, the head not yet */
    KEXPECT_EQ(t, ringdev_used(UINT32_MAX - 9, 10), 20u);
    KEXPECT_EQ(t, ringdev_space(UINT32_MAX - 9, 10, 4096), 4076u);
    /* a tail more than a ring ahead (a broken driver) leaves no room, not 4 GiB */
    KEXPECT_EQ(t, ringdev_space(0, 5000, 4096), 0u);
}

static void ringdev_ring_test_errors_have_names(struct ktest *t)
{
    KEXPECT_STREQ(t, ringdev_strerror(RINGDEV_ERR_BAD_SIZE), "bad ring size");
    KEXPECT_STREQ(t, ringdev_strerror((enum ringdev_err)99), "unknown error");
}

KTEST_SUITE(ringdev_ring, KTEST_CASE(ringdev_ring_test_space_across_index_wrap),
            KTEST_CASE(ringdev_ring_test_errors_have_names));
