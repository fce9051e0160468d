/* abba_deadlock.c - two spinlocks taken in opposite orders by two CPUs.
 *
 * With lock-order checking off the scheduler finds the schedule that deadlocks and
 * names who waits for what and who holds it. With it on (the default), lockdep
 * reports the inversion first, before any CPU is stuck. */
#include "bug_harness.h"
#include <sync/sync.h>

static DEFINE_SPINLOCK(lock_a);
static DEFINE_SPINLOCK(lock_b);

static void setup(void *ctx)
{
    spin_lock_init_class(&lock_a, lock_a.dep.name, lock_a.dep.cls); /* unlocked, same class */
    spin_lock_init_class(&lock_b, lock_b.dep.name, lock_b.dep.cls); /* unlocked, same class */
}

static void cpu(unsigned me, void *ctx)
{
    spinlock_t *first = me ? &lock_b : &lock_a, *second = me ? &lock_a : &lock_b;
    spin_lock(first);
    spin_lock(second);
    spin_unlock(second);
    spin_unlock(first);
}

static const struct sim_scenario sc = {
    .name = "abba_deadlock", .ncpus = 2, .setup = setup, .cpu = cpu};

static void bug_abba_deadlock(struct ktest *t)
{
    bug_hunt(t, &sc, "waits for 'lock_b' (class lock_b), held by cpu 1",
             &(struct bug_hunt){.budget = 1000,
                                .preemptions = 2,
                                .no_lock_order = true,
                                .pct_must_find = true,
                                .dfs_must_find = true});
}

static void bug_abba_lockdep_sees_it_first(struct ktest *t)
{
    bug_hunt(t, &sc, "lock-order inversion between",
             &(struct bug_hunt){.budget = 1000,
                                .preemptions = 2,
                                .pct_must_find = true,
                                .dfs_must_find = true,
                                .label = "abba_lockdep"});
}

KTEST_SUITE(bugs_abba_deadlock, KTEST_CASE(bug_abba_deadlock),
            KTEST_CASE(bug_abba_lockdep_sees_it_first));
