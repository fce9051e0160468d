/* fault.c - raising a page fault, the same in both builds: the report, the count and
 * the kernel's hook (over fault_record.c, which builds and names the record). */
#include "arch_internal.h"
#include <arch/atomic.h>
#include <arch/console.h>
#include <arch/cpu.h>
#include <arch/debug.h>
#include <arch/panic.h>
#include <arch/ptwalk.h>

static arch_fault_hook_t fault_hook;
static void *fault_hook_ctx;
static uint64_t fault_count;

arch_fault_hook_t arch_set_page_fault_hook(arch_fault_hook_t hook, void *ctx)
{
    arch_fault_hook_t old = fault_hook;
    fault_hook = hook;
    fault_hook_ctx = ctx;
    return old;
}

static bool fault_reports = true;

void arch_fault_set_reports(bool on)
{
    fault_reports = on;
}

uint64_t arch_fault_count(void)
{
    return __atomic_load_n(&fault_count, __ATOMIC_RELAXED);
}

void arch_fault_from_walk(struct arch_fault *f, uint64_t va, enum arch_access access, uint64_t ip)
{
    struct pt_walk w;
    phys_addr_t root = arch_read_cr3();
    pt_walk(root, va, access, &w);
    arch_fault_from_pt_walk(f, &w, root, va, access, ip);
}

enum arch_fault_action arch_fault_dispatch(const struct arch_fault *f, unsigned attempt)
{
    char line[200];
    __atomic_fetch_add(&fault_count, 1, __ATOMIC_RELAXED);
    if (fault_reports) {
        kprintf("# %s\n", arch_fault_format(f, line, sizeof(line)));
        if (f->ip)
            kprintf("#   ip 0x%016lx cr3 0x%016lx cpu %u\n", f->ip, f->root, arch_cpu_id());
        else
            kprintf("#   cr3 0x%016lx cpu %u\n", f->root, arch_cpu_id());
        arch_fault_history(f);
        arch_describe((const void *)(uintptr_t)f->addr, "   ");
    }
    if (!fault_hook || attempt >= ARCH_FAULT_MAX_RETRIES)
        return ARCH_FAULT_UNHANDLED;
    return fault_hook(f, fault_hook_ctx);
}

void arch_atomic_misaligned(const volatile void *p, unsigned size)
{
    char what[96];
    arch_panic("misaligned atomic: a %u-byte atomic on %p, which is not %u-byte aligned (a "
               "split lock on x86, or no atomicity at all); %p is %s",
               size, (const void *)p, size, (const void *)p,
               arch_describe_address((const void *)p, what, sizeof(what)));
}
