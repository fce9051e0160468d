/* sched_test.c - the deterministic scheduler itself: strategies, the preemption bound,
 * spinning, deadlock and no-progress reports, panics, replay and bad schedule files,
 * and what it leaves as it was. */
#include "../ktest/ktest.h"
#include <arch/atomic.h>
#include <arch/cpu.h>
#include <arch/panic.h>
#include <sim/lockdep.h>
#include <sim/sched.h>
#include <unwind/unwind.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct sim_explore_result res; /* large: not on the stack */

/* ---- every interleaving of two CPUs doing two steps each ---- */

static struct {
    uint32_t n;
    uint8_t log[4];
    uint32_t seen; /* bit per order, indexed by the log read as binary */
    uint64_t hash; /* of the sequence of orders */
} il;

static void il_setup(void *ctx)
{
    il.n = 0;
}

static void il_cpu(unsigned cpu, void *ctx)
{
    for (int k = 0; k < 2; k++) {
        uint32_t i = arch_atomic_fetch_add(&il.n, 1, ARCH_SEQ_CST);
        il.log[i] = (uint8_t)cpu;
    }
}

static bool il_final(void *ctx, char *why, size_t n)
{
    unsigned order = 0;
    for (int i = 0; i < 4; i++)
        order = order << 1 | il.log[i];
    il.seen |= 1u << order;
    il.hash = il.hash * 31 + order;
    return true;
}

static const struct sim_scenario il_sc = {
    .name = "interleave", .ncpus = 2, .setup = il_setup, .cpu = il_cpu, .final = il_final};

static unsigned popcount(uint32_t x)
{
    return (unsigned)__builtin_popcount(x);
}

static void sched_test_dfs_sees_every_interleaving(struct ktest *t)
{
    struct sim_explore_opts o = {.strategy = SIM_DFS, .preemptions = 10, .quiet = true};
    il.seen = 0;
    KASSERT_EQ(t, sim_explore(&il_sc, &o, &res), 0);
    KEXPECT_TRUE(t, res.exhausted);
    KEXPECT_EQ(t, popcount(il.seen), 6u); /* C(4, 2) orders of two 2-step CPUs */
    ktest_log(t, "dfs: %lu schedules for 6 orders", (unsigned long)res.schedules);
}

/* sim_explore tracks locks while it explores and gives the caller's switch back. */
static void sched_test_explore_gives_the_lockdep_switch_back(struct ktest *t)
{
    struct sim_explore_opts o = {.strategy = SIM_RANDOM, .schedules = 3, .seed = 1, .quiet = true};
    sim_lockdep_enable(false);
    KEXPECT_EQ(t, sim_explore(&il_sc, &o, &res), 0);
    KEXPECT_TRUE(t, sim_lock_hook == NULL);
    sim_lockdep_enable(true);
    KEXPECT_EQ(t, sim_explore(&il_sc, &o, &res), 0);
    KEXPECT_TRUE(t, sim_lock_hook != NULL);
}

static int explore_rc;

static void explore_in_catch(void *arg)
{
    struct sim_explore_opts o = {.strategy = SIM_RANDOM, .schedules = 1, .seed = 1, .quiet = true};
    explore_rc = sim_explore(&il_sc, &o, &res);
}

/* A run's CPUs reuse the caller's CPU numbers, and catch_unwind keeps its frames per
 * CPU: inside one, sim_explore is refused (a panic would leave the run through it). */
static void sched_test_explore_inside_catch_unwind_is_refused(struct ktest *t)
{
    explore_rc = 0;
    KEXPECT_EQ(t, catch_unwind(explore_in_catch, NULL, NULL, 0), 0);
    KEXPECT_EQ(t, explore_rc, -1);
    explore_in_catch(NULL); /* outside one it runs */
    KEXPECT_EQ(t, explore_rc, 0);
}

static void sched_test_preemption_bound_limits_the_search(struct ktest *t)
{
    struct sim_explore_opts o = {.strategy = SIM_DFS, .preemptions = 0, .quiet = true};
    il.seen = 0;
    KASSERT_EQ(t, sim_explore(&il_sc, &o, &res), 0);
    KEXPECT_TRUE(t, res.exhausted);
    /* Without preemption a CPU runs to the end once started: 0011 and 1100 only. */
    KEXPECT_EQ(t, il.seen, (1u << 0x3) | (1u << 0xc));
    uint64_t pb0 = res.schedules;
    o.preemptions = 1;
    il.seen = 0;
    KASSERT_EQ(t, sim_explore(&il_sc, &o, &res), 0);
    KEXPECT_GT(t, res.schedules, pb0);
    KEXPECT_GT(t, popcount(il.seen), 2u);
}

