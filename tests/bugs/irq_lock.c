/* irq_lock.c - a spinlock that an interrupt handler takes, taken elsewhere without
 * disabling interrupts (spin_lock where spin_lock_irqsave belongs).
 *
 * Same CPU: the timer's handler interrupts the code holding the stats lock and spins
 * on it forever. Lockdep names it at the handler's acquisition: the CPU waits for
 * itself. Other CPU: the handler runs on CPU 1 and the process-context user on CPU 0,
 * so no schedule deadlocks; lockdep still reports the inconsistent usage the first time
 * it sees both, with both stacks, because an interrupt on CPU 0 would. The fixed
 * version (irqsave everywhere outside the handler) passes over the same schedules. */
#include "bug_harness.h"
#include <arch/console.h>
#include <arch/cpu.h>
#include <arch/irq.h>
#include <sync/sync.h>

#define TIMER_VECTOR 0x40u

static DEFINE_SPINLOCK(stats_lock);
static uint32_t packets, ticks;
static bool fixed; /* the version with spin_lock_irqsave */

__attribute__((noinline)) static void timer_tick(unsigned v, void *ctx)
{
    spin_lock(&stats_lock); /* in the handler: interrupts are off here already */
    ticks++;
    spin_unlock(&stats_lock);
    arch_irq_eoi();
}

__attribute__((noinline)) static void count_packet(void)
{
    if (fixed) {
        arch_irqflags_t f = spin_lock_irqsave(&stats_lock);
        packets++;
        spin_unlock_irqrestore(&stats_lock, f);
        return;
    }
    spin_lock(&stats_lock); /* the bug: the timer's handler takes it too */
    packets++;
    spin_unlock(&stats_lock);
}

static void setup(void *ctx)
{
    spin_lock_init_class(&stats_lock, stats_lock.dep.name, stats_lock.dep.cls);
    packets = ticks = 0;
    arch_irq_register(TIMER_VECTOR, timer_tick, NULL);
}

/* The timer runs on CPU `timer_cpu`; CPU 0 counts packets with interrupts on. */
static void run(unsigned me, unsigned timer_cpu)
{
    if (me == timer_cpu)
        arch_timer_start(TIMER_VECTOR, 2, true);
    arch_irq_enable();
    if (me == 0)
        for (int i = 0; i < 3; i++)
            count_packet();
    else
        for (int i = 0; i < 6; i++)
            arch_cpu_relax();
    arch_irq_disable();
    arch_timer_stop();
}

static void same_cpu(unsigned me, void *ctx)
{
    run(me, 0);
}

static void other_cpu(unsigned me, void *ctx)
{
    run(me, 1);
}

static bool final(void *ctx, char *why, size_t size)
{
    if (packets != 3) {
        ksnprintf(why, size, "%u packets counted, not 3", packets);
        return false;
    }
    return true;
}

static const struct sim_scenario same_sc = {
    .name = "irq_lock_same_cpu", .ncpus = 1, .setup = setup, .cpu = same_cpu, .final = final};
static const struct sim_scenario other_sc = {
    .name = "irq_lock_other_cpu", .ncpus = 2, .setup = setup, .cpu = other_cpu, .final = final};

static void bug_irq_lock_self_deadlock(struct ktest *t)
{
    fixed = false;
    bug_hunt(t, &same_sc, "in an interrupt handler",
             &(struct bug_hunt){.budget = 1000,
                                .preemptions = 2,
                                .no_lock_order = true,
                                .pct_must_find = true,
                                .dfs_must_find = true});
}

static void bug_irq_lock_inconsistent_usage(struct ktest *t)
{
    fixed = false;
    bug_hunt(t, &other_sc, "inconsistent lock state: 'stats_lock' {IN-HARDIRQ-W} -> {HARDIRQ-ON-W}",
             &(struct bug_hunt){
                 .budget = 1000, .preemptions = 2, .pct_must_find = true, .dfs_must_find = true});
}

/* The fix, over the same kind of schedules: no report, every packet counted. */
static void bug_irq_lock_fixed_version_passes(struct ktest *t)
{
    fixed = true;
    const struct sim_scenario *scs[] = {&same_sc, &other_sc};
    for (unsigned k = 0; k < 2; k++) {
        for (int s = SIM_RANDOM; s <= SIM_DFS; s++) {
            struct sim_explore_opts o = {.strategy = (enum sim_strategy)s,
                                         .seed = 1,
                                         .schedules = s == SIM_DFS ? 20000 : 1000,
                                         .preemptions = 2,
                                         .quiet = true};
            static struct sim_explore_result res;
            KEXPECT_EQ(t, sim_explore(scs[k], &o, &res), 0);
            KEXPECT_STREQ(t, res.report, "");
            /* every schedule ran: random and PCT all 1000, DFS the whole bounded space */
            KEXPECT_TRUE(t, s == SIM_DFS ? res.exhausted : res.schedules == 1000);
        }
    }
    fixed = false;
}

KTEST_SUITE(bugs_irq_lock, KTEST_CASE(bug_irq_lock_self_deadlock),
            KTEST_CASE(bug_irq_lock_inconsistent_usage),
            KTEST_CASE(bug_irq_lock_fixed_version_passes));
