/* sync_sched_test.c - the spinlock, the rwlock and both queues under the deterministic
 * scheduler: every schedule with at most two preemptions for small cases, and
 * 100,000 random and PCT schedules in all, with the invariants checked at every
 * scheduling point and at the end. */
#include "../ktest/ktest.h"
#include <arch/atomic.h>
#include <arch/cpu.h>
#include <heap/heap.h>
#include <queue/queue.h>
#include <sim/lockdep.h>
#include <sim/sched.h>
#include <stdio.h>
#include <string.h>
#include <sync/sync.h>
#include <valgrind/valgrind.h>

static struct sim_explore_result res;

/* The full search runs in the asan and tsan presets. Valgrind and MSan (unoptimised,
 * every local poisoned) are 10-100x slower: they run a share of the random and PCT
 * schedules and no DFS, which still puts every path under their checks. */
#if defined(__has_feature)
#if __has_feature(memory_sanitizer)
#define KS_MSAN 1
#endif
#endif
#ifndef KS_MSAN
#define KS_MSAN 0
#endif

static bool slow_checker(void)
{
    return RUNNING_ON_VALGRIND || KS_MSAN;
}

static uint64_t budget(uint64_t n)
{
    return RUNNING_ON_VALGRIND ? n / 100 : KS_MSAN ? n / 10 : n;
}

/* DFS at preemption bound 2 must exhaust without a failure; then random and PCT. */
static void explore_all(struct ktest *t, const struct sim_scenario *sc, uint64_t random_pct,
                        bool dfs)
{
    struct sim_explore_opts o = {.strategy = SIM_DFS, .preemptions = 2, .quiet = true};
    if (dfs && slow_checker())
        ktest_log(t, "%s: dfs skipped under Valgrind and MSan (it runs in asan and tsan)",
                  sc->name);
    else if (dfs) {
        KEXPECT_EQ(t, sim_explore(sc, &o, &res), 0);
        KEXPECT_TRUE(t, res.exhausted);
        ktest_log(t, "%s: dfs bound 2: %lu schedules, exhausted", sc->name,
                  (unsigned long)res.schedules);
    }
    for (int s = SIM_RANDOM; s <= SIM_PCT && random_pct; s++) {
        o = (struct sim_explore_opts){
            .strategy = s, .seed = 0x5eed, .schedules = budget(random_pct), .quiet = true};
        KEXPECT_EQ(t, sim_explore(sc, &o, &res), 0);
        KEXPECT_EQ(t, res.schedules, budget(random_pct));
        ktest_log(t, "%s: %s: %lu schedules, %lu steps", sc->name,
                  s == SIM_RANDOM ? "random" : "pct", (unsigned long)res.schedules,
                  (unsigned long)res.steps);
    }
}

#define FAIL_IF(cond, ...)                                                                         \
    do {                                                                                           \
        if (cond) {                                                                                \
            snprintf(why, n, __VA_ARGS__);                                                         \
            return false;                                                                          \
        }                                                                                          \
    } while (0)

/* ---- spinlock: mutual exclusion, FIFO tickets, irq state ---- */

static struct {
    spinlock_t lock;
    uint32_t inside, total, iters;
    bool irq_wrong[SIM_SCHED_MAX_CPUS]; /* per CPU: each writes its own */
} sp;

static void sp_setup(void *ctx)
{
    spin_lock_init(&sp.lock);
    sp.inside = sp.total = 0;
    memset(sp.irq_wrong, 0, sizeof(sp.irq_wrong));
}

static void sp_cpu(unsigned cpu, void *ctx)
{
    for (uint32_t i = 0; i < sp.iters; i++) {
        bool irqsave = (i + cpu) & 1;
        arch_irq_enable();
        arch_irqflags_t f = irqsave ? spin_lock_irqsave(&sp.lock) : (spin_lock(&sp.lock), 0);
        arch_atomic_fetch_add(&sp.inside, 1, ARCH_RELAXED);
        uint32_t v = sp.total; /* a plain read-modify-write: only the lock protects it */
        arch_sched_yield();
        sp.total = v + 1;
        arch_atomic_fetch_sub(&sp.inside, 1, ARCH_RELAXED);
        if (irqsave) {
            sp.irq_wrong[cpu] |= arch_irqs_enabled();
            spin_unlock_irqrestore(&sp.lock, f);
            sp.irq_wrong[cpu] |= !arch_irqs_enabled();
        } else {
            spin_unlock(&sp.lock);
        }
    }
}

