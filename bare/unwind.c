/* unwind.c - subsys/unwind in the bare kernel: the kernel image's own tables (kept by
 * kernel.ld, indexed by lld's --eh-frame-hdr), the kernel's stacks (x86_stacks: the
 * boot stack and the exception stacks an NMI or #MC handler runs on), and backtraces
 * for panics and unhandled exceptions, named from the kernel's own symbol table
 * (bare/kallsyms.c); scripts/run-bare adds source lines from the ELF. */
#include "../arch_stub/x86_64/x86.h"
#include <arch/console.h>
#include <arch/panic.h>
#include <unwind/unwind.h>

extern const uint8_t __eh_frame_hdr_start[], __eh_frame_hdr_end[], __eh_frame_start[],
    __eh_frame_end[], __text_start[], __text_end[], __rodata_start[], __rodata_end[];

static struct unw_table kernel_table;

static const struct unw_table *lookup(uint64_t pc)
{
    return pc >= kernel_table.text_lo && pc < kernel_table.text_hi ? &kernel_table : NULL;
}

/* Only inside one of the kernel's stacks: an exception frame on an IST stack leads
 * through isr.S's CFI to the interrupted code on the boot stack. */
static bool stack_read(void *ctx, uint64_t addr, void *out, size_t size)
{
    (void)ctx;
    for (unsigned i = 0; i < X86_N_STACKS; i++) {
        uint64_t lo = (uintptr_t)x86_stacks[i].lo, hi = (uintptr_t)x86_stacks[i].hi;
        if (addr >= lo && addr <= hi && size <= hi - addr) {
            __builtin_memcpy(out, (const void *)(uintptr_t)addr, size);
            return true;
        }
    }
    return false;
}

static const struct unw_mem stack_mem = {stack_read, 0};

const char *kallsyms_lookup(uint64_t addr, uint64_t *offset);

/* Each frame as "[<address>] function+offset" (the call's function: a return
 * address may already be past the end of it). */
static void print(const uint64_t *pcs, int n, enum unw_err err, bool first_exact)
{
    kprintf("# backtrace:\n");
    for (int i = 0; i < n; i++) {
        uint64_t off, at = pcs[i] - (i == 0 && first_exact ? 0 : 1);
        const char *name = kallsyms_lookup(at, &off);
        if (name)
            kprintf("#   [<%016lx>] %s+0x%lx\n", pcs[i], name, (unsigned long)(pcs[i] - at + off));
        else
            kprintf("#   [<%016lx>]\n", pcs[i]);
    }
    if (err)
        kprintf("#   (the walk stopped: %s)\n", unw_strerror(err));
}

/* From the panic: arch_panic's caller and up. */
static void panic_backtrace(void)
{
    uint64_t pcs[32];
    enum unw_err err;
    int n = unw_backtrace(lookup, &stack_mem, pcs, 32, &err);
    print(pcs + 1, n > 1 ? n - 1 : 0, err, false); /* 0 is this function */
}

/* From the exception frame: the faulting instruction (an exact pc) and its callers. */
static void trap_backtrace(const struct x86_trap_frame *tf)
{
    struct unw_regs r = {.signal = true};
    const uint64_t v[][2] = {{UNW_RAX, tf->rax}, {UNW_RDX, tf->rdx}, {UNW_RCX, tf->rcx},
                             {UNW_RBX, tf->rbx}, {UNW_RSI, tf->rsi}, {UNW_RDI, tf->rdi},
                             {UNW_RBP, tf->rbp}, {UNW_RSP, tf->rsp}, {UNW_R8, tf->r8},
                             {UNW_R9, tf->r9},   {UNW_R10, tf->r10}, {UNW_R11, tf->r11},
                             {UNW_R12, tf->r12}, {UNW_R13, tf->r13}, {UNW_R14, tf->r14},
                             {UNW_R15, tf->r15}, {UNW_RIP, tf->rip}};
    for (unsigned i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        r.r[v[i][0]] = v[i][1];
        r.valid |= 1u << v[i][0];
    }
    uint64_t pcs[32];
    enum unw_err err;
    int n = unw_backtrace_from(lookup, &stack_mem, &r, pcs, 32, &err);
    print(pcs, n, err, true);
}

static void foreign_resume(void *exc)
{
    (void)exc;
    arch_panic("_Unwind_Resume: an exception that is not a kernsim panic");
}

void bare_unwind_init(void)
{
    kernel_table = (struct unw_table){
        .eh_frame = __eh_frame_start,
        .eh_frame_size = (size_t)(__eh_frame_end - __eh_frame_start),
        .eh_frame_hdr = __eh_frame_hdr_start,
        .eh_frame_hdr_size = (size_t)(__eh_frame_hdr_end - __eh_frame_hdr_start),
        .text_lo = (uint64_t)(uintptr_t)__text_start,
        .text_hi = (uint64_t)(uintptr_t)__text_end,
        .lsda_lo = (uint64_t)(uintptr_t)__rodata_start,
        .lsda_hi = (uint64_t)(uintptr_t)__rodata_end,
    };
    unw_set_platform(lookup, &stack_mem, foreign_resume);
    x86_panic_backtrace = panic_backtrace;
    x86_trap_backtrace = trap_backtrace;
}

/* Code built with -fexceptions names this personality routine in its CIE. kernsim's
 * unwinder never calls personality routines: it reads each LSDA itself
 * (unw_lsda_find). The symbol exists so that such code links. */
int __gcc_personality_v0(int version, int actions, uint64_t exception_class, void *exception,
                         void *context)
{
    (void)version, (void)actions, (void)exception_class, (void)exception, (void)context;
    arch_panic("__gcc_personality_v0 called: only kernsim's unwinder unwinds this kernel");
}
