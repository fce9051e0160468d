/* cpu.c - simulated CPU state: which CPU a host thread is (sim_current_cpu, in
 * machine.c), its interrupt flag. */
#define _GNU_SOURCE
#include "sim_internal.h"
#include <arch/atomic.h>
#include <arch/cpu.h>
#include <arch/panic.h>
#include <sched.h>

/* Interrupts start disabled on every CPU, as the bare kernel boots with cli. */
static bool irq_on[SIM_MAX_CPUS];

void sim_set_current_cpu(unsigned cpu)
{
    if (cpu >= arch_cpu_count() || cpu >= SIM_MAX_CPUS)
        arch_panic("sim_set_current_cpu: cpu %u out of range (%u CPUs)", cpu, arch_cpu_count());
    sim_current_cpu = cpu;
}

unsigned arch_cpu_count(void)
{
    return sim_machine.ncpus ? sim_machine.ncpus : 1;
}

arch_irqflags_t arch_irq_save(void)
{
    arch_irqflags_t old = irq_on[sim_current_cpu];
    irq_on[sim_current_cpu] = false;
    return old;
}

void arch_irq_restore(arch_irqflags_t flags)
{
    irq_on[sim_current_cpu] = flags != 0;
}

void arch_irq_enable(void)
{
    irq_on[sim_current_cpu] = true;
}

void arch_irq_disable(void)
{
    irq_on[sim_current_cpu] = false;
}

bool arch_irqs_enabled(void)
{
    return irq_on[sim_current_cpu];
}

void arch_cpu_relax(void)
{
    ARCH_SCHED_POINT((void *)0, ARCH_SP_RELAX);
    __builtin_ia32_pause();
}

void arch_halt(void)
{
    if (!irq_on[sim_current_cpu])
        arch_panic("arch_halt: cpu %u halted with interrupts disabled (it would hang forever)",
                   sim_current_cpu);
    ARCH_SCHED_POINT((void *)0, ARCH_SP_YIELD);
    sched_yield();
}
