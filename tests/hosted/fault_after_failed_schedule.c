/* fault_after_failed_schedule.c - an unhandled page fault inside a deterministic run
 * fails that schedule, and only that: the next fault, in a later run, is reported the
 * same way (under TSan too, whose signal wrapper runs every handler with all signals
 * blocked), the host thread's signal mask is what it was, and the failing CPU's stack
 * starts at the faulting function. CPU 1 faults right after CPU 0 used the MMU (a probe),
 * with nothing ordering the two for TSan: it must say nothing about the MMU's own state.
 * Exit 0 when all holds; ctest also fails the test on any TSan warning. Under Valgrind,
 * which reports the deliberate plain access itself, it skips (exit 77). */
#include <kmachine.h>
#include <arch/atomic.h>
#include <arch/cpu.h>
#include <arch/fault.h>
#include <pthread.h>
#include <signal.h>
#include <sim/sched.h>
#include <sim/sim.h>
#include <stdio.h>
#include <string.h>
#include <valgrind/valgrind.h>

static uint32_t probed;

static void setup(void *ctx)
{
    probed = 0;
}

__attribute__((noinline)) static void touch_unmapped(volatile uint32_t *p)
{
    *p = 1; /* nothing is mapped in the kernel VA window */
}

__attribute__((noinline)) static void driver_probe(void)
{
    touch_unmapped((volatile uint32_t *)(uintptr_t)(SIM_KVA_BASE + 0x123000));
}

static void cpu(unsigned me, void *ctx)
{
    if (me == 0) {
        uint64_t v;
        (void)arch_probe_read64((const void *)(uintptr_t)(SIM_KVA_BASE + 0x200000), &v, NULL);
        arch_atomic_store(&probed, 1, ARCH_RELAXED); /* relaxed: no happens-before for TSan */
        return;
    }
    while (!arch_atomic_load(&probed, ARCH_RELAXED))
        arch_cpu_relax();
    driver_probe();
}

/* The line after `from`'s first "    at:" line, in buf. */
static void line_after_at(const char *report, const char *from, int skip, char *buf, size_t n)
{
    const char *p = strstr(report, from);
    p = p ? strstr(p, "    at:\n") : NULL;
    buf[0] = 0;
    if (!p)
        return;
    p += strlen("    at:\n");
    while (skip-- > 0 && (p = strchr(p, '\n')))
        p++;
    if (!p)
        return;
    size_t len = strcspn(p, "\n");
    snprintf(buf, n, "%.*s", (int)len, p);
}

int main(void)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    if (RUNNING_ON_VALGRIND) {
        printf("skip: Valgrind reports the deliberate plain access to an unmapped page\n");
        return 77;
    }
    if (kmachine_boot(&(struct kmachine_opts){.level = KMACHINE_SIM}, NULL))
        return 2;
    static const struct sim_scenario sc = {
        .name = "fault_after_failed_schedule", .ncpus = 2, .setup = setup, .cpu = cpu};
    static struct sim_explore_result res;
    for (int run = 1; run <= 3; run++) {
        struct sim_explore_opts o = {.strategy = SIM_RANDOM,
                                     .seed = (uint64_t)run,
                                     .schedules = 5,
                                     .quiet = true,
                                     .save = "fault_after_failed_schedule.schedule"};
        if (sim_explore(&sc, &o, &res) != 1 ||
            !strstr(res.report, "kernel panic on cpu 1: unhandled page fault: write at "
                                "0x0000567000123000")) {
            printf("run %d: the fault was not reported\n", run);
            return 1;
        }
        sigset_t now;
        pthread_sigmask(SIG_BLOCK, NULL, &now);
        if (sigismember(&now, SIGSEGV) || sigismember(&now, SIGBUS)) {
            printf("run %d: the failed schedule left SIGSEGV blocked\n", run);
            return 1;
        }
        char f0[300], f1[300];
        line_after_at(res.report, "  cpu 1: ", 0, f0, sizeof(f0));
        line_after_at(res.report, "  cpu 1: ", 1, f1, sizeof(f1));
        if (!strstr(f0, "#0 in touch_unmapped") || !strstr(f1, "#1 in driver_probe")) {
            printf("run %d: cpu 1's stack does not start at the fault:\n%s\n%s\n", run, f0, f1);
            return 1;
        }
        printf("run %d: reported, mask intact, frame #0 %s\n", run, f0);
    }
    return 0;
}
