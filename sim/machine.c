/* machine.c - the machine's state that every sim file and the seam's inline paths
 * (arch/target.h) read: the machine as booted, which CPU this host thread is, and the
 * scheduler's hook. Only variables, so everything may depend on them and they on
 * nothing: boot.c writes sim_machine, cpu.c and the scheduler sim_current_cpu, the
 * explorer the hook. */
#include "sim_internal.h"

struct sim_machine sim_machine;

__thread unsigned sim_current_cpu;

void (*volatile sim_sched_hook)(const volatile void *addr, int kind);

/* Interrupts start disabled on every CPU, as the bare kernel boots with cli. */
bool sim_cpu_irq_on[SIM_MAX_CPUS];
