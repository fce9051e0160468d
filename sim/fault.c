/* fault.c - faults in the simulated machine: the SIGSEGV handler, probes, reports.
 *
 * An access the host refuses in the kernel VA window arrives here as a SIGSEGV. If the
 * TLB (tlb.c) allows it, the leaf was only not realised yet; else the tables are walked
 * (mmu.c), and a walk that refuses too is a page fault for the kernel's hook, raised
 * through arch_fault_dispatch, or a panic. A probe runs one access with the TLB deciding
 * first and comes back with the fault instead of taking it. The report of a stale
 * translation's use (strict mode) is made here too, with the same stack capture.
 *
 * The handler's per-CPU state is struct sim_exec: per fiber in a deterministic run (the
 * scheduler binds the running one's), per host thread otherwise. */
#define _GNU_SOURCE
#include "mmu_internal.h"
#include "runfail.h"
#include "san.h"
#include <arch/console.h>
#include <arch/cpu.h>
#include <arch/debug.h>
#include <arch/mem.h>
#include <arch/panic.h>
#include <dlfcn.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ucontext.h>
#include <unistd.h>

static struct {
    struct sigaction old_segv, old_bus;
    bool widened;         /* the handler runs with more signals blocked than it interrupted */
    uint64_t host_faults; /* SIGSEGVs taken in the window (under the MMU lock) */
} flt;

/* The fault path's state for code not run by the scheduler: the host thread's own. A
 * fiber may be switched out inside a fault hook with a retry count or a probe's jump
 * buffer in its state, so the scheduler binds each CPU's. */
static __thread struct sim_exec thread_exec, *bound_exec;

struct sim_exec *sim_exec_self(void)
{
    return bound_exec ? bound_exec : &thread_exec;
}

void sim_exec_bind(struct sim_exec *x)
{
    bound_exec = x;
}

/* A fault record for an access refused without a walk (reason says why). */
static struct arch_fault fault_at(uint64_t va, uint64_t ip, enum arch_access access,
                                  enum arch_fault_reason reason)
{
    return (struct arch_fault){
        .addr = va, .ip = ip, .root = arch_read_cr3(), .access = access, .reason = reason};
}

/* Where an interrupted access was, as a stack: from its exact pc through the signal
 * frame, else by the frame-pointer chain of its context. */
static uint32_t interrupted_stack(const ucontext_t *uc)
{
    uint64_t rip = (uint64_t)uc->uc_mcontext.gregs[REG_RIP];
    uint32_t stack = sim_stack_capture_interrupted(rip);
    return stack ? stack
                 : sim_stack_capture_context(rip, (uintptr_t)uc->uc_mcontext.gregs[REG_RBP]);
}

void sim_fault_report_stale(uint64_t va, enum arch_access access, const struct sim_tlb_stale *s,
                            uint64_t ip, uint32_t stack)
{
    if (!sim_count_report())
        return;
    kprintf("# missing TLB flush: %s at 0x%016lx used the stale translation 0x%lx -> 0x%lx "
            "(%s); its entry was %s without invlpg or a CR3 write\n",
            arch_access_name(access), va, s->base, s->pa,
            s->size == ARCH_PAGE_1G   ? "1G"
            : s->size == ARCH_PAGE_2M ? "2M"
                                      : "4K",
            s->write_only ? "made read-only" : "cleared or changed");
    if (ip)
        kprintf("#   ip 0x%016lx cpu %u\n", ip, arch_cpu_id());
    if (stack) {
        kprintf("#   at:\n");
        sim_stack_print(stack, "     ");
    }
    sim_history_describe(va, "   ");
}

static const char *leaf_name(uint64_t size)
{
    return size == ARCH_PAGE_1G ? "1G" : size == ARCH_PAGE_2M ? "2M" : "4K";
}

/* The CPUs of mask m as "0, 2", or "none". */
static void cpu_list(uint32_t m, char *buf, size_t size)
{
    size_t n = 0;
    buf[0] = 0;
    for (unsigned c = 0; c < 32 && n + 1 < size; c++)
        if (m >> c & 1) {
            int w = ksnprintf(buf + n, size - n, "%s%u", n ? ", " : "", c);
            n += w < 0 ? 0 : (size_t)w < size - n ? (size_t)w : size - n - 1;
        }
    if (!n)
        ksnprintf(buf, size, "none");
}

