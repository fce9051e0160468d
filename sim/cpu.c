/* cpu.c - simulated CPUs: which CPU a host thread is (sim_current_cpu, in machine.c)
 * and how many there are. Their interrupt flags and halting are irq.c's. */
#include "sim_internal.h"
#include <arch/cpu.h>
#include <arch/panic.h>

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
