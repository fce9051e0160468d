/* io.c - MMIO and port I/O on real x86_64: one access of exactly the named width. */
#include <arch/io.h>
#include <arch/pte.h>

uint8_t arch_mmio_read8(const volatile void *a)
{
    return *(const volatile uint8_t *)a;
}
uint16_t arch_mmio_read16(const volatile void *a)
{
    return *(const volatile uint16_t *)a;
}
uint32_t arch_mmio_read32(const volatile void *a)
{
    return *(const volatile uint32_t *)a;
}
uint64_t arch_mmio_read64(const volatile void *a)
{
    return *(const volatile uint64_t *)a;
}
void arch_mmio_write8(volatile void *a, uint8_t v)
{
    *(volatile uint8_t *)a = v;
}
void arch_mmio_write16(volatile void *a, uint16_t v)
{
    *(volatile uint16_t *)a = v;
}
void arch_mmio_write32(volatile void *a, uint32_t v)
{
    *(volatile uint32_t *)a = v;
}
void arch_mmio_write64(volatile void *a, uint64_t v)
{
    *(volatile uint64_t *)a = v;
}

uint8_t arch_inb(uint16_t port)
{
    uint8_t v;
    __asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
    return v;
}

uint16_t arch_inw(uint16_t port)
{
    uint16_t v;
    __asm__ volatile("inw %1, %0" : "=a"(v) : "Nd"(port));
    return v;
}

uint32_t arch_inl(uint16_t port)
{
    uint32_t v;
    __asm__ volatile("inl %1, %0" : "=a"(v) : "Nd"(port));
    return v;
}

void arch_outb(uint16_t port, uint8_t v)
{
    __asm__ volatile("outb %0, %1" ::"a"(v), "Nd"(port));
}

void arch_outw(uint16_t port, uint16_t v)
{
    __asm__ volatile("outw %0, %1" ::"a"(v), "Nd"(port));
}

void arch_outl(uint16_t port, uint32_t v)
{
    __asm__ volatile("outl %0, %1" ::"a"(v), "Nd"(port));
}

/* On hardware a PTE store is one 64-bit store; nothing else needs to know. */
void arch_set_pte(pte_t *ptep, pte_t val)
{
    __atomic_store_n(ptep, val, __ATOMIC_RELEASE);
}
