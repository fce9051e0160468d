/* mem.c - the physical memory description on real x86_64 (from the PVH E820 map,
 * recorded by the boot path) and the direct map it set up. */
#include "x86.h"
#include <arch/mem.h>
#include <arch/panic.h>
#include <arch/pte.h>
#include "arch_internal.h"

#define MAX_RANGES 32

static struct arch_mem_range ranges[MAX_RANGES];
static size_t n_ranges;
static uint64_t ram_end; /* end of the highest RAM range reachable through the direct map */

void x86_mem_init(const struct arch_mem_range *r, size_t count)
{
    if (count > MAX_RANGES)
        arch_panic("x86_mem_init: %zu ranges, room for %d", count, MAX_RANGES);
    for (size_t i = 0; i < count; i++) {
        ranges[i] = r[i];
        if (r[i].base + r[i].size > ram_end)
            ram_end = r[i].base + r[i].size;
    }
    n_ranges = count;
}

const struct arch_mem_range *arch_mem_ranges(size_t *count)
{
    *count = n_ranges;
    return ranges;
}

bool arch_phys_is_ram(phys_addr_t pa, uint64_t len)
{
    if (pa + len < pa)
        return false;
    for (size_t i = 0; i < n_ranges; i++) {
        if (pa >= ranges[i].base && pa + len <= ranges[i].base + ranges[i].size)
            return true;
    }
    return false;
}

uintptr_t arch_direct_map_base(void)
{
    return X86_DIRECT_MAP_BASE;
}

void *arch_phys_to_virt(phys_addr_t pa)
{
    if (pa >= ram_end)
        arch_panic("arch_phys_to_virt: 0x%lx is not RAM (RAM ends at 0x%lx)", pa, ram_end);
    return (void *)(uintptr_t)(X86_DIRECT_MAP_BASE + pa);
}

void arch_phys_zero(phys_addr_t pa, uint64_t size)
{
    void *p = arch_phys_to_virt(pa);
    if (size > ram_end - pa) /* as the sim: the whole range inside what the direct map holds */
        arch_panic("arch_phys_zero: [0x%lx, +0x%lx) is not RAM", pa, size);
    __builtin_memset(p, 0, size);
}

phys_addr_t arch_virt_to_phys(const void *va)
{
    uint64_t off = (uintptr_t)va - X86_DIRECT_MAP_BASE;
    if (off >= ram_end)
        arch_panic("arch_virt_to_phys: %p is not in the direct map", va);
    return off;
}

struct arch_kva_window arch_kva_window(void)
{
    return (struct arch_kva_window){X86_KVA_BASE, X86_KVA_SIZE};
}

/* Hardware keeps no history: these only matter to the sim's reports. */
void arch_mm_annotate(uint64_t va, uint64_t size, const char *name)
{
    (void)va, (void)size, (void)name;
}

bool arch_mm_history(uint64_t va, const char *indent)
{
    (void)va, (void)indent;
    return false;
}

void arch_mm_frames(phys_addr_t pa, uint64_t size, bool in_use)
{
    (void)pa, (void)size, (void)in_use;
}

void arch_fault_history(const struct arch_fault *f)
{
    (void)f;
}

void arch_pte_batch_begin(void) {}

void arch_pte_batch_end(void) {}

/* ---- arch/debug.h: the bare build has no checkers, and no stack capture yet ---- */
#include <arch/console.h>
#include <arch/debug.h>

void arch_san_alloc(const void *p, size_t size, size_t redzone, bool zeroed)
{
    (void)p, (void)size, (void)redzone, (void)zeroed;
}

void arch_san_free(const void *p, size_t size)
{
    (void)p, (void)size;
}

void arch_san_poison(const void *p, size_t size)
{
    (void)p, (void)size;
}

void arch_san_unpoison(const void *p, size_t size)
{
    (void)p, (void)size;
}

void arch_san_no_return(void) {}

uint32_t arch_stack_capture(unsigned skip)
{
    (void)skip;
    return 0;
}

void arch_stack_print(uint32_t id, const char *indent)
{
    (void)id;
    kprintf("#%s(no backtrace in the bare build)\n", indent);
}

extern char __kernel_start[], __kernel_end[];

char *arch_describe_address(const void *p, char *buf, size_t size)
{
    uintptr_t a = (uintptr_t)p;
    for (unsigned i = 0; i < X86_N_STACKS; i++) {
        uintptr_t lo = (uintptr_t)x86_stacks[i].lo;
        if (a >= lo - ARCH_PAGE_4K && a < (uintptr_t)x86_stacks[i].hi) {
            ksnprintf(buf, size, a < lo ? "the guard page below the %s" : "the %s",
                      x86_stacks[i].name);
            return buf;
        }
    }
    if (a >= (uintptr_t)__kernel_start && a < (uintptr_t)__kernel_end)
        ksnprintf(buf, size, "the kernel image (a global)");
    else if (a - X86_DIRECT_MAP_BASE < ram_end)
        ksnprintf(buf, size, "the direct map (physical 0x%lx)", a - X86_DIRECT_MAP_BASE);
    else if (a - X86_KVA_BASE < X86_KVA_SIZE)
        ksnprintf(buf, size, "the kernel VA window");
    else
        ksnprintf(buf, size, "no known kernel memory");
    return buf;
}
