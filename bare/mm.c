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

/* ---- the kernel's own tables, built with subsys/paging ---- */

#include <arch/console.h>
#include <arch/fault.h>
#include <paging/paging.h>

extern char __text_start[], __text_end[], __rodata_start[], __rodata_end[], __data_start[];
extern char __stack_guard[], __kernel_end[];

struct kmap {
    const char *name;
    uint64_t va, pa, size, page_size;
    unsigned flags;
};

static struct kmap kmaps[12];
static unsigned n_kmaps;
static struct pg_space kernel_space;

static bool cpu_has_1g_pages(void)
{
    uint32_t a, b, c, d;
    __asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(0x80000001u), "c"(0));
    return (d >> 26) & 1;
}

static void kmap(const char *name, uint64_t va, uint64_t pa, uint64_t size, uint64_t page_size,
                 unsigned flags)
{
    if (!size)
        return;
    struct pg_ret r = pg_map_range(&kernel_space, va, pa, size, page_size, flags);
    if (r.err)
        arch_panic("bare_mm: mapping %s at 0x%lx: %s (0x%lx)", name, va, pg_strerror(r.err),
                   r.value);
    if (n_kmaps < sizeof(kmaps) / sizeof(kmaps[0]))
        kmaps[n_kmaps++] = (struct kmap){name, va, pa, size, page_size, flags};
}

/* Build the final tables with the mapper and switch to them. The boot tables above
 * stay valid until the CR3 write, so the frame allocator (which reaches its frames
 * through the direct map) works while the new ones are built. */
struct pg_space *bare_mm_final(uint64_t ram_end)
{
    if (frame_init() != PG_OK || va_init() != PG_OK)
        arch_panic("bare_mm: frame or virtual range allocator did not start");
    if (pg_space_create(&kernel_space, NULL) != PG_OK)
        arch_panic("bare_mm: no frame for the kernel's root table");
    uint64_t text = (uintptr_t)__text_start, rodata = (uintptr_t)__rodata_start;
    uint64_t data = (uintptr_t)__data_start, end = (uintptr_t)__kernel_end;
    const unsigned k = PG_UNTRACKED | PG_GLOBAL;
    kmap("text", text, text, (uintptr_t)__text_end - text, ARCH_PAGE_4K, k | PG_EXEC);
    kmap("rodata", rodata, rodata, (uintptr_t)__rodata_end - rodata, ARCH_PAGE_4K, k);
    /* .data and .bss, less the guard page below each stack: kernel.ld puts __stack_guard
     * below the boot stack and the exception stacks after it, each on its own guard. */
    if ((uintptr_t)x86_stacks[0].lo != (uintptr_t)__stack_guard + ARCH_PAGE_4K)
        arch_panic("bare_mm: the boot stack 0x%lx is not right above __stack_guard 0x%lx",
                   (uint64_t)(uintptr_t)x86_stacks[0].lo, (uint64_t)(uintptr_t)__stack_guard);
    uint64_t at = data;
    const char *name = "data+bss";
    for (unsigned i = 0; i < X86_N_STACKS; i++) {
        uint64_t guard = (uintptr_t)x86_stacks[i].lo - ARCH_PAGE_4K;
        if (guard < at || !ARCH_IS_ALIGNED(guard, ARCH_PAGE_4K))
            arch_panic("bare_mm: the %s's guard page 0x%lx is out of place", x86_stacks[i].name,
                       guard);
        kmap(name, at, at, guard - at, ARCH_PAGE_4K, k | PG_WRITE);
        at = guard + ARCH_PAGE_4K, name = x86_stacks[i].name;
    }
    uint64_t top = (uintptr_t)x86_stacks[X86_N_STACKS - 1].hi;
    kmap(name, at, at, top - at, ARCH_PAGE_4K, k | PG_WRITE);
    kmap("bss", top, top, end - top, ARCH_PAGE_4K, k | PG_WRITE);
    /* The direct map: 1 GiB pages where a whole aligned GiB fits and the CPU has them. */
    uint64_t ram = ARCH_ALIGN_UP(ram_end, ARCH_PAGE_2M);
    uint64_t gigs = cpu_has_1g_pages() ? ARCH_ALIGN_DOWN(ram, ARCH_PAGE_1G) : 0;
    kmap("direct map", X86_DIRECT_MAP_BASE, 0, gigs, ARCH_PAGE_1G, k | PG_WRITE);
    kmap("direct map", X86_DIRECT_MAP_BASE + gigs, gigs, ram - gigs, ARCH_PAGE_2M, k | PG_WRITE);
    /* The local APIC's registers, uncached, where they are (below 4 GiB, under no RAM). */
    phys_addr_t apic = x86_apic_base();
    kmap("local apic", apic, apic, ARCH_PAGE_4K, ARCH_PAGE_4K, PG_MMIO | PG_GLOBAL);
    arch_write_cr3(kernel_space.root);

    struct frame_stats fs;
    frame_get_stats(&fs);
    kprintf("# kernel mappings (root 0x%lx, %lu table frames):\n", kernel_space.root, fs.tables);
    for (unsigned i = 0; i < n_kmaps; i++) {
        const struct kmap *m = &kmaps[i];
        kprintf("#   %-10s 0x%016lx-0x%016lx -> 0x%09lx %s %c%c%c\n", m->name, m->va,
                m->va + m->size, m->pa,
                m->page_size == ARCH_PAGE_1G   ? "1G"
                : m->page_size == ARCH_PAGE_2M ? "2M"
                                               : "4K",
                'r', (m->flags & PG_WRITE) ? 'w' : '-', (m->flags & PG_EXEC) ? 'x' : '-');
    }
    for (unsigned i = 0; i < X86_N_STACKS; i++)
        kprintf("#   guard      0x%016lx (unmapped, below the %s)\n",
                (uint64_t)(uintptr_t)x86_stacks[i].lo - ARCH_PAGE_4K, x86_stacks[i].name);

    /* Check on the real MMU what was just promised: each of these must fault. */
    uint64_t v;
    struct arch_fault f;
    for (unsigned i = 0; i < X86_N_STACKS; i++) {
        uint64_t guard = (uintptr_t)x86_stacks[i].lo - ARCH_PAGE_4K;
        if (arch_probe_read64((void *)(uintptr_t)guard, &v, &f) ||
            f.reason != ARCH_FAULT_NOT_PRESENT)
            arch_panic("bare_mm: the %s's guard page 0x%lx is mapped", x86_stacks[i].name, guard);
    }
    if (arch_probe_write8(__text_start, 0x90, &f) || f.reason != ARCH_FAULT_NOT_WRITABLE)
        arch_panic("bare_mm: kernel text is writable");
    if (arch_probe_write8(__rodata_start, 0, &f) || f.reason != ARCH_FAULT_NOT_WRITABLE)
        arch_panic("bare_mm: kernel rodata is writable");
    kprintf("# kernel mappings checked: guard pages absent, text and rodata read-only\n");
    x86_irq_init((void *)(uintptr_t)apic);
    return &kernel_space;
}
