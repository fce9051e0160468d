/* irq.c - interrupts (arch/irq.h) and each CPU's interrupt flag: the vector table,
 * what is pending and in service on each CPU, the local timers, and delivery.
 *
 * Delivery runs the handler on the calling host thread or fiber, which must be the
 * CPU's own: nested inside whatever that CPU was doing, as hardware nests it. Who
 * decides when: the deterministic scheduler (explore.c asks sim_irq_deliverable at
 * every scheduling point and calls sim_irq_deliver_one when its strategy chooses an
 * interrupt), and otherwise this file, at the CPU's own arch_irq_enable/restore,
 * arch_cpu_relax and arch_halt (the free-running and single-thread modes).
 *
 * Pending bits are set by any thread (an IPI from a free-running CPU) with atomics;
 * everything else of a CPU's is only its own. */
#include "sim_internal.h"
#include "runfail.h"
#include <arch/atomic.h>
#include <arch/console.h>
#include <arch/cpu.h>
#include <arch/irq.h>
#include <arch/panic.h>
#include <pthread.h>
#include <sched.h>
#include <sim/sched.h>
#include <string.h>

struct vec {
    arch_irq_handler_t fn;
    void *ctx;
    bool masked;
};

struct irq_cpu {
    uint64_t irr[4];                   /* pending (any thread sets a bit, atomically) */
    uint64_t isr[4];                   /* in service: handlers running, not yet acknowledged */
    unsigned depth;                    /* handlers running, nested */
    uint64_t timer_left, timer_period; /* ticks to the next expiry; 0 period: one-shot */
    unsigned timer_vector;             /* 0: the timer is stopped */
};

static struct {
    pthread_mutex_t mu; /* over vec[] changes (handlers are read without it) */
    struct vec vec[256];
    struct irq_cpu cpu[SIM_MAX_CPUS];
    bool vec_changed; /* vec[] changed since the run's schedule began */
    /* A deterministic run's saved state: the vector table as sim_explore found it
     * (each schedule starts from it) and the CPUs it borrows. */
    struct vec saved_vec[256];
    struct irq_cpu saved_cpu[SIM_SCHED_MAX_CPUS];
    bool saved_on[SIM_SCHED_MAX_CPUS];
    unsigned saved_timers;
} Q = {.mu = PTHREAD_MUTEX_INITIALIZER};

/* Counted by every thread (free-running CPUs start timers too): atomics. */
unsigned sim_irq_timers;
/* Bit c: cpu c may have something pending. A hint: set after the pending bit, cleared
 * only by a look that finds nothing. */
uint64_t sim_irq_pending_cpus;

static bool vector_ok(unsigned v, const char *who)
{
    if (v >= ARCH_IRQ_FIRST && v <= ARCH_IRQ_LAST)
        return true;
    kprintf("# %s: vector %u is outside %u..%u\n", who, v, ARCH_IRQ_FIRST, ARCH_IRQ_LAST);
    return false;
}

static bool test_bit(const uint64_t *w, unsigned v)
{
    return __atomic_load_n(&w[v >> 6], __ATOMIC_RELAXED) >> (v & 63) & 1;
}

/* The highest set bit of w[0..4), or -1. */
static int highest(const uint64_t *w)
{
    for (int i = 3; i >= 0; i--) {
        uint64_t x = __atomic_load_n(&w[i], __ATOMIC_RELAXED);
        if (x)
            return i * 64 + 63 - __builtin_clzll(x);
    }
    return -1;
}

static void raise_on(unsigned cpu, unsigned v)
{
    __atomic_fetch_or(&Q.cpu[cpu].irr[v >> 6], UINT64_C(1) << (v & 63), __ATOMIC_SEQ_CST);
    __atomic_fetch_or(&sim_irq_pending_cpus, UINT64_C(1) << cpu, __ATOMIC_SEQ_CST);
}

void sim_irq_raise(unsigned cpu, unsigned vector)
{
    if (cpu < SIM_MAX_CPUS && vector >= ARCH_IRQ_FIRST && vector <= ARCH_IRQ_LAST)
        raise_on(cpu, vector);
}

