/* race_canary.c - ThreadSanitizer must see races between simulated CPUs, in both
 * modes, and must not see one where a lock orders the accesses.
 *
 *   race_canary free-race    two threads bump a plain counter: a race
 *   race_canary det-race     the same under the deterministic scheduler (fixed seed):
 *                            the fibers' hand-offs do not synchronise, so still a race
 *   race_canary det-locked   the counter under a spinlock: no report, exit 0
 *   race_canary free-locked  the same with threads
 *   race_canary det-trylocked, free-trylocked
 *                            the lock taken by spin_trylock alone: no report (the
 *                            trylock must synchronise with the unlock before it) */
#include <kmachine.h>
#include <arch/atomic.h>
#include <sim/sched.h>
#include <sim/sim.h>
#include <stdio.h>
#include <string.h>
#include <sync/sync.h>

static unsigned long counter;
static DEFINE_SPINLOCK(counter_lock);
static bool locked, trylocked;

static void bump(unsigned cpu, void *ctx)
{
    for (int i = 0; i < 1000; i++) {
        if (trylocked)
            while (!spin_trylock(&counter_lock))
                arch_cpu_relax();
        else if (locked)
            spin_lock(&counter_lock);
        counter++; /* plain: only the lock (if any) orders it */
        if (locked)
            spin_unlock(&counter_lock);
        if (i % 100 == 0)
            arch_sched_yield();
    }
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr,
                "usage: %s free-race|det-race|free-locked|det-locked|free-trylocked|"
                "det-trylocked\n",
                argv[0]);
        return 2;
    }
    const char *m = argv[1];
    bool det = !strncmp(m, "det-", 4);
    trylocked = strstr(m, "-trylocked") != NULL;
    locked = trylocked || strstr(m, "-locked") != NULL;
    if (!(det || !strncmp(m, "free-", 5)) || !(locked || strstr(m, "-race"))) {
        fprintf(stderr, "%s: unknown mode '%s'\n", argv[0], m);
        return 2;
    }
    if (kmachine_boot(&(struct kmachine_opts){.level = KMACHINE_SIM}, NULL))
        return 2;
    if (!det)
        return sim_run_cpus(2, bump, NULL) ? 2 : 0;
    static struct sim_explore_result res;
    const struct sim_scenario sc = {.name = "race_canary", .ncpus = 2, .cpu = bump};
    struct sim_explore_opts o = {.strategy = SIM_RANDOM, .seed = 1, .schedules = 3, .quiet = true};
    return sim_explore(&sc, &o, &res) ? 1 : 0;
}
