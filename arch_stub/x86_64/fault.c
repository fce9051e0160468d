/* fault.c - #PF (and #GP from probes) on real x86_64.
 *
 * The hardware took the fault; the shared walker says which level refused it, the
 * kernel's hook gets a chance to fix it, and a probe instruction (listed in the
 * ex_table section) is resumed at its fix-up with the fault recorded. */
#include "arch_internal.h"
#include "x86.h"
#include <arch/console.h>
#include <arch/cpu.h>
#include <arch/panic.h>

struct ex_entry {
    uint64_t insn, fixup;
};
extern const struct ex_entry __start_ex_table[], __stop_ex_table[];

/* Probes (probe.S): return 0 when the access happened, 1 after a fault. */
int x86_probe_read8(const void *va, uint8_t *out);
int x86_probe_write8(void *va, uint8_t v);
int x86_probe_read64(const void *va, uint64_t *out);
int x86_probe_write64(void *va, uint64_t v);

static struct arch_fault probe_fault;
static uint64_t probe_va; /* a #GP has no CR2: the probe says where it went */
static enum arch_access probe_access;
static struct arch_fault_retry retry;

static const struct ex_entry *find_fixup(uint64_t rip)
{
    for (const struct ex_entry *e = __start_ex_table; e < __stop_ex_table; e++) {
        if (e->insn == rip)
            return e;
    }
    return NULL;
}

bool x86_handle_fault(struct x86_trap_frame *tf)
{
    struct arch_fault f;
    const struct ex_entry *fix = find_fixup(tf->rip);
    if (tf->vector == 13) {
        if (!fix)
            return false;
        f = (struct arch_fault){.addr = probe_va,
                                .ip = tf->rip,
                                .root = arch_read_cr3(),
                                .access = probe_access,
                                .reason = ARCH_FAULT_NON_CANONICAL};
        arch_fault_dispatch(&f, ARCH_FAULT_MAX_RETRIES);
    } else {
        uint64_t va = x86_read_cr2();
        arch_fault_from_walk(&f, va, arch_fault_access_of(tf->error), tf->rip);
        unsigned retries = arch_fault_retry_note(&retry, va);
        if (f.reason == ARCH_FAULT_NONE) {
            /* The tables allow it: a stale TLB entry with fewer rights refused it.
             * Drop that entry and run the access again (a spurious fault). */
            if (retries < ARCH_FAULT_MAX_RETRIES) {
                arch_invlpg((const void *)(uintptr_t)va);
                return true;
            }
            f.reason = ARCH_FAULT_NOT_PRESENT;
        }
        if (arch_fault_dispatch(&f, retries) == ARCH_FAULT_RETRY)
            return true;
        retry.va = 0;
    }
    if (!fix) {
        char line[200];
        kprintf("# unhandled %s\n", arch_fault_format(&f, line, sizeof(line)));
        return false;
    }
    probe_fault = f;
    tf->rip = fix->fixup;
    return true;
}

static bool finish(int rc, struct arch_fault *f)
{
    if (rc == 0)
        return true;
    if (f)
        *f = probe_fault;
    return false;
}

bool arch_probe_read8(const void *va, uint8_t *out, struct arch_fault *f)
{
    probe_va = (uintptr_t)va, probe_access = ARCH_ACCESS_READ;
    return finish(x86_probe_read8(va, out), f);
}

bool arch_probe_write8(void *va, uint8_t v, struct arch_fault *f)
{
    probe_va = (uintptr_t)va, probe_access = ARCH_ACCESS_WRITE;
    return finish(x86_probe_write8(va, v), f);
}

bool arch_probe_read64(const void *va, uint64_t *out, struct arch_fault *f)
{
    probe_va = (uintptr_t)va, probe_access = ARCH_ACCESS_READ;
    return finish(x86_probe_read64(va, out), f);
}

bool arch_probe_write64(void *va, uint64_t v, struct arch_fault *f)
{
    probe_va = (uintptr_t)va, probe_access = ARCH_ACCESS_WRITE;
    return finish(x86_probe_write64(va, v), f);
}

static const char *const vector_names[32] = {"#DE divide error",
                                             "#DB debug",
                                             "NMI",
                                             "#BP breakpoint",
                                             "#OF overflow",
                                             "#BR bound range",
                                             "#UD invalid opcode",
                                             "#NM device not available",
                                             "#DF double fault",
                                             "coprocessor segment overrun",
                                             "#TS invalid TSS",
                                             "#NP segment not present",
                                             "#SS stack fault",
                                             "#GP general protection",
                                             "#PF page fault",
                                             "reserved 15",
                                             "#MF x87 error",
                                             "#AC alignment check",
                                             "#MC machine check",
                                             "#XM SIMD error",
                                             "#VE virtualization",
                                             "#CP control protection",
                                             "reserved 22",
                                             "reserved 23",
                                             "reserved 24",
                                             "reserved 25",
                                             "reserved 26",
                                             "reserved 27",
                                             "#HV hypervisor injection",
                                             "#VC VMM communication",
                                             "#SX security",
                                             "reserved 31"};

void x86_dump_regs(const struct x86_trap_frame *tf)
{
    kprintf("# exception %lu (%s) error 0x%lx\n", tf->vector,
            tf->vector < 32 ? vector_names[tf->vector] : "interrupt", tf->error);
    kprintf("#   rip %016lx cs %04lx rflags %016lx cr2 %016lx\n", tf->rip, tf->cs, tf->rflags,
            x86_read_cr2());
    kprintf("#   rsp %016lx ss %04lx cr3 %016lx\n", tf->rsp, tf->ss, arch_read_cr3());
    kprintf("#   rax %016lx rbx %016lx rcx %016lx rdx %016lx\n", tf->rax, tf->rbx, tf->rcx,
            tf->rdx);
    kprintf("#   rsi %016lx rdi %016lx rbp %016lx r8  %016lx\n", tf->rsi, tf->rdi, tf->rbp, tf->r8);
    kprintf("#   r9  %016lx r10 %016lx r11 %016lx r12 %016lx\n", tf->r9, tf->r10, tf->r11, tf->r12);
    kprintf("#   r13 %016lx r14 %016lx r15 %016lx\n", tf->r13, tf->r14, tf->r15);
}

void x86_dump_frame(const struct x86_trap_frame *tf)
{
    x86_dump_regs(tf);
    if (x86_trap_backtrace)
        x86_trap_backtrace(tf);
    else
        x86_backtrace(tf->rbp);
}
