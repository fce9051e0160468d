/* irq_sched_test.c - interrupts under the deterministic scheduler: every point a
 * pending interrupt can arrive at is explored, a handler's write ends a spin, what is
 * pending when a CPU finishes still arrives, a missing EOI is reported, schedules with
 * interrupts replay (and one that delivers where none can arrive is refused), and a
 * run gives the caller's vectors and interrupt flag back. */
#include "../ktest/ktest.h"
#include <arch/atomic.h>
#include <arch/console.h>
#include <arch/cpu.h>
#include <arch/irq.h>
#include <sim/sched.h>
#include <stdio.h>
#include <string.h>

#define V 0x70u

static struct sim_explore_result res; /* large: not on the stack */

static struct {
    uint32_t step;    /* the CPU's progress */
    uint32_t at;      /* the step the handler saw */
    uint32_t flag;    /* set by the handler */
    uint32_t handled; /* handler runs */
    uint32_t seen;    /* bit per step the handler ran at, over all schedules */
    bool no_eoi;
} X;

static void handler(unsigned v, void *ctx)
{
    X.at = arch_atomic_load(&X.step, ARCH_RELAXED);
    X.seen |= 1u << X.at;
    arch_atomic_store(&X.flag, 1, ARCH_RELEASE);
    arch_atomic_fetch_add(&X.handled, 1, ARCH_RELAXED);
    if (!X.no_eoi)
        arch_irq_eoi();
}

static void setup(void *ctx)
{
    X.step = X.flag = X.handled = 0;
    arch_irq_register(V, handler, NULL);
}

static struct sim_explore_opts opts(enum sim_strategy s)
{
    return (struct sim_explore_opts){
        .strategy = s, .seed = 1, .schedules = 200, .preemptions = 1, .quiet = true};
}

/* A self-IPI pending, then interrupts on and three steps: it may arrive before any of
 * them or after each (the last when the CPU finishes, interrupts still on). */
static void steps_cpu(unsigned me, void *ctx)
{
    arch_ipi_send(me, V);
    arch_irq_enable();
    for (int i = 0; i < 3; i++)
        arch_atomic_fetch_add(&X.step, 1, ARCH_RELAXED);
}

static bool once(void *ctx, char *why, size_t size)
{
    if (X.handled != 1) {
        ksnprintf(why, size, "the handler ran %u times", X.handled);
        return false;
    }
    return true;
}

static const struct sim_scenario steps_sc = {
    .name = "irq_steps", .ncpus = 1, .setup = setup, .cpu = steps_cpu, .final = once};

static void irq_sched_test_every_arrival_point_is_explored(struct ktest *t)
{
    for (int s = SIM_RANDOM; s <= SIM_DFS; s++) {
        X.seen = 0;
        struct sim_explore_opts o = opts((enum sim_strategy)s);
        KEXPECT_EQ(t, sim_explore(&steps_sc, &o, &res), 0);
        /* before the first step, after each of three: DFS sees all four, exhaustively */
        if (s == SIM_DFS) {
            KEXPECT_EQ(t, X.seen, 0xfu);
            KEXPECT_TRUE(t, res.exhausted);
        } else {
            KEXPECT_GE(t, (unsigned)__builtin_popcount(X.seen), 3u);
        }
    }
}

/* The CPU enables interrupts last: the interrupt arrives before it finishes, in every
 * schedule (the final check says exactly once). */
static void late_cpu(unsigned me, void *ctx)
{
    arch_ipi_send(me, V);
    arch_atomic_fetch_add(&X.step, 1, ARCH_RELAXED);
    arch_irq_enable();
}

static const struct sim_scenario late_sc = {
    .name = "irq_late", .ncpus = 1, .setup = setup, .cpu = late_cpu, .final = once};

static void irq_sched_test_pending_at_the_end_still_arrives(struct ktest *t)
{
    for (int s = SIM_RANDOM; s <= SIM_DFS; s++) {
        struct sim_explore_opts o = opts((enum sim_strategy)s);
        KEXPECT_EQ(t, sim_explore(&late_sc, &o, &res), 0);
        KEXPECT_STREQ(t, res.report, "");
    }
}

/* CPU 0 spins until its own timer's handler sets the flag: the spin must not be taken
 * for a deadlock, in any strategy. */
static void spin_cpu(unsigned me, void *ctx)
{
    arch_timer_start(V, 5, false);
    arch_irq_enable();
    while (!arch_atomic_load(&X.flag, ARCH_ACQUIRE))
        arch_cpu_relax();
    arch_irq_disable();
}

static const struct sim_scenario spin_sc = {
    .name = "irq_spin", .ncpus = 1, .setup = setup, .cpu = spin_cpu, .final = once};

static void irq_sched_test_a_handler_write_ends_a_spin(struct ktest *t)
{
    for (int s = SIM_RANDOM; s <= SIM_DFS; s++) {
        struct sim_explore_opts o = opts((enum sim_strategy)s);
        KEXPECT_EQ(t, sim_explore(&spin_sc, &o, &res), 0);
        KEXPECT_STREQ(t, res.report, "");
    }
}

