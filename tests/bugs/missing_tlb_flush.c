/* missing_tlb_flush.c - a per-CPU scratch mapping (kmap_atomic style) is pointed at
 * another frame by rewriting its PTE in place, without invlpg. The CPU keeps using
 * the old translation, so the copy reads the previous frame. Found by the sim's TLB in
 * strict mode: the first use of the stale translation is reported with the page's
 * history (where the PTE was last written). Hardware would silently read stale data. */
#include "machine.h"
#include <arch/ptwalk.h>
#include <arch/mem.h>
#include <sim/sim.h>
#include <stdio.h>
#include <string.h>

static uint64_t scratch_va;

__attribute__((noinline)) static void scratch_init(struct pg_space *as, phys_addr_t first)
{
    scratch_va = va_alloc(ARCH_PAGE_4K, ARCH_PAGE_4K).value;
    pg_map_4k(as, PAGE_4K(scratch_va), FRAME_4K(first), PG_WRITE);
}

/* Point the scratch page at frame pa: a "fast" retarget that skips the mapper. */
__attribute__((noinline)) static void scratch_retarget(phys_addr_t pa)
{
    struct pt_walk w;
    pt_walk(arch_read_cr3(), scratch_va, ARCH_ACCESS_READ, &w);
    pte_t *pte = (pte_t *)arch_phys_to_virt(w.table[1]) + PT_INDEX(scratch_va, 1);
    arch_set_pte(pte, (arch_get_pte(pte) & ~PTE_ADDR_MASK) | pa);
    /* the bug: no arch_invlpg((void *)scratch_va) */
}

__attribute__((noinline)) static void copy_from_frame(phys_addr_t pa, char *out, size_t n)
{
    scratch_retarget(pa);
    memcpy(out, (const void *)(uintptr_t)scratch_va, n);
}

int main(void)
{
    struct pg_space *as = bug_boot();
    sim_set_strict_tlb(true);
    phys_addr_t a = frame_alloc(ARCH_PAGE_4K).value, b = frame_alloc(ARCH_PAGE_4K).value;
    strcpy(arch_phys_to_virt(a), "frame A");
    strcpy(arch_phys_to_virt(b), "frame B");
    scratch_init(as, a);
    char got[8];
    copy_from_frame(b, got, sizeof(got));
    printf("read \"%s\" through the scratch page (wanted \"frame B\")\n", got);
    return bug_finish("missing_tlb_flush");
}