/* A use of a translation another CPU changed and flushed only on itself: the report
 * (under the scheduler, the schedule's failure, which does not return), then, as on
 * hardware, the use goes through. Called with the MMU lock held; returns with it. */
static void report_missing_shootdown(uint64_t va, enum arch_access access,
                                     const struct sim_tlb_held *h, uint32_t use_stack)
{
    static char text[4096]; /* one report at a time: under the MMU lock */
    char flushed[96], still[96];
    size_t n = 0;
#define PUT(...)                                                                                   \
    do {                                                                                           \
        int w_ = ksnprintf(text + n, sizeof(text) - n, __VA_ARGS__);                               \
        n += w_ < 0 ? 0 : (size_t)w_ < sizeof(text) - n ? (size_t)w_ : sizeof(text) - n - 1;       \
    } while (0)
    cpu_list(h->had & ~h->holders, flushed, sizeof(flushed));
    cpu_list(h->holders & ~(UINT32_C(1) << arch_cpu_id()), still, sizeof(still));
    PUT("# missing TLB shootdown: cpu %u: %s at 0x%016lx used the translation 0x%lx -> 0x%lx "
        "(%s%s) that its TLB still holds; cpu %u %s that PTE, and it was flushed on cpu %s only\n",
        arch_cpu_id(), arch_access_name(access), va, h->base, h->pa, leaf_name(h->size),
        h->w ? ", writable" : "", h->writer,
        h->write_only ? "made read-only" : "cleared or changed", flushed);
    if (h->holders & ~(UINT32_C(1) << arch_cpu_id()))
        PUT("#   other CPUs that still hold it: %s\n", still);
    PUT("#   the PTE was written (on cpu %u) at:\n", h->writer);
    n += sim_stack_format(h->stack, "     ", text + n, sizeof(text) - n);
    PUT("#   the use (on cpu %u) at:\n", arch_cpu_id());
    sim_stack_format(use_stack, "     ", text + n, sizeof(text) - n);
#undef PUT
    if (sim_run_active()) {
        sim_mmu_unlock();
        sim_run_fail(text, use_stack); /* does not return */
        sim_mmu_lock();
    }
    if (sim_count_report()) {
        arch_console_write(text, kstrlen(text)); /* kprintf would cut it at 511 bytes */
        sim_history_describe(va, "   ");
    }
    sim_mmu_held_allow(h);
}

static void chain(struct sigaction *old, int sig, siginfo_t *si, void *uc)
{
    if (old->sa_flags & SA_SIGINFO && old->sa_sigaction) {
        old->sa_sigaction(sig, si, uc);
        return;
    }
    if (old->sa_handler != SIG_DFL && old->sa_handler != SIG_IGN) {
        old->sa_handler(sig);
        return;
    }
    /* Default action: let the access happen again with the default disposition. */
    signal(sig, SIG_DFL);
}

/* A fault kernsim cannot serve: outside the simulated machine, or while it was serving
 * one already (in its handler or a kernel fault hook called from it). Said plainly on
 * stderr with the interrupted code's stack, before whatever handles it next (a
 * sanitizer's report, or the default action's crash): a runaway copy over host memory
 * or over kernsim's own state must not end without a diagnosis. */
