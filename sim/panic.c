/* panic.c - the sim's panic: the message, a host backtrace, abort (so a debugger or
 * a sanitizer sees the exact point). */
#define _GNU_SOURCE
#include "sim_internal.h"
#include <arch/console.h>
#include <arch/panic.h>
#include <arch/cpu.h>
#include <sim/sched.h>
#include <sim/unwind.h>
#include <execinfo.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

/* Provided by every sanitizer runtime; NULL when none is linked. */
void __sanitizer_print_stack_trace(void) __attribute__((weak));

/* The backtrace from the caller, by kernsim's unwinder (through signal frames, so
 * from a fault too), with names from the executable's symbol table. */
__attribute__((noinline)) void sim_print_backtrace(void)
{
    uint64_t pcs[64];
    enum unw_err err;
    int n = unw_backtrace(sim_unwind_lookup, &sim_unwind_stack_mem, pcs, 64, &err);
    kprintf("# backtrace:\n");
    for (int i = 1; i < n; i++) { /* 0 is this function */
        uint64_t off;
        const char *name = sim_symbolize(pcs[i] - (i ? 1 : 0), &off);
        if (name)
            kprintf("#   #%d %s+0x%lx\n", i, name, (unsigned long)off + (i ? 1 : 0));
        else
            kprintf("#   #%d 0x%lx\n", i, (unsigned long)pcs[i]);
    }
    if (err)
        kprintf("#   (the walk stopped: %s)\n", unw_strerror(err));
    if (n < 2 && __sanitizer_print_stack_trace)
        __sanitizer_print_stack_trace(); /* ours found nothing: the checker's view */
}

uint32_t sim_stack_capture_interrupted(uint64_t ip)
{
    uint64_t pcs[64];
    enum unw_err err;
    int n = unw_backtrace(sim_unwind_lookup, &sim_unwind_stack_mem, pcs, 64, &err);
    for (int i = 0; i < n; i++) {
        if (pcs[i] != ip)
            continue;
        void *v[32];
        int m = 0;
        v[m++] = (void *)(uintptr_t)(ip + 1); /* printed as pc - 1: the instruction itself */
        for (int k = i + 1; k < n && m < 32; k++)
            v[m++] = (void *)(uintptr_t)pcs[k];
        return sim_stack_intern(v, m);
    }
    return 0;
}

void arch_panic(const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    kvsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (arch_panic_unwind && arch_panic_catching && arch_panic_catching()) {
        kprintf("# kernel panic (caught by catch_unwind, running cleanups): %s\n", msg);
        sim_print_backtrace();
        arch_panic_unwind(msg); /* returns only if the walk to the catcher failed */
    }
    if (sim_sched_active()) {
        /* Under the deterministic scheduler a panic fails the schedule (which is written
         * out for replay) instead of ending the process. */
        char text[512];
        snprintf(text, sizeof(text), "kernsim sched: kernel panic on cpu %u: %s\n", sim_current_cpu,
                 msg);
        sim_sched_fail(text);
    }
    /* KTAP readers see the bail-out; the stderr copy survives a redirected stdout. */
    kprintf("# kernel panic: %s\nBail out! kernel panic\n", msg);
    fprintf(stderr, "kernsim: kernel panic: %s\n", msg);
    sim_print_backtrace();
    abort();
}