static void sched_test_random_and_pct_are_deterministic(struct ktest *t)
{
    for (int s = SIM_RANDOM; s <= SIM_PCT; s++) {
        struct sim_explore_opts o = {.strategy = s, .seed = 42, .schedules = 200, .quiet = true};
        il.seen = 0, il.hash = 0;
        KASSERT_EQ(t, sim_explore(&il_sc, &o, &res), 0);
        uint64_t hash = il.hash;
        uint32_t seen = il.seen;
        il.seen = 0, il.hash = 0;
        KASSERT_EQ(t, sim_explore(&il_sc, &o, &res), 0);
        KEXPECT_EQ(t, il.hash, hash); /* the same 200 schedules in the same order */
        KEXPECT_EQ(t, il.seen, seen);
        if (s == SIM_RANDOM)
            KEXPECT_EQ(t, popcount(seen), 6u); /* 200 random schedules see every order */
        else
            KEXPECT_GE(t, popcount(seen), 2u);
        o.seed = 43;
        il.hash = 0;
        KASSERT_EQ(t, sim_explore(&il_sc, &o, &res), 0);
        KEXPECT_NE(t, il.hash, hash); /* another seed, other schedules */
    }
}

/* ---- spinning ---- */

static uint32_t flag[2];

static void flags_setup(void *ctx)
{
    flag[0] = flag[1] = 0;
}

static void spin_cpu(unsigned cpu, void *ctx)
{
    if (cpu == 0) {
        while (!arch_atomic_load(&flag[0], ARCH_ACQUIRE))
            arch_cpu_relax();
    } else {
        for (int i = 0; i < 3; i++)
            arch_sched_yield();
        arch_atomic_store(&flag[0], 1, ARCH_RELEASE);
    }
}

static void sched_test_spinning_does_not_explode_the_search(struct ktest *t)
{
    const struct sim_scenario sc = {
        .name = "spin", .ncpus = 2, .setup = flags_setup, .cpu = spin_cpu};
    struct sim_explore_opts o = {.strategy = SIM_DFS, .preemptions = 3, .quiet = true};
    KASSERT_EQ(t, sim_explore(&sc, &o, &res), 0);
    KEXPECT_TRUE(t, res.exhausted);
    /* The spinner runs once per write of the other CPU at most: a handful of schedules. */
    KEXPECT_LT(t, res.schedules, 200u);
    o = (struct sim_explore_opts){
        .strategy = SIM_RANDOM, .seed = 1, .schedules = 500, .quiet = true};
    KASSERT_EQ(t, sim_explore(&sc, &o, &res), 0);
    KEXPECT_LT(t, res.steps, 500u * 20); /* no schedule spins on */
}

static void wait_forever_cpu(unsigned cpu, void *ctx)
{
    while (!arch_atomic_load(&flag[cpu], ARCH_ACQUIRE))
        arch_cpu_relax();
}

static void sched_test_deadlock_is_reported(struct ktest *t)
{
    const struct sim_scenario sc = {
        .name = "stuck", .ncpus = 2, .setup = flags_setup, .cpu = wait_forever_cpu};
    struct sim_explore_opts o = {.strategy = SIM_RANDOM,
                                 .seed = 7,
                                 .schedules = 10,
                                 .quiet = true,
                                 .save = "sched_test_stuck.schedule"};
    KASSERT_EQ(t, sim_explore(&sc, &o, &res), 1);
    KEXPECT_EQ(t, res.first_failure, 1u);
    KEXPECT_STR_CONTAINS(t, res.report, "deadlock");
    KEXPECT_STR_CONTAINS(t, res.report, "cpu 0: spinning");
    KEXPECT_STR_CONTAINS(t, res.report, "cpu 1: spinning");
    /* Where it spins, by name: the sanitizer's symbolizer, or the sim's own reading of
     * the executable's symbols. */
    KEXPECT_STR_CONTAINS(t, res.report, "wait_forever_cpu");
}

/* CPU 0 sets flag 0 and, after a scheduling point, flag 1; CPU 1 waits for flag 1
 * with preemption off. Whenever CPU 1 starts waiting before flag 1 is set, no CPU can
 * run again: a hang on hardware that preempted like this, reported, not spun on. */
