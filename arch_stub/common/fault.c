/* fault.c - the page-fault report and the hook, the same in both builds. */
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

const char *arch_access_name(enum arch_access a)
{
    switch (a) {
    case ARCH_ACCESS_READ:
        return "read";
    case ARCH_ACCESS_WRITE:
        return "write";
    case ARCH_ACCESS_EXEC:
        return "execute";
    }
    return "?";
}

const char *arch_fault_reason_name(enum arch_fault_reason r)
{
    switch (r) {
    case ARCH_FAULT_NONE:
        return "allowed";
    case ARCH_FAULT_NOT_PRESENT:
        return "not present";
    case ARCH_FAULT_NOT_WRITABLE:
        return "not writable";
    case ARCH_FAULT_NO_EXECUTE:
        return "no-execute";
    case ARCH_FAULT_RESERVED:
        return "reserved bit set";
    case ARCH_FAULT_BAD_TABLE:
        return "table outside RAM";
    case ARCH_FAULT_NON_CANONICAL:
        return "non-canonical address";
    case ARCH_FAULT_NO_BACKING:
        return "frame is not RAM";
    }
    return "?";
}

static const char *level_name(int level)
{
    static const char *const names[] = {"-", "PT", "PD", "PDPT", "PML4"};
    return level >= 0 && level <= 4 ? names[level] : "?";
}

char *arch_fault_format(const struct arch_fault *f, char *buf, size_t size)
{
    if (f->level)
        ksnprintf(buf, size, "page fault: %s at 0x%016lx: %s entry 0x%016lx (level %d) %s",
                  arch_access_name(f->access), f->addr, level_name(f->level), f->entry, f->level,
                  arch_fault_reason_name(f->reason));
    else
        ksnprintf(buf, size, "page fault: %s at 0x%016lx: %s", arch_access_name(f->access), f->addr,
                  arch_fault_reason_name(f->reason));
    return buf;
}

void arch_fault_from_pt_walk(struct arch_fault *f, const struct pt_walk *w, phys_addr_t root,
                             uint64_t va, enum arch_access access, uint64_t ip)
{
    *f = (struct arch_fault){
        .addr = va,
        .ip = ip,
        .root = root,
        .access = access,
        .reason = w->reason,
        .level = w->reason == ARCH_FAULT_NON_CANONICAL ? 0 : w->level,
        .entry = w->reason == ARCH_FAULT_NON_CANONICAL ? 0 : w->entry[w->level],
    };
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

void (*arch_panic_unwind)(const char *msg);
bool (*arch_panic_catching)(void);

static arch_describer describers[4];

void arch_add_describer(arch_describer fn)
{
    for (unsigned i = 0; i < (sizeof(describers) / sizeof(describers[0])); i++) {
        if (describers[i] == fn)
            return;
        if (!describers[i]) {
            describers[i] = fn;
            return;
        }
    }
    arch_panic("arch_add_describer: all %zu slots are taken",
               (sizeof(describers) / sizeof(describers[0])));
}

bool arch_describe(const void *p, const char *indent)
{
    for (unsigned i = 0; i < (sizeof(describers) / sizeof(describers[0])) && describers[i]; i++) {
        if (describers[i](p, indent))
            return true;
    }
    return false;
}

void arch_atomic_misaligned(const volatile void *p, unsigned size)
{
    char what[96];
    arch_panic("misaligned atomic: a %u-byte atomic on %p, which is not %u-byte aligned (a "
               "split lock on x86, or no atomicity at all); %p is %s",
               size, (const void *)p, size, (const void *)p,
               arch_describe_address((const void *)p, what, sizeof(what)));
}