static bool sp_check(void *ctx, char *why, size_t n)
{
    FAIL_IF(sp.inside > 1, "%u CPUs inside the spinlock", sp.inside);
    FAIL_IF(!spin_valid(&sp.lock), "spinlock tickets inconsistent");
    for (unsigned c = 0; c < SIM_SCHED_MAX_CPUS; c++)
        FAIL_IF(sp.irq_wrong[c], "cpu %u: interrupt state not saved or restored", c);
    return true;
}

static bool sp_final(void *ctx, char *why, size_t n)
{
    FAIL_IF(sp.total != sp.iters * 3, "total %u, want %u", sp.total, sp.iters * 3);
    FAIL_IF(spin_is_locked(&sp.lock), "still locked at the end");
    return sp_check(ctx, why, n);
}

static void sync_sched_test_spinlock(struct ktest *t)
{
    const struct sim_scenario sc = {.name = "spinlock",
                                    .ncpus = 3,
                                    .setup = sp_setup,
                                    .cpu = sp_cpu,
                                    .check = sp_check,
                                    .final = sp_final};
    sp.iters = 1;
    explore_all(t, &sc, 0, true);
    sp.iters = 3;
    explore_all(t, &sc, 10000, false);
}

/* ---- rwlock: readers together, writers alone ---- */

static struct {
    rwlock_t lock;
    uint32_t readers_in, writers_in, reads, writes;
    bool writer_pref;
} rw;

static void rw_setup(void *ctx)
{
    if (rw.writer_pref)
        rwlock_init(&rw.lock);
    else
        rwlock_init_reader_pref(&rw.lock);
    rw.readers_in = rw.writers_in = rw.reads = rw.writes = 0;
}

static void rw_cpu(unsigned cpu, void *ctx)
{
    for (int i = 0; i < 2; i++) {
        if (cpu == 0 || (cpu == 1 && i == 1)) {
            struct lock_guard g = guard_write(&rw.lock);
            arch_atomic_fetch_add(&rw.writers_in, 1, ARCH_RELAXED);
            arch_sched_yield();
            rw.writes++;
            arch_atomic_fetch_sub(&rw.writers_in, 1, ARCH_RELAXED);
            guard_release(&g);
        } else if (read_trylock(&rw.lock) || (read_lock(&rw.lock), true)) {
            arch_atomic_fetch_add(&rw.readers_in, 1, ARCH_RELAXED);
            arch_sched_yield();
            arch_atomic_fetch_add(&rw.reads, 1, ARCH_RELAXED);
            arch_atomic_fetch_sub(&rw.readers_in, 1, ARCH_RELAXED);
            read_unlock(&rw.lock);
        }
    }
}

static bool rw_check(void *ctx, char *why, size_t n)
{
    FAIL_IF(rw.writers_in > 1 || (rw.writers_in && rw.readers_in),
            "%u writers and %u readers inside", rw.writers_in, rw.readers_in);
    FAIL_IF(!rwlock_valid(&rw.lock), "rwlock word inconsistent");
    FAIL_IF(rw.readers_in > rwlock_readers(&rw.lock), "more readers inside than the lock counts");
    return true;
}

static bool rw_final(void *ctx, char *why, size_t n)
{
    FAIL_IF(rw.writes != 3 || rw.reads != 3, "%u writes and %u reads, want 3 and 3", rw.writes,
            rw.reads);
    FAIL_IF(rwlock_readers(&rw.lock) || rwlock_writer_held(&rw.lock) ||
                rwlock_writers_waiting(&rw.lock),
            "the lock is not free at the end");
    return rw_check(ctx, why, n);
}

static void sync_sched_test_rwlock(struct ktest *t)
{
    const struct sim_scenario sc = {.name = "rwlock",
                                    .ncpus = 3,
                                    .setup = rw_setup,
                                    .cpu = rw_cpu,
                                    .check = rw_check,
                                    .final = rw_final};
    for (int pref = 0; pref < 2; pref++) {
        rw.writer_pref = pref;
        explore_all(t, &sc, 10000, true);
    }
}