static void preempt_off_cpu(unsigned cpu, void *ctx)
{
    if (cpu == 0) {
        arch_atomic_store(&flag[0], 1, ARCH_RELEASE);
        arch_sched_yield();
        arch_atomic_store(&flag[1], 1, ARCH_RELEASE);
        return;
    }
    while (!arch_atomic_load(&flag[0], ARCH_ACQUIRE))
        arch_cpu_relax();
    arch_preempt_disable();
    while (!arch_atomic_load(&flag[1], ARCH_ACQUIRE))
        arch_cpu_relax();
    arch_preempt_enable();
}

static void sched_test_spin_with_preemption_off_is_reported(struct ktest *t)
{
    const struct sim_scenario sc = {
        .name = "preempt_off", .ncpus = 2, .setup = flags_setup, .cpu = preempt_off_cpu};
    struct sim_explore_opts o = {.strategy = SIM_DFS, .preemptions = 2, .quiet = true};
    KASSERT_EQ(t, sim_explore(&sc, &o, &res), 1);
    KEXPECT_STR_CONTAINS(t, res.report, "cpu 1 spins with preemption off");
    KEXPECT_STR_CONTAINS(t, res.report, "preempt_off_cpu");
}

/* CPU 1 publishes flag[1] and then waits for flag[0], which nobody sets; CPU 0 waits
 * for flag[1] and finishes. Without preemption CPU 1 ends up spinning and CPU 0 finds
 * the deadlock as it finishes, from inside its last call. */
static void finish_into_deadlock_cpu(unsigned cpu, void *ctx)
{
    if (cpu == 1)
        arch_atomic_store(&flag[1], 1, ARCH_RELEASE);
    while (!arch_atomic_load(&flag[!cpu], ARCH_ACQUIRE))
        arch_cpu_relax();
}

static void sched_test_cpu_that_finished_into_a_deadlock_starts_afresh(struct ktest *t)
{
    const struct sim_scenario sc = {
        .name = "finish_stuck", .ncpus = 2, .setup = flags_setup, .cpu = finish_into_deadlock_cpu};
    struct sim_explore_opts o = {.strategy = SIM_DFS,
                                 .preemptions = 0,
                                 .quiet = true,
                                 .save = "sched_test_finish_stuck.schedule"};
    KASSERT_EQ(t, sim_explore(&sc, &o, &res), 1);
    KEXPECT_STR_CONTAINS(t, res.report, "deadlock");
    KEXPECT_STR_CONTAINS(t, res.report, "cpu 0: finished");
    KEXPECT_STR_CONTAINS(t, res.report, "cpu 1: spinning");
    /* The next exploration's CPU 0 is not resumed inside that abandoned call. */
    o = (struct sim_explore_opts){.strategy = SIM_DFS, .preemptions = 10, .quiet = true};
    il.seen = 0;
    KASSERT_EQ(t, sim_explore(&il_sc, &o, &res), 0);
    KEXPECT_TRUE(t, res.exhausted);
    KEXPECT_EQ(t, popcount(il.seen), 6u);
}

static void yield_forever_cpu(unsigned cpu, void *ctx)
{
    for (;;)
        arch_sched_yield();
}

static void sched_test_no_progress_is_reported(struct ktest *t)
{
    const struct sim_scenario sc = {.name = "busy", .ncpus = 1, .cpu = yield_forever_cpu};
    struct sim_explore_opts o = {.strategy = SIM_RANDOM,
                                 .seed = 1,
                                 .schedules = 1,
                                 .max_steps = 1000,
                                 .quiet = true,
                                 .save = "sched_test_busy.schedule"};
    KASSERT_EQ(t, sim_explore(&sc, &o, &res), 1);
    KEXPECT_STR_CONTAINS(t, res.report, "no progress: the schedule passed 1000 steps");
}

static void panic_cpu(unsigned cpu, void *ctx)
{
    arch_sched_yield();
    if (cpu == 1)
        arch_panic("cpu %u gives up", cpu);
}

static void sched_test_panic_fails_the_schedule_only(struct ktest *t)
{
    const struct sim_scenario sc = {.name = "panic", .ncpus = 2, .cpu = panic_cpu};
    struct sim_explore_opts o = {.strategy = SIM_RANDOM,
                                 .seed = 3,
                                 .schedules = 5,
                                 .quiet = true,
                                 .save = "sched_test_panic.schedule"};
    KASSERT_EQ(t, sim_explore(&sc, &o, &res), 1);
    KEXPECT_STR_CONTAINS(t, res.report, "kernel panic on cpu 1: cpu 1 gives up");
    /* The machine goes on: the next exploration runs normally. */
    KEXPECT_EQ(t,
               sim_explore(&il_sc,
                           &(struct sim_explore_opts){
                               .strategy = SIM_RANDOM, .schedules = 3, .quiet = true},
                           &res),
               0);
}