static void irq_sched_test_missing_eoi_is_reported(struct ktest *t)
{
    X.no_eoi = true;
    struct sim_explore_opts o = opts(SIM_RANDOM);
    o.save = "irq_no_eoi.schedule";
    KEXPECT_EQ(t, sim_explore(&steps_sc, &o, &res), 1);
    KEXPECT_STR_CONTAINS(t, res.report,
                         "the handler of vector 112 on cpu 0 returned without "
                         "arch_irq_eoi");
    X.no_eoi = false;
    remove("irq_no_eoi.schedule");
}

/* Fails when the interrupt arrives after the second step: found by random, written with
 * the delivery as a letter, replayed to the same report. */
static bool not_after_two(void *ctx, char *why, size_t size)
{
    if (X.handled && X.at == 2) {
        ksnprintf(why, size, "the interrupt came after step 2");
        return false;
    }
    return true;
}

static const struct sim_scenario two_sc = {
    .name = "irq_two", .ncpus = 1, .setup = setup, .cpu = steps_cpu, .final = not_after_two};

static void irq_sched_test_schedules_with_interrupts_replay(struct ktest *t)
{
    struct sim_explore_opts o = opts(SIM_RANDOM);
    o.save = "irq_two.schedule";
    KASSERT_EQ(t, sim_explore(&two_sc, &o, &res), 1);
    static char first[sizeof(res.report)];
    strcpy(first, res.report);
    KEXPECT_STR_CONTAINS(t, first, "the interrupt came after step 2");
    char line[256] = "";
    FILE *f = fopen("irq_two.schedule", "r");
    KASSERT_TRUE(t, f != NULL);
    while (fgets(line, sizeof(line), f) && strncmp(line, "choices ", 8))
        ;
    fclose(f);
    KEXPECT_TRUE(t, strchr(line + 8, 'a') != NULL); /* the delivery to cpu 0 */
    struct sim_explore_opts r = {.strategy = SIM_REPLAY, .replay = "irq_two.schedule"};
    KEXPECT_EQ(t, sim_explore(&two_sc, &r, &res), 1);
    KEXPECT_STREQ(t, res.report, first);

    /* A delivery at the first decision, before the CPU ran at all: it has interrupts
     * off there, so the schedule does not fit. */
    f = fopen("irq_bad.schedule", "w");
    KASSERT_TRUE(t, f != NULL);
    fputs("kernsim-schedule 1\nscenario irq_two\ncpus 1\nsteps 2\nchoices a0\n", f);
    fclose(f);
    r.replay = "irq_bad.schedule";
    KEXPECT_EQ(t, sim_explore(&two_sc, &r, &res), -1);
    KEXPECT_STR_CONTAINS(t, res.report, "runs an interrupt on cpu 0 but the choices are 0x1");
    /* A letter past the CPU count is no schedule at all. */
    f = fopen("irq_bad.schedule", "w");
    KASSERT_TRUE(t, f != NULL);
    fputs("kernsim-schedule 1\nscenario irq_two\ncpus 1\nsteps 2\nchoices 0b\n", f);
    fclose(f);
    KEXPECT_EQ(t, sim_explore(&two_sc, &r, &res), -1);
    remove("irq_two.schedule");
    remove("irq_bad.schedule");
}

static unsigned caller_hits;

static void caller_handler(unsigned v, void *ctx)
{
    caller_hits++;
    arch_irq_eoi();
}

static void irq_sched_test_a_run_gives_the_interrupt_state_back(struct ktest *t)
{
    arch_irq_disable();
    KASSERT_EQ(t, arch_irq_register(V + 1, caller_handler, NULL), 0);
    struct sim_explore_opts o = opts(SIM_RANDOM);
    KEXPECT_EQ(t, sim_explore(&steps_sc, &o, &res), 0); /* registers V, enables */
    KEXPECT_FALSE(t, arch_irqs_enabled());
    KEXPECT_EQ(t, arch_irq_register(V + 1, caller_handler, NULL), -1); /* still the caller's */
    KEXPECT_EQ(t, arch_irq_register(V, caller_handler, NULL), 0);      /* the run's is gone */
    arch_ipi_send(arch_cpu_id(), V + 1);
    arch_irq_enable();
    arch_irq_disable();
    KEXPECT_EQ(t, caller_hits, 1u);
    arch_irq_unregister(V);
    arch_irq_unregister(V + 1);
}

KTEST_SUITE(irq_sched, KTEST_CASE(irq_sched_test_every_arrival_point_is_explored),
            KTEST_CASE(irq_sched_test_pending_at_the_end_still_arrives),
            KTEST_CASE(irq_sched_test_a_handler_write_ends_a_spin),
            KTEST_CASE(irq_sched_test_missing_eoi_is_reported),
            KTEST_CASE(irq_sched_test_schedules_with_interrupts_replay),
            KTEST_CASE(irq_sched_test_a_run_gives_the_interrupt_state_back));