/* ---- queues: nothing lost, nothing duplicated, FIFO per producer ---- */

#define Q_PRODUCERS 2
#define Q_MAX_ITEMS 8

static struct {
    bool list; /* which queue */
    struct mpmc_ring ring;
    struct mpmc_list lst;
    unsigned producers, consumers, items; /* items per producer */
    uint32_t consumed;
    uint8_t got[Q_PRODUCERS][Q_MAX_ITEMS];
    int last[SIM_SCHED_MAX_CPUS][Q_PRODUCERS]; /* last item each consumer saw of each producer */
    char error[160];
    uint64_t heap_reports;
} q;

static bool q_push(void *v)
{
    return q.list ? mpmc_list_push(&q.lst, v) : mpmc_ring_push(&q.ring, v);
}

static bool q_pop(void **v)
{
    return q.list ? mpmc_list_pop(&q.lst, v) : mpmc_ring_pop(&q.ring, v);
}

static uint64_t heap_reports_total(void)
{
    struct heap_stats s;
    heap_get_stats(&s);
    uint64_t n = 0;
    for (int i = 0; i < HEAP_REPORT_COUNT_; i++)
        n += s.reports[i];
    return n;
}

static void q_setup(void *ctx)
{
    if (q.list)
        mpmc_list_init(&q.lst);
    else
        mpmc_ring_init(&q.ring, 2, NULL); /* two cells: full happens */
    q.consumed = 0;
    memset(q.got, 0, sizeof(q.got));
    memset(q.last, 0xff, sizeof(q.last));
    q.error[0] = 0;
    q.heap_reports = heap_reports_total();
}

static void q_take(unsigned cpu, void *v)
{
    uintptr_t x = (uintptr_t)v;
    unsigned p = (unsigned)(x >> 8), i = (unsigned)(x & 0xff) - 1;
    if (p >= Q_PRODUCERS || i >= q.items) {
        snprintf(q.error, sizeof(q.error), "cpu %u popped 0x%lx, which no one pushed", cpu,
                 (unsigned long)x);
        return;
    }
    if (q.got[p][i]++)
        snprintf(q.error, sizeof(q.error), "item %u of producer %u popped twice", i, p);
    if ((int)i <= q.last[cpu][p])
        snprintf(q.error, sizeof(q.error), "cpu %u popped item %u of producer %u after item %d",
                 cpu, i, p, q.last[cpu][p]);
    q.last[cpu][p] = (int)i;
}

static void q_cpu(unsigned cpu, void *ctx)
{
    if (cpu < q.producers) {
        for (unsigned i = 0; i < q.items; i++) {
            /* Items are (producer << 8) | (index + 1): never NULL, never repeated. */
            while (!q_push((void *)(uintptr_t)((cpu << 8) | (i + 1))))
                arch_cpu_relax(); /* full */
        }
        return;
    }
    unsigned total = q.producers * q.items;
    while (arch_atomic_load(&q.consumed, ARCH_ACQUIRE) < total) {
        void *v;
        if (q_pop(&v)) {
            q_take(cpu, v);
            arch_atomic_fetch_add(&q.consumed, 1, ARCH_RELEASE);
        } else {
            arch_cpu_relax(); /* empty */
        }
    }
}

static bool q_check(void *ctx, char *why, size_t n)
{
    FAIL_IF(q.error[0], "%s", q.error);
    FAIL_IF(!q.list && mpmc_ring_count(&q.ring) > mpmc_ring_capacity(&q.ring),
            "ring over capacity");
    return true;
}

static bool q_final(void *ctx, char *why, size_t n)
{
    FAIL_IF(q.error[0], "%s", q.error);
    for (unsigned p = 0; p < q.producers; p++)
        for (unsigned i = 0; i < q.items; i++)
            FAIL_IF(q.got[p][i] != 1, "item %u of producer %u popped %u times", i, p, q.got[p][i]);
    uint64_t left = 0;
    FAIL_IF(q.list ? !mpmc_list_valid(&q.lst, &left) || left
                   : !mpmc_ring_valid(&q.ring) || mpmc_ring_count(&q.ring),
            "queue not empty and well formed at the end");
    FAIL_IF(heap_reports_total() != q.heap_reports, "the kernel heap reported a bad free or a use "
                                                    "after free");
    return true;
}

