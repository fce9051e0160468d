/* arch_internal.h - what the seam's two implementations share with its common code.
 * Not for subsystems: they see only arch/. */
#ifndef ARCH_INTERNAL_H
#define ARCH_INTERNAL_H

#include <arch/fault.h>

/* Count the fault, print its report as KTAP diagnostics, and run the kernel's hook.
 * `attempt` is how many times this same access has already been retried. */
enum arch_fault_action arch_fault_dispatch(const struct arch_fault *f, unsigned attempt);

/* Fill a fault from a walk of the current tables. */
void arch_fault_from_walk(struct arch_fault *f, uint64_t va, enum arch_access access, uint64_t ip);

/* Print what the build knows of the faulting page's past (the sim: where it was mapped
 * and unmapped, and by which region), as KTAP diagnostics. */
void arch_fault_history(const struct arch_fault *f);

#define ARCH_FAULT_MAX_RETRIES 8

#endif
