/* panic.c - panic on real x86_64: message, frame-pointer backtrace, panic exit code. */
#include "x86.h"
#include <arch/console.h>
#include <arch/panic.h>
#include <stdarg.h>

/* Set by the unwinder (catch_unwind, subsys/unwind/catch.c), read by arch_panic. */
void (*arch_panic_unwind)(const char *msg);
bool (*arch_panic_catching)(void);

void x86_backtrace(uint64_t rbp)
{
    kprintf("# backtrace:\n");
    /* Frames are on the kernel stack, identity mapped below 1 GiB; stop on anything else. */
    for (int depth = 0; depth < 32 && rbp && rbp < (UINT64_C(1) << 30) && !(rbp & 7); depth++) {
        uint64_t *frame = (uint64_t *)(uintptr_t)rbp;
        uint64_t ret = frame[1];
        if (!ret)
            break;
        kprintf("#   [<%016lx>]\n", ret);
        if (frame[0] <= rbp)
            break; /* the stack grows down: a caller's frame is always higher */
        rbp = frame[0];
    }
}

struct arch_catch_state arch_catch_save(void)
{
    return (struct arch_catch_state){{0, 0}};
}

void arch_catch_restore(struct arch_catch_state s)
{
    (void)s;
}

void (*x86_panic_backtrace)(void);
void (*x86_trap_backtrace)(const struct x86_trap_frame *tf);

void arch_panic(const char *fmt, ...)
{
    static int nested;
    __asm__ volatile("cli");
    if (nested++) /* a panic while panicking: get out without formatting anything */
        x86_exit(X86_EXIT_PANIC);
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    kvsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (arch_panic_unwind && arch_panic_catching && arch_panic_catching()) {
        kprintf("# kernel panic (caught by catch_unwind, running cleanups): %s\n", msg);
        if (x86_panic_backtrace)
            x86_panic_backtrace();
        nested--; /* a catcher makes this panic an error return */
        arch_panic_unwind(msg);
        nested++;
    }
    kprintf("# kernel panic: %s\n", msg);
    if (x86_panic_backtrace)
        x86_panic_backtrace();
    else
        x86_backtrace((uint64_t)(uintptr_t)__builtin_frame_address(0));
    kprintf("Bail out! kernel panic\n");
    x86_exit(X86_EXIT_PANIC);
}