static void host_fault_report(int sig, const siginfo_t *si, const ucontext_t *uc, bool nested)
{
    uint64_t va = (uintptr_t)si->si_addr, ip = (uint64_t)uc->uc_mcontext.gregs[REG_RIP], off = 0;
    /* Symbols, the address's kind and the stack only where what they need was set up
     * (by sim_boot, and this thread's stack bounds known): learning them here could
     * allocate, and the fault may have been inside malloc. */
    uintptr_t lo, hi;
    bool full = sim_machine.booted && sim_stack_bounds_known(&lo, &hi);
    const char *fn = full ? sim_symbolize(ip, &off) : NULL;
    char what[96], line[600];
    int n = ksnprintf(
        line, sizeof(line), "kernsim: %s: %s %s at 0x%lx, ip 0x%lx (%s+0x%lx): %s\n",
        nested ? "a fault while kernsim was handling a fault"
               : "a fault outside the simulated machine",
        sig == SIGBUS ? "bus error" : "segmentation fault",
        (uc->uc_mcontext.gregs[REG_ERR] & 2) ? "writing" : "reading", va, ip, fn ? fn : "?", off,
        full ? arch_describe_address((void *)(uintptr_t)va, what, sizeof(what)) : "host memory");
    ssize_t w = write(2, line, n < 0 ? 0 : (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
    if (full) {
        n = (int)sim_stack_format(sim_stack_capture_interrupted(ip), "  ", line, sizeof(line));
        w = write(2, line, n < 0 ? 0 : (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
    }
    (void)w;
}

/* Host code moves with ASLR; an offset into its module does not. */
static uint64_t stable_ip(uint64_t ip)
{
    Dl_info info;
    if (dladdr((void *)(uintptr_t)ip, &info) && info.dli_fbase)
        return ip - (uintptr_t)info.dli_fbase;
    return ip;
}

/* This handler seldom leaves through sigreturn: a failed schedule switches fibers out of
 * it, a probe siglongjmps out (sigsetjmp(jb, 0): no mask saved), a caught panic unwinds
 * out, and a fault hook may reach a scheduling point that runs other CPUs inside it. The
 * kernel entered it with sa_mask added to the thread's mask, and under ThreadSanitizer
 * sa_mask is every signal (its sigaction interceptor fills it, whatever SA_NODEFER
 * says): left like that, the next fault on this host thread (the next schedule's, or
 * another fiber's) is a blocked SIGSEGV, which the kernel turns into a kill. So the
 * handler runs with the interrupted code's mask, however it ends. Elsewhere (an empty
 * sa_mask, SA_NODEFER) it already does, and a fault costs no system call for it. */
static void unblock_as_interrupted(const ucontext_t *uc)
{
    if (flt.widened)
        pthread_sigmask(SIG_SETMASK, &uc->uc_sigmask, NULL);
}

static void handle_window_fault(struct sim_exec *x, siginfo_t *si, ucontext_t *uc);

static void on_fault(int sig, siginfo_t *si, void *ucv)
{
    ucontext_t *uc = ucv;
    uint64_t va = (uintptr_t)si->si_addr;
    struct sim_exec *x = sim_exec_self();
    if (!sim_in_window(va) && x->probe_jmp && sim_machine.booted && !sim_mmu_busy()) {
        /* A probe of host memory that is not there: what the walk says, as a fault. */
        unblock_as_interrupted(uc);
        arch_fault_from_walk(&x->probe_fault, va,
                             arch_fault_access_of((uint64_t)uc->uc_mcontext.gregs[REG_ERR]),
                             (uint64_t)uc->uc_mcontext.gregs[REG_RIP]);
        if (x->probe_fault.reason == ARCH_FAULT_NONE)
            x->probe_fault.reason = ARCH_FAULT_NOT_PRESENT;
        arch_fault_dispatch(&x->probe_fault, ARCH_FAULT_MAX_RETRIES);
        siglongjmp(*x->probe_jmp, 1);
    }
    if (!sim_in_window(va) || !sim_machine.booted) {
        host_fault_report(sig, si, uc, x->handling > 0);
        chain(sig == SIGSEGV ? &flt.old_segv : &flt.old_bus, sig, si, ucv);
        return;
    }
    unblock_as_interrupted(uc); /* also lets a fault inside the MMU reach the check below */
    if (sim_mmu_busy()) {
        static const char msg[] = "kernsim: fault inside the simulated MMU itself\n";
        ssize_t n = write(2, msg, sizeof(msg) - 1);
        (void)n;
        abort();
    }
    x->handling++;
    handle_window_fault(x, si, uc);
    x->handling--;
}

/* A fault in the kernel VA window: a TLB fill, a stale use, a fault for the kernel's
 * hook, or a panic. Returns only when the access may be retried. */
static void handle_window_fault(struct sim_exec *x, siginfo_t *si, ucontext_t *uc)
{
    uint64_t va = (uintptr_t)si->si_addr;
    enum arch_access access = arch_fault_access_of((uint64_t)uc->uc_mcontext.gregs[REG_ERR]);
    struct arch_fault f;
    sim_mmu_lock();
    flt.host_faults++;
    uint64_t base = 0, size = 0, e = sim_tlb_find(va, &base, &size);
    bool ok;
    struct sim_tlb_held held;
    if (sim_mmu_held_use(va, access, &held)) {
        report_missing_shootdown(va, access, &held, interrupted_stack(uc));
        sim_mmu_unlock();
        return; /* reported; the old translation lets the access complete */
    }
    if (sim_tlb_allows(e, access) && !(e & TLB_REAL) && access != ARCH_ACCESS_EXEC) {
        sim_tlb_realise(base, size, e); /* lazy mode: the first access to the leaf */
        sim_mmu_unlock();
        return;
    }
    /* From here on the fault may be reported: where it was, as an offset into its
     * module (a lookup the common case above does without). */
    uint64_t ip = stable_ip((uint64_t)uc->uc_mcontext.gregs[REG_RIP]);
    struct sim_tlb_stale stale;
    if (e && sim_tlb_take_stale(va, access, &stale)) {
        sim_fault_report_stale(va, access, &stale, ip, interrupted_stack(uc));
        sim_mmu_unlock();
        return; /* reported; the restored stale mapping lets the access complete */
    }
    if (sim_tlb_allows(e, access)) {
        /* The TLB allows it and it is realised, so the host refused only because the
         * frame is not RAM (or, for an instruction fetch, because the sim never maps
         * pages executable: running code from simulated mappings is not supported). */
        f = fault_at(va, ip, access, ARCH_FAULT_NO_BACKING);
        sim_mmu_count_fault();
        ok = false;
    } else {
        ok = sim_mmu_walk_and_fill(va, access, ip, NULL, &f);
    }
    if (ok)
        sim_tlb_realise_at(va, access); /* what the walk filled, before the access runs again */
    sim_mmu_unlock();
    if (ok)
        return;
    if (arch_fault_dispatch(&f, arch_fault_retry_note(&x->retry, va)) == ARCH_FAULT_RETRY) {
        sim_mmu_lock();
        sim_tlb_realise_at(va, access); /* the hook fixed the tables: no second fault for it */
        sim_mmu_unlock();
        return;
    }
    x->retry.va = 0;
    if (x->probe_jmp) {
        x->probe_fault = f;
        siglongjmp(*x->probe_jmp, 1);
    }
    uint32_t stack = 0;
    if (sim_run_active()) {
        /* The report's stack for this CPU starts at the faulting instruction: only the
         * context has it (a frame-pointer chain holds return addresses, so a walk from
         * any frame of the panic path reaches the faulting function's caller, not it). */
        stack = interrupted_stack(uc);
    }
    /* The panic runs here, in the handler, whose mask is the interrupted code's (above)
     * and which allocates nothing: what it needs was set up at boot. In a run it fails
     * the schedule by switching fibers out of the handler; the CPU's fiber is rebuilt
     * before it runs again. */
    char line[200];
    sim_panic_stack(stack, "unhandled %s", arch_fault_format(&f, line, sizeof(line)));
}

/* Run one access of `width` bytes with the TLB deciding first, so an expected fault
 * never touches the host (nothing for Valgrind to report); the signal path is the
 * backstop for a translation removed by another CPU in between. */
static bool probe(void *va, enum arch_access access, unsigned width, uint64_t *val,
                  struct arch_fault *out)
{
    struct arch_fault f;
    phys_addr_t pa;
    uint64_t a = (uintptr_t)va;
    enum arch_fault_reason refuse = ARCH_FAULT_NONE;
    if (!arch_va_canonical(a)) {
        refuse = ARCH_FAULT_NON_CANONICAL; /* #GP on hardware; the host would not say where */
    } else if (sim_in_window(a) || sim_in_direct_map(a)) {
        if (!sim_mmu_translate(a, access, &pa, &f)) {
            if (out)
                *out = f;
            return false;
        }
        if (!arch_phys_is_ram(pa, width))
            refuse = ARCH_FAULT_NO_BACKING;
    }
    if (refuse != ARCH_FAULT_NONE) {
        f = fault_at(a, 0, access, refuse);
        arch_fault_dispatch(&f, ARCH_FAULT_MAX_RETRIES);
        if (out)
            *out = f;
        return false;
    }
    /* Anything else is host memory: the kernel image, stacks and globals, which the
     * bare build reaches through its boot mappings. A missing page there faults in
     * the host and comes back through on_fault as a report. */
    struct sim_exec *x = sim_exec_self(); /* no scheduling point until the access is done */
    sigjmp_buf jb;
    unsigned handling = x->handling; /* the handlers this probe runs inside, if any */
    if (sigsetjmp(jb, 0)) {          /* the handler gave the thread its mask back */
        x->probe_jmp = NULL;
        x->handling = handling;
        if (out)
            *out = x->probe_fault;
        return false;
    }
    x->probe_jmp = &jb;
    if (access == ARCH_ACCESS_WRITE) {
        if (width == 1)
            *(volatile uint8_t *)va = (uint8_t)*val;
        else
            *(volatile uint64_t *)va = *val;
    } else {
        *val = width == 1 ? *(volatile uint8_t *)va : *(volatile uint64_t *)va;
    }
    x->probe_jmp = NULL;
    return true;
}

/* A panic caught out of a fault handler or a probe leaves neither behind: the next
 * fault on this CPU is not "inside a handler", and no longjmp goes to a dead probe. */
struct arch_catch_state arch_catch_save(void)
{
    struct sim_exec *x = sim_exec_self();
    return (struct arch_catch_state){{(uintptr_t)x->probe_jmp, x->handling}};
}

void arch_catch_restore(struct arch_catch_state s)
{
    struct sim_exec *x = sim_exec_self();
    x->probe_jmp = (sigjmp_buf *)s.word[0];
    x->handling = (unsigned)s.word[1];
    x->retry = (struct arch_fault_retry){0};
}

bool arch_probe_read8(const void *va, uint8_t *out, struct arch_fault *f)
{
    uint64_t v = 0;
    bool ok = probe((void *)va, ARCH_ACCESS_READ, 1, &v, f);
    if (ok)
        *out = (uint8_t)v;
    return ok;
}

bool arch_probe_write8(void *va, uint8_t v, struct arch_fault *f)
{
    uint64_t x = v;
    return probe(va, ARCH_ACCESS_WRITE, 1, &x, f);
}

bool arch_probe_read64(const void *va, uint64_t *out, struct arch_fault *f)
{
    return probe((void *)va, ARCH_ACCESS_READ, 8, out, f);
}

bool arch_probe_write64(void *va, uint64_t v, struct arch_fault *f)
{
    return probe(va, ARCH_ACCESS_WRITE, 8, &v, f);
}

/* ---- translation for the accessors (MMIO, the dma engine) ------------------------- */

bool sim_mmu_translate(uint64_t va, enum arch_access access, phys_addr_t *pa, struct arch_fault *f)
{
    /* The direct map is the boot path's, outside the simulated MMU: always there. */
    if (sim_in_direct_map(va)) {
        *pa = va - SIM_DIRECT_MAP_BASE;
        return true;
    }
    for (unsigned attempt = 0;; attempt++) {
        sim_mmu_lock();
        uint64_t base = 0, size = 0, e = sim_in_window(va) ? sim_tlb_find(va, &base, &size) : 0;
        struct sim_tlb_stale stale;
        struct sim_tlb_held held;
        bool ok;
        if (sim_in_window(va) && sim_mmu_held_use(va, access, &held)) {
            report_missing_shootdown(va, access, &held, sim_stack_capture(2));
            *pa = held.pa + (va - held.base);
            ok = true;
        } else if (sim_tlb_allows(e, access)) {
            *pa = TLB_FRAME(e) + (va - base);
            ok = true;
        } else if (e && sim_tlb_take_stale(va, access, &stale)) {
            sim_fault_report_stale(va, access, &stale, 0, 0);
            *pa = stale.pa + (va - stale.base);
            ok = true;
        } else {
            ok = sim_mmu_walk_and_fill(va, access, 0, pa, f);
        }
        sim_mmu_unlock();
        if (ok)
            return true;
        if (arch_fault_dispatch(f, attempt) != ARCH_FAULT_RETRY)
            return false;
    }
}

/* ---- set-up ------------------------------------------------------------------------ */

void sim_fault_init(void)
{
    struct sigaction sa = {0};
    sa.sa_sigaction = on_fault;
    sa.sa_flags = SA_SIGINFO | SA_NODEFER;
    sigemptyset(&sa.sa_mask);
    flt.widened = __tsan_init != NULL; /* its sigaction fills sa_mask */
    sigaction(SIGSEGV, &sa, &flt.old_segv);
    sigaction(SIGBUS, &sa, &flt.old_bus);
}

/* The MMU's counters, gathered from its files under the lock. */
void sim_mmu_get_stats(struct sim_mmu_stats *out)
{
    sim_mmu_lock();
    *out = (struct sim_mmu_stats){0};
    sim_mmu_own_stats(out);
    sim_tlb_get_stats(out);
    out->host_faults = flt.host_faults;
    sim_mmu_unlock();
}

void sim_fault_reset_stats(void)
{
    flt.host_faults = 0;
}
