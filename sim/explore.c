/* explore.c - the explorer: a scenario's CPUs under the deterministic scheduler,
 * schedule after schedule, until one fails or the strategy is done.
 *
 * Every CPU is a fiber of the calling thread (fiber.c). The seam's scheduling points
 * call sched_hook, which asks spin.c whether the CPU now waits, runs the scenario's
 * invariant, asks the strategy (strategy.c) for the next CPU and switches to it. A
 * failure anywhere (a broken invariant, a deadlock, a hang, or a checker reporting
 * through runfail.h) ends the schedule with a report of where every CPU is; the
 * failing schedule is written out (schedio.c) and replays byte for byte.
 *
 * The scheduler's own bookkeeping runs with TSan's per-fiber access ignores on; the
 * scenario's code never does. */
#include "sim_internal.h"
#include "runfail.h"
#include "san.h"
#include "sched_internal.h"
#include <arch/atomic.h>
#include <arch/cpu.h>
#include <arch/panic.h>
#include <sim/lockdep.h>
#include <sim/sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum cpu_state { C_RUN, C_SPIN, C_HALT, C_DONE };

static struct {
    const struct sim_scenario *sc;
    const struct sim_explore_opts *o;
    unsigned n;
    bool active;   /* inside a schedule */
    bool in_check; /* the scenario's check runs: its own atomics are not points */
    bool in_agent; /* a device's step runs */
    unsigned cur;  /* the running CPU; n before the first */
    struct cpu {
        enum cpu_state state;
        uintptr_t park_fp;    /* frame of its last sched_hook: where its stack walk starts */
        struct sim_exec exec; /* its fault path's state (retry bound, probe) */
        bool irq_now;         /* chosen to take an interrupt when it runs again */
    } c[SIM_SCHED_MAX_CPUS];
    uint64_t step, max_steps;
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

/* Where every unfinished CPU is, and what it waits for. Not inlined: its buffer would
 * be set up (and, under MSan, poisoned) on every scheduling point. */
static __attribute__((noinline)) void rep_cpus(void)
{
    for (unsigned i = 0; i < S.n; i++) {
        const struct cpu *c = &S.c[i];
        if (c->state == C_DONE) {
            rep("  cpu %u: finished\n", i);
            continue;
        }
        rep("  cpu %u: %s\n", i,
            c->state == C_SPIN   ? "spinning"
            : c->state == C_HALT ? "halted, waiting for an interrupt"
                                 : "runnable");
        static char what[4096];
        bool irq = sim_irq_describe_cpu(i, what, sizeof(what));
        if (irq)
            rep("%s", what);
        else if (c->state == C_HALT && !(sim_agent_count && sim_agents_ready()))
            rep("    nothing will wake it: no interrupt pending, no timer running, no device "
                "with work\n");
        if (sim_lockdep_describe_cpu(i, what, sizeof(what)))
            rep("%s", what);
        rep("    at:\n");
        rep_stack(i == S.cur && S.fail_stack ? S.fail_stack : sim_fiber_stack(i, c->park_fp),
                  "      ");
    }
}

/* End the schedule as failed: the report is complete; back to the explorer. Called
 * with TSan's ignores on, which end here (the CPU's state is reused). The failing CPU
 * is abandoned mid-call even if its work had finished (a deadlock found as the last
 * one finished): it starts afresh next time, never resumes. */
static __attribute__((noreturn)) void fail_now(void)
{
    S.failed = true;
    S.active = false;
    S.in_agent = false;
    if (S.cur < S.n) {
        S.c[S.cur].state = C_RUN;
        tsan_edge(&S.c[S.cur], true);
    }
    sim_fiber_abandon();
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
    if (!S.in_agent) { /* a device's step runs with the ignores on already */
        san_ignore_accesses(true);
        /* a device's failure leaves the CPU where it stopped */
        S.c[S.cur].park_fp = (uintptr_t)__builtin_frame_address(0);
        S.fail_stack = stack;
    }
    rep("%s", text);
    rep_cpus();
    fail_now();
}

/* ---- the scheduling point ---- */

/* The choices: CPUs that can run, and (SIM_PICK_IRQ + c) CPUs that an interrupt can be
 * delivered to, spinning or halted ones too: the handler may be what ends the wait. */
static unsigned runnable_mask(void)
{
    unsigned m = 0;
    for (unsigned i = 0; i < S.n; i++)
        if (S.c[i].state == C_RUN || (S.c[i].state == C_SPIN && sim_spin_over(i)))
            m |= 1u << i;
    uint64_t pending = __atomic_load_n(&sim_irq_pending_cpus, __ATOMIC_RELAXED);
    for (unsigned i = 0; pending && i < S.n; i++)
        if (pending >> i & 1 && S.c[i].state != C_DONE && sim_irq_deliverable(i))
            m |= 1u << (SIM_PICK_IRQ + i);
    if (sim_agent_count)
        m |= sim_agents_ready() << SIM_PICK_AGENT;
    return m;
}

/* The strategy's pick among `runnable` for decision S.step - 1; -1 (reported) if the
 * strategy's schedule does not fit the run. */
static int pick(unsigned runnable)
{
    static char why[320]; /* as in sched_hook */
    int next = sim_strategy_choose(S.step - 1, S.cur, runnable, why, sizeof(why));
    if (next < 0) {
        rep("%s", why);
        S.replay_error = true;
    }
    return next;
}

static void enter(unsigned from, unsigned next, bool sync)
{
    S.cur = next;
    S.c[next].state = C_RUN;
    sim_current_cpu = next;
    sim_exec_bind(&S.c[next].exec);
    sim_mmu_cpu_switch(next); /* the host mappings follow its TLB */
    sim_fiber_switch(from, next, sync);
}

/* The current CPU stops before an operation, or has finished its work for this
 * schedule (`finished`): decide who runs next and go there. A finished CPU keeps its
 * stack and is resumed at the start of the next schedule. */
static void reschedule(bool finished)
{
    unsigned me = S.cur, runnable;
    int next = 0;
    for (;;) {
        runnable = runnable_mask();
        if (!runnable)
            break;
        if (++S.step > S.max_steps) {
            rep("kernsim sched: no progress: the schedule passed %lu steps\n",
                (unsigned long)S.max_steps);
            rep_cpus();
            fail_now();
        }
        next = pick(runnable);
        if (next < 0)
            fail_now();
        if (next < SIM_PICK_AGENT)
            break;
        /* A device's step, between the CPUs' (its writes may end a wait); then decide
         * again. */
        S.in_agent = true;
        sim_agent_step((unsigned)(next - SIM_PICK_AGENT));
        S.in_agent = false;
        sim_spin_external_write();
    }
    if (!runnable) {
        bool all_done = true;
        for (unsigned i = 0; i < S.n; i++)
            all_done &= S.c[i].state == C_DONE;
        if (all_done) {
            S.active = false;
            tsan_edge(&S.c[me], true);
            sim_fiber_switch(me, SIM_FIBER_MAIN, true);
            return; /* the next schedule */
        }
        rep("kernsim sched: deadlock at step %lu: no CPU can make progress\n",
            (unsigned long)S.step);
        rep_cpus();
        fail_now();
    }
    if (next >= SIM_PICK_IRQ) {
        next -= SIM_PICK_IRQ;
        S.c[next].irq_now = true;
    }
    if ((unsigned)next == me && !finished) {
        S.c[me].state = C_RUN;
        return;
    }
    tsan_edge(&S.c[me], true);
    enter(me, (unsigned)next, false);
}

/* CPU me takes the interrupt chosen for it, here, before the op it stopped at. Its
 * handler runs as the scenario's code does (the checkers see it), in a spin context of
 * its own. Called with TSan's ignores on. */
static void take_irq(unsigned me)
{
    uintptr_t fp = S.c[me].park_fp;
    S.c[me].irq_now = false;
    if (!sim_spin_irq_enter(me))
        return; /* nested too deep to model: it stays pending */
    san_ignore_accesses(false);
    sim_irq_deliver_one(me);
    san_ignore_accesses(true);
    sim_spin_irq_exit(me);
    S.c[me].park_fp = fp;
}

static void sched_hook(const volatile void *addr, int kind_size)
{
    san_ignore_accesses(true);
    if (!S.active || S.in_check) {
        san_ignore_accesses(false);
        return;
    }
    int kind = kind_size & 0xff;
    unsigned size = (unsigned)kind_size >> 8, me = S.cur;
    enum sim_spin_point p = sim_spin_point(me, kind, addr, size);
    if (p == SIM_SPIN_HANG) {
        S.c[me].park_fp = (uintptr_t)__builtin_frame_address(0);
        rep("kernsim sched: cpu %u spins with preemption off (arch_preempt_disable) at "
            "step %lu: what it waits for needs another CPU, and none runs until it stops "
            "(a lock taken with preemption on, held across a scheduling point?)\n",
            me, (unsigned long)S.step);
        rep_cpus();
        fail_now();
    }
    if (p == SIM_SPIN_NO_POINT) {
        san_ignore_accesses(false);
        return;
    }
    S.c[me].park_fp = (uintptr_t)__builtin_frame_address(0);
    if (p == SIM_SPIN_WAIT)
        S.c[me].state = C_SPIN;
    else if (kind == ARCH_SP_HALT)
        S.c[me].state = C_HALT;
    if (__atomic_load_n(&sim_irq_timers, __ATOMIC_RELAXED)) {
        /* A tick is a scheduling point of the CPU's; a CPU that waits (spins on what
         * does not change, or halts) lets time pass: its timer runs out at once. */
        if (S.c[me].state == C_RUN || sim_irq_deliverable(me))
            sim_irq_tick(me);
        else
            sim_irq_expire_timer(me);
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
    if (S.c[me].irq_now)
        take_irq(me);
    sim_spin_after(me, kind); /* running again, right before the op */
    san_ignore_accesses(false);
}

/* A CPU's life: run its work for a schedule, finish, wait for the next schedule.
 * Entered fresh the first time; resumed afterwards, so calls return normally and
 * every checker's view of the stack stays balanced. */
static __attribute__((noreturn)) void cpu_body(void)
{
    sim_fiber_begin();
    for (;;) {
        unsigned me = S.cur;
        const struct sim_scenario *sc = S.sc;
        tsan_edge(&S.sc, false); /* sees the setup */
        san_ignore_accesses(false);
        sc->cpu(me, sc->ctx);
        san_ignore_accesses(true);
        /* Its work is done: its timer stops, and what is still deliverable arrives now,
         * before it does. */
        sim_irq_cpu_done(me);
        for (unsigned k = 0; k < 256 && sim_irq_deliverable(me); k++) {
            S.c[me].park_fp = (uintptr_t)__builtin_frame_address(0);
            take_irq(me);
        }
        S.c[me].park_fp = 0;
        sim_spin_settle(me);
        sim_mmu_cpu_stopped(me);
        S.c[me].state = C_DONE;
        reschedule(true);
    }
}

/* ---- schedules ---- */

/* One schedule: setup, the CPUs, final, teardown. Fills the report on failure. */
static void run_schedule(uint64_t index)
{
    /* The explorer's bookkeeping is invisible to TSan; the scenario's code is not. */
    const struct sim_scenario *sc = S.sc;
    san_ignore_accesses(true);
    sim_lockdep_reset();         /* before setup: the locks it takes are this schedule's */
    sim_irq_schedule_begin(S.n); /* and the handlers it registers */
    sim_agents_forget_work();    /* no device has work from an earlier schedule */
    sim_mmu_cpus_running(0);     /* the setup runs alone */
    san_ignore_accesses(false);
    if (sc->setup)
        sc->setup(sc->ctx);
    san_ignore_accesses(true);
    sim_mmu_cpus_running((UINT32_C(1) << S.n) - 1);
    for (unsigned i = 0; i < S.n; i++) {
        /* A CPU that finished cleanly waits in cpu_body's loop; any other (new, or
         * abandoned mid-run by a failed schedule) starts afresh. */
        sim_fiber_reset(i, S.c[i].state == C_DONE, cpu_body);
        S.c[i].state = C_RUN;
        S.c[i].park_fp = 0;
        S.c[i].irq_now = false;
        memset(&S.c[i].exec, 0, sizeof(S.c[i].exec)); /* no probe or retry from before */
    }
    sim_spin_begin(S.n);
    S.failed = false;
    S.fail_stack = 0;
    S.report_len = 0;
    S.report[0] = 0;
    S.cur = S.n; /* nobody yet: the first choice is no preemption */
    sim_strategy_begin(index);
    tsan_edge(&S.sc, true);
    S.step = 1;
    int first = pick((1u << S.n) - 1);
    if (first >= 0) {
        S.active = true;
        enter(SIM_FIBER_MAIN, (unsigned)first, true);
        /* Back on the explorer's stack: every CPU finished, or the schedule failed. */
        for (unsigned i = 0; i < S.n; i++)
            tsan_edge(&S.c[i], false); /* joins every CPU */
    } else {
        S.failed = true;
    }
    S.active = false;
    sim_current_cpu = 0;
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

/* 0 if sc and o describe a run this machine can do; -1 with a message. */
static int check_request(const struct sim_scenario *sc, const struct sim_explore_opts *o)
{
    if (S.sc) {
        fprintf(stderr, "kernsim sched: sim_explore called inside a run\n");
        return -1;
    }
    if (arch_panic_catching && arch_panic_catching()) {
        /* The runs' CPUs reuse this thread's CPU numbers, and catch frames are kept per
         * CPU: a panic on a run's CPU would unwind to this catcher, out of the run. */
        fprintf(stderr, "kernsim sched: sim_explore called inside catch_unwind\n");
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
    return 0;
}

static void print_banner(const struct sim_scenario *sc, const struct sim_explore_opts *o,
                         uint64_t total)
{
    if (o->strategy == SIM_REPLAY)
        fprintf(stderr, "kernsim sched: %s: replaying %s (%lu steps, %u CPUs)\n", sc->name,
                o->replay, (unsigned long)sim_strategy_replay_len(), S.n);
    else if (o->strategy == SIM_DFS)
        fprintf(stderr, "kernsim sched: %s: dfs, preemption bound %u, %u CPUs\n", sc->name,
                o->preemptions, S.n);
    else
        fprintf(stderr, "kernsim sched: %s: %s%.0u, seed 0x%lx, %lu schedules, %u CPUs\n", sc->name,
                o->strategy == SIM_PCT ? "pct depth " : "random",
                o->strategy == SIM_PCT ? sim_strategy_pct_depth() : 0, (unsigned long)o->seed,
                (unsigned long)total, S.n);
}

/* Schedule k (0-based) failed: say so, write it out unless it was a replay. */
static int report_failure(const struct sim_scenario *sc, const struct sim_explore_opts *o,
                          uint64_t k, const char *report)
{
    char def[256];
    const char *path = o->save;
    if (!path) {
        snprintf(def, sizeof(def), "%s.schedule", sc->name);
        path = def;
    }
    int rc = 1;
    if (S.replay_error)
        rc = -1;
    else if (o->strategy == SIM_REPLAY)
        fprintf(stderr, "kernsim sched: %s: the replay FAILED at step %lu\n", sc->name,
                (unsigned long)S.step);
    else if (sim_schedfile_write(path, o, sc, k + 1, S.step) == 0)
        fprintf(stderr,
                "kernsim sched: %s: FAILED in schedule %lu (step %lu); schedule written to %s\n",
                sc->name, (unsigned long)(k + 1), (unsigned long)S.step, path);
    else
        fprintf(stderr, "kernsim sched: %s: FAILED in schedule %lu (step %lu)\n", sc->name,
                (unsigned long)(k + 1), (unsigned long)S.step);
    fputs(report, stderr);
    return rc;
}

int sim_explore(const struct sim_scenario *sc, const struct sim_explore_opts *o,
                struct sim_explore_result *res)
{
    memset(res, 0, sizeof(*res));
    if (check_request(sc, o) || sim_fiber_init())
        return -1;
    S.max_steps = o->max_steps ? o->max_steps : 100000;
    if (sim_strategy_start(o, sc->ncpus, S.max_steps))
        return -1;
    if (o->strategy == SIM_REPLAY && sim_schedfile_read(o->replay, sc, S.max_steps)) {
        sim_strategy_end();
        return -1;
    }
    sim_sched_hook = sched_hook;
    static const struct sim_run_ops run_ops = {sim_sched_active, sched_fail};
    sim_run_install(&run_ops);
    sim_lockdep_run_begin();      /* the caller's holds and switches, given back at the end */
    sim_irq_run_begin(sc->ncpus); /* and the caller's interrupt state */
    sim_lockdep_enable(true);
    sim_lockdep_check_order(!o->no_lock_order);
    S.sc = sc, S.o = o, S.n = sc->ncpus;
    S.report = res->report, S.report_size = sizeof(res->report);
    uint64_t total = o->strategy == SIM_REPLAY ? 1 : o->schedules;
    print_banner(sc, o, total);
    int rc = 0;
    for (uint64_t k = 0; total == 0 || k < total; k++) {
        run_schedule(k);
        res->schedules++;
        res->steps += S.step;
        sim_strategy_done(S.step);
        if (S.failed) {
            res->failures = 1;
            res->first_failure = k + 1;
            rc = report_failure(sc, o, k, res->report);
            break;
        }
        if (o->strategy == SIM_DFS && !sim_strategy_backtrack(S.step)) {
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
    sim_irq_run_end(sc->ncpus);
    sim_mmu_cpus_running(0);
    sim_agents_forget_work(); /* what a device was left with ends with the run */
    sim_strategy_end();
    S.sc = NULL;
    S.report = NULL;
    S.replay_error = false;
    return rc;
}
