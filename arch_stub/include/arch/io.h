/* arch/io.h - MMIO accessors and x86 port I/O.
 *
 * Drivers reach device registers only through these. `addr` is a kernel virtual
 * address inside a mapping of the device's physical registers (mapped uncached).
 * In the bare build they are single volatile accesses of exactly that width; in the
 * sim they translate `addr` through the simulated MMU and reach the device model
 * registered at the physical address (an unmapped address is a page fault).
 * Accesses must be naturally aligned. Any CPU, any context. */
#ifndef ARCH_IO_H
#define ARCH_IO_H

#include <arch/types.h>

/* In the sim a misaligned access, or a page fault the hook does not fix, panics; an
 * address no device decodes reads all ones and drops writes (with a "#" line), and
 * one in RAM is a plain access. */
uint8_t arch_mmio_read8(const volatile void *addr);
uint16_t arch_mmio_read16(const volatile void *addr);
uint32_t arch_mmio_read32(const volatile void *addr);
uint64_t arch_mmio_read64(const volatile void *addr);
void arch_mmio_write8(volatile void *addr, uint8_t v);
void arch_mmio_write16(volatile void *addr, uint16_t v);
void arch_mmio_write32(volatile void *addr, uint32_t v);
void arch_mmio_write64(volatile void *addr, uint64_t v);

/* In the sim a port no device answers reads all ones and drops writes. */
uint8_t arch_inb(uint16_t port);
uint16_t arch_inw(uint16_t port);
uint32_t arch_inl(uint16_t port);
void arch_outb(uint16_t port, uint8_t v);
void arch_outw(uint16_t port, uint16_t v);
void arch_outl(uint16_t port, uint32_t v);

#endif
