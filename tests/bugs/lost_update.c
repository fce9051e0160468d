/* lost_update.c - a counter bumped with a load and a store instead of one atomic
 * add: two CPUs can read the same value and one increment is lost. */
#include "bug_harness.h"
#include <arch/atomic.h>
#include <stdio.h>

static uint32_t hits;

static void setup(void *ctx)
{
    hits = 0;
}

static void cpu(unsigned me, void *ctx)
{
    for (int i = 0; i < 2; i++) {
        uint32_t v = arch_atomic_load(&hits, ARCH_RELAXED); /* the bug: not one RMW */
        arch_atomic_store(&hits, v + 1, ARCH_RELAXED);
    }
}

static bool final(void *ctx, char *why, size_t n)
{
    if (hits == 4)
        return true;
    snprintf(why, n, "lost update: the counter is %u after 4 increments", hits);
    return false;
}

static void bug_lost_update(struct ktest *t)
{
    const struct sim_scenario sc = {
        .name = "lost_update", .ncpus = 2, .setup = setup, .cpu = cpu, .final = final};
    bug_hunt(t, &sc, "lost update: the counter is",
             &(struct bug_hunt){
                 .budget = 1000, .preemptions = 2, .pct_must_find = true, .dfs_must_find = true});
}

KTEST_SUITE(bugs_lost_update, KTEST_CASE(bug_lost_update));
