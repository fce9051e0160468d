/* spin.c - what a CPU under the scheduler waits for.
 *
 * A CPU in a spin loop that saw nothing change in one iteration (from one
 * arch_cpu_relax to the next) would only read the same values again: it waits, not
 * runnable, until a write changes one of them. The explorer tells this file about
 * every scheduling point twice: before the op, what it will read or overwrite; and
 * when the CPU has run on, the op is settled (a store that changed memory counts as a
 * write). It also catches the hang no schedule can end: a CPU that spins with
 * preemption off, so that no other CPU may run to release it. */
#include "sched_internal.h"
#include <arch/atomic.h>
#include <string.h>

#define RS_MAX 40

/* A CPU that spins this long with preemption off waits for what only another CPU can
 * do, and none can run until it stops: a hang, reported as one. */
#define RELAX_OFF_MAX (UINT64_C(1) << 20)

static struct {
    uint64_t epoch; /* counts writes that changed memory, this schedule */
    struct spin_cpu {
        /* Stopped before a store or RMW: the location and its value then. At the
         * next point the op has run; if the value changed it was a write, which may
         * let spinning CPUs on. */
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
        uint64_t spin_epoch;  /* epoch when it began to wait */
        unsigned preempt_off; /* arch_preempt_disable depth: no points while nonzero */
        uint64_t relax_off;   /* arch_cpu_relax calls since it last turned preemption off */
    } c[SIM_SCHED_MAX_CPUS];
    /* An interrupt handler is a context of its own on its CPU: what the interrupted
     * code was about to do and had read waits here until the handler returns. */
    struct spin_cpu outer[SIM_SCHED_MAX_CPUS][SIM_SPIN_MAX_NEST];
    unsigned nest[SIM_SCHED_MAX_CPUS];
} P;

void sim_spin_begin(unsigned ncpus)
{
    P.epoch = 1;
    for (unsigned i = 0; i < ncpus; i++) {
        struct spin_cpu *c = &P.c[i];
        P.nest[i] = 0;
        c->pend_addr = c->rd_addr = 0;
        c->nrs = 0;
        c->rs_lost = false;
        c->spin_epoch = 0;
        c->preempt_off = 0;
        c->relax_off = 0;
    }
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

void sim_spin_settle(unsigned cpu)
{
    struct spin_cpu *c = &P.c[cpu];
    if (c->pend_addr && peek(c->pend_addr, c->pend_size) != c->pend_old)
        P.epoch++;
    c->pend_addr = 0;
}

bool sim_spin_over(unsigned cpu)
{
    const struct spin_cpu *c = &P.c[cpu];
    if (c->rs_lost || !c->nrs)
        return c->spin_epoch != P.epoch;
    for (unsigned i = 0; i < c->nrs; i++)
        if (c->rs[i].changed || peek(c->rs[i].addr, c->rs[i].size) != c->rs[i].val)
            return true;
    return false;
}

enum sim_spin_point sim_spin_point(unsigned cpu, int kind, const volatile void *addr, unsigned size)
{
    struct spin_cpu *c = &P.c[cpu];
    if (kind == ARCH_SP_PREEMPT_OFF || kind == ARCH_SP_PREEMPT_ON || c->preempt_off) {
        if (kind == ARCH_SP_PREEMPT_OFF && !c->preempt_off++)
            c->relax_off = 0;
        else if (kind == ARCH_SP_PREEMPT_ON && c->preempt_off)
            c->preempt_off--;
        else if (kind == ARCH_SP_RELAX && ++c->relax_off > RELAX_OFF_MAX)
            return SIM_SPIN_HANG;
        return SIM_SPIN_NO_POINT;
    }
    sim_spin_settle(cpu);
    if (kind == ARCH_SP_RELAX) {
        /* If everything this iteration read held one value throughout and still holds
         * it, the loop would only read the same again: the CPU waits until one of
         * them changes. If one has moved already, it gets another look at once. */
        c->spin_epoch = P.epoch;
        return sim_spin_over(cpu) ? SIM_SPIN_RUN : SIM_SPIN_WAIT;
    }
    if (addr && (size == 1 || size == 2 || size == 4 || size == 8)) {
        if (kind == ARCH_SP_STORE || kind == ARCH_SP_RMW)
            c->pend_addr = (uintptr_t)addr, c->pend_size = size;
        if (kind == ARCH_SP_LOAD || kind == ARCH_SP_RMW)
            c->rd_addr = (uintptr_t)addr, c->rd_size = size;
    }
    return SIM_SPIN_RUN;
}

void sim_spin_after(unsigned cpu, int kind)
{
    struct spin_cpu *c = &P.c[cpu];
    if (c->pend_addr)
        c->pend_old = peek(c->pend_addr, c->pend_size);
    if (c->rd_addr) {
        uint64_t v = peek(c->rd_addr, c->rd_size);
        unsigned i = 0;
        while (i < c->nrs && c->rs[i].addr != c->rd_addr)
            i++;
        if (i < c->nrs) {
            /* Read again: if the value moved, this iteration saw a change (a failed
             * compare-exchange, say) and must not wait on it. */
            c->rs[i].changed |= c->rs[i].val != v;
            c->rs[i].val = v;
        } else if (i < RS_MAX) {
            c->rs[i].addr = c->rd_addr, c->rs[i].size = c->rd_size, c->rs[i].val = v;
            c->rs[i].changed = false;
            c->nrs++;
        } else {
            c->rs_lost = true;
        }
        c->rd_addr = 0;
    }
    if (kind == ARCH_SP_RELAX)
        c->nrs = 0, c->rs_lost = false; /* a new iteration */
}

bool sim_spin_irq_enter(unsigned cpu)
{
    if (P.nest[cpu] >= SIM_SPIN_MAX_NEST)
        return false;
    struct spin_cpu *c = &P.c[cpu];
    P.outer[cpu][P.nest[cpu]++] = *c;
    unsigned preempt_off = c->preempt_off;
    memset(c, 0, sizeof(*c));
    c->preempt_off = preempt_off;
    return true;
}

void sim_spin_irq_exit(unsigned cpu)
{
    sim_spin_settle(cpu); /* the handler's last op has run */
    P.c[cpu] = P.outer[cpu][--P.nest[cpu]];
}

void sim_spin_external_write(void)
{
    P.epoch++;
}