static void q_teardown(void *ctx)
{
    if (q.list)
        mpmc_list_destroy(&q.lst);
    else
        mpmc_ring_destroy(&q.ring);
}

static void queue_case(struct ktest *t, bool list)
{
    const struct sim_scenario small = {.name = list ? "list-small" : "ring-small",
                                       .ncpus = 3,
                                       .setup = q_setup,
                                       .cpu = q_cpu,
                                       .check = q_check,
                                       .final = q_final,
                                       .teardown = q_teardown};
    q.list = list;
    /* Exhaustive: two producers of one item and a consumer; then one producer of two
     * items and two consumers. */
    q.producers = 2, q.consumers = 1, q.items = 1;
    explore_all(t, &small, 0, true);
    struct sim_scenario two = small;
    two.name = list ? "list-2c" : "ring-2c";
    q.producers = 1, q.consumers = 2, q.items = 2;
    explore_all(t, &two, 0, true);
    /* Random and PCT: two producers of three items, two consumers. */
    struct sim_scenario big = small;
    big.name = list ? "list" : "ring";
    big.ncpus = 4;
    q.producers = 2, q.consumers = 2, q.items = 3;
    explore_all(t, &big, 15000, false);
    if (list) {
        hp_scan_all();
        KEXPECT_EQ(t, hp_retired_count(), 0u); /* every node freed once nobody holds it */
    }
}

static void sync_sched_test_ring(struct ktest *t)
{
    queue_case(t, false);
}

static void sync_sched_test_list(struct ktest *t)
{
    queue_case(t, true);
}

/* ---- lockdep's stack depth: fewer frames, the same checks ---- */

static DEFINE_SPINLOCK(dd_lock);

static void dd_setup(void *ctx)
{
    spin_lock_init_class(&dd_lock, dd_lock.dep.name, dd_lock.dep.cls);
}

__attribute__((noinline)) static void dd_release_twice(void)
{
    spin_lock(&dd_lock);
    spin_unlock(&dd_lock);
    spin_unlock(&dd_lock); /* the bug */
}

__attribute__((noinline)) static void dd_caller(unsigned cpu, void *ctx)
{
    dd_release_twice();
    __asm__ volatile("" ::: "memory"); /* not a tail call: dd_caller stays on the stack */
}

static void dd_full_depth(void *arg)
{
    (void)arg;
    sim_lockdep_stack_depth(0);
}

static void sync_sched_test_lockdep_depth_keeps_the_checks(struct ktest *t)
{
    const struct sim_scenario sc = {
        .name = "double_unlock", .ncpus = 1, .setup = dd_setup, .cpu = dd_caller};
    struct sim_explore_opts o = {.strategy = SIM_RANDOM,
                                 .seed = 1,
                                 .schedules = 1,
                                 .quiet = true,
                                 .save = "sync_sched_double_unlock.schedule"};
    KASSERT_EQ(t, sim_explore(&sc, &o, &res), 1);
    KEXPECT_STR_CONTAINS(t, res.report, "bad unlock: cpu 0 releases");
    KEXPECT_STR_CONTAINS(t, res.report, "dd_release_twice");
    KEXPECT_STR_CONTAINS(t, res.report, "dd_caller"); /* the whole stack */

    sim_lockdep_stack_depth(1);
    ktest_defer(t, dd_full_depth, NULL);
    KASSERT_EQ(t, sim_explore(&sc, &o, &res), 1); /* still found */
    KEXPECT_STR_CONTAINS(t, res.report, "bad unlock: cpu 0 releases");
    KEXPECT_STR_CONTAINS(t, res.report, "dd_release_twice");   /* where, by name */
    KEXPECT_FALSE(t, strstr(res.report, "dd_caller") != NULL); /* one frame only */
}

KTEST_SUITE(sync_sched, KTEST_CASE(sync_sched_test_spinlock), KTEST_CASE(sync_sched_test_rwlock),
            KTEST_CASE(sync_sched_test_ring), KTEST_CASE(sync_sched_test_list),
            KTEST_CASE(sync_sched_test_lockdep_depth_keeps_the_checks));
