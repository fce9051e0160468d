/* queue_publish.c - a copy of the bounded MPMC ring whose consumer hands the cell back
 * to producers (advances its sequence) before it has read the value. A producer can
 * then overwrite the cell first: the consumer returns the newer item, the older one
 * is lost and the newer one comes out twice. */
#include "bug_harness.h"
#include <arch/atomic.h>
#include <arch/cpu.h>
#include <stdio.h>
#include <string.h>

#define CAP   2
#define ITEMS 4

static struct {
    uint64_t head, tail;
    struct {
        uint64_t seq;
        uintptr_t value;
    } cell[CAP];
    uint8_t got[ITEMS + 1];
    char error[96];
} q;

static bool push(uintptr_t v)
{
    uint64_t pos = arch_atomic_load(&q.tail, ARCH_RELAXED);
    for (;;) {
        int64_t d = (int64_t)(arch_atomic_load(&q.cell[pos % CAP].seq, ARCH_ACQUIRE) - pos);
        if (d == 0 && arch_atomic_cmpxchg(&q.tail, &pos, pos + 1, ARCH_RELAXED, ARCH_RELAXED)) {
            arch_atomic_store(&q.cell[pos % CAP].value, v, ARCH_RELAXED);
            arch_atomic_store(&q.cell[pos % CAP].seq, pos + 1, ARCH_RELEASE);
            return true;
        }
        if (d < 0)
            return false;
        if (d > 0)
            pos = arch_atomic_load(&q.tail, ARCH_RELAXED);
    }
}

static bool pop(uintptr_t *v)
{
    uint64_t pos = arch_atomic_load(&q.head, ARCH_RELAXED);
    for (;;) {
        int64_t d = (int64_t)(arch_atomic_load(&q.cell[pos % CAP].seq, ARCH_ACQUIRE) - (pos + 1));
        if (d == 0 && arch_atomic_cmpxchg(&q.head, &pos, pos + 1, ARCH_RELAXED, ARCH_RELAXED)) {
            /* The bug: the cell goes back to the producers before its value is read. */
            arch_atomic_store(&q.cell[pos % CAP].seq, pos + CAP, ARCH_RELEASE);
            *v = arch_atomic_load(&q.cell[pos % CAP].value, ARCH_RELAXED);
            return true;
        }
        if (d < 0)
            return false;
        if (d > 0)
            pos = arch_atomic_load(&q.head, ARCH_RELAXED);
    }
}

static void setup(void *ctx)
{
    memset(&q, 0, sizeof(q));
    for (uint64_t i = 0; i < CAP; i++)
        q.cell[i].seq = i;
}

static void cpu(unsigned me, void *ctx)
{
    if (me == 0) {
        for (uintptr_t i = 1; i <= ITEMS; i++)
            while (!push(i))
                arch_cpu_relax();
        return;
    }
    for (int n = 0; n < ITEMS;) {
        uintptr_t v;
        if (!pop(&v)) {
            arch_cpu_relax();
            continue;
        }
        n++;
        if (v < 1 || v > ITEMS)
            snprintf(q.error, sizeof(q.error), "popped %lu, which was never pushed",
                     (unsigned long)v);
        else if (q.got[v]++)
            snprintf(q.error, sizeof(q.error), "item %lu popped twice", (unsigned long)v);
    }
}

static bool check(void *ctx, char *why, size_t n)
{
    if (q.error[0]) {
        snprintf(why, n, "queue: %s", q.error);
        return false;
    }
    return true;
}

static void bug_queue_publishes_before_reading(struct ktest *t)
{
    const struct sim_scenario sc = {.name = "queue_publish",
                                    .ncpus = 2,
                                    .setup = setup,
                                    .cpu = cpu,
                                    .check = check,
                                    .final = check};
    bug_hunt(t, &sc, "popped twice",
             &(struct bug_hunt){.budget = 5000, .preemptions = 2, .dfs_must_find = true});
}

KTEST_SUITE(bugs_queue_publish, KTEST_CASE(bug_queue_publishes_before_reading));