/* ---- replay ---- */

static uint32_t counter;

static void lost_setup(void *ctx)
{
    counter = 0;
}

static void lost_cpu(unsigned cpu, void *ctx)
{
    uint32_t v = arch_atomic_load(&counter, ARCH_RELAXED);
    arch_atomic_store(&counter, v + 1, ARCH_RELAXED);
}

static bool lost_final(void *ctx, char *why, size_t n)
{
    if (counter == 3)
        return true;
    snprintf(why, n, "counter is %u after 3 increments", counter);
    return false;
}

static const struct sim_scenario lost_sc = {.name = "sched_test_lost",
                                            .ncpus = 3,
                                            .setup = lost_setup,
                                            .cpu = lost_cpu,
                                            .final = lost_final};

static void sched_test_replay_gives_the_same_report(struct ktest *t)
{
    static char first[sizeof(res.report)];
    struct sim_explore_opts o = {.strategy = SIM_RANDOM,
                                 .seed = 11,
                                 .schedules = 1000,
                                 .quiet = true,
                                 .save = "sched_test_lost.schedule"};
    KASSERT_EQ(t, sim_explore(&lost_sc, &o, &res), 1);
    KEXPECT_STR_CONTAINS(t, res.report, "wrong final state");
    strcpy(first, res.report);
    struct sim_explore_opts r = {.strategy = SIM_REPLAY, .replay = "sched_test_lost.schedule"};
    for (int i = 0; i < 2; i++) {
        KASSERT_EQ(t, sim_explore(&lost_sc, &r, &res), 1);
        KEXPECT_STREQ(t, res.report, first);
    }
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

static void sched_test_bad_schedule_files_are_refused(struct ktest *t)
{
    struct sim_explore_opts r = {.strategy = SIM_REPLAY, .replay = "sched_test_bad.schedule"};
    const char *bad[] = {
        "not a schedule\n",
        "kernsim-schedule 1\nscenario sched_test_lost\ncpus 3\nsteps 4\nchoices 01\n", /* short */
        "kernsim-schedule 1\nscenario sched_test_lost\ncpus 3\nsteps 2\nchoices 09\n", /* cpu 9 */
        "kernsim-schedule 1\nscenario other\ncpus 3\nsteps 2\nchoices 01\n", /* another test */
        "kernsim-schedule 1\nscenario sched_test_lost\ncpus 2\nsteps 2\nchoices 01\n", /* cpus */
        "kernsim-schedule 1\nscenario sched_test_lost\ncpus 3\nsteps 0\nchoices \n",   /* empty */
        "kernsim-schedule 1\nbogus line\n",
    };
    for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        write_file("sched_test_bad.schedule", bad[i]);
        KEXPECT_EQ(t, sim_explore(&lost_sc, &r, &res), -1);
        KEXPECT_EQ(t, res.schedules, 0u); /* nothing ran */
    }
    r.replay = "no/such/file.schedule";
    KEXPECT_EQ(t, sim_explore(&lost_sc, &r, &res), -1);
    /* A schedule that fits the file format but not the program: it stops, named. */
    r.replay = "sched_test_bad.schedule";
    write_file("sched_test_bad.schedule",
               "kernsim-schedule 1\nscenario sched_test_lost\ncpus 3\nsteps 3\nchoices 000\n");
    KEXPECT_EQ(t, sim_explore(&lost_sc, &r, &res), -1);
    KEXPECT_STR_CONTAINS(t, res.report, "does not fit this program");
}

static void sched_test_bad_options_are_refused(struct ktest *t)
{
    struct sim_explore_opts o = {.strategy = SIM_RANDOM, .schedules = 0};
    KEXPECT_EQ(t, sim_explore(&lost_sc, &o, &res), -1); /* random needs a count */
    o = (struct sim_explore_opts){.strategy = (enum sim_strategy)9, .schedules = 1};
    KEXPECT_EQ(t, sim_explore(&lost_sc, &o, &res), -1);
    struct sim_scenario sc = lost_sc;
    sc.ncpus = SIM_SCHED_MAX_CPUS + 1;
    o = (struct sim_explore_opts){.strategy = SIM_RANDOM, .schedules = 1};
    KEXPECT_EQ(t, sim_explore(&sc, &o, &res), -1);
    sc.ncpus = 0;
    KEXPECT_EQ(t, sim_explore(&sc, &o, &res), -1);
}

