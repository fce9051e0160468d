/* sched.c - simulated CPUs: free-running threads, or fibers under a deterministic
 * scheduler with random, PCT, bounded-exhaustive and replay strategies.
 *
 * In a deterministic run every CPU is a fiber of the calling thread, with its own
 * stack at a fixed address. The seam's scheduling points call sched_hook, which asks
 * the strategy for the next CPU and switches to it (sim_ctx_switch, switch.S). Each
 * decision is recorded, so a failing schedule can be written out and replayed.
 *
 * The sanitizers are told about every switch: ASan through its fiber calls, TSan
 * through its fiber API with hand-offs that do not synchronise (so a race between two
 * CPUs is still a race), Valgrind through stack registration. The scheduler's own
 * bookkeeping runs with TSan's per-fiber ignores on. */
#define _GNU_SOURCE
#include "sim_internal.h"
#include "runfail.h"
#include "san.h"
#include <arch/atomic.h>
#include <arch/console.h>
#include <arch/cpu.h>
#include <arch/panic.h>
#include <errno.h>
#include <pthread.h>
#include <sim/lockdep.h>
#include <sim/sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <valgrind/valgrind.h>

void sim_ctx_switch(void **save_sp, void *load_sp);

/* Fiber stacks: fixed addresses (reports and heap layouts do not move between runs),
 * below the fake machine's RAM, in application memory for every sanitizer. */
#define STACK_BASE  UINT64_C(0x565f00000000)
#define STACK_SIZE  (UINT64_C(1) << 20)
#define STACK_GUARD UINT64_C(0x10000)

enum fstate { F_RUN, F_SPIN, F_DONE };
#define RS_MAX 40

struct fiber {
    void *sp; /* saved stack pointer while switched out */
    uint8_t *lo;
    void *tsan;
    enum fstate state;
    /* Stopped before a store or RMW: the location and its value then. At the next
     * point the op has run; if the value changed it was a write, which may let
     * spinning CPUs on. */
    uintptr_t pend_addr;
    unsigned pend_size;
    uint64_t pend_old;
    /* What this spin iteration (since the last relax, or the start) read through
     * atomics, and the values it saw. A relax waits until one of them changes. */
    struct {
        uintptr_t addr;
        unsigned size;
        bool changed; /* read with different values in this iteration */
        uint64_t val; /* the last value read */
    } rs[RS_MAX];
    unsigned nrs;
    bool rs_lost;      /* read more places than rs holds: wait for any write instead */
    uintptr_t rd_addr; /* stopped before a load or RMW of this */
    unsigned rd_size;
    uint64_t spin_epoch;
    uintptr_t park_fp;    /* frame of its last sched_hook: where its stack walk starts */
    bool idle;            /* finished a schedule cleanly: resumable at fiber_start's loop */
    struct sim_exec exec; /* its fault path's state (retry bound, probe) */
    unsigned preempt_off; /* arch_preempt_disable depth: no points while nonzero */
    uint64_t relax_off;   /* arch_cpu_relax calls since it last turned preemption off */
};

/* A CPU that spins this long with preemption off waits for what only another CPU can
 * do, and none can run until it stops: a hang, reported as one. */
#define RELAX_OFF_MAX (UINT64_C(1) << 20)

/* One decision: who ran next, and what DFS needs to try the others. */
struct step {
    uint8_t chosen, cur, runnable, tried;
    uint16_t preempts; /* preemptions up to and including this decision */
};

static struct {
    const struct sim_scenario *sc;
    const struct sim_explore_opts *o;
    unsigned n;
    bool active;   /* inside a schedule */
    bool in_check; /* the scenario's check runs: its own atomics are not points */
    unsigned cur;
    struct fiber f[SIM_SCHED_MAX_CPUS];
    bool stacks_ready;
    void *main_sp, *main_tsan;
    uintptr_t main_lo, main_hi;
    uint64_t step, epoch, max_steps;
    /* strategies */
    uint64_t rng;
    unsigned prio[SIM_SCHED_MAX_CPUS];
    uint64_t change_at[16];
    unsigned pct_depth;
    uint64_t pct_k; /* longest schedule seen: where change points may fall */
    struct step *trace;
    uint64_t prefix; /* DFS: decisions replayed from the trace before choosing freely */
    uint8_t *replay;
    uint64_t replay_len;
    /* the current schedule's failure */
    bool failed, replay_error;
    uint32_t fail_stack; /* where the failing CPU failed, if its failure said so */
    char *report;
    size_t report_size, report_len;
} S;

bool sim_sched_active(void)
{
    return S.active;
}

/* Happens-before edges only where real threads would have them: from the explorer's
 * setup to every CPU (thread start), from every CPU to the explorer (join). */
static void tsan_edge(void *token, bool release)
{
    if (release && __tsan_release)
        __tsan_release(token);
    else if (!release && __tsan_acquire)
        __tsan_acquire(token);
}

