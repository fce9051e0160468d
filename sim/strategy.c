/* strategy.c - who runs next: the explorer asks at every scheduling point.
 *
 * random  a uniformly random runnable CPU at every decision;
 * pct     probabilistic concurrency testing (Burckhardt et al., ASPLOS 2010): random
 *         distinct priorities, the highest runnable runs, and at d - 1 random
 *         decisions the running CPU drops below every other;
 * dfs     every schedule with at most `preemptions` preemptions, depth first (CHESS),
 *         by backtracking over the trace of the last schedule;
 * replay  the choices of a schedule file, which must fit the run exactly.
 * Every decision is traced, so a failing schedule can be written out.
 *
 * A choice may also be an interrupt delivered to a CPU (SIM_PICK_IRQ + cpu, when one
 * is deliverable there) or a step of a device with work (SIM_PICK_AGENT + k): random
 * picks it like any runnable CPU; DFS counts it as a preemption of a CPU that could
 * have gone on; PCT gives each CPU's interrupts and each device a priority of its own
 * among the CPUs' (odd, so never equal to one), drawn again after each delivery or
 * step, so it comes either at once or when every CPU it outranks is waiting. */
#include "sched_internal.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One decision: who ran next, and what DFS needs to try the others. */
struct step {
    uint8_t chosen, cur;
    uint32_t runnable, tried; /* SIM_PICK_IRQ and SIM_PICK_AGENT bits too */
    uint16_t preempts;        /* preemptions up to and including this decision */
};

static struct {
    const struct sim_explore_opts *o;
    unsigned n;
    uint64_t rng;
    unsigned prio[SIM_PICK_ALL]; /* PCT: the CPUs', their interrupts', the devices' */
    uint64_t change_at[16];
    unsigned pct_depth;
    uint64_t pct_k; /* longest schedule seen: where change points may fall */
    struct step *trace;
    uint64_t prefix; /* DFS: decisions replayed from the trace before choosing freely */
    uint8_t *replay;
    uint64_t replay_len;
} T;

