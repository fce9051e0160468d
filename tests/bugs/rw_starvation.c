/* rw_starvation.c - a reader-preferring rwlock lets readers that keep coming hold a
 * writer off indefinitely. The bound: a writer that has waited while readers took the
 * lock STARVE_BOUND times is starved. The same schedules with the writer-preferring
 * lock never cross it. */
#include "bug_harness.h"
#include <arch/atomic.h>
#include <stdio.h>
#include <sync/sync.h>

#define STARVE_BOUND 6
#define READS        12

static struct {
    rwlock_t lock;
    bool writer_pref;
    uint32_t reads;         /* read acquisitions so far */
    uint32_t waiting_since; /* reads when the writer was first seen waiting; ~0 if it is not */
} rs;

static void setup(void *ctx)
{
    if (rs.writer_pref)
        rwlock_init(&rs.lock); /* the default prefers writers */
    else
        rwlock_init_reader_pref(&rs.lock);
    rs.reads = 0;
    rs.waiting_since = ~0u;
}

static void cpu(unsigned me, void *ctx)
{
    if (me == 0) {
        arch_sched_yield(); /* readers are already coming */
        write_lock(&rs.lock);
        write_unlock(&rs.lock);
        return;
    }
    for (int i = 0; i < READS; i++) {
        read_lock(&rs.lock);
        arch_atomic_fetch_add(&rs.reads, 1, ARCH_RELAXED); /* readers share the lock */
        arch_sched_yield();                                /* reading */
        read_unlock(&rs.lock);
    }
}

/* Runs at every scheduling point: the writer counts as waiting from the first point
 * at which the lock shows it waiting. */
static bool check(void *ctx, char *why, size_t n)
{
    if (!rwlock_writers_waiting(&rs.lock))
        rs.waiting_since = ~0u;
    else if (rs.waiting_since == ~0u)
        rs.waiting_since = rs.reads;
    if (rs.waiting_since != ~0u && rs.reads - rs.waiting_since > STARVE_BOUND) {
        snprintf(why, n,
                 "writer starvation: the writer has waited while readers took the lock "
                 "%u times (bound %u)",
                 rs.reads - rs.waiting_since, STARVE_BOUND);
        return false;
    }
    return true;
}

static const struct sim_scenario sc = {
    .name = "rw_starvation", .ncpus = 3, .setup = setup, .cpu = cpu, .check = check};

static void bug_rw_writer_starvation(struct ktest *t)
{
    rs.writer_pref = false;
    bug_hunt(t, &sc, "writer starvation: the writer has waited",
             &(struct bug_hunt){.budget = 5000, .preemptions = 2});
}

static void bug_rw_writer_preference_prevents_it(struct ktest *t)
{
    static struct sim_explore_result res;
    rs.writer_pref = true;
    for (int st = SIM_RANDOM; st <= SIM_PCT; st++) {
        struct sim_explore_opts o = {.strategy = st,
                                     .seed = 1,
                                     .schedules = 5000,
                                     .quiet = true,
                                     .save = "rw_starvation.writer_pref.schedule"};
        KEXPECT_EQ(t, sim_explore(&sc, &o, &res), 0);
    }
}

KTEST_SUITE(bugs_rw_starvation, KTEST_CASE(bug_rw_writer_starvation),
            KTEST_CASE(bug_rw_writer_preference_prevents_it));
