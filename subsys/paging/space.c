/* space.c - address spaces: adopting the boot tables, creating one that shares the
 * kernel's half, destroying it, and checking one's tables against the frame
 * allocator's counts. */
#include "paging_internal.h"
#include <arch/cpu.h>
#include <arch/mem.h>
#include <arch/ptwalk.h>

static pte_t *table_ptr(phys_addr_t table)
{
    return arch_phys_to_virt(table);
}

static uint32_t next_space_id = 1;

enum pg_err pg_space_adopt(struct pg_space *as, phys_addr_t root)
{
    if (!as)
        return PG_ERR_NOT_INITIALISED;
    if (as->live)
        return PG_ERR_ALREADY_INITIALISED;
    if (!ARCH_IS_ALIGNED(root, ARCH_PAGE_4K) || !arch_phys_is_ram(root, ARCH_PAGE_4K))
        return PG_ERR_INVALID_FRAME;
    *as = (struct pg_space){.root = root, .id = next_space_id++, .live = true};
    return PG_OK;
}

enum pg_err pg_space_create(struct pg_space *as, const struct pg_space *kernel)
{
    if (!as || (kernel && !kernel->live) || !frame_initialised())
        return PG_ERR_NOT_INITIALISED;
    if (as->live)
        return PG_ERR_ALREADY_INITIALISED;
    phys_addr_t root = frame_table_alloc();
    if (!root)
        return PG_ERR_NO_MEMORY;
    struct arch_kva_window w = arch_kva_window();
    const pte_t *k = kernel ? table_ptr(kernel->root) : NULL;
    pte_t *t = table_ptr(root);
    for (unsigned i = 0; k && i < PTE_ENTRIES; i++) {
        if (i == PT_INDEX(w.base, 4))
            continue;               /* the window is per space */
        t[i] = arch_get_pte(&k[i]); /* not live yet: no seam store needed */
    }
    *as = (struct pg_space){.root = root, .id = next_space_id++, .live = true};
    return PG_OK;
}

enum pg_err pg_space_destroy(struct pg_space *as)
{
    if (!as || !as->live)
        return PG_ERR_NOT_INITIALISED;
    if (arch_read_cr3() == as->root)
        return PG_ERR_FRAME_IN_USE;
    if (frame_state_of(as->root) != FS_TABLE)
        return PG_ERR_WRONG_ADDRESS_SPACE; /* adopted, not created: not ours to free */
    struct arch_kva_window w = arch_kva_window();
    if (arch_get_pte(&table_ptr(as->root)[PT_INDEX(w.base, 4)]) & PTE_P)
        return PG_ERR_FRAME_IN_USE;
    frame_table_free(as->root);
    as->live = false;
    return PG_OK;
}

/* ---- checking ---- */

ARCH_CHECKER static bool table_valid(phys_addr_t table, int level)
{
    if (frame_state_of(table) != FS_TABLE)
        return false;
    const pte_t *t = table_ptr(table);
    unsigned present = 0;
    for (unsigned i = 0; i < PTE_ENTRIES; i++) {
        pte_t e = arch_get_pte(&t[i]);
        if (!(e & PTE_P))
            continue;
        present++;
        if (!pt_entry_well_formed(e, level))
            return false;
        if (pte_is_leaf(e, level)) {
            if ((e & PG_PTE_TRACKED) && (frame_state_of(pte_leaf_frame(e, level)) != FS_ALLOCATED ||
                                         !frame_count_of(pte_leaf_frame(e, level))))
                return false;
        } else if (!table_valid(PTE_ADDR(e), level - 1)) {
            return false;
        }
    }
    return present == frame_count_of(table) && present;
}

ARCH_CHECKER bool pg_space_valid(const struct pg_space *as)
{
    if (!as || !as->live)
        return false;
    struct arch_kva_window w = arch_kva_window();
    pte_t e = arch_get_pte(&table_ptr(as->root)[PT_INDEX(w.base, 4)]);
    return !(e & PTE_P) || table_valid(PTE_ADDR(e), 3);
}
