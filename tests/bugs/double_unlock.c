/* double_unlock.c - releases of a lock the CPU does not hold. An error path unlocks the
 * device lock and so does its caller; a statistics reader read-unlocks a routing lock it
 * never took; a reader "upgrades" by write-unlocking its read hold. Each is reported at
 * the bad release, naming the lock and the CPU (lockdep), not as a deadlock later in
 * whichever CPU takes the lock next. */
#include "bug_harness.h"
#include <sync/sync.h>

static DEFINE_SPINLOCK(dev_lock);
static rwlock_t routes;
static uint32_t dev_state, table_gen;

static void setup(void *ctx)
{
    spin_lock_init_class(&dev_lock, dev_lock.dep.name, dev_lock.dep.cls); /* unlocked */
    rwlock_init(&routes);
    dev_state = table_gen = 0;
}

__attribute__((noinline)) static int dev_start(unsigned me)
{
    if (me == 0) {              /* CPU 0's device has no firmware */
        spin_unlock(&dev_lock); /* the bug: the caller unlocks on every path */
        return -1;
    }
    return 0;
}

__attribute__((noinline)) static void dev_open(unsigned me)
{
    spin_lock(&dev_lock);
    (void)dev_start(me);
    dev_state = me + 1;
    spin_unlock(&dev_lock);
}

static void spin_cpu(unsigned me, void *ctx)
{
    dev_open(me);
}

static const struct sim_scenario spin_sc = {
    .name = "double_unlock_spin", .ncpus = 2, .setup = setup, .cpu = spin_cpu};

__attribute__((noinline)) static uint32_t route_stats(void)
{
    uint32_t g = table_gen; /* the bug: no read_lock */
    read_unlock(&routes);
    return g;
}

__attribute__((noinline)) static void route_upgrade(void)
{
    read_lock(&routes);
    table_gen++;
    write_unlock(&routes); /* the bug: it holds the lock for reading */
}

static void rw_cpu(unsigned me, void *ctx)
{
    if (me == 0)
        (void)route_stats();
    else
        route_upgrade();
}

static const struct sim_scenario rw_sc = {
    .name = "double_unlock_rw", .ncpus = 2, .setup = setup, .cpu = rw_cpu};

static void bug_double_unlock_spin(struct ktest *t)
{
    bug_hunt(t, &spin_sc,
             "kernsim lockdep: bad unlock: cpu 0 releases 'dev_lock' (class dev_lock), which it "
             "does not hold",
             &(struct bug_hunt){
                 .budget = 100, .preemptions = 1, .pct_must_find = true, .dfs_must_find = true});
}

static void bug_read_unlock_unheld(struct ktest *t)
{
    bug_hunt(t, &rw_sc, "kernsim lockdep: bad unlock: cpu ",
             &(struct bug_hunt){.budget = 100,
                                .preemptions = 1,
                                .pct_must_find = true,
                                .dfs_must_find = true,
                                .label = "bad_rw_unlock"});
}

KTEST_SUITE(bugs_double_unlock, KTEST_CASE(bug_double_unlock_spin),
            KTEST_CASE(bug_read_unlock_unheld));
