/* double_fault.c - the #DF report. A double fault is the CPU failing to deliver one
 * exception because of another: most often a kernel stack overflow (the #PF on the
 * guard page has no room for its frame), or a fault while entering a fault handler.
 * Its gate switches to the #DF stack (bare/tss.c), so the report always has a stack.
 *
 * Nothing else in the machine is to be trusted. The SDM says a #DF cannot be resumed
 * and leaves its saved CS:RIP undefined (QEMU, and CPUs in practice, save the
 * instruction that took the first fault, and its RSP); a runaway write may have
 * smashed .data and .bss. So this path calls no hook, takes no lock, reads memory only
 * inside the kernel's stacks and the read-only image, and exits QEMU with its own code
 * rather than through arch_panic, whose catch_unwind would resume what cannot be. */
#include "../arch_stub/x86_64/x86.h"
#include <arch/console.h>

const char *kallsyms_lookup(uint64_t addr, uint64_t *offset);

/* DF_BUSY while a report is printed. Not a plain flag: a runaway write that ended in
 * this double fault may have left any value in .bss, and only this one means "nested". */
#define DF_BUSY 0x64663a31u
static volatile uint32_t df_busy;

/* The index of the stack that holds [addr, addr + size), or -1. */
static int stack_holding(uint64_t addr, uint64_t size)
{
    for (int i = 0; i < X86_N_STACKS; i++) {
        uint64_t lo = (uintptr_t)x86_stacks[i].lo, hi = (uintptr_t)x86_stacks[i].hi;
        if (addr >= lo && addr <= hi && size <= hi - addr)
            return i;
    }
    return -1;
}

/* The index of the stack that an RSP has overflowed, or -1: RSP inside the guard page,
 * or so close above it that the CPU, which aligns RSP down to 16 and then pushes up to
 * 48 bytes of exception frame, had to write into the guard page to deliver a fault.
 * (The guard's lowest address is left out: it is the top of the stack below, empty.) */
static int stack_overflowed(uint64_t rsp)
{
    for (int i = 0; i < X86_N_STACKS; i++) {
        uint64_t lo = (uintptr_t)x86_stacks[i].lo;
        if (rsp > lo - ARCH_PAGE_4K && rsp < lo + 64)
            return i;
    }
    return -1;
}

static bool in_guard(uint64_t addr, int stack)
{
    uint64_t lo = (uintptr_t)x86_stacks[stack].lo;
    return addr >= lo - ARCH_PAGE_4K && addr < lo;
}

/* As bare/unwind.c prints a frame, so that scripts/run-bare adds the source line. */
static void print_frame(uint64_t pc, bool exact)
{
    uint64_t off, at = exact ? pc : pc - 1; /* a return address may be past its call's function */
    const char *name = kallsyms_lookup(at, &off);
    if (name)
        kprintf("#   [<%016lx>] %s+0x%lx\n", pc, name, (unsigned long)(pc - at + off));
    else
        kprintf("#   [<%016lx>]\n", pc);
}

#define BT_HEAD 24 /* entries shown from the faulting end of the walk */
#define BT_TAIL 8  /* and from the outer end (bare_main, long_mode) */

static bool shown(unsigned i, unsigned head, unsigned tail)
{
    return i < head || i >= tail;
}

/* One walk up the frame-pointer chain from rbp (the kernel keeps frame pointers), not
 * the DWARF unwinder, whose table descriptor lives in .bss. Every frame read lies on
 * the stack rbp is on, and each caller's frame is higher, so the walk ends. An entry is
 * a return address; a run of equal ones (a recursion) is one entry and a count. With
 * `print`, shows the entries numbered below `head` or from `tail` on, one line for
 * those between. Returns the number of entries. */
static unsigned walk(uint64_t rbp, bool print, unsigned head, unsigned tail)
{
    int stack = stack_holding(rbp, 16);
    uint64_t last = 0;
    unsigned n = 0, repeats = 0;
    while (stack >= 0 && !(rbp & 7)) {
        const uint64_t *frame = (const uint64_t *)(uintptr_t)rbp;
        uint64_t next = frame[0], ret = frame[1];
        if (!ret)
            break;
        if (n && ret == last) {
            repeats++;
        } else {
            if (print && repeats && shown(n - 1, head, tail))
                kprintf("#   ... the frame above %u more times\n", repeats);
            if (print && shown(n, head, tail))
                print_frame(ret, false);
            else if (print && n == head)
                kprintf("#   ... %u frames left out\n", tail - head);
            repeats = 0, last = ret, n++;
        }
        if (next <= rbp || stack_holding(next, 16) != stack)
            break;
        rbp = next;
    }
    if (print && repeats && shown(n - 1, head, tail))
        kprintf("#   ... the frame above %u more times\n", repeats);
    return n;
}

static void backtrace(const struct x86_trap_frame *tf)
{
    kprintf("# backtrace (frame pointers, from rbp %016lx):\n", tf->rbp);
    print_frame(tf->rip, true);
    if (stack_holding(tf->rbp, 16) < 0) {
        kprintf("#   (rbp is on no kernel stack: no frames to walk)\n");
        return;
    }
    unsigned n = walk(tf->rbp, false, 0, 0);
    walk(tf->rbp, true, BT_HEAD, n > BT_HEAD + BT_TAIL ? n - BT_TAIL : BT_HEAD);
}

/* Called by bare_trap for vector 8, on the #DF stack. Does not return. */
ARCH_NORETURN void bare_double_fault(const struct x86_trap_frame *tf)
{
    if (df_busy == DF_BUSY) {
        /* The report itself faulted: the gate started this one at the top of the same
         * stack, over the first. Say so and stop, touching nothing else. */
        kprintf("# double fault while reporting a double fault\nBail out! double fault\n");
        x86_exit(X86_EXIT_DOUBLE_FAULT);
    }
    df_busy = DF_BUSY;
    uint64_t cr2 = x86_read_cr2();
    int over = stack_overflowed(tf->rsp), on = stack_holding(tf->rsp, 0);
    if (over >= 0)
        kprintf("# double fault: kernel stack overflow: rsp %016lx ran into the guard page "
                "%016lx below the %s\n",
                tf->rsp, (uint64_t)(uintptr_t)x86_stacks[over].lo - ARCH_PAGE_4K,
                x86_stacks[over].name);
    else
        kprintf("# double fault: an exception while the CPU delivered another (rsp %016lx %s%s)\n",
                tf->rsp, on >= 0 ? "on the " : "on no kernel stack",
                on >= 0 ? x86_stacks[on].name : "");
    x86_dump_regs(tf); /* rip and rsp as the CPU saved them (see the top of this file) */
    if (over >= 0 && in_guard(cr2, over))
        kprintf("#   cr2 %016lx: the page fault that had no room for its frame\n", cr2);
    else
        kprintf("#   cr2 %016lx: the last page fault's address (it may predate this double "
                "fault)\n",
                cr2);
    backtrace(tf);
    kprintf("Bail out! double fault\n");
    x86_exit(X86_EXIT_DOUBLE_FAULT);
}
