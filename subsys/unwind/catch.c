/* catch.c - a panic as an error return: catch_unwind, and every cleanup on the way.
 *
 * catch_unwind(fn, arg) runs fn. If fn panics, arch_panic hands the message to
 * panic_unwind, which walks the stack from the panic up to catch_unwind. In each
 * frame whose FDE has an LSDA (code built with -fexceptions), kernsim's personality
 * (unw_lsda_find) picks the landing pad for the call the frame is in; the unwinder
 * installs that frame's registers and jumps there. The pad runs the frame's cleanups
 * (__attribute__((cleanup))) and calls _Unwind_Resume, which carries on up. At
 * catch_unwind's frame the walk ends with a longjmp back into it. */
#include "unwind_internal.h"
#include <arch/cpu.h>
#include <arch/debug.h>
#include <arch/panic.h>
#include <arch/target.h>

#define CATCH_CPUS 64
#define EXC_CLASS  UINT64_C(0x4b53494d50414e43) /* "KSIMPANC" */

struct unw_exception {
    /* The _Unwind_Exception header landing pads pass back to _Unwind_Resume. */
    uint64_t exception_class;
    void (*cleanup)(int, void *);
    uint64_t private_1, private_2;
};

struct catch_frame {
    arch_jmp_buf jb;
    struct arch_catch_state arch; /* the machine's, as it was at catch_unwind */
    uint64_t stop_sp;             /* a frame at or above this is catch_unwind's (or its caller's) */
    char *msg;
    size_t msg_size;
    struct catch_frame *outer;
    struct unw_exception exc;
};

static struct catch_frame *top[CATCH_CPUS];
static unw_lookup_fn plat_lookup;
static const struct unw_mem *plat_mem;
static void (*plat_foreign_resume)(void *exc);

void unw_install(const struct unw_regs *regs, uint64_t rax, uint64_t rdx) __attribute__((noreturn));
static void panic_unwind(const char *msg);
static struct catch_frame **my_top(void);

static bool catching(void)
{
    return *my_top() != NULL;
}

void unw_set_platform(unw_lookup_fn lookup, const struct unw_mem *mem,
                      void (*foreign_resume)(void *exc))
{
    plat_lookup = lookup, plat_mem = mem, plat_foreign_resume = foreign_resume;
    arch_panic_unwind = panic_unwind;
    arch_panic_catching = catching;
}

static struct catch_frame **my_top(void)
{
    return &top[arch_cpu_id() % CATCH_CPUS];
}

/* Walk up from *regs (already a frame to examine after one step) to the catcher,
 * running the first landing pad found; returns only if the walk failed. */
static void walk(struct catch_frame *cf, struct unw_regs *regs)
{
    for (;;) {
        enum unw_err e = unw_step(plat_lookup, plat_mem, regs);
        if (e || regs->r[UNW_RSP] >= cf->stop_sp)
            break; /* at catch_unwind (or the stack cannot be walked: go there anyway) */
        uint64_t ip = regs->signal ? regs->r[UNW_RIP] : regs->r[UNW_RIP] - 1;
        const struct unw_table *t = plat_lookup(ip);
        struct unw_fde_info fde;
        if (!t || unw_find_fde(t, ip, &fde, NULL) || !fde.lsda)
            continue;
        /* Distrust: the LSDA must lie where the module's tables may, the landing pad
         * inside this very function. */
        const uint8_t *lsda = (const uint8_t *)(uintptr_t)fde.lsda;
        uint64_t pad;
        int64_t selector;
        if (fde.lsda < t->lsda_lo || fde.lsda >= t->lsda_hi ||
            unw_lsda_find(lsda, (const uint8_t *)(uintptr_t)t->lsda_hi, fde.start, ip, &pad,
                          &selector) ||
            !pad)
            continue;
        if (pad < fde.start || pad >= fde.end)
            continue;
        struct unw_regs at = *regs;
        at.r[UNW_RIP] = pad;
        arch_san_no_return();
        unw_install(&at, (uint64_t)(uintptr_t)&cf->exc, (uint64_t)selector);
    }
    arch_longjmp(cf->jb, 1);
}

static void panic_unwind(const char *msg)
{
    struct catch_frame *cf = *my_top();
    if (!cf || !plat_lookup)
        return;
    size_t i = 0;
    for (; msg && msg[i] && i + 1 < cf->msg_size; i++)
        cf->msg[i] = msg[i];
    if (cf->msg_size)
        cf->msg[i] = 0;
    cf->exc.exception_class = EXC_CLASS;
    struct unw_regs regs;
    unw_getcontext(&regs);                  /* panic_unwind's own frame */
    arch_san_unpoison(&regs, sizeof(regs)); /* written by assembly MSan does not see */
    walk(cf, &regs);
}

/* Landing pads end with a call here. */
void _Unwind_Resume(void *exception)
{
    struct unw_exception *x = exception;
    struct catch_frame *cf = *my_top();
    if (!x || x->exception_class != EXC_CLASS || !cf || x != &cf->exc) {
        if (plat_foreign_resume)
            plat_foreign_resume(exception); /* another language's exception */
        arch_panic("_Unwind_Resume: not a kernsim panic in flight");
    }
    struct unw_regs regs;
    unw_getcontext(&regs);
    arch_san_unpoison(&regs, sizeof(regs));
    walk(cf, &regs);
    arch_panic("_Unwind_Resume: the walk to catch_unwind failed");
}

int catch_unwind(void (*fn)(void *), void *arg, char *msg, size_t msg_size)
{
    struct catch_frame cf = {.msg = msg, .msg_size = msg ? msg_size : 0};
    struct catch_frame **t = my_top();
    cf.outer = *t;
    cf.stop_sp = (uint64_t)(uintptr_t)&cf; /* above every frame fn can have */
    cf.arch = arch_catch_save();
    if (arch_setjmp(cf.jb)) {
        *my_top() = cf.outer;
        arch_catch_restore(cf.arch); /* e.g. the fault handlers the panic unwound out of */
        return -1;
    }
    *t = &cf;
    fn(arg);
    *t = cf.outer;
    return 0;
}
