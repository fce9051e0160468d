/* arch/cpu.h - CPU control: address-space root, TLB, interrupts, spinning.
 *
 * Callable from any kernel context. In the sim every CPU shares one host address
 * space, so arch_write_cr3 switches the active tables for all simulated CPUs. */
#ifndef ARCH_CPU_H
#define ARCH_CPU_H

#include <arch/target.h>
#include <arch/types.h>

/* The physical address of the active top-level (PML4) table, flag bits cleared. */
phys_addr_t arch_read_cr3(void);

/* Load a new top-level table. Flushes every (non-global) TLB entry, as on hardware:
 * changes made to the tables without invlpg take effect here. `root` must be 4 KiB
 * aligned RAM holding a valid PML4; one that is not aligned RAM panics. */
void arch_write_cr3(phys_addr_t root);

/* Drop the TLB entry that translates `va` (of whatever page size covers it). Until
 * this (or a CR3 write), clearing or downgrading a PTE has no effect. */
void arch_invlpg(const void *va);

/* Drop the translations of [va, va+len) from the TLB of every CPU that may cache them,
 * and return when each has (a TLB shootdown: invlpg here, an IPI to the others). Each
 * CPU's TLB is its own: arch_invlpg alone leaves the others using the old
 * translations, which the sim reports at their next use. len 0 does nothing. */
void arch_tlb_shootdown(const void *va, uint64_t len);

typedef uint64_t arch_irqflags_t;

/* Disable interrupts on this CPU and return the previous state for arch_irq_restore,
 * which puts back exactly that state (nonzero: enabled). They nest as saves and
 * restores do. A CPU starts with interrupts disabled. */
arch_irqflags_t arch_irq_save(void);
void arch_irq_restore(arch_irqflags_t flags);
void arch_irq_enable(void);
void arch_irq_disable(void);
bool arch_irqs_enabled(void);

/* Spin-wait hint (PAUSE). A scheduling point in the sim. */
void arch_cpu_relax(void);

/* Wait for the next interrupt. With interrupts disabled this never returns on
 * hardware; the sim reports that as a hang and panics. */
void arch_halt(void);

/* Enable interrupts and wait for the next one, with nothing delivered in between
 * (x86's sti; hlt: the instruction after sti runs before any interrupt). An idle loop
 * checks for work with interrupts disabled and then calls this: an interrupt raised
 * after the check wakes the halt instead of arriving before it. arch_irq_enable
 * followed by arch_halt is not that (an interrupt may come between the two, and the
 * halt then waits for the next one). Returns with interrupts enabled. Not in an
 * interrupt handler (the sim panics, as arch_halt does). */
void arch_safe_halt(void);

/* Index of the executing CPU, 0 .. arch_cpu_count()-1. Inline: allocators ask for
 * it on every call (ARCH_CPU_ID comes from arch/target.h, per build). The count is
 * fixed once the machine is up (the bare build: 1; the sim: 1 before sim_boot). */
static inline unsigned arch_cpu_id(void)
{
    return ARCH_CPU_ID();
}
unsigned arch_cpu_count(void);

#endif
