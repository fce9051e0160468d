/* mm.c - the kernel's own tables, replacing the boot identity map: an identity map
 * of the first GiB (page 0 left out, so NULL faults) for the kernel image, stacks
 * and boot data, and the direct map of all RAM (below 4 GiB) at X86_DIRECT_MAP_BASE. */
#include "../arch_stub/x86_64/x86.h"
#include <arch/cpu.h>
#include <arch/panic.h>
#include <arch/pte.h>

#define PT_SECTION __attribute__((section(".bss.pagetables"), aligned(4096)))

static pte_t pml4[512] PT_SECTION;
static pte_t id_pdpt[512] PT_SECTION;
static pte_t id_pd[512] PT_SECTION;
static pte_t id_pt[512] PT_SECTION;
static pte_t dm_pdpt[512] PT_SECTION;
static pte_t dm_pd[4][512] PT_SECTION;

static phys_addr_t pa_of(const void *p)
{
    return (uintptr_t)p; /* the image is identity mapped */
}

void bare_mm_init(uint64_t ram_end)
{
    if (ram_end > X86_DIRECT_MAP_MAX)
        ram_end = X86_DIRECT_MAP_MAX; /* documented limit: 4 GiB of RAM */
    for (unsigned i = 1; i < 512; i++)
        id_pt[i] = (i * ARCH_PAGE_4K) | PTE_P | PTE_W;
    id_pd[0] = pa_of(id_pt) | PTE_P | PTE_W;
    for (unsigned i = 1; i < 512; i++)
        id_pd[i] = (i * ARCH_PAGE_2M) | PTE_P | PTE_W | PTE_PS;
    id_pdpt[0] = pa_of(id_pd) | PTE_P | PTE_W;
    pml4[0] = pa_of(id_pdpt) | PTE_P | PTE_W;

    uint64_t n2m = ARCH_ALIGN_UP(ram_end, ARCH_PAGE_2M) / ARCH_PAGE_2M;
    for (uint64_t i = 0; i < n2m; i++)
        dm_pd[i / 512][i % 512] = (i * ARCH_PAGE_2M) | PTE_P | PTE_W | PTE_PS | PTE_NX;
    for (unsigned j = 0; j < 4; j++)
        dm_pdpt[j] = pa_of(dm_pd[j]) | PTE_P | PTE_W;
    pml4[PT_INDEX(X86_DIRECT_MAP_BASE, 4)] = pa_of(dm_pdpt) | PTE_P | PTE_W;
    __asm__ volatile("mov %0, %%cr3" ::"r"(pa_of(pml4)) : "memory");
}
