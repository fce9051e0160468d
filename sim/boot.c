/* boot.c - booting and resetting the machine: the configuration (RAM size, CPUs),
 * then each part of the sim in the order they need each other. The top of the sim:
 * it calls every part's set-up, and nothing calls it but the programs that boot. */
#define _GNU_SOURCE
#include "sim_internal.h"
#include "mmu_internal.h"
#include <sim/lockdep.h>
#include <sim/unwind.h>
#include <arch/cpu.h>
#include <arch/fault.h>
#include <arch/panic.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t ram_size_from_env(void)
{
    const char *s = getenv("KERNSIM_RAM_MB");
    if (!s || !*s)
        return UINT64_C(256) << 20;
    char *end;
    errno = 0;
    unsigned long long mb = strtoull(s, &end, 10);
    if (errno || *end || mb == 0 || mb > (SIM_RAM_MAX >> 20)) {
        fprintf(stderr, "kernsim: KERNSIM_RAM_MB=%s: want a whole number of MiB, 4..%llu\n", s,
                (unsigned long long)(SIM_RAM_MAX >> 20));
        return 0;
    }
    return (uint64_t)mb << 20;
}

int sim_boot(const struct sim_config *cfg)
{
    if (sim_machine.booted) {
        fprintf(stderr, "kernsim: sim_boot: the machine is already booted\n");
        return -1;
    }
    uint64_t size = cfg && cfg->ram_size ? cfg->ram_size : ram_size_from_env();
    if (size < (UINT64_C(4) << 20) || size > SIM_RAM_MAX || !ARCH_IS_ALIGNED(size, ARCH_PAGE_2M)) {
        fprintf(stderr, "kernsim: RAM size %llu bytes: want a multiple of 2 MiB, 4 MiB..64 GiB\n",
                (unsigned long long)size);
        return -1;
    }
    unsigned ncpus = 4;
    const char *cpus = getenv("KERNSIM_CPUS");
    if (cfg && cfg->ncpus) {
        ncpus = cfg->ncpus;
        if (ncpus > SIM_MAX_CPUS) {
            fprintf(stderr, "kernsim: %u CPUs: want 1..%u\n", ncpus, SIM_MAX_CPUS);
            return -1;
        }
    } else if (cpus && *cpus) {
        char *end;
        unsigned long n = strtoul(cpus, &end, 10);
        if (*end || n < 1 || n > SIM_MAX_CPUS) {
            fprintf(stderr, "kernsim: KERNSIM_CPUS=%s: want 1..%u\n", cpus, SIM_MAX_CPUS);
            return -1;
        }
        ncpus = (unsigned)n;
    }
    if (sim_mem_init(size) != 0)
        return -1;
    if (sim_mmu_init() != 0) {
        sim_mem_fini();
        return -1;
    }
    sim_fault_init();
    sim_machine.ncpus = ncpus;
    sim_machine.booted = true;
    sim_history_init();
    sim_debug_init();
    sim_symbols_init(); /* what a fault handler may need, read outside one */
    sim_stack_bounds_init();
    sim_io_init();
    arch_write_cr3(SIM_BOOT_PML4);
    const char *ld = getenv("KERNSIM_LOCKDEP");
    sim_lockdep_enable(!ld || strcmp(ld, "0")); /* lock tracking unless KERNSIM_LOCKDEP=0 */
    sim_lockdep_reset();                        /* nothing is held yet: every record is exact */
    unw_set_platform(sim_unwind_lookup, &sim_unwind_stack_mem, sim_unwind_foreign_resume);
    return 0;
}

void sim_reset(void)
{
    ARCH_BUG_ON(!sim_machine.booted);
    sim_mem_zero();
    arch_set_page_fault_hook(NULL, NULL);
    sim_io_reset();
    sim_agent_reset(); /* the devices are gone with their registers */
    sim_history_reset();
    sim_mmu_reset();
    sim_fault_reset_stats();
    arch_write_cr3(SIM_BOOT_PML4);
}
