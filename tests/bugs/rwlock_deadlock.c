/* rwlock_deadlock.c - a reader takes the routing lock again from a callback it calls
 * while already holding it ("read locks nest, don't they?"). With a writer-preferring
 * rwlock, a writer arriving in between blocks the second read, and the writer waits
 * for the first: a deadlock. Found by the scheduler (all CPUs stuck, who holds what);
 * lockdep names the recursive read even in schedules that get through. */
#include "bug_harness.h"
#include <sync/sync.h>

static rwlock_t routes;
static uint32_t table_gen;

static void setup(void *ctx)
{
    rwlock_init(&routes); /* writer-preferring, the default */
    table_gen = 0;
}

__attribute__((noinline)) static uint32_t route_gen(void)
{
    read_lock(&routes); /* the bug: the caller already holds it for reading */
    uint32_t g = table_gen;
    read_unlock(&routes);
    return g;
}

__attribute__((noinline)) static void route_walk(void)
{
    read_lock(&routes);
    (void)route_gen();
    read_unlock(&routes);
}

__attribute__((noinline)) static void route_update(void)
{
    write_lock(&routes);
    table_gen++;
    write_unlock(&routes);
}

static void cpu(unsigned me, void *ctx)
{
    if (me == 0)
        route_walk();
    else
        route_update();
}

static const struct sim_scenario sc = {
    .name = "rwlock_deadlock", .ncpus = 2, .setup = setup, .cpu = cpu};

static void bug_rwlock_deadlock(struct ktest *t)
{
    bug_hunt(t, &sc, "deadlock",
             &(struct bug_hunt){.budget = 1000,
                                .preemptions = 2,
                                .no_lock_order = true,
                                .pct_must_find = true,
                                .dfs_must_find = true});
}

KTEST_SUITE(bugs_rwlock_deadlock, KTEST_CASE(bug_rwlock_deadlock));