/* ---- the interrupt flag ---- */

arch_irqflags_t arch_irq_save(void)
{
    unsigned me = sim_current_cpu;
    arch_irqflags_t old = sim_cpu_irq_on[me];
    sim_cpu_irq_on[me] = false;
    return old;
}

/* Interrupts go on: those pending may arrive now. Under the scheduler it is a point
 * whether or not one is pending: another CPU may raise one first (an IPI sent between
 * an idle loop's check for work and its enable arrives here, before the halt). */
static void turned_on(unsigned me)
{
    sim_lockdep_irqs_on(me);
    if (sim_sched_hook)
        sim_sched_point(NULL, ARCH_SP_IRQ); /* the scheduler delivers, when it chooses */
    else
        while (sim_cpu_irq_on[me] && sim_irq_deliverable(me))
            sim_irq_deliver_one(me);
}

void arch_irq_restore(arch_irqflags_t flags)
{
    unsigned me = sim_current_cpu;
    bool was = sim_cpu_irq_on[me];
    sim_cpu_irq_on[me] = flags != 0;
    if (flags && !was)
        turned_on(me);
}

void arch_irq_enable(void)
{
    unsigned me = sim_current_cpu;
    bool was = sim_cpu_irq_on[me];
    sim_cpu_irq_on[me] = true;
    if (!was)
        turned_on(me);
}

void arch_irq_disable(void)
{
    sim_cpu_irq_on[sim_current_cpu] = false;
}

bool arch_irqs_enabled(void)
{
    return sim_cpu_irq_on[sim_current_cpu];
}

bool arch_in_irq(void)
{
    return Q.cpu[sim_current_cpu].depth != 0;
}

/* ---- handlers, masks, IPIs ---- */

int arch_irq_register(unsigned vector, arch_irq_handler_t fn, void *ctx)
{
    if (!vector_ok(vector, "arch_irq_register"))
        return -1;
    if (!fn) {
        kprintf("# arch_irq_register: vector %u: no handler given\n", vector);
        return -1;
    }
    pthread_mutex_lock(&Q.mu);
    bool taken = Q.vec[vector].fn != NULL;
    if (!taken) {
        __atomic_store_n(&Q.vec_changed, true, __ATOMIC_RELAXED);
        Q.vec[vector].ctx = ctx;
        Q.vec[vector].masked = false;
        __atomic_store_n(&Q.vec[vector].fn, fn, __ATOMIC_RELEASE);
    }
    pthread_mutex_unlock(&Q.mu);
    if (taken)
        kprintf("# arch_irq_register: vector %u has a handler already\n", vector);
    return taken ? -1 : 0;
}

int arch_irq_unregister(unsigned vector)
{
    if (!vector_ok(vector, "arch_irq_unregister"))
        return -1;
    pthread_mutex_lock(&Q.mu);
    bool had = Q.vec[vector].fn != NULL;
    __atomic_store_n(&Q.vec_changed, true, __ATOMIC_RELAXED);
    __atomic_store_n(&Q.vec[vector].fn, NULL, __ATOMIC_RELEASE);
    Q.vec[vector].ctx = NULL;
    for (unsigned c = 0; c < SIM_MAX_CPUS; c++)
        __atomic_fetch_and(&Q.cpu[c].irr[vector >> 6], ~(UINT64_C(1) << (vector & 63)),
                           __ATOMIC_SEQ_CST);
    pthread_mutex_unlock(&Q.mu);
    if (!had)
        kprintf("# arch_irq_unregister: vector %u has no handler\n", vector);
    return had ? 0 : -1;
}

static void set_mask(unsigned vector, bool masked, const char *who)
{
    if (!vector_ok(vector, who))
        return;
    __atomic_store_n(&Q.vec_changed, true, __ATOMIC_RELAXED);
    __atomic_store_n(&Q.vec[vector].masked, masked, __ATOMIC_SEQ_CST);
    if (!masked && test_bit(Q.cpu[sim_current_cpu].irr, vector) && sim_cpu_irq_on[sim_current_cpu])
        turned_on(sim_current_cpu); /* what waited for the line may arrive now */
}

