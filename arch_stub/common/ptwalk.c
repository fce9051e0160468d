/* ptwalk.c - the x86_64 4-level walk, as the SDM describes it for supervisor
 * accesses with CR0.WP = 1 and EFER.NXE = 1 (kernsim's bare boot sets both). */
#include <arch/mem.h>
#include <arch/ptwalk.h>

bool arch_va_canonical(uint64_t va)
{
    uint64_t top = va >> 47;
    return top == 0 || top == 0x1ffff;
}

bool pt_entry_well_formed(pte_t e, int level)
{
    if (!(e & PTE_P))
        return true; /* hardware ignores every other bit of a not-present entry */
    /* Bits 51:MAXPHYADDR are reserved at every level; 62:52 are ignored. */
    if (e & ~PTE_NX & ~PTE_SOFT_HIGH & ~((UINT64_C(1) << ARCH_PHYS_BITS) - 1))
        return false;
    if (level == 4 && (e & PTE_PS))
        return false; /* no 512 GiB pages */
    if ((level == 3 || level == 2) && (e & PTE_PS)) {
        /* Huge leaf: bit 12 is PAT, bits (shift-1):13 must be zero. */
        uint64_t low = (UINT64_C(1) << PT_LEVEL_SHIFT(level)) - 1;
        if (e & low & ~UINT64_C(0x1fff))
            return false;
    }
    return true;
}

enum arch_fault_reason pt_walk(phys_addr_t root, uint64_t va, enum arch_access access,
                               struct pt_walk *w)
{
    *w = (struct pt_walk){.writable = true, .executable = true};
    if (!arch_va_canonical(va)) {
        w->reason = ARCH_FAULT_NON_CANONICAL;
        return w->reason;
    }
    phys_addr_t table = root & PTE_ADDR_MASK;
    int deny_w = 0, deny_x = 0;
    for (int level = 4; level >= 1; level--) {
        w->level = level;
        if (!arch_phys_is_ram(table, ARCH_PAGE_4K)) {
            w->reason = ARCH_FAULT_BAD_TABLE;
            return w->reason;
        }
        w->table[level] = table;
        const pte_t *t = arch_phys_to_virt(table);
        pte_t e = arch_get_pte(&t[PT_INDEX(va, level)]);
        w->entry[level] = e;
        if (!(e & PTE_P)) {
            w->reason = ARCH_FAULT_NOT_PRESENT;
            return w->reason;
        }
        if (!pt_entry_well_formed(e, level)) {
            w->reason = ARCH_FAULT_RESERVED;
            return w->reason;
        }
        /* Rights are checked only once the walk completes: a not-present entry further
         * down wins (the #PF error code then has P = 0). Report the top-most refusal. */
        if (w->writable && !(e & PTE_W))
            deny_w = level;
        if (w->executable && (e & PTE_NX))
            deny_x = level;
        w->writable &= (e & PTE_W) != 0;
        w->executable &= (e & PTE_NX) == 0;
        if (pte_is_leaf(e, level)) {
            uint64_t size = UINT64_C(1) << PT_LEVEL_SHIFT(level);
            uint64_t frame = pte_leaf_frame(e, level);
            w->page_size = size;
            w->pa = frame + (va & (size - 1));
            w->reason = ARCH_FAULT_NONE;
            if (access == ARCH_ACCESS_WRITE && deny_w) {
                w->reason = ARCH_FAULT_NOT_WRITABLE;
                w->level = deny_w;
            } else if (access == ARCH_ACCESS_EXEC && deny_x) {
                w->reason = ARCH_FAULT_NO_EXECUTE;
                w->level = deny_x;
            }
            return w->reason;
        }
        table = PTE_ADDR(e);
    }
    return w->reason; /* not reached: level 1 always ends the walk */
}
