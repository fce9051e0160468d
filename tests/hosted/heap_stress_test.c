/* heap_stress_test.c - CPUs that allocate and free into each other's spans, in the
 * mode the runner started the heap in (ctest runs fast and checking): free-running
 * on host threads, and under the deterministic scheduler. A correct program must get
 * no report at all, and afterwards everything must be back: no live block, the
 * quarantine within its slots, heap_valid() true.
 *
 * Each CPU allocates a block, fills it with its tag, and trades it through a shared
 * slot for one another CPU left there, which it checks and frees: about half of all
 * frees are remote. */
#include "../ktest/ktest.h"
#include <arch/atomic.h>
#include <arch/console.h>
#include <arch/cpu.h>
#include <heap/heap.h>
#include <sim/sched.h>
#include <sim/sim.h>
#include <stdlib.h>
#include <string.h>
#include <valgrind/valgrind.h>

#define SLOTS 8

struct tagged {
    uint32_t size, tag;
    uint8_t bytes[];
};

static struct {
    struct tagged *slot[SLOTS];
    uint64_t rounds;
    uint32_t bad; /* blocks that came back changed */
} st;

static uint64_t total_reports(void)
{
    struct heap_stats s;
    heap_get_stats(&s);
    uint64_t r = 0;
    for (int k = 0; k < HEAP_REPORT_COUNT_; k++)
        r += s.reports[k];
    return r;
}

static void check_and_free(struct tagged *b)
{
    if (!b)
        return;
    for (uint32_t i = 0; i < b->size; i++) {
        if (b->bytes[i] != (uint8_t)b->tag) {
            arch_atomic_fetch_add(&st.bad, 1, ARCH_RELAXED);
            break;
        }
    }
    kfree(b);
}

static void worker(unsigned cpu, void *ctx)
{
    (void)ctx;
    uint64_t x = 0x9e3779b97f4a7c15u * (cpu + 1);
    for (uint64_t r = 0; r < st.rounds; r++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17; /* xorshift: sizes and slots */
        uint32_t size = (uint32_t)(x % 200) + 1, tag = (uint32_t)(x >> 32) | 1;
        struct tagged *b = kmalloc(sizeof(*b) + size);
        if (!b) {
            arch_atomic_fetch_add(&st.bad, 1, ARCH_RELAXED);
            return;
        }
        b->size = size, b->tag = tag;
        memset(b->bytes, (uint8_t)tag, size);
        if (x & 0x100) {
            check_and_free(b); /* a local free now and then */
            continue;
        }
        /* acq_rel: the filled block is published to, and a traded one received from,
         * the CPU on the other side of the slot */
        check_and_free(arch_atomic_xchg(&st.slot[(x >> 9) % SLOTS], b, ARCH_ACQ_REL));
    }
}

static void drain(void)
{
    for (int i = 0; i < SLOTS; i++)
        check_and_free(arch_atomic_xchg(&st.slot[i], (struct tagged *)NULL, ARCH_ACQ_REL));
}

static void expect_all_back(struct ktest *t, uint64_t reports0, uint64_t live0)
{
    drain();
    struct heap_stats s;
    heap_get_stats(&s);
    KEXPECT_LE(t, s.quarantined, 1024); /* never more entries than slots */
    heap_trim();
    heap_get_stats(&s);
    KEXPECT_EQ(t, st.bad, 0);
    KEXPECT_EQ(t, total_reports(), reports0); /* correct code: not one report */
    KEXPECT_EQ(t, s.live_blocks, live0);
    KEXPECT_EQ(t, s.quarantined, 0);
    KEXPECT_TRUE(t, heap_valid());
}

/* Rounds per CPU: KERNSIM_STRESS_ROUNDS, else 200 000 (20 000 under Valgrind). */
static uint64_t rounds(void)
{
    const char *e = getenv("KERNSIM_STRESS_ROUNDS");
    return e ? strtoull(e, NULL, 0) : RUNNING_ON_VALGRIND ? 20000 : 200000;
}

static void heap_stress_test_free_running_cpus_trade_blocks(struct ktest *t)
{
    /* Under memcheck, with the host's other core busy, this run never ends (seen at
     * 9934c9e too, and with --fair-sched=yes): a verdict that depends on the host's
     * load is no CI test. The scheduled case below runs under Valgrind; this one runs
     * in the other presets. Not understood yet: see the closing note of issue 16. */
    if (RUNNING_ON_VALGRIND && !getenv("KERNSIM_STRESS_ROUNDS"))
        ktest_skip(t, "free-running CPUs under Valgrind hang when the host is busy");
    heap_trim();
    struct heap_stats s;
    heap_get_stats(&s);
    uint64_t reports0 = total_reports(), live0 = s.live_blocks;
    memset(&st, 0, sizeof(st));
    st.rounds = rounds();
    KASSERT_EQ(t, sim_run_cpus(2, worker, NULL), 0);
    sim_set_current_cpu(0);
    expect_all_back(t, reports0, live0);
    ktest_log(t, "2 free-running CPUs, %lu rounds each", (unsigned long)st.rounds);
}

static uint64_t sched_reports0, sched_live0;

static void sched_setup(void *ctx)
{
    (void)ctx;
    memset(&st, 0, sizeof(st));
    st.rounds = 24;
}

static void sched_cpu(unsigned cpu, void *ctx)
{
    /* CPU 2 reads the report counters (under the heap's lock) while the others take
     * their first spans (under it too, with preemption off). */
    uint64_t counts[HEAP_REPORT_COUNT_];
    if (cpu == 2)
        heap_get_reports(counts);
    worker(cpu, ctx);
}

static bool sched_final(void *ctx, char *why, size_t n)
{
    (void)ctx;
    drain();
    struct heap_stats s;
    heap_get_stats(&s);
    uint64_t r = total_reports();
    if (st.bad || r != sched_reports0 || s.quarantined > 1024) {
        ksnprintf(why, n, "%u blocks changed, %lu reports, %lu quarantined", st.bad,
                  (unsigned long)(r - sched_reports0), (unsigned long)s.quarantined);
        return false;
    }
    return true;
}

static void heap_stress_test_scheduled_cpus_trade_blocks(struct ktest *t)
{
    heap_trim();
    struct heap_stats s;
    heap_get_stats(&s);
    sched_reports0 = total_reports(), sched_live0 = s.live_blocks;
    struct sim_scenario sc = {.name = "heap_trade",
                              .ncpus = 3,
                              .setup = sched_setup,
                              .cpu = sched_cpu,
                              .final = sched_final};
    static struct sim_explore_result res;
    for (int strategy = SIM_RANDOM; strategy <= SIM_PCT; strategy++) {
        struct sim_explore_opts o = {.strategy = strategy,
                                     .seed = 0x4ea9,
                                     .schedules = RUNNING_ON_VALGRIND ? 20 : 200,
                                     .quiet = true};
        KEXPECT_EQ(t, sim_explore(&sc, &o, &res), 0);
        ktest_log(t, "%s: %lu schedules, %lu steps", strategy == SIM_RANDOM ? "random" : "pct",
                  (unsigned long)res.schedules, (unsigned long)res.steps);
    }
    sim_set_current_cpu(0);
    expect_all_back(t, sched_reports0, sched_live0);
}

KTEST_SUITE(heap_stress, KTEST_CASE(heap_stress_test_free_running_cpus_trade_blocks),
            KTEST_CASE(heap_stress_test_scheduled_cpus_trade_blocks));