void arch_irq_mask(unsigned vector)
{
    set_mask(vector, true, "arch_irq_mask");
}

void arch_irq_unmask(unsigned vector)
{
    set_mask(vector, false, "arch_irq_unmask");
}

void arch_irq_eoi(void)
{
    struct irq_cpu *c = &Q.cpu[sim_current_cpu];
    int v = highest(c->isr);
    if (v >= 0)
        c->isr[v >> 6] &= ~(UINT64_C(1) << (v & 63));
}

int arch_ipi_send(unsigned cpu, unsigned vector)
{
    if (!vector_ok(vector, "arch_ipi_send"))
        return -1;
    if (cpu >= arch_cpu_count()) {
        kprintf("# arch_ipi_send: there is no cpu %u (the machine has %u)\n", cpu,
                arch_cpu_count());
        return -1;
    }
    raise_on(cpu, vector);
    if (cpu == sim_current_cpu && sim_cpu_irq_on[cpu])
        turned_on(cpu); /* a self-IPI arrives as soon as interrupts allow */
    return 0;
}

int arch_ipi_send_others(unsigned vector)
{
    if (!vector_ok(vector, "arch_ipi_send_others"))
        return -1;
    for (unsigned c = 0; c < arch_cpu_count(); c++)
        if (c != sim_current_cpu)
            raise_on(c, vector);
    return 0;
}

/* ---- the local timer ---- */

int arch_timer_start(unsigned vector, uint64_t ticks, bool periodic)
{
    if (!vector_ok(vector, "arch_timer_start"))
        return -1;
    if (!ticks) {
        kprintf("# arch_timer_start: 0 ticks\n");
        return -1;
    }
    struct irq_cpu *c = &Q.cpu[sim_current_cpu];
    if (!c->timer_vector)
        __atomic_fetch_add(&sim_irq_timers, 1, __ATOMIC_RELAXED);
    c->timer_vector = vector;
    c->timer_left = ticks;
    c->timer_period = periodic ? ticks : 0;
    return 0;
}

void arch_timer_stop(void)
{
    struct irq_cpu *c = &Q.cpu[sim_current_cpu];
    if (c->timer_vector)
        __atomic_fetch_sub(&sim_irq_timers, 1, __ATOMIC_RELAXED);
    c->timer_vector = 0;
}

static void expire(unsigned cpu)
{
    struct irq_cpu *c = &Q.cpu[cpu];
    raise_on(cpu, c->timer_vector);
    if (c->timer_period) {
        c->timer_left = c->timer_period;
    } else {
        c->timer_vector = 0;
        __atomic_fetch_sub(&sim_irq_timers, 1, __ATOMIC_RELAXED);
    }
}

void sim_irq_tick(unsigned cpu)
{
    struct irq_cpu *c = &Q.cpu[cpu];
    if (c->timer_vector && !--c->timer_left)
        expire(cpu);
}

void sim_irq_cpu_done(unsigned cpu)
{
    struct irq_cpu *c = &Q.cpu[cpu];
    if (c->timer_vector)
        __atomic_fetch_sub(&sim_irq_timers, 1, __ATOMIC_RELAXED);
    c->timer_vector = 0;
}

bool sim_irq_expire_timer(unsigned cpu)
{
    if (!Q.cpu[cpu].timer_vector)
        return false;
    expire(cpu);
    return true;
}

/* ---- delivery ---- */

bool sim_irq_deliverable(unsigned cpu)
{
    if (!(__atomic_load_n(&sim_irq_pending_cpus, __ATOMIC_RELAXED) >> cpu & 1) ||
        !sim_cpu_irq_on[cpu])
        return false;
    const struct irq_cpu *c = &Q.cpu[cpu];
    int busy = highest(c->isr), floor = busy < 0 ? 0 : (busy >> 4) + 1;
    for (int i = 3; i >= 0; i--) {
        uint64_t x = __atomic_load_n(&c->irr[i], __ATOMIC_RELAXED);
        while (x) {
            int v = i * 64 + 63 - __builtin_clzll(x);
            if ((v >> 4) < floor)
                return false; /* this and everything below waits for an EOI */
            if (!__atomic_load_n(&Q.vec[v].masked, __ATOMIC_RELAXED))
                return true;
            x &= ~(UINT64_C(1) << (v & 63));
        }
    }
    /* Nothing is pending but masked lines: drop the hint, then look again (a raise
     * between the two sets it back). */
    if (highest(c->irr) < 0) {
        __atomic_fetch_and(&sim_irq_pending_cpus, ~(UINT64_C(1) << cpu), __ATOMIC_SEQ_CST);
        if (highest(c->irr) >= 0)
            __atomic_fetch_or(&sim_irq_pending_cpus, UINT64_C(1) << cpu, __ATOMIC_SEQ_CST);
    }
    return false;
}