/* ---- reports ---- */

static void rep(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void rep(const char *fmt, ...)
{
    if (S.report_len + 1 >= S.report_size)
        return;
    va_list ap;
    va_start(ap, fmt);
    int w = vsnprintf(S.report + S.report_len, S.report_size - S.report_len, fmt, ap);
    va_end(ap);
    if (w > 0)
        S.report_len +=
            (size_t)w < S.report_size - S.report_len ? (size_t)w : S.report_size - S.report_len - 1;
}

static void rep_stack(uint32_t id, const char *indent)
{
    if (S.report_len + 1 < S.report_size)
        S.report_len +=
            sim_stack_format(id, indent, S.report + S.report_len, S.report_size - S.report_len);
}

static uint32_t fiber_stack(const struct fiber *f)
{
    return sim_stack_capture_from(f->park_fp, (uintptr_t)f->lo, (uintptr_t)f->lo + STACK_SIZE);
}

/* Where every unfinished CPU is, and what it waits for. Not inlined: its buffer would
 * be set up (and, under MSan, poisoned) on every scheduling point. */
static __attribute__((noinline)) void rep_cpus(void)
{
    for (unsigned i = 0; i < S.n; i++) {
        const struct fiber *f = &S.f[i];
        if (f->state == F_DONE) {
            rep("  cpu %u: finished\n", i);
            continue;
        }
        rep("  cpu %u: %s\n", i, f->state == F_SPIN ? "spinning" : "runnable");
        static char what[4096];
        if (sim_lockdep_describe_cpu(i, what, sizeof(what)))
            rep("%s", what);
        rep("    at:\n");
        rep_stack(i == S.cur && S.fail_stack ? S.fail_stack : fiber_stack(f), "      ");
    }
}

static void switch_ctx(void **save, void *to_sp, void *to_tsan, uintptr_t to_lo, size_t to_size,
                       bool dying, bool sync);

/* End the schedule as failed: the report is complete; back to the explorer. Called
 * with TSan's ignores on, which end here (the fiber's state is reused). */
static __attribute__((noreturn)) void fail_now(void)
{
    S.failed = true;
    S.active = false;
    void *dummy;
    sim_stack_set_bounds(0, 0);
    if (S.cur < S.n)
        tsan_edge(&S.f[S.cur], true);
    san_ignore_accesses(false);
    switch_ctx(&dummy, S.main_sp, S.main_tsan, S.main_lo, S.main_hi - S.main_lo, true, true);
    __builtin_unreachable();
}

/* The run-failed handler (runfail.h) while exploring: the checker's report, then
 * where every CPU is. */
static void sched_fail(const char *text, uint32_t stack)
{
    if (!S.active)
        return;
    if (sim_mmu_busy()) {
        /* Abandoning this CPU would leave mmu.lock held for every later schedule. */
        static const char msg[] = "kernsim sched: a schedule failed inside the simulated MMU\n";
        ssize_t w = write(2, msg, sizeof(msg) - 1);
        (void)w;
        fputs(text, stderr);
        abort();
    }
    san_ignore_accesses(true);
    S.f[S.cur].park_fp = (uintptr_t)__builtin_frame_address(0);
    S.fail_stack = stack;
    rep("%s", text);
    rep_cpus();
    fail_now();
}

/* ---- strategies ---- */

static uint64_t splitmix(uint64_t *x)
{
    uint64_t z = (*x += UINT64_C(0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

static unsigned nth_bit(unsigned mask, unsigned k)
{
    for (unsigned i = 0; i < 32; i++)
        if (mask & (1u << i) && k-- == 0)
            return i;
    return 0;
}

static void strategy_begin(uint64_t index)
{
    S.rng = S.o->seed ^ (index * UINT64_C(0xd1b54a32d192ed03));
    splitmix(&S.rng);
    if (S.o->strategy == SIM_PCT) {
        /* Initial priorities d .. d+n-1 in random order; change points lower the
         * running CPU to d-1, d-2, ... 1. */
        unsigned perm[SIM_SCHED_MAX_CPUS];
        for (unsigned i = 0; i < S.n; i++)
            perm[i] = i;
        for (unsigned i = S.n; i > 1; i--) {
            unsigned j = (unsigned)(splitmix(&S.rng) % i), t = perm[i - 1];
            perm[i - 1] = perm[j], perm[j] = t;
        }
        for (unsigned i = 0; i < S.n; i++)
            S.prio[i] = S.pct_depth + perm[i];
        for (unsigned j = 0; j + 1 < S.pct_depth; j++)
            S.change_at[j] = 1 + splitmix(&S.rng) % S.pct_k;
    }
}

static uint64_t peek(uintptr_t a, unsigned size);

/* Whether a value a spinning CPU read has changed since (or, when it read too many
 * places to remember, whether anything was written). */
static bool spin_over(const struct fiber *f)
{
    if (f->rs_lost || !f->nrs)
        return f->spin_epoch != S.epoch;
    for (unsigned i = 0; i < f->nrs; i++)
        if (f->rs[i].changed || peek(f->rs[i].addr, f->rs[i].size) != f->rs[i].val)
            return true;
    return false;
}

static unsigned runnable_mask(void)
{
    unsigned m = 0;
    for (unsigned i = 0; i < S.n; i++) {
        const struct fiber *f = &S.f[i];
        if (f->state == F_RUN || (f->state == F_SPIN && spin_over(f)))
            m |= 1u << i;
    }
    return m;
}

/* Pick the next CPU among `runnable` (nonzero) at decision S.step - 1. */
static unsigned choose(unsigned runnable)
{
    uint64_t i = S.step - 1;
    unsigned cur = S.cur, next = 0;
    bool cur_ok = cur < S.n && (runnable >> cur & 1);
    switch (S.o->strategy) {
    case SIM_RANDOM:
        next = nth_bit(runnable,
                       (unsigned)(splitmix(&S.rng) % (unsigned)__builtin_popcount(runnable)));
        break;
    case SIM_PCT: {
        for (unsigned j = 0; j + 1 < S.pct_depth; j++)
            if (S.change_at[j] == i && cur < S.n)
                S.prio[cur] = S.pct_depth - 1 - j;
        unsigned best = 0;
        for (unsigned c = 0; c < S.n; c++)
            if (runnable >> c & 1 && S.prio[c] >= best)
                best = S.prio[c], next = c;
        break;
    }
    case SIM_DFS:
        if (i < S.prefix) {
            next = S.trace[i].chosen;
            if (!(runnable >> next & 1)) {
                rep("kernsim sched: the scenario is not deterministic: step %lu ran cpu %u in "
                    "an earlier schedule with the same prefix, but now the runnable CPUs are "
                    "0x%x\n",
                    (unsigned long)i, next, runnable);
                S.replay_error = true;
                fail_now();
            }
        } else {
            next = cur_ok ? cur : (unsigned)__builtin_ctz(runnable);
            uint16_t before = i ? S.trace[i - 1].preempts : 0;
            S.trace[i] = (struct step){.chosen = (uint8_t)next,
                                       .cur = (uint8_t)cur,
                                       .runnable = (uint8_t)runnable,
                                       .tried = (uint8_t)(1u << next),
                                       .preempts = before};
        }
        break;
    case SIM_REPLAY:
        if (i >= S.replay_len || !(runnable >> S.replay[i] & 1)) {
            rep("kernsim sched: the schedule does not fit this program: at step %lu it runs cpu %d "
                "but the runnable CPUs are 0x%x\n",
                (unsigned long)i, i < S.replay_len ? S.replay[i] : -1, runnable);
            S.replay_error = true;
            fail_now();
        }
        next = S.replay[i];
        break;
    }
    if (S.o->strategy != SIM_DFS)
        S.trace[i] = (struct step){.chosen = (uint8_t)next};
    return next;
}

/* DFS: set up the next schedule from the last one's trace; false when none is left. */
static bool dfs_backtrack(uint64_t decisions)
{
    for (uint64_t i = decisions; i-- > 0;) {
        struct step *s = &S.trace[i];
        uint16_t before = i ? S.trace[i - 1].preempts : 0;
        bool cur_ok = s->cur < S.n && (s->runnable >> s->cur & 1);
        for (unsigned c = 0; c < S.n; c++) {
            if (!(s->runnable >> c & 1) || (s->tried >> c & 1))
                continue;
            unsigned cost = before + (cur_ok && c != s->cur);
            s->tried |= (uint8_t)(1u << c);
            if (cost > S.o->preemptions)
                continue;
            s->chosen = (uint8_t)c;
            s->preempts = (uint16_t)cost;
            S.prefix = i + 1;
            return true;
        }
    }
    return false;
}

/* ---- switching ---- */

static void switch_ctx(void **save, void *to_sp, void *to_tsan, uintptr_t to_lo, size_t to_size,
                       bool dying, bool sync)
{
    void *fake = NULL;
    if (__sanitizer_start_switch_fiber)
        __sanitizer_start_switch_fiber(dying ? NULL : &fake, (const void *)to_lo, to_size);
    if (__tsan_switch_to_fiber)
        __tsan_switch_to_fiber(to_tsan, sync ? 0 : TSAN_SWITCH_NO_SYNC);
    sim_ctx_switch(save, to_sp);
    if (__sanitizer_finish_switch_fiber)
        __sanitizer_finish_switch_fiber(fake, NULL, NULL);
}

static void enter(unsigned next, void **save, bool sync)
{
    struct fiber *t = &S.f[next];
    S.cur = next;
    t->state = F_RUN;
    sim_current_cpu = next;
    sim_stack_set_bounds((uintptr_t)t->lo, (uintptr_t)t->lo + STACK_SIZE);
    sim_exec_bind(&t->exec);
    /* Bookkeeping runs under TSan's ignores; a CPU is never switched out with them
     * on, so one abandoned by a failed schedule can be destroyed cleanly. */
    san_ignore_accesses(false);
    switch_ctx(save, t->sp, t->tsan, (uintptr_t)t->lo, STACK_SIZE, false, sync);
    san_ignore_accesses(true);
}

/* The current CPU stops (it may be finished): decide who runs next and go there. */
/* The current CPU stops before an operation, or has finished its work for this
 * schedule (`finished`): decide who runs next and go there. A finished CPU keeps its
 * stack and is resumed at the start of the next schedule. */
static void reschedule(bool finished)
{
    unsigned me = S.cur, runnable = runnable_mask();
    if (!runnable) {
        bool all_done = true;
        for (unsigned i = 0; i < S.n; i++)
            all_done &= S.f[i].state == F_DONE;
        if (all_done) {
            S.active = false;
            sim_stack_set_bounds(0, 0);
            tsan_edge(&S.f[me], true);
            san_ignore_accesses(false);
            switch_ctx(&S.f[me].sp, S.main_sp, S.main_tsan, S.main_lo, S.main_hi - S.main_lo, false,
                       true);
            san_ignore_accesses(true);
            return; /* the next schedule */
        }
        rep("kernsim sched: deadlock at step %lu: no CPU can make progress\n",
            (unsigned long)S.step);
        rep_cpus();
        fail_now();
    }
    if (++S.step > S.max_steps) {
        rep("kernsim sched: no progress: the schedule passed %lu steps\n",
            (unsigned long)S.max_steps);
        rep_cpus();
        fail_now();
    }
    unsigned next = choose(runnable);
    if (next == me && !finished) {
        S.f[me].state = F_RUN;
        return;
    }
    tsan_edge(&S.f[me], true);
    enter(next, &S.f[me].sp, false);
}

/* Operands are read without MSan's checks: only equality matters here. */
__attribute__((no_sanitize("memory"))) static uint64_t peek(uintptr_t a, unsigned size)
{
    switch (size) {
    case 1:
        return *(volatile uint8_t *)a;
    case 2:
        return *(volatile uint16_t *)a;
    case 4:
        return *(volatile uint32_t *)a;
    default:
        return *(volatile uint64_t *)a;
    }
}

/* The op `me` stopped before has run: count it if it wrote. */
static void settle(struct fiber *me)
{
    if (me->pend_addr && peek(me->pend_addr, me->pend_size) != me->pend_old)
        S.epoch++;
    me->pend_addr = 0;
}

static void sched_hook(const volatile void *addr, int kind_size)
{
    san_ignore_accesses(true);
    if (!S.active || S.in_check) {
        san_ignore_accesses(false);
        return;
    }
    int kind = kind_size & 0xff;
    unsigned size = (unsigned)kind_size >> 8;
    struct fiber *me = &S.f[S.cur];
    if (kind == ARCH_SP_PREEMPT_OFF || kind == ARCH_SP_PREEMPT_ON || me->preempt_off) {
        if (kind == ARCH_SP_PREEMPT_OFF && !me->preempt_off++)
            me->relax_off = 0;
        else if (kind == ARCH_SP_PREEMPT_ON && me->preempt_off)
            me->preempt_off--;
        else if (kind == ARCH_SP_RELAX && ++me->relax_off > RELAX_OFF_MAX) {
            me->park_fp = (uintptr_t)__builtin_frame_address(0);
            rep("kernsim sched: cpu %u spins with preemption off (arch_preempt_disable) at "
                "step %lu: what it waits for needs another CPU, and none runs until it stops "
                "(a lock taken with preemption on, held across a scheduling point?)\n",
                S.cur, (unsigned long)S.step);
            rep_cpus();
            fail_now();
        }
        san_ignore_accesses(false);
        return;
    }
    me->park_fp = (uintptr_t)__builtin_frame_address(0);
    settle(me);
    if (kind == ARCH_SP_RELAX) {
        /* If everything this iteration read held one value throughout and still
         * holds it, the loop would only read the same again: the CPU waits until one
         * of them changes. If one has moved already, it gets another look at once. */
        me->spin_epoch = S.epoch;
        if (!spin_over(me))
            me->state = F_SPIN;
    } else if (addr && (size == 1 || size == 2 || size == 4 || size == 8)) {
        if (kind == ARCH_SP_STORE || kind == ARCH_SP_RMW)
            me->pend_addr = (uintptr_t)addr, me->pend_size = size;
        if (kind == ARCH_SP_LOAD || kind == ARCH_SP_RMW)
            me->rd_addr = (uintptr_t)addr, me->rd_size = size;
    }
    static char why[512]; /* one host thread runs the CPUs: no need for a fresh one */
    S.in_check = true;
    bool ok = !S.sc->check || S.sc->check(S.sc->ctx, why, sizeof(why));
    S.in_check = false;
    if (!ok) {
        rep("kernsim sched: invariant broken at step %lu: %s\n", (unsigned long)S.step, why);
        rep_cpus();
        fail_now();
    }
    reschedule(false);
    /* Running again, right before the op: what it is about to read or overwrite. */
    if (me->pend_addr)
        me->pend_old = peek(me->pend_addr, me->pend_size);
    if (me->rd_addr) {
        uint64_t v = peek(me->rd_addr, me->rd_size);
        unsigned i = 0;
        while (i < me->nrs && me->rs[i].addr != me->rd_addr)
            i++;
        if (i < me->nrs) {
            /* Read again: if the value moved, this iteration saw a change (a failed
             * compare-exchange, say) and must not wait on it. */
            me->rs[i].changed |= me->rs[i].val != v;
            me->rs[i].val = v;
        } else if (i < RS_MAX) {
            me->rs[i].addr = me->rd_addr, me->rs[i].size = me->rd_size, me->rs[i].val = v;
            me->rs[i].changed = false;
            me->nrs++;
        } else {
            me->rs_lost = true;
        }
        me->rd_addr = 0;
    }
    if (kind == ARCH_SP_RELAX)
        me->nrs = 0, me->rs_lost = false; /* a new iteration */
    san_ignore_accesses(false);
}

/* A CPU's life: run its work for a schedule, finish, wait for the next schedule.
 * Entered fresh (from fiber_reset's frame) the first time; resumed afterwards, so
 * calls return normally and every checker's view of the stack stays balanced. The
 * scheduler's bookkeeping runs with TSan's ignores on, as in sched_hook. */
static __attribute__((noreturn)) void fiber_start(void)
{
    if (__sanitizer_finish_switch_fiber)
        __sanitizer_finish_switch_fiber(NULL, NULL, NULL);
    san_ignore_accesses(true); /* balanced by the end of each round */
    for (;;) {
        unsigned me = S.cur;
        const struct sim_scenario *sc = S.sc;
        S.f[me].idle = false;
        tsan_edge(&S.sc, false); /* sees the setup */
        san_ignore_accesses(false);
        sc->cpu(me, sc->ctx);
        san_ignore_accesses(true);
        struct fiber *f = &S.f[me];
        f->park_fp = 0;
        settle(f);
        f->state = F_DONE;
        f->idle = true;
        reschedule(true);
    }
}

static int stacks_init(void)
{
    if (S.stacks_ready)
        return 0;
    for (unsigned i = 0; i < SIM_SCHED_MAX_CPUS; i++) {
        uint8_t *base = (uint8_t *)(uintptr_t)(STACK_BASE + i * (STACK_SIZE + STACK_GUARD));
        void *m = mmap(base, STACK_GUARD + STACK_SIZE, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED_NOREPLACE, -1, 0);
        if (m != base) {
            fprintf(stderr, "kernsim sched: cannot map CPU stacks at %p: %s\n", (void *)base,
                    m == MAP_FAILED ? strerror(errno) : "address taken");
            if (m != MAP_FAILED)
                munmap(m, STACK_GUARD + STACK_SIZE);
            return -1;
        }
        mprotect(base, STACK_GUARD, PROT_NONE); /* an overflow faults instead of corrupting */
        S.f[i].lo = base + STACK_GUARD;
        VALGRIND_STACK_REGISTER(S.f[i].lo, S.f[i].lo + STACK_SIZE);
    }
    pthread_attr_t attr;
    void *b;
    size_t sz;
    if (pthread_getattr_np(pthread_self(), &attr) || pthread_attr_getstack(&attr, &b, &sz))
        return -1;
    pthread_attr_destroy(&attr);
    S.main_lo = (uintptr_t)b, S.main_hi = (uintptr_t)b + sz;
    S.stacks_ready = true;
    return 0;
}

/* Ready a CPU for a schedule: an idle one resumes where it finished; any other (new,
 * or abandoned mid-run by a failed schedule) gets a fresh stack and, under TSan, a
 * fresh fiber (the old one's view of the stack holds the abandoned frames). */
static void fiber_reset(struct fiber *f)
{
    if (!f->idle) {
        /* A fresh mapping: no frames, and no shadow state from a fiber that used the
         * stack before (TSan resets its shadow on mmap; ASan is told). */
        if (f->tsan &&
            mmap(f->lo, STACK_SIZE, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1, 0) != f->lo)
            arch_panic("kernsim sched: cannot remap a CPU stack");
        if (__asan_unpoison_memory_region)
            __asan_unpoison_memory_region(f->lo, STACK_SIZE); /* frames abandoned mid-run */
        uintptr_t *top = (uintptr_t *)(f->lo + STACK_SIZE);
        *--top = 0;                      /* fiber_start's return address: none */
        *--top = (uintptr_t)fiber_start; /* sim_ctx_switch returns here */
        for (int r = 0; r < 6; r++)
            *--top = 0; /* r15 r14 r13 r12 rbx rbp: rbp 0 ends stack walks */
        f->sp = top;
        if (__tsan_create_fiber) {
            if (f->tsan)
                __tsan_destroy_fiber(f->tsan);
            f->tsan = __tsan_create_fiber(0);
        }
    }
    f->state = F_RUN;
    f->pend_addr = f->rd_addr = 0;
    f->nrs = 0;
    f->rs_lost = false;
    f->spin_epoch = 0;
    f->park_fp = 0;
    f->preempt_off = 0;
    f->relax_off = 0;
    memset(&f->exec, 0, sizeof(f->exec)); /* no probe or retry from an abandoned run */
}

/* One schedule: setup, the CPUs, final, teardown. Fills the report on failure. */
static void run_schedule(uint64_t index)
{
    /* The explorer's bookkeeping is invisible to TSan; the scenario's code is not. */
    const struct sim_scenario *sc = S.sc;
    san_ignore_accesses(true);
    sim_lockdep_reset(); /* before setup: the locks it takes are this schedule's */
    san_ignore_accesses(false);
    if (sc->setup)
        sc->setup(sc->ctx);
    san_ignore_accesses(true);
    for (unsigned i = 0; i < S.n; i++)
        fiber_reset(&S.f[i]);
    S.step = 0;
    S.epoch = 1;
    S.failed = false;
    S.fail_stack = 0;
    S.report_len = 0;
    S.report[0] = 0;
    S.cur = S.n; /* nobody yet: the first choice is no preemption */
    strategy_begin(index);
    if (__tsan_get_current_fiber)
        S.main_tsan = __tsan_get_current_fiber();
    tsan_edge(&S.sc, true);
    S.active = true;
    S.step = 1;
    unsigned first = choose((1u << S.n) - 1);
    enter(first, &S.main_sp, true);
    /* Back on the explorer's stack: every CPU finished, or the schedule failed. */
    for (unsigned i = 0; i < S.n; i++)
        tsan_edge(&S.f[i], false); /* joins every CPU */
    S.active = false;
    sim_current_cpu = 0;
    sim_stack_set_bounds(0, 0);
    sim_exec_bind(NULL);
    bool failed = S.failed;
    uint64_t steps = S.step;
    san_ignore_accesses(false);
    char why[512];
    if (!failed && sc->final && !sc->final(sc->ctx, why, sizeof(why))) {
        san_ignore_accesses(true);
        rep("kernsim sched: wrong final state after %lu steps: %s\n", (unsigned long)steps, why);
        S.failed = true;
        san_ignore_accesses(false);
    }
    if (sc->teardown)
        sc->teardown(sc->ctx);
}

static const char *strategy_name(enum sim_strategy s)
{
    static const char *names[] = {"random", "pct", "dfs", "replay"};
    return (unsigned)s < 4 ? names[s] : "?";
}

static int write_schedule(const char *path, uint64_t index)
{
    FILE *f = fopen(path, "w");
    if (!f) {
        fprintf(stderr, "kernsim sched: cannot write %s: %s\n", path, strerror(errno));
        return -1;
    }
    fprintf(f,
            "kernsim-schedule 1\n# found by %s, seed 0x%lx, schedule %lu\nscenario %s\n"
            "cpus %u\nsteps %lu\nchoices ",
            strategy_name(S.o->strategy), (unsigned long)S.o->seed, (unsigned long)index,
            S.sc->name, S.n, (unsigned long)S.step);
    for (uint64_t i = 0; i < S.step; i++)
        fputc('0' + S.trace[i].chosen, f);
    fputc('\n', f);
    return fclose(f) ? -1 : 0;
}

/* Read a schedule file for scenario sc into S.replay. -1 with a message if it is
 * not one. */
static int read_schedule(const char *path, const struct sim_scenario *sc)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "kernsim sched: cannot read schedule %s: %s\n", path, strerror(errno));
        return -1;
    }
    char line[256], name[128] = "";
    unsigned cpus = 0;
    unsigned long steps = 0;
    bool magic = false, have_choices = false;
    int err = 0, c;
    uint64_t n = 0;
    while (!err && !have_choices && fgets(line, sizeof(line), f)) {
        if (line[0] == '#' || line[0] == '\n')
            continue;
        if (!strcmp(line, "kernsim-schedule 1\n"))
            magic = true;
        else if (magic &&
                 (sscanf(line, "scenario %127s", name) == 1 ||
                  sscanf(line, "cpus %u", &cpus) == 1 || sscanf(line, "steps %lu", &steps) == 1))
            ; /* a header line, read into name, cpus or steps */
        else if (magic && (!strcmp(line, "choices \n") || !strncmp(line, "choices ", 8))) {
            have_choices = true;
            fseek(f, -(long)strlen(line) + 8, SEEK_CUR);
        } else
            err = 1;
    }
    if (!err && (!magic || !have_choices || !steps || steps > S.max_steps))
        err = 1;
    if (!err && (strcmp(name, sc->name) || cpus != sc->ncpus)) {
        fprintf(stderr, "kernsim sched: %s is a schedule for '%s' on %u CPUs, not '%s' on %u\n",
                path, name, cpus, sc->name, sc->ncpus);
        fclose(f);
        return -1;
    }
    if (!err) {
        free(S.replay);
        S.replay = malloc(steps);
        while (S.replay && n < steps && (c = fgetc(f)) != EOF && c >= '0' && c < '0' + (int)cpus)
            S.replay[n++] = (uint8_t)(c - '0');
        c = fgetc(f);
        if (!S.replay || n != steps || (c != '\n' && c != EOF))
            err = 1;
    }
    fclose(f);
    if (err) {
        fprintf(stderr, "kernsim sched: %s is not a valid schedule file\n", path);
        return -1;
    }
    S.replay_len = n;
    return 0;
}

int sim_explore_opts_from_env(struct sim_explore_opts *out)
{
    struct sim_explore_opts copy = *out, *o = &copy; /* *out changes only if all parse */
    const char *s = getenv("KERNSIM_STRATEGY"), *seed = getenv("KERNSIM_SEED"),
               *n = getenv("KERNSIM_SCHEDULES");
    char *end;
    if (s) {
        if (!strcmp(s, "random"))
            o->strategy = SIM_RANDOM;
        else if (!strcmp(s, "pct"))
            o->strategy = SIM_PCT;
        else if (!strcmp(s, "dfs"))
            o->strategy = SIM_DFS;
        else if (!strncmp(s, "replay:", 7) && s[7])
            o->strategy = SIM_REPLAY, o->replay = s + 7;
        else {
            fprintf(stderr,
                    "kernsim sched: KERNSIM_STRATEGY=%s: expected random, pct, dfs or "
                    "replay:FILE\n",
                    s);
            return -1;
        }
    }
    if (seed) {
        errno = 0;
        o->seed = strtoull(seed, &end, 0);
        if (errno || !*seed || *end) {
            fprintf(stderr, "kernsim sched: KERNSIM_SEED=%s is not a number\n", seed);
            return -1;
        }
    }
    if (n) {
        errno = 0;
        o->schedules = strtoull(n, &end, 0);
        if (errno || !*n || *end) {
            fprintf(stderr, "kernsim sched: KERNSIM_SCHEDULES=%s is not a number\n", n);
            return -1;
        }
    }
    *out = copy;
    return 0;
}

int sim_explore(const struct sim_scenario *sc, const struct sim_explore_opts *o,
                struct sim_explore_result *res)
{
    memset(res, 0, sizeof(*res));
    if (S.sc) {
        fprintf(stderr, "kernsim sched: sim_explore called inside a run\n");
        return -1;
    }
    if (!sc || !sc->cpu || !sc->name || !sc->ncpus || sc->ncpus > SIM_SCHED_MAX_CPUS ||
        sc->ncpus > arch_cpu_count()) {
        fprintf(stderr,
                "kernsim sched: scenario needs a name, a cpu function and 1..%u CPUs "
                "(the machine has %u)\n",
                SIM_SCHED_MAX_CPUS, arch_cpu_count());
        return -1;
    }
    if ((unsigned)o->strategy > SIM_REPLAY || (o->strategy == SIM_REPLAY && !o->replay) ||
        o->pct_depth > 16 || (o->strategy <= SIM_PCT && !o->schedules)) {
        fprintf(stderr, "kernsim sched: bad options (strategy %d, replay %s, pct depth %u)\n",
                (int)o->strategy, o->replay ? o->replay : "none", o->pct_depth);
        return -1;
    }
    if (stacks_init())
        return -1;
    sim_sched_hook = sched_hook;
    static const struct sim_run_ops run_ops = {sim_sched_active, sched_fail};
    sim_run_install(&run_ops);
    sim_lockdep_enable(true);
    sim_lockdep_check_order(!o->no_lock_order);
    S.sc = sc, S.o = o, S.n = sc->ncpus;
    S.max_steps = o->max_steps ? o->max_steps : 100000;
    S.pct_depth = o->pct_depth ? o->pct_depth : 3;
    S.pct_k = 64;
    S.prefix = 0;
    S.report = res->report, S.report_size = sizeof(res->report);
    int rc = 0;
    if (o->strategy == SIM_REPLAY && read_schedule(o->replay, sc)) {
        S.sc = NULL;
        return -1;
    }
    S.trace = calloc(S.max_steps + 2, sizeof(*S.trace));
    if (!S.trace) {
        S.sc = NULL;
        return -1;
    }
    uint64_t total = o->strategy == SIM_REPLAY ? 1 : o->schedules;
    sim_lockdep_run_begin();
    if (o->strategy == SIM_REPLAY)
        fprintf(stderr, "kernsim sched: %s: replaying %s (%lu steps, %u CPUs)\n", sc->name,
                o->replay, (unsigned long)S.replay_len, S.n);
    else if (o->strategy == SIM_DFS)
        fprintf(stderr, "kernsim sched: %s: dfs, preemption bound %u, %u CPUs\n", sc->name,
                o->preemptions, S.n);
    else
        fprintf(stderr, "kernsim sched: %s: %s%.0u, seed 0x%lx, %lu schedules, %u CPUs\n", sc->name,
                o->strategy == SIM_PCT ? "pct depth " : "random",
                o->strategy == SIM_PCT ? S.pct_depth : 0, (unsigned long)o->seed,
                (unsigned long)total, S.n);
    for (uint64_t k = 0; total == 0 || k < total; k++) {
        run_schedule(k);
        res->schedules++;
        res->steps += S.step;
        if (S.step > S.pct_k)
            S.pct_k = S.step;
        if (S.failed) {
            res->failures = 1;
            res->first_failure = k + 1;
            char def[256];
            const char *path = o->save;
            if (!path) {
                snprintf(def, sizeof(def), "%s.schedule", sc->name);
                path = def;
            }
            if (S.replay_error)
                rc = -1;
            else if (o->strategy == SIM_REPLAY)
                fprintf(stderr, "kernsim sched: %s: the replay FAILED at step %lu\n", sc->name,
                        (unsigned long)S.step);
            else if (write_schedule(path, k + 1) == 0)
                fprintf(stderr,
                        "kernsim sched: %s: FAILED in schedule %lu (step %lu); "
                        "schedule written to %s\n",
                        sc->name, (unsigned long)(k + 1), (unsigned long)S.step, path);
            else
                fprintf(stderr, "kernsim sched: %s: FAILED in schedule %lu (step %lu)\n", sc->name,
                        (unsigned long)(k + 1), (unsigned long)S.step);
            fputs(res->report, stderr);
            if (rc == 0)
                rc = 1;
            break;
        }
        if (o->strategy == SIM_DFS && !dfs_backtrack(S.step)) {
            res->exhausted = true;
            break;
        }
        if (!o->quiet && total >= 100 && (k + 1) % (total / 10) == 0)
            fprintf(stderr, "kernsim sched: %s: %lu of %lu schedules\n", sc->name,
                    (unsigned long)(k + 1), (unsigned long)total);
    }
    if (rc == 0)
        fprintf(stderr, "kernsim sched: %s: %lu schedules, %lu steps, no failure%s\n", sc->name,
                (unsigned long)res->schedules, (unsigned long)res->steps,
                res->exhausted ? "; the bounded space is exhausted" : "");
    sim_sched_hook = NULL;
    sim_run_install(NULL);
    sim_lockdep_run_end(); /* abandoned CPUs' holds are not the caller's */
    sim_lockdep_check_order(true);
    free(S.trace);
    S.trace = NULL;
    S.sc = NULL;
    S.report = NULL;
    S.replay_error = false;
    return rc;
}

/* ---- free-running ---- */

struct thread_arg {
    unsigned cpu;
    void (*fn)(unsigned, void *);
    void *ctx;
};

static void *thread_main(void *p)
{
    struct thread_arg *a = p;
    sim_current_cpu = a->cpu;
    sim_stack_bounds_init(); /* now, not first inside a fault handler */
    a->fn(a->cpu, a->ctx);
    return NULL;
}

int sim_run_cpus(unsigned ncpus, void (*fn)(unsigned cpu, void *ctx), void *ctx)
{
    if (!ncpus || ncpus > arch_cpu_count() || ncpus > 64) {
        fprintf(stderr, "kernsim: sim_run_cpus(%u): the machine has %u CPUs\n", ncpus,
                arch_cpu_count());
        return -1;
    }
    pthread_t th[64];
    struct thread_arg a[64];
    unsigned started = 0;
    int rc = 0;
    for (; started < ncpus; started++) {
        a[started] = (struct thread_arg){started, fn, ctx};
        if (pthread_create(&th[started], NULL, thread_main, &a[started])) {
            rc = -1;
            break;
        }
    }
    for (unsigned i = 0; i < started; i++)
        pthread_join(th[i], NULL);
    return rc;
}
