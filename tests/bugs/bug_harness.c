/* bug_harness.c - see bug_harness.h. */
#include "bug_harness.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct sim_explore_result res, again;

static uint64_t hunt_one(struct ktest *t, const struct sim_scenario *sc, const char *expect,
                         const struct bug_hunt *how, enum sim_strategy st)
{
    static const char *names[] = {"random", "pct", "dfs"};
    char path[160];
    snprintf(path, sizeof(path), "%s.%s.schedule", sc->name, names[st]);
    struct sim_explore_opts o = {.strategy = st,
                                 .seed = 1,
                                 .schedules = how->budget,
                                 .preemptions = how->preemptions,
                                 .quiet = true,
                                 .save = path,
                                 .no_lock_order = how->no_lock_order};
    int rc = sim_explore(sc, &o, &res);
    if (rc != 1)
        return 0;
    KEXPECT_STR_CONTAINS(t, res.report, expect);
    struct sim_explore_opts r = {
        .strategy = SIM_REPLAY, .replay = path, .no_lock_order = how->no_lock_order};
    KEXPECT_EQ(t, sim_explore(sc, &r, &again), 1);
    KEXPECT_STREQ(t, again.report, res.report); /* the same report, byte for byte */
    return res.first_failure;
}

/* `kernsim explore` and `kernsim replay`: one strategy, from the environment. */
static void explore_from_env(struct ktest *t, const struct sim_scenario *sc,
                             const struct bug_hunt *how)
{
    struct sim_explore_opts o = {.strategy = SIM_RANDOM,
                                 .seed = 1,
                                 .schedules = how->budget,
                                 .preemptions = how->preemptions,
                                 .no_lock_order = how->no_lock_order};
    KASSERT_EQ(t, sim_explore_opts_from_env(&o), 0);
    int rc = sim_explore(sc, &o, &res);
    KEXPECT_NE(t, rc, -1);
    printf("EXPLORE %s %s after %lu schedules\n", sc->name, rc == 1 ? "found" : "not found",
           (unsigned long)(rc == 1 ? res.first_failure : res.schedules));
}

void bug_hunt(struct ktest *t, const struct sim_scenario *sc, const char *expect,
              const struct bug_hunt *how)
{
    if (getenv("KERNSIM_STRATEGY")) {
        explore_from_env(t, sc, how);
        return;
    }
    uint64_t n[3];
    for (int st = SIM_RANDOM; st <= SIM_DFS; st++)
        n[st] = hunt_one(t, sc, expect, how, (enum sim_strategy)st);
    KEXPECT_NE(t, n[SIM_RANDOM], 0u);
    if (how->pct_must_find)
        KEXPECT_NE(t, n[SIM_PCT], 0u);
    if (how->dfs_must_find)
        KEXPECT_NE(t, n[SIM_DFS], 0u);
    ktest_log(t,
              "%s: schedules to find it: random %lu, pct %lu, dfs (bound %u) %lu (0: not "
              "within %lu)",
              sc->name, (unsigned long)n[0], (unsigned long)n[1], how->preemptions,
              (unsigned long)n[2], (unsigned long)how->budget);
    printf("BUG %s random=%lu pct=%lu dfs=%lu\n", how->label ? how->label : sc->name,
           (unsigned long)n[0], (unsigned long)n[1], (unsigned long)n[2]);
}