static uint64_t splitmix(uint64_t *x)
{
    uint64_t z = (*x += UINT64_C(0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

/* The index of the k-th (from 0) set bit of mask; k < popcount(mask). */
static unsigned nth_bit(unsigned mask, unsigned k)
{
    while (k--)
        mask &= mask - 1; /* drop the lowest */
    return (unsigned)__builtin_ctz(mask);
}

int sim_strategy_start(const struct sim_explore_opts *o, unsigned ncpus, uint64_t max_steps)
{
    T.o = o, T.n = ncpus;
    T.pct_depth = o->pct_depth ? o->pct_depth : 3;
    T.pct_k = 64;
    T.prefix = 0;
    T.trace = calloc(max_steps + 2, sizeof(*T.trace));
    if (!T.trace) {
        fprintf(stderr, "kernsim sched: no memory for a trace of %lu steps\n",
                (unsigned long)max_steps);
        return -1;
    }
    return 0;
}

void sim_strategy_end(void)
{
    free(T.trace);
    free(T.replay);
    memset(&T, 0, sizeof(T));
}

void sim_strategy_replay(uint8_t *choices, uint64_t n)
{
    free(T.replay);
    T.replay = choices, T.replay_len = n;
}

uint64_t sim_strategy_replay_len(void)
{
    return T.replay_len;
}

unsigned sim_strategy_pct_depth(void)
{
    return T.pct_depth;
}

/* A priority for a CPU's interrupts or a device: odd, between the CPUs' lowest and
 * highest (T.n is at least 1 once a run started). */
static unsigned irq_prio(void)
{
    unsigned n = T.n ? T.n : 1;
    return 2 * (T.pct_depth + (unsigned)(splitmix(&T.rng) % n)) + 1 -
           2 * (unsigned)(splitmix(&T.rng) & 1);
}

/* What choice c does, for a message. */
static const char *choice_name(unsigned c, char *buf, size_t size)
{
    if (c < SIM_PICK_IRQ)
        snprintf(buf, size, "cpu %u", c);
    else if (c < SIM_PICK_AGENT)
        snprintf(buf, size, "an interrupt on cpu %u", c - SIM_PICK_IRQ);
    else
        snprintf(buf, size, "a step of device %u", c - SIM_PICK_AGENT);
    return buf;
}

void sim_strategy_begin(uint64_t index)
{
    T.rng = T.o->seed ^ (index * UINT64_C(0xd1b54a32d192ed03));
    splitmix(&T.rng);
    if (T.o->strategy == SIM_PCT) {
        /* Initial priorities d .. d+n-1 in random order; change points lower the
         * running CPU to d-1, d-2, ... 1. */
        unsigned perm[SIM_SCHED_MAX_CPUS];
        for (unsigned i = 0; i < T.n; i++)
            perm[i] = i;
        for (unsigned i = T.n; i > 1; i--) {
            unsigned j = (unsigned)(splitmix(&T.rng) % i), t = perm[i - 1];
            perm[i - 1] = perm[j], perm[j] = t;
        }
        for (unsigned i = 0; i < T.n; i++)
            T.prio[i] = 2 * (T.pct_depth + perm[i]);
        for (unsigned i = 0; i < T.n; i++)
            T.prio[SIM_PICK_IRQ + i] = irq_prio();
        for (unsigned k = 0; k < SIM_PICK_AGENTS; k++)
            T.prio[SIM_PICK_AGENT + k] = irq_prio();
        for (unsigned j = 0; j + 1 < T.pct_depth; j++)
            T.change_at[j] = 1 + splitmix(&T.rng) % T.pct_k;
    }
}

int sim_strategy_choose(uint64_t i, unsigned cur, unsigned runnable, char *why, size_t size)
{
    unsigned next = 0;
    bool cur_ok = cur < T.n && (runnable >> cur & 1);
    switch (T.o->strategy) {
    case SIM_RANDOM:
        next = nth_bit(runnable,
                       (unsigned)(splitmix(&T.rng) % (unsigned)__builtin_popcount(runnable)));
        break;
    case SIM_PCT: {
        for (unsigned j = 0; j + 1 < T.pct_depth; j++)
            if (T.change_at[j] == i && cur < T.n)
                T.prio[cur] = 2 * (T.pct_depth - 1 - j);
        unsigned best = 0;
        for (unsigned m = runnable; m; m &= m - 1) {
            unsigned c = (unsigned)__builtin_ctz(m);
            if (T.prio[c] >= best)
                best = T.prio[c], next = c;
        }
        if (next >= SIM_PICK_IRQ)
            T.prio[next] = irq_prio();
        break;
    }
    case SIM_DFS:
        if (i < T.prefix) {
            next = T.trace[i].chosen;
            if (!(runnable >> next & 1)) {
                char name[48];
                snprintf(why, size,
                         "kernsim sched: the scenario is not deterministic: step %lu ran %s "
                         "in an earlier schedule with the same prefix, but now the choices "
                         "are 0x%x\n",
                         (unsigned long)i, choice_name(next, name, sizeof(name)), runnable);
                return -1;
            }
        } else {
            unsigned cpus = runnable & ((1u << SIM_PICK_IRQ) - 1);
            next = cur_ok ? cur : (unsigned)__builtin_ctz(cpus ? cpus : runnable);
            uint16_t before = i ? T.trace[i - 1].preempts : 0;
            T.trace[i] = (struct step){.chosen = (uint8_t)next,
                                       .cur = (uint8_t)cur,
                                       .runnable = runnable,
                                       .tried = 1u << next,
                                       .preempts = before};
        }
        break;
    case SIM_REPLAY:
        if (i >= T.replay_len || !(runnable >> T.replay[i] & 1)) {
            char name[48] = "nothing";
            if (i < T.replay_len)
                choice_name(T.replay[i], name, sizeof(name));
            snprintf(why, size,
                     "kernsim sched: the schedule does not fit this program: at step %lu it "
                     "runs %s but the choices are 0x%x\n",
                     (unsigned long)i, name, runnable);
            return -1;
        }
        next = T.replay[i];
        break;
    }
    if (T.o->strategy != SIM_DFS)
        T.trace[i] = (struct step){.chosen = (uint8_t)next};
    return (int)next;
}

unsigned sim_strategy_choice(uint64_t i)
{
    return T.trace[i].chosen;
}

void sim_strategy_done(uint64_t steps)
{
    if (steps > T.pct_k)
        T.pct_k = steps;
}

bool sim_strategy_backtrack(uint64_t decisions)
{
    for (uint64_t i = decisions; i-- > 0;) {
        struct step *s = &T.trace[i];
        uint16_t before = i ? T.trace[i - 1].preempts : 0;
        bool cur_ok = s->cur < T.n && (s->runnable >> s->cur & 1);
        for (unsigned c = 0; c < SIM_PICK_ALL; c++) {
            if (!(s->runnable >> c & 1) || (s->tried >> c & 1))
                continue;
            /* An interrupt or a device step preempts whatever could have gone on, an
             * interrupt's own CPU included. */
            unsigned cost = before + (cur_ok && (c >= SIM_PICK_IRQ || c != s->cur));
            s->tried |= 1u << c;
            if (cost > T.o->preemptions)
                continue;
            s->chosen = (uint8_t)c;
            s->preempts = (uint16_t)cost;
            T.prefix = i + 1;
            return true;
        }
    }
    return false;
}
