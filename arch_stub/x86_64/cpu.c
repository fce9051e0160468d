/* cpu.c - CPU control on real x86_64. */
#include "x86.h"
#include <arch/cpu.h>
#include <arch/panic.h>

phys_addr_t arch_read_cr3(void)
{
    uint64_t v;
    __asm__ volatile("mov %%cr3, %0" : "=r"(v));
    return v & ~UINT64_C(0xfff);
}

void arch_write_cr3(phys_addr_t root)
{
    if (!ARCH_IS_ALIGNED(root, ARCH_PAGE_4K) || !arch_phys_is_ram(root, ARCH_PAGE_4K))
        arch_panic("arch_write_cr3: 0x%lx is not a 4 KiB aligned RAM frame", root);
    __asm__ volatile("mov %0, %%cr3" ::"r"(root) : "memory");
}

void arch_invlpg(const void *va)
{
    __asm__ volatile("invlpg (%0)" ::"r"(va) : "memory");
}

/* One CPU runs the bare kernel: the shootdown is local. (With the application
 * processors booted, the others get an IPI and are waited for.) */
void arch_tlb_shootdown(const void *va, uint64_t len)
{
    uint64_t lo = ARCH_ALIGN_DOWN((uintptr_t)va, ARCH_PAGE_4K), hi = (uintptr_t)va + len;
    if (!len || hi < lo)
        return;
    for (uint64_t a = lo; a < hi; a += ARCH_PAGE_4K)
        arch_invlpg((const void *)(uintptr_t)a);
}

uint64_t x86_read_cr2(void)
{
    uint64_t v;
    __asm__ volatile("mov %%cr2, %0" : "=r"(v));
    return v;
}

static uint64_t read_flags(void)
{
    uint64_t f;
    __asm__ volatile("pushfq; popq %0" : "=r"(f)::"memory");
    return f;
}

#define RFLAGS_IF (UINT64_C(1) << 9)

arch_irqflags_t arch_irq_save(void)
{
    uint64_t f = read_flags();
    __asm__ volatile("cli" ::: "memory");
    return (f & RFLAGS_IF) ? 1 : 0;
}

void arch_irq_restore(arch_irqflags_t flags)
{
    if (flags)
        __asm__ volatile("sti" ::: "memory");
    else
        __asm__ volatile("cli" ::: "memory");
}

void arch_irq_enable(void)
{
    __asm__ volatile("sti" ::: "memory");
}

void arch_irq_disable(void)
{
    __asm__ volatile("cli" ::: "memory");
}

bool arch_irqs_enabled(void)
{
    return (read_flags() & RFLAGS_IF) != 0;
}

void arch_cpu_relax(void)
{
    __asm__ volatile("pause" ::: "memory");
}

void arch_halt(void)
{
    __asm__ volatile("hlt" ::: "memory");
}

void arch_safe_halt(void)
{
    __asm__ volatile("sti; hlt" ::: "memory"); /* sti's interrupt shadow covers the hlt */
}

unsigned arch_cpu_count(void)
{
    return 1;
}
