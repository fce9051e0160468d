/* data_race.c - two CPUs count dropped packets in a shared statistics block with a
 * plain increment ("it is only statistics"). Found by ThreadSanitizer (the tsan
 * preset): the simulated CPUs are TSan fibers whose hand-offs do not synchronise, so
 * the two increments are concurrent, and TSan names the variable and both stacks.
 * Deterministic: seed 1 of the random strategy, the same report every run. */
#include <kmachine.h>
#include <arch/atomic.h>
#include <sim/sched.h>
#include <sim/sim.h>
#include <stdio.h>

static struct {
    uint64_t rx_packets, rx_dropped;
} netdev_stats;

__attribute__((noinline)) static void rx_drop(void)
{
    netdev_stats.rx_dropped++; /* the bug: no lock, no atomic */
}

static void rx_cpu(unsigned me, void *ctx)
{
    (void)ctx;
    rx_drop();
    arch_sched_yield(); /* the next packet */
    rx_drop();
}

int main(void)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    if (kmachine_boot(&(struct kmachine_opts){.level = KMACHINE_SIM}, NULL))
        return 2;
    static struct sim_explore_result res;
    const struct sim_scenario sc = {.name = "data_race", .ncpus = 2, .cpu = rx_cpu};
    struct sim_explore_opts o = {.strategy = SIM_RANDOM, .seed = 1, .schedules = 1, .quiet = true};
    int rc = sim_explore(&sc, &o, &res);
    printf("data_race: %lu schedules, rx_dropped %lu\n", (unsigned long)res.schedules,
           (unsigned long)netdev_stats.rx_dropped);
    return rc < 0 ? 2 : 0; /* TSan's exit status (66) says it saw the race */
}
