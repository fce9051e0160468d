/* fault_record.c - a page fault's record: built from a table walk, named and
 * formatted. The same in both builds; calls nothing but the formatter. */
#include "arch_internal.h"
#include <arch/console.h>
#include <arch/ptwalk.h>

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