static void sched_test_options_from_the_environment(struct ktest *t)
{
    struct sim_explore_opts o = {.strategy = SIM_RANDOM, .seed = 5, .schedules = 7};
    setenv("KERNSIM_STRATEGY", "pct", 1);
    setenv("KERNSIM_SEED", "0x2a", 1);
    unsetenv("KERNSIM_SCHEDULES");
    KEXPECT_EQ(t, sim_explore_opts_from_env(&o), 0);
    KEXPECT_EQ(t, o.strategy, SIM_PCT);
    KEXPECT_EQ(t, o.seed, 42u);
    KEXPECT_EQ(t, o.schedules, 7u); /* not set: kept */
    setenv("KERNSIM_STRATEGY", "replay:x.schedule", 1);
    KEXPECT_EQ(t, sim_explore_opts_from_env(&o), 0);
    KEXPECT_EQ(t, o.strategy, SIM_REPLAY);
    KEXPECT_STREQ(t, o.replay, "x.schedule");
    const char *bad[][2] = {{"KERNSIM_STRATEGY", "bogus"},
                            {"KERNSIM_STRATEGY", "replay:"},
                            {"KERNSIM_SEED", "12abc"},
                            {"KERNSIM_SCHEDULES", ""}};
    setenv("KERNSIM_SEED", "99", 1); /* valid, but with a bad count nothing may change */
    setenv("KERNSIM_SCHEDULES", "x", 1);
    struct sim_explore_opts keep = o;
    KEXPECT_EQ(t, sim_explore_opts_from_env(&o), -1);
    KEXPECT_EQ(t, o.seed, keep.seed);
    unsetenv("KERNSIM_SCHEDULES");
    for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        unsetenv("KERNSIM_STRATEGY");
        unsetenv("KERNSIM_SEED");
        setenv(bad[i][0], bad[i][1], 1);
        struct sim_explore_opts before = o;
        KEXPECT_EQ(t, sim_explore_opts_from_env(&o), -1);
        KEXPECT_EQ(t, o.strategy, before.strategy); /* a bad value changes nothing */
        KEXPECT_EQ(t, o.seed, before.seed);
        unsetenv(bad[i][0]);
    }
    unsetenv("KERNSIM_STRATEGY");
    unsetenv("KERNSIM_SEED");
}

/* ---- free-running ---- */

static uint32_t fr_count;

static void fr_cpu(unsigned cpu, void *ctx)
{
    for (int i = 0; i < 10000; i++)
        arch_atomic_fetch_add(&fr_count, 1, ARCH_RELAXED);
    (void)cpu;
}

static void sched_test_free_running_cpus_are_threads(struct ktest *t)
{
    fr_count = 0;
    KASSERT_EQ(t, sim_run_cpus(2, fr_cpu, NULL), 0);
    KEXPECT_EQ(t, fr_count, 20000u);
    KEXPECT_EQ(t, sim_run_cpus(1000, fr_cpu, NULL), -1);
}

KTEST_SUITE(sched, KTEST_CASE(sched_test_dfs_sees_every_interleaving),
            KTEST_CASE(sched_test_explore_gives_the_lockdep_switch_back),
            KTEST_CASE(sched_test_explore_inside_catch_unwind_is_refused),
            KTEST_CASE(sched_test_preemption_bound_limits_the_search),
            KTEST_CASE(sched_test_random_and_pct_are_deterministic),
            KTEST_CASE(sched_test_spinning_does_not_explode_the_search),
            KTEST_CASE(sched_test_deadlock_is_reported),
            KTEST_CASE(sched_test_cpu_that_finished_into_a_deadlock_starts_afresh),
            KTEST_CASE(sched_test_no_progress_is_reported),
            KTEST_CASE(sched_test_spin_with_preemption_off_is_reported),
            KTEST_CASE(sched_test_panic_fails_the_schedule_only),
            KTEST_CASE(sched_test_replay_gives_the_same_report),
            KTEST_CASE(sched_test_bad_schedule_files_are_refused),
            KTEST_CASE(sched_test_bad_options_are_refused),
            KTEST_CASE(sched_test_options_from_the_environment),
            KTEST_CASE(sched_test_free_running_cpus_are_threads));
