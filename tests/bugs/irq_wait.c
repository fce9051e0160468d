/* irq_wait.c - waiting where nothing can wake the CPU.
 *
 * Halting with interrupts disabled: an idle loop that disables interrupts, finds no
 * work and halts; the IPI that announces work can never arrive (hardware hangs; the
 * sim panics at the halt). A handler that waits for the code it interrupted: the
 * receive handler spins until the driver has published its buffer, but the driver is
 * the code the interrupt stopped, on the same CPU (the scheduler's deadlock report
 * names the CPU as inside the handler). And a handler that halts.
 *
 * The lost wakeup: an idle loop that checks for work with interrupts disabled, then
 * enables them and halts in two steps. The IPI raised after the check arrives between
 * the two; the halt then waits for the next one, which never comes (the scheduler
 * reports the halted CPU with nothing pending). arch_safe_halt (sti; hlt) passes every
 * schedule. */
#include "bug_harness.h"
#include <arch/atomic.h>
#include <arch/cpu.h>
#include <arch/irq.h>

#define WORK_VECTOR 0x50u
#define RX_VECTOR   0x60u

static uint32_t work, buf_ready, received;
static bool halt_in_handler;
static enum { HALT_DISABLED, HALT_AFTER_ENABLE, HALT_SAFE } idle_kind;

static void work_ipi(unsigned v, void *ctx)
{
    arch_irq_eoi();
}

static void setup_idle(void *ctx)
{
    work = 0;
    arch_irq_register(WORK_VECTOR, work_ipi, NULL);
}

__attribute__((noinline)) static void idle_loop(void)
{
    arch_irq_disable();
    while (!arch_atomic_load(&work, ARCH_ACQUIRE))
        arch_halt(); /* the bug: halts with interrupts off (sti; hlt is the idiom) */
    arch_irq_enable();
}

__attribute__((noinline)) static void idle_loop_enable_then_halt(void)
{
    for (;;) {
        arch_irq_disable();
        if (arch_atomic_load(&work, ARCH_ACQUIRE))
            break;
        if (idle_kind == HALT_SAFE) {
            arch_safe_halt(); /* the fix: nothing is delivered between the two */
        } else {
            arch_irq_enable(); /* the bug: the IPI may arrive here ... */
            arch_halt();       /* ... and this waits for the next one */
        }
    }
    arch_irq_enable();
}

static void idle_cpu(unsigned me, void *ctx)
{
    if (me == 0) {
        if (idle_kind == HALT_DISABLED)
            idle_loop();
        else
            idle_loop_enable_then_halt();
        return;
    }
    arch_atomic_store(&work, 1, ARCH_RELEASE);
    arch_ipi_send(0, WORK_VECTOR);
}

static const struct sim_scenario idle_sc = {
    .name = "irq_halt_disabled", .ncpus = 2, .setup = setup_idle, .cpu = idle_cpu};
static const struct sim_scenario wakeup_sc = {
    .name = "irq_lost_wakeup", .ncpus = 2, .setup = setup_idle, .cpu = idle_cpu};

__attribute__((noinline)) static void rx_handler(unsigned v, void *ctx)
{
    if (halt_in_handler)
        arch_halt(); /* the bug: waits for an interrupt inside one */
    while (!arch_atomic_load(&buf_ready, ARCH_ACQUIRE))
        arch_cpu_relax(); /* the bug: the driver it waits for is the code it interrupted */
    arch_atomic_fetch_add(&received, 1, ARCH_RELAXED);
    arch_irq_eoi();
}

static void setup_rx(void *ctx)
{
    buf_ready = received = 0;
    arch_irq_register(RX_VECTOR, rx_handler, NULL);
}

__attribute__((noinline)) static void driver_open(void)
{
    arch_irq_enable(); /* too early: the device may interrupt now */
    arch_atomic_store(&buf_ready, 1, ARCH_RELEASE);
}

static void rx_cpu(unsigned me, void *ctx)
{
    if (me == 0) {
        driver_open();
        return;
    }
    arch_ipi_send(0, RX_VECTOR); /* the device: a packet arrived */
}

static const struct sim_scenario rx_sc = {
    .name = "irq_handler_waits", .ncpus = 2, .setup = setup_rx, .cpu = rx_cpu};
static const struct sim_scenario rx_halt_sc = {
    .name = "irq_handler_halts", .ncpus = 2, .setup = setup_rx, .cpu = rx_cpu};

static void bug_irq_halt_with_interrupts_disabled(struct ktest *t)
{
    bug_hunt(t, &idle_sc, "halted with interrupts disabled",
             &(struct bug_hunt){
                 .budget = 1000, .preemptions = 2, .pct_must_find = true, .dfs_must_find = true});
}

static void bug_irq_lost_wakeup_between_enable_and_halt(struct ktest *t)
{
    idle_kind = HALT_AFTER_ENABLE;
    bug_hunt(t, &wakeup_sc, "cpu 0: halted, waiting for an interrupt\n    nothing will wake it",
             &(struct bug_hunt){
                 .budget = 1000, .preemptions = 2, .pct_must_find = true, .dfs_must_find = true});
    idle_kind = HALT_DISABLED;
}

static void bug_irq_lost_wakeup_fixed_by_safe_halt_passes(struct ktest *t)
{
    idle_kind = HALT_SAFE;
    for (int s = SIM_RANDOM; s <= SIM_DFS; s++) {
        struct sim_explore_opts o = {.strategy = (enum sim_strategy)s,
                                     .seed = 1,
                                     .schedules = 1000,
                                     .preemptions = 2,
                                     .quiet = true};
        static struct sim_explore_result res;
        KEXPECT_EQ(t, sim_explore(&wakeup_sc, &o, &res), 0);
        KEXPECT_STREQ(t, res.report, "");
        KEXPECT_TRUE(t, s == SIM_DFS ? res.exhausted : res.schedules == 1000);
    }
    idle_kind = HALT_DISABLED;
}

static void bug_irq_handler_waits_for_the_code_it_interrupted(struct ktest *t)
{
    halt_in_handler = false;
    bug_hunt(t, &rx_sc, "in an interrupt handler (vector 96, depth 1)",
             &(struct bug_hunt){
                 .budget = 1000, .preemptions = 2, .pct_must_find = true, .dfs_must_find = true});
}

static void bug_irq_handler_halts(struct ktest *t)
{
    halt_in_handler = true;
    bug_hunt(t, &rx_halt_sc, "halted inside an interrupt handler",
             &(struct bug_hunt){
                 .budget = 1000, .preemptions = 2, .pct_must_find = true, .dfs_must_find = true});
    halt_in_handler = false;
}

KTEST_SUITE(bugs_irq_wait, KTEST_CASE(bug_irq_halt_with_interrupts_disabled),
            KTEST_CASE(bug_irq_lost_wakeup_between_enable_and_halt),
            KTEST_CASE(bug_irq_lost_wakeup_fixed_by_safe_halt_passes),
            KTEST_CASE(bug_irq_handler_waits_for_the_code_it_interrupted),
            KTEST_CASE(bug_irq_handler_halts));
