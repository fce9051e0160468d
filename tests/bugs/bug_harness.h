/* bug_harness.h - find a planted concurrency bug with every strategy, and replay it. */
#ifndef BUG_HARNESS_H
#define BUG_HARNESS_H

#include "../ktest/ktest.h"
#include <sim/sched.h>

struct bug_hunt {
    uint64_t budget;      /* schedules per strategy */
    unsigned preemptions; /* DFS bound */
    bool no_lock_order;
    bool pct_must_find, dfs_must_find; /* random must always find it */
    const char *label; /* for the table when one scenario is hunted twice; NULL: its name */
};

/* Explore sc with random and PCT (fixed seed 1) and DFS until a schedule fails with a
 * report containing `expect`; replay each failing schedule and require the same
 * report, byte for byte. Logs how many schedules each strategy needed and prints a
 * "BUG name random=N pct=N dfs=N" line (0: not found within the budget). Failures are
 * KEXPECTs on t: random must find it, PCT and DFS if `how` says so. Schedules are
 * written to <name>.<strategy>.schedule in the working directory. With
 * KERNSIM_STRATEGY set it runs only that strategy, from the environment, and prints
 * an "EXPLORE" line instead. From a case's own thread, after the machine is booted
 * with sc->ncpus CPUs or more. */
void bug_hunt(struct ktest *t, const struct sim_scenario *sc, const char *expect,
              const struct bug_hunt *how);

#endif
