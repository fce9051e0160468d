/* panic.c - the sim's panic: the message, a host backtrace, abort (so a debugger or
 * a sanitizer sees the exact point). */
#define _GNU_SOURCE
#include "sim_internal.h"
#include "runfail.h"
#include "san.h"
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

/* Set by the unwinder (catch_unwind, subsys/unwind/catch.c), read by arch_panic. */
void (*arch_panic_unwind)(const char *msg);
bool (*arch_panic_catching)(void);

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

#define PANIC_MSG 400

/* The panic proper. `stack` is what a deterministic run's report shows for this CPU:
 * the code that panicked (or faulted) first, not the panic path. Inlined into both
 * entries, so backtraces show no frame of its own. */
static inline __attribute__((always_inline, noreturn)) void panic_msg(uint32_t stack,
                                                                      const char *msg)
{
    if (arch_panic_unwind && arch_panic_catching && arch_panic_catching()) {
        kprintf("# kernel panic (caught by catch_unwind, running cleanups): %s\n", msg);
        sim_print_backtrace();
        arch_panic_unwind(msg); /* returns only if the walk to the catcher failed */
    }
    if (sim_run_active()) {
        /* Under the deterministic scheduler a panic fails the schedule (which is written
         * out for replay) instead of ending the process. */
        char text[512];
        ksnprintf(text, sizeof(text), "kernsim sched: kernel panic on cpu %u: %s\n",
                  sim_current_cpu, msg);
        sim_run_fail(text, stack);
    }
    /* KTAP readers see the bail-out; the stderr copy survives a redirected stdout.
     * write(2), not stdio: a fault hook may panic in signal context. */
    kprintf("# kernel panic: %s\nBail out! kernel panic\n", msg);
    char line[PANIC_MSG + 32];
    int n = ksnprintf(line, sizeof(line), "kernsim: kernel panic: %s\n", msg);
    ssize_t w = write(2, line, n < 0 ? 0 : (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
    (void)w;
    sim_print_backtrace();
    abort();
}

void arch_panic(const char *fmt, ...)
{
    char msg[PANIC_MSG];
    va_list ap;
    va_start(ap, fmt);
    kvsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    uint32_t stack = 0;
    if (sim_run_active()) {
        /* From this frame: its return address is the first entry, in the function that
         * called arch_panic. */
        uintptr_t lo, hi;
        sim_stack_bounds(&lo, &hi);
        stack = sim_stack_capture_from((uintptr_t)__builtin_frame_address(0), lo, hi);
    }
    panic_msg(stack, msg);
}

void sim_panic_stack(uint32_t stack, const char *fmt, ...)
{
    char msg[PANIC_MSG];
    va_list ap;
    va_start(ap, fmt);
    kvsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    panic_msg(stack, msg);
}