/* The highest pending, unmasked vector above the in-service class; -1 if none. */
static int next_vector(const struct irq_cpu *c)
{
    int busy = highest(c->isr), floor = busy < 0 ? 0 : (busy >> 4) + 1;
    for (int v = 255; v >= floor * 16; v--)
        if (test_bit(c->irr, (unsigned)v) && !__atomic_load_n(&Q.vec[v].masked, __ATOMIC_RELAXED))
            return v;
    return -1;
}

void sim_irq_deliver_one(unsigned cpu)
{
    struct irq_cpu *c = &Q.cpu[cpu];
    int v = next_vector(c);
    if (v < 0 || !sim_cpu_irq_on[cpu])
        return;
    __atomic_fetch_and(&c->irr[v >> 6], ~(UINT64_C(1) << (v & 63)), __ATOMIC_SEQ_CST);
    arch_irq_handler_t fn = __atomic_load_n(&Q.vec[v].fn, __ATOMIC_ACQUIRE);
    if (!fn) {
        kprintf("# sim irq: vector %d arrived on cpu %u with no handler: ignored\n", v, cpu);
        return;
    }
    c->isr[v >> 6] |= UINT64_C(1) << (v & 63);
    sim_cpu_irq_on[cpu] = false; /* an interrupt gate */
    c->depth++;
    sim_lockdep_irq_enter(cpu);
    fn((unsigned)v, Q.vec[v].ctx);
    sim_lockdep_irq_exit(cpu);
    c->depth--;
    sim_cpu_irq_on[cpu] = true; /* iret: the interrupted code had them on */
    if (test_bit(c->isr, (unsigned)v)) {
        char msg[256];
        ksnprintf(msg, sizeof(msg),
                  "kernsim irq: the handler of vector %d on cpu %u returned without arch_irq_eoi: "
                  "interrupts of its priority and below stay blocked on that CPU\n",
                  v, cpu);
        sim_run_fail(msg, 0); /* returns outside a deterministic run */
        kprintf("# %s", msg);
    }
}

/* ---- spinning and halting ---- */

void arch_cpu_relax(void)
{
    ARCH_SCHED_POINT((void *)0, ARCH_SP_RELAX);
    __builtin_ia32_pause();
    unsigned me = sim_current_cpu;
    if (sim_sched_hook)
        return; /* the scheduler ticks the timers and delivers */
    if (__atomic_load_n(&sim_irq_timers, __ATOMIC_RELAXED))
        sim_irq_tick(me);
    while (sim_cpu_irq_on[me] && sim_irq_deliverable(me))
        sim_irq_deliver_one(me);
}

/* The halt itself, interrupts on and outside any handler. */
static void halt_on(unsigned me)
{
    if (sim_sched_hook) {
        /* The scheduler keeps it off the CPUs until an interrupt is delivered to it
         * (and runs an idle CPU's timer out). */
        ARCH_SCHED_POINT((void *)0, ARCH_SP_HALT);
        return;
    }
    if (!sim_irq_deliverable(me) && !sim_irq_expire_timer(me)) {
        sched_yield(); /* another CPU's IPI may come; a spurious wakeup otherwise */
        return;
    }
    while (sim_cpu_irq_on[me] && sim_irq_deliverable(me))
        sim_irq_deliver_one(me);
}

