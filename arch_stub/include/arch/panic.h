/* arch/panic.h - the bug channel.
 *
 * What only a bug can cause (a broken invariant, corrupted metadata) panics with
 * "function: invariant" text. The sim prints the message and a backtrace and
 * aborts; the bare kernel prints it with a frame-pointer backtrace and exits QEMU
 * with the panic code. */
#ifndef ARCH_PANIC_H
#define ARCH_PANIC_H

#include <arch/types.h>

/* Any CPU, any context (a fault handler too); never returns. The message is cut at
 * 400 bytes. A catch_unwind active on this CPU catches it (after the report); in a
 * deterministic sim run it fails the schedule instead of ending the process. */
ARCH_NORETURN void arch_panic(const char *fmt, ...) ARCH_PRINTF(1, 2);

/* Set by subsys/unwind: called with the message before a panic ends the machine. If a
 * catch_unwind is active on this CPU it unwinds to it (running cleanups) and does
 * not return; otherwise it returns and the panic goes on. */
extern void (*arch_panic_unwind)(const char *msg);
/* Set with arch_panic_unwind: whether a catch_unwind is active on this CPU, so the
 * panic is reported (message and backtrace) before it unwinds, as a caught panic is
 * still a bug someone must see. */
extern bool (*arch_panic_catching)(void);

/* What a caught panic must put back: the CPU's state that the frames it unwinds had
 * changed and would have restored on the way out (the sim: the fault handlers and the
 * probe this CPU is inside; the bare kernel: nothing). catch_unwind saves it on entry
 * and restores it when a panic lands there. */
struct arch_catch_state {
    uintptr_t word[2];
};
struct arch_catch_state arch_catch_save(void);
/* On the CPU that saved s, by catch_unwind only. */
void arch_catch_restore(struct arch_catch_state s);

#define ARCH_BUG_ON(cond)                                                                          \
    do {                                                                                           \
        if (__builtin_expect(!!(cond), 0))                                                         \
            arch_panic("%s: %s (%s:%d)", __func__, #cond, __FILE__, __LINE__);                     \
    } while (0)

#endif
