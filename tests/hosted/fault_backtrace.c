/* fault_backtrace.c - an unhandled page fault in kernel code panics, and the panic's
 * backtrace (kernsim's unwinder, through the signal frame) names the function that
 * faulted and its callers. Run by ctest under scripts/expect-failure. */
#include <kmachine.h>
#include <arch/mem.h>
#include <sim/sim.h>
#include <stdio.h>

__attribute__((noinline)) static int touch_unmapped(volatile int *p)
{
    return *p; /* nothing is mapped in the kernel VA window yet */
}

__attribute__((noinline)) static int driver_probe(void)
{
    return touch_unmapped((volatile int *)(uintptr_t)(SIM_KVA_BASE + 0x123000)) + 1;
}

int main(void)
{
    if (kmachine_boot(&(struct kmachine_opts){.level = KMACHINE_SIM}, NULL))
        return 2;
    printf("%d\n", driver_probe());
    return 0; /* not reached: the fault panics */
}
