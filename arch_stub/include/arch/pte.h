/* arch/pte.h - x86_64 page-table entry format and the one PTE store.
 *
 * All four levels use 512 64-bit entries. Every store of a page-table entry goes
 * through arch_set_pte (as Linux's set_pte does for paravirtualisation): the sim
 * uses it to realise new mappings eagerly; on hardware it is one 64-bit store. */
#ifndef ARCH_PTE_H
#define ARCH_PTE_H

#include <arch/types.h>

typedef uint64_t pte_t;

#define PTE_P         (UINT64_C(1) << 0) /* present */
#define PTE_W         (UINT64_C(1) << 1) /* writable */
#define PTE_U         (UINT64_C(1) << 2) /* user */
#define PTE_PWT       (UINT64_C(1) << 3) /* write-through */
#define PTE_PCD       (UINT64_C(1) << 4) /* cache disable: MMIO mappings */
#define PTE_A         (UINT64_C(1) << 5) /* accessed */
#define PTE_D         (UINT64_C(1) << 6) /* dirty (leaves) */
#define PTE_PS        (UINT64_C(1) << 7) /* page size: 1 GiB leaf in a PDPTE, 2 MiB in a PDE */
#define PTE_G         (UINT64_C(1) << 8) /* global */
#define PTE_AVL0      (UINT64_C(1) << 9) /* ignored by hardware: free for software */
#define PTE_AVL1      (UINT64_C(1) << 10)
#define PTE_AVL2      (UINT64_C(1) << 11)
#define PTE_NX        (UINT64_C(1) << 63) /* no execute (EFER.NXE is set in both builds) */
/* Bits 62:52 of a present entry: ignored by the MMU (62:59 are protection keys only
 * with CR4.PKE, which neither build sets), so free for software, like PTE_AVL*. */
#define PTE_SOFT_HIGH (UINT64_C(0x7ff) << 52)

/* Physical-address bits of an entry. The sim and kernsim's bare boot assume a
 * MAXPHYADDR of 46 bits; bits 51:46 of a present entry are reserved. */
#define ARCH_PHYS_BITS 46
#define PTE_ADDR_MASK  (((UINT64_C(1) << ARCH_PHYS_BITS) - 1) & ~UINT64_C(0xfff))
#define PTE_ADDR(e)    ((e)&PTE_ADDR_MASK)
#define PTE_ENTRIES    512

/* Levels are numbered as the SDM walks them: 4 = PML4, 3 = PDPT, 2 = PD, 1 = PT. */
#define PT_LEVEL_SHIFT(level) (12 + 9 * ((level)-1))
#define PT_INDEX(va, level)   (((uint64_t)(va) >> PT_LEVEL_SHIFT(level)) & 511)

ARCH_STATIC_ASSERT(sizeof(pte_t) == 8, "x86_64 PTEs are 8 bytes");
ARCH_STATIC_ASSERT(PTE_ENTRIES * sizeof(pte_t) == ARCH_PAGE_4K, "a table fills one 4 KiB frame");
ARCH_STATIC_ASSERT((UINT64_C(1) << PT_LEVEL_SHIFT(2)) == ARCH_PAGE_2M, "PD entries map 2 MiB");
ARCH_STATIC_ASSERT((UINT64_C(1) << PT_LEVEL_SHIFT(3)) == ARCH_PAGE_1G, "PDPT entries map 1 GiB");

/* Whether entry `e` at `level` maps memory itself (a leaf: every PT entry, a PS entry
 * in a PD or PDPT) rather than naming the next table. Presence is the caller's test;
 * so is well-formedness (a PS bit in a PML4E is reserved: pt_entry_well_formed). */
static inline bool pte_is_leaf(pte_t e, int level)
{
    return level == 1 || (e & PTE_PS);
}

/* The first frame a leaf at `level` maps: its address, aligned to the leaf's size (a
 * huge leaf's bit 12 is PAT, not address). */
static inline phys_addr_t pte_leaf_frame(pte_t e, int level)
{
    return PTE_ADDR(e) & ~((UINT64_C(1) << PT_LEVEL_SHIFT(level)) - 1);
}

/* Store `val` into the entry at `ptep` (an 8-byte aligned direct-map pointer into a
 * table frame; in the sim any other pointer panics). Any CPU; callers serialise the
 * stores to one table (subsys/paging does). A release store: earlier writes (a new
 * table's zeroed entries) are done before the entry is. */
void arch_set_pte(pte_t *ptep, pte_t val);

/* Bracket a run of PTE stores and flushes (Linux's lazy MMU mode). Inside it the
 * sim may defer realising new translations and flushes until the end; nothing inside
 * may rely on a translation it just made. Brackets nest; in the sim an end without a
 * begin panics. No-ops on hardware. */
void arch_pte_batch_begin(void);
void arch_pte_batch_end(void);

/* Read an entry: a relaxed atomic load, whole even while hardware sets A/D bits. It
 * orders nothing. */
static inline pte_t arch_get_pte(const pte_t *ptep)
{
    return __atomic_load_n(ptep, __ATOMIC_RELAXED);
}

#endif
