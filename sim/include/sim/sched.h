/* sim/sched.h - simulated CPUs under a scheduler, for hosted test programs.
 *
 * Two modes.
 * - Free-running (sim_run_cpus): each simulated CPU is a host thread. For TSan,
 *   stress runs and benchmarks.
 * - Deterministic (sim_explore): the CPUs are fibers of the calling thread and
 *   exactly one runs at a time. Every scheduling point (each atomic through the seam,
 *   each lock operation, arch_cpu_relax, arch_sched_yield) lets a strategy pick the
 *   CPU that runs next. A CPU that calls arch_cpu_relax is not picked again until
 *   another CPU has written something, so spin loops neither blow up the search nor
 *   hang it; when no CPU can make progress the run stops with a deadlock report.
 *
 * A run that fails writes a schedule file; sim_explore with SIM_REPLAY runs it again
 * and produces the same report, byte for byte (the report holds no host addresses,
 * seeds or schedule numbers; those are printed around it). */
#ifndef SIM_SCHED_H
#define SIM_SCHED_H

#include <arch/types.h>

#define SIM_SCHED_MAX_CPUS 8

/* A test under the scheduler. Each schedule runs setup, then cpu(0..ncpus-1, ctx)
 * concurrently, then final, then teardown. check runs after every scheduling point
 * (the current CPU has just stopped before an operation); it and final return false
 * with a message in why to fail the run. Messages must not contain host addresses if
 * replays are to match byte for byte. */
struct sim_scenario {
    const char *name;
    unsigned ncpus; /* 1 .. SIM_SCHED_MAX_CPUS */
    void *ctx;
    void (*setup)(void *ctx);
    void (*cpu)(unsigned cpu, void *ctx);
    bool (*check)(void *ctx, char *why, size_t size);
    bool (*final)(void *ctx, char *why, size_t size);
    void (*teardown)(void *ctx);
};

enum sim_strategy {
    SIM_RANDOM, /* a uniformly random runnable CPU at every point */
    SIM_PCT,    /* probabilistic concurrency testing: random priorities, depth-1 change points */
    SIM_DFS,    /* every schedule with at most `preemptions` preemptions (CHESS) */
    SIM_REPLAY, /* the schedule in `replay` */
};

struct sim_explore_opts {
    enum sim_strategy strategy;
    uint64_t seed;        /* random and PCT; schedule i uses a seed derived from it */
    uint64_t schedules;   /* random and PCT: how many; DFS: a cap (0: until exhausted) */
    unsigned pct_depth;   /* PCT bug depth d (d - 1 priority change points); 0: 3 */
    unsigned preemptions; /* DFS preemption bound */
    uint64_t max_steps;   /* per schedule; more is reported as no progress. 0: 100000 */
    const char *replay;   /* SIM_REPLAY: the schedule file */
    const char *save;     /* where a failing schedule is written; NULL: <name>.schedule */
    bool quiet;           /* no progress lines, only the seed, the outcome and a report */
    bool no_lock_order;   /* track locks (deadlock reports name holders) but do not check
                           * their order: to see the deadlock lockdep would foresee */
};

struct sim_explore_result {
    uint64_t schedules;     /* run to the end or to a failure */
    uint64_t steps;         /* scheduling points, all schedules */
    uint64_t failures;      /* 1 if a schedule failed (exploring stops there), else 0 */
    uint64_t first_failure; /* 1-based index of the first failing schedule, 0 if none */
    bool exhausted;         /* DFS: the whole bounded space was explored */
    char report[16384];     /* the first failure's report, "" if none */
};

/* Run the scenario under the strategy. From the host thread, after sim_boot; inside a
 * run or inside catch_unwind it is refused. Prints the seed first and a one-line outcome last, on
 * stderr; *res is cleared first. Returns 0 if no schedule failed; 1 if one did (report filled,
 * schedule file written unless that failed or this was a replay); -1 with a message for bad
 * options, more CPUs than the machine has or a bad schedule file (nothing run), and for a replay
 * whose schedule stops fitting the run (report filled). */
int sim_explore(const struct sim_scenario *sc, const struct sim_explore_opts *opts,
                struct sim_explore_result *res);

/* Options from the environment, for test programs: KERNSIM_STRATEGY (random, pct, dfs,
 * replay:FILE), KERNSIM_SEED, KERNSIM_SCHEDULES. Fields not set there keep their
 * values; opts->replay then points into the environment. 0, or -1 with a message for
 * a malformed value and *opts unchanged. */
int sim_explore_opts_from_env(struct sim_explore_opts *opts);

/* Free-running: run fn(cpu, ctx) on ncpus host threads, CPU i on thread i, and wait
 * for them all. From the host thread, after sim_boot. 0; -1 with a message and nothing
 * run for ncpus 0 or more than the machine has; -1 if a thread could not be started,
 * once the ones that did have returned. */
int sim_run_cpus(unsigned ncpus, void (*fn)(unsigned cpu, void *ctx), void *ctx);

/* Whether a deterministic run is in progress (its CPUs are running). Any thread. */
bool sim_sched_active(void);

#endif
