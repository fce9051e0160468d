/* arch/irq.h - interrupts: a handler per vector, lines masked and acknowledged, IPIs
 * to other CPUs, and each CPU's local timer.
 *
 * The model is the x86 local APIC's. Vectors ARCH_IRQ_FIRST .. ARCH_IRQ_LAST may have
 * handlers (0..31 are exceptions; 255 is the APIC's spurious vector). An interrupt
 * raised on a CPU is pending there until that CPU has interrupts enabled
 * (arch_irq_enable) and no handler of its priority class (vector / 16) or a higher one
 * is in service; then the highest pending vector is delivered: interrupts are disabled,
 * the handler runs on that CPU, nested inside whatever it interrupted, and when it
 * returns they are enabled again. A handler acknowledges its interrupt with
 * arch_irq_eoi before it returns (until then its class and every lower one stay
 * blocked on that CPU); it may enable interrupts itself to let higher classes in.
 * Raising a vector that is already pending on the CPU merges with it (one delivery).
 *
 * Where an interrupt can arrive, per build: on hardware between any two instructions
 * with interrupts enabled. In the sim's deterministic scheduler at every scheduling
 * point and when a CPU enables interrupts, as the strategy chooses; outside it at
 * arch_irq_enable/restore, arch_cpu_relax, arch_halt and arch_safe_halt of the CPU it
 * was raised on.
 *
 * Handlers run in interrupt context (arch_in_irq): they must not halt, block or take
 * a lock that the code they interrupted may hold on the same CPU (take such a lock
 * with spin_lock_irqsave everywhere else). */
#ifndef ARCH_IRQ_H
#define ARCH_IRQ_H

#include <arch/types.h>

#define ARCH_IRQ_FIRST 32u
#define ARCH_IRQ_LAST  254u

typedef void (*arch_irq_handler_t)(unsigned vector, void *ctx);

/* Install fn(vector, ctx) for `vector` on every CPU, unmasked. 0; -1 with a message on
 * the console (nothing changed) for a vector outside FIRST..LAST, a NULL fn, or a
 * vector that has a handler already. */
int arch_irq_register(unsigned vector, arch_irq_handler_t fn, void *ctx);
/* Remove the handler: the vector is free again and its pending interrupts on every CPU
 * are dropped. 0; -1 with a message if it has none. Not from its own handler. */
int arch_irq_unregister(unsigned vector);

/* Mask or unmask the line `vector` on every CPU: a masked vector's interrupts stay
 * pending (they are not lost) until it is unmasked. A vector outside FIRST..LAST is
 * ignored with a message. */
void arch_irq_mask(unsigned vector);
void arch_irq_unmask(unsigned vector);

/* Acknowledge the highest-priority interrupt in service on this CPU (the one whose
 * handler is running). With none in service it does nothing. */
void arch_irq_eoi(void);

/* Raise `vector` on CPU `cpu` (which may be this one: a self-IPI). 0; -1 with a message
 * for a CPU that does not exist or a vector outside FIRST..LAST. */
int arch_ipi_send(unsigned cpu, unsigned vector);
/* Raise `vector` on every CPU but this one. 0, or -1 as arch_ipi_send. */
int arch_ipi_send_others(unsigned vector);

/* Whether this CPU is running an interrupt handler (at any nesting depth). */
bool arch_in_irq(void);

/* This CPU's local timer: raise `vector` on this CPU after `ticks` ticks, then, if
 * periodic, every `ticks` ticks until stopped. A tick is per build: the local APIC
 * timer's count (bare), one scheduling point of this CPU (the sim's deterministic
 * scheduler) or one arch_cpu_relax (the sim otherwise); a CPU halted with the timer
 * running is woken by its expiry in every build. Restarting replaces the previous
 * setting. 0; -1 with a message for ticks 0 or a vector outside FIRST..LAST. */
int arch_timer_start(unsigned vector, uint64_t ticks, bool periodic);
void arch_timer_stop(void);

#endif
