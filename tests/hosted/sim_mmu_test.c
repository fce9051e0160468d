/* sim_mmu_test.c - hosted-only checks of the fake machine itself. */
#include "../ktest/ktest.h"
#include "../ktest/ktest_frames.h"
#include <arch/cpu.h>
#include <arch/fault.h>
#include <arch/io.h>
#include <arch/mem.h>
#include <arch/pte.h>
#include <sim/sim.h>
#include <valgrind/valgrind.h>

static void sim_mmu_test_placeholder(struct ktest *t)
{
    KEXPECT_EQ(t, arch_kva_window().base, SIM_KVA_BASE);
}

KTEST_SUITE(sim_mmu, KTEST_CASE(sim_mmu_test_placeholder));