void arch_halt(void)
{
    unsigned me = sim_current_cpu;
    if (Q.cpu[me].depth)
        arch_panic("arch_halt: cpu %u halted inside an interrupt handler (it waits for an "
                   "interrupt inside one)",
                   me);
    if (!sim_cpu_irq_on[me])
        arch_panic("arch_halt: cpu %u halted with interrupts disabled (it would hang forever)", me);
    halt_on(me);
}

void arch_safe_halt(void)
{
    unsigned me = sim_current_cpu;
    if (Q.cpu[me].depth)
        arch_panic("arch_safe_halt: cpu %u halted inside an interrupt handler (it waits for an "
                   "interrupt inside one)",
                   me);
    if (!sim_cpu_irq_on[me]) {
        /* Interrupts go on without turned_on's delivery point: what is pending now
         * arrives at the halt, and wakes it. */
        sim_cpu_irq_on[me] = true;
        sim_lockdep_irqs_on(me);
    }
    halt_on(me);
}

/* ---- deterministic runs ---- */

void sim_irq_run_begin(unsigned ncpus)
{
    memcpy(Q.saved_vec, Q.vec, sizeof(Q.vec));
    Q.vec_changed = false;
    memcpy(Q.saved_cpu, Q.cpu, ncpus * sizeof(Q.cpu[0]));
    memcpy(Q.saved_on, sim_cpu_irq_on, ncpus * sizeof(bool));
    Q.saved_timers = __atomic_load_n(&sim_irq_timers, __ATOMIC_RELAXED);
}

void sim_irq_run_end(unsigned ncpus)
{
    memcpy(Q.vec, Q.saved_vec, sizeof(Q.vec));
    memcpy(Q.cpu, Q.saved_cpu, ncpus * sizeof(Q.cpu[0]));
    memcpy(sim_cpu_irq_on, Q.saved_on, ncpus * sizeof(bool));
    __atomic_store_n(&sim_irq_timers, Q.saved_timers, __ATOMIC_RELAXED);
    __atomic_store_n(&sim_irq_pending_cpus, ~UINT64_C(0), __ATOMIC_SEQ_CST); /* look again */
}

void sim_irq_schedule_begin(unsigned ncpus)
{
    if (__atomic_load_n(
            &Q.vec_changed,
            __ATOMIC_RELAXED)) /* most runs never touch the table: 6 KiB a schedule otherwise */
        memcpy(Q.vec, Q.saved_vec, sizeof(Q.vec));
    Q.vec_changed = false;
    for (unsigned i = 0; i < ncpus; i++) {
        if (Q.cpu[i].timer_vector)
            __atomic_fetch_sub(&sim_irq_timers, 1, __ATOMIC_RELAXED);
        memset(&Q.cpu[i], 0, sizeof(Q.cpu[i]));
        sim_cpu_irq_on[i] = false; /* every CPU starts with interrupts disabled */
    }
    __atomic_fetch_and(&sim_irq_pending_cpus, ~((UINT64_C(1) << ncpus) - 1), __ATOMIC_SEQ_CST);
}

bool sim_irq_describe_cpu(unsigned cpu, char *buf, size_t size)
{
    const struct irq_cpu *c = &Q.cpu[cpu];
    int busy = highest(c->isr), pend = highest(c->irr);
    if (!size || (busy < 0 && pend < 0 && !c->depth && !c->timer_vector))
        return false;
    size_t n = 0;
    buf[0] = 0;
    if (c->depth) {
        int w = ksnprintf(buf, size, "    in an interrupt handler (vector %d, depth %u)\n", busy,
                          c->depth);
        n = w < 0 ? 0 : (size_t)w < size ? (size_t)w : size - 1;
    }
    if (pend >= 0 && n + 1 < size) {
        int w = ksnprintf(buf + n, size - n, "    interrupt %d pending, interrupts %s\n", pend,
                          sim_cpu_irq_on[cpu] ? "enabled" : "disabled");
        n += w < 0 ? 0 : (size_t)w < size - n ? (size_t)w : size - n - 1;
    }
    if (c->timer_vector && n + 1 < size)
        ksnprintf(buf + n, size - n, "    its timer raises %u in %lu ticks\n", c->timer_vector,
                  (unsigned long)c->timer_left);
    return true;
}
