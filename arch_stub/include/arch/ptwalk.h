/* arch/ptwalk.h - the 4-level walk that both builds use to explain an access.
 *
 * The sim's MMU decides accesses with it; the bare #PF handler uses it to say which
 * level refused. It reads entries through the direct map and never trusts them: a
 * table address outside RAM ends the walk as ARCH_FAULT_BAD_TABLE. */
#ifndef ARCH_PTWALK_H
#define ARCH_PTWALK_H

#include <arch/fault.h>
#include <arch/pte.h>

struct pt_walk {
    enum arch_fault_reason reason; /* ARCH_FAULT_NONE: the access is allowed */
    int level;                     /* leaf level (1, 2, 3) if allowed, refusing level otherwise */
    pte_t entry[5];                /* entry[4..level]: the entries read, top down */
    phys_addr_t table[5];          /* table[l]: physical address of the level-l table */
    phys_addr_t pa;                /* translated address (allowed walks) */
    uint64_t page_size;            /* 4K, 2M or 1G (allowed walks) */
    bool writable;                 /* W at every level */
    bool executable;               /* NX at no level */
};

/* Walk the tables rooted at `root` for `va`, checking `access` (a supervisor access
 * with CR0.WP and EFER.NXE set). Fills *w; returns w->reason. Any CPU; it only reads,
 * so a walk racing a PTE store sees the entry before or after it. Never
 * ARCH_FAULT_NO_BACKING: the frame itself is not checked. */
enum arch_fault_reason pt_walk(phys_addr_t root, uint64_t va, enum arch_access access,
                               struct pt_walk *w);

/* Reserved-bit check for an entry at `level` (leaf or not); true if it is well formed
 * (a not-present entry always is). Bits 51:ARCH_PHYS_BITS are reserved; 62:52 are
 * the software's (PTE_SOFT_HIGH). */
bool pt_entry_well_formed(pte_t e, int level);

/* 48-bit canonical: bits 63:47 all equal. */
bool arch_va_canonical(uint64_t va);

#endif
