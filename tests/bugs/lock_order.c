/* lock_order.c - an inversion that never deadlocks in this run: cpu 0 takes a then b
 * and lets both go; only then does cpu 1 take b then a. Lockdep reports it in the
 * very first schedule, with both orders' acquisition backtraces. */
#include "bug_harness.h"
#include <arch/atomic.h>
#include <arch/cpu.h>
#include <sync/sync.h>

static DEFINE_SPINLOCK(dev_lock);
static DEFINE_SPINLOCK(queue_lock);
static uint32_t turn;

static void setup(void *ctx)
{
    spin_lock_init_class(&dev_lock, dev_lock.dep.name, dev_lock.dep.cls); /* unlocked, same class */
    spin_lock_init_class(&queue_lock, queue_lock.dep.name,
                         queue_lock.dep.cls); /* unlocked, same class */
    turn = 0;
}

static void submit(void)
{
    spin_lock(&dev_lock);
    spin_lock(&queue_lock);
    spin_unlock(&queue_lock);
    spin_unlock(&dev_lock);
}

static void complete(void)
{
    spin_lock(&queue_lock);
    spin_lock(&dev_lock);
    spin_unlock(&dev_lock);
    spin_unlock(&queue_lock);
}

static void cpu(unsigned me, void *ctx)
{
    if (me == 0) {
        submit();
        arch_atomic_store(&turn, 1, ARCH_RELEASE);
    } else {
        while (!arch_atomic_load(&turn, ARCH_ACQUIRE))
            arch_cpu_relax();
        complete();
    }
}

static void bug_lock_order_inversion(struct ktest *t)
{
    const struct sim_scenario sc = {.name = "lock_order", .ncpus = 2, .setup = setup, .cpu = cpu};
    bug_hunt(t, &sc, "lock-order inversion between 'queue_lock' and 'dev_lock'",
             &(struct bug_hunt){
                 .budget = 100, .preemptions = 2, .pct_must_find = true, .dfs_must_find = true});
}

KTEST_SUITE(bugs_lock_order, KTEST_CASE(bug_lock_order_inversion));
