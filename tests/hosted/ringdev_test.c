/* ringdev_test.c - the worked example's tests (docs/byo-subsystem.md): the ringdev
 * driver against its device model, alone and on two simulated CPUs under the
 * deterministic scheduler. Hosted only: the device exists only as a model. */
#include "../ktest/ktest.h"
#include "../ktest/ktest_frames.h"
#include "ringdev_model.h"
#include <ringdev/ringdev.h>
#include <sim/sched.h>
#include <sim/sim.h>
#include <stdio.h>
#include <string.h>

#define MMIO UINT64_C(0xfed40000)

static struct ringdev_model model;
static struct ringdev dev;

/* A started device on a fresh model; stopped by the case's deferred cleanup. */
static void stop_dev(void *arg)
{
    if (dev.live)
        ringdev_stop(&dev, 1u << 20);
    sim_mmio_unregister(MMIO);
}

static bool start(struct ktest *t, uint32_t size, uint32_t per_poll)
{
    KASSERT_EQ(t, ringdev_model_attach(&model, MMIO, per_poll), 0);
    ktest_defer(t, stop_dev, NULL);
    KASSERT_EQ(t, ringdev_start(&dev, ktest_kernel_space(t), MMIO, size), RINGDEV_OK);
    return true;
}

static void ringdev_test_bad_sizes_change_nothing(struct ktest *t)
{
    struct frame_stats before, after;
    frame_get_stats(&before);
    static const uint32_t bad[] = {0, 1000, 3 * 4096, 2u << 20, UINT32_MAX};
    for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct ringdev d = {0};
        KEXPECT_EQ(t, ringdev_start(&d, ktest_kernel_space(t), MMIO, bad[i]), RINGDEV_ERR_BAD_SIZE);
        KEXPECT_FALSE(t, d.live);
    }
    KEXPECT_EQ(t, ringdev_start(NULL, ktest_kernel_space(t), MMIO, 4096), RINGDEV_ERR_BAD_ARG);
    frame_get_stats(&after);
    KEXPECT_EQ(t, after.free, before.free);
    struct ringdev stopped = {0};
    uint32_t done = 7;
    KEXPECT_EQ(t, ringdev_write(&stopped, "x", 1, &done), RINGDEV_ERR_BAD_ARG);
    KEXPECT_EQ(t, done, 7u);
    KEXPECT_EQ(t, ringdev_flush(&stopped, 1), RINGDEV_ERR_BAD_ARG);
}

static void ringdev_test_bytes_arrive_in_order_across_the_wrap(struct ktest *t)
{
    if (!start(t, 4096, 0))
        return;
    static uint8_t msg[3000], all[9000];
    uint64_t n = 0;
    for (int round = 0; round < 3; round++) {
        for (unsigned i = 0; i < sizeof(msg); i++)
            msg[i] = (uint8_t)(i * 7 + round);
        uint32_t done;
        KASSERT_EQ(t, ringdev_write(&dev, msg, sizeof(msg), &done), RINGDEV_OK);
        KEXPECT_EQ(t, done, (uint32_t)sizeof(msg)); /* the device consumed the last round */
        memcpy(all + n, msg, sizeof(msg));
        n += sizeof(msg);
        ringdev_model_consume(&model, sizeof(msg));
    }
    KEXPECT_EQ(t, model.out_len, n);
    KEXPECT_EQ(t, memcmp(model.out, all, n), 0);
    KEXPECT_EQ(t, model.status & RINGDEV_OVERRUN, 0u);
}

static void ringdev_test_full_ring_takes_what_fits(struct ktest *t)
{
    if (!start(t, 4096, 0)) /* a device that never consumes */
        return;
    static uint8_t big[5000];
    uint32_t done;
    KEXPECT_EQ(t, ringdev_write(&dev, big, sizeof(big), &done), RINGDEV_OK);
    KEXPECT_EQ(t, done, 4096u);
    KEXPECT_EQ(t, ringdev_write(&dev, big, 1, &done), RINGDEV_OK);
    KEXPECT_EQ(t, done, 0u);
    KEXPECT_EQ(t, ringdev_write_record(&dev, big, 16, 100), RINGDEV_ERR_TIMEOUT);
    KEXPECT_EQ(t, ringdev_write_record(&dev, big, 4097, 100), RINGDEV_ERR_TOO_BIG);
    KEXPECT_EQ(t, ringdev_flush(&dev, 100), RINGDEV_ERR_TIMEOUT);
    ringdev_model_consume(&model, 100);
    KEXPECT_EQ(t, ringdev_write_record(&dev, big, 100, 0), RINGDEV_OK);
    KEXPECT_EQ(t, model.status & RINGDEV_OVERRUN, 0u); /* never wrote over unread bytes */
}

static void ringdev_test_stop_gives_everything_back_and_a_restart_is_refused(struct ktest *t)
{
    struct frame_stats before, after;
    frame_get_stats(&before);
    if (!start(t, 16384, 64))
        return;
    KEXPECT_EQ(t, ringdev_write_record(&dev, "hello", 5, 10), RINGDEV_OK);
    /* Started again while live: refused, and the device keeps its ring and frames. */
    struct frame_stats live;
    frame_get_stats(&live);
    uint64_t ring = dev.ring_pa;
    KEXPECT_EQ(t, ringdev_start(&dev, ktest_kernel_space(t), MMIO, 4096), RINGDEV_ERR_BAD_ARG);
    KEXPECT_TRUE(t, dev.live);
    KEXPECT_EQ(t, dev.ring_pa, ring);
    frame_get_stats(&after);
    KEXPECT_EQ(t, after.free, live.free);
    KEXPECT_EQ(t, ringdev_stop(&dev, 1000), RINGDEV_OK); /* flushes first: the device polls */
    KEXPECT_EQ(t, model.out_len, 5u);
    KEXPECT_EQ(t, model.ctrl & RINGDEV_ENABLE, 0u);
    frame_get_stats(&after);
    KEXPECT_EQ(t, after.free, before.free);
    KEXPECT_TRUE(t, pg_space_valid(ktest_kernel_space(t)));
}

/* Two CPUs write records; the device consumes as the driver polls. Whatever the
 * interleaving, the output is whole records, each CPU's in its own order. */
#define RECS 3
#define RLEN 24

static void conc_setup(void *ctx)
{
    model.head = model.tail = 0, model.out_len = 0, model.status = 0;
    dev.tail = 0, dev.written = 0;
}

static void conc_cpu(unsigned me, void *ctx)
{
    for (int r = 0; r < RECS; r++) {
        char rec[RLEN];
        memset(rec, 'a' + (int)me, sizeof(rec));
        rec[0] = (char)('0' + r);
        if (ringdev_write_record(&dev, rec, sizeof(rec), 1000) != RINGDEV_OK)
            return;
    }
    ringdev_flush(&dev, 1000);
}

static bool conc_final(void *ctx, char *why, size_t n)
{
    ringdev_flush(&dev, 100000);
    int next[2] = {0, 0};
    if (model.out_len != 2 * RECS * RLEN) {
        snprintf(why, n, "the device got %lu bytes, not %d", (unsigned long)model.out_len,
                 2 * RECS * RLEN);
        return false;
    }
    for (unsigned off = 0; off < model.out_len; off += RLEN) {
        unsigned cpu = (unsigned)(model.out[off + 1] - 'a');
        if (cpu > 1 || model.out[off] != '0' + next[cpu]) {
            snprintf(why, n, "record at %u is out of order or torn", off);
            return false;
        }
        for (unsigned i = 1; i < RLEN; i++) {
            if (model.out[off + i] != 'a' + cpu) {
                snprintf(why, n, "record at %u is interleaved at byte %u", off, i);
                return false;
            }
        }
        next[cpu]++;
    }
    if (model.status & RINGDEV_OVERRUN) {
        snprintf(why, n, "the driver overwrote unread bytes");
        return false;
    }
    return true;
}

static void ringdev_test_two_cpus_never_tear_a_record(struct ktest *t)
{
    if (!start(t, 4096, 16))
        return;
    static struct sim_explore_result res;
    const struct sim_scenario sc = {.name = "ringdev_two_writers",
                                    .ncpus = 2,
                                    .setup = conc_setup,
                                    .cpu = conc_cpu,
                                    .final = conc_final};
    struct sim_explore_opts o = {.strategy = SIM_DFS, .preemptions = 2, .quiet = true};
    KEXPECT_EQ(t, sim_explore(&sc, &o, &res), 0);
    KEXPECT_TRUE(t, res.exhausted);
    ktest_log(t, "dfs bound 2: %lu schedules, exhausted", (unsigned long)res.schedules);
    o = (struct sim_explore_opts){.strategy = SIM_PCT, .seed = 1, .schedules = 2000, .quiet = true};
    KEXPECT_EQ(t, sim_explore(&sc, &o, &res), 0);
}

KTEST_SUITE(ringdev, KTEST_CASE(ringdev_test_bad_sizes_change_nothing),
            KTEST_CASE(ringdev_test_bytes_arrive_in_order_across_the_wrap),
            KTEST_CASE(ringdev_test_full_ring_takes_what_fits),
            KTEST_CASE(ringdev_test_stop_gives_everything_back_and_a_restart_is_refused),
            KTEST_CASE(ringdev_test_two_cpus_never_tear_a_record));
