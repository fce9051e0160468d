/* arch_internal.h - what the seam's two implementations share with its common code.
 * Not for subsystems: they see only arch/. */
#ifndef ARCH_INTERNAL_H
#define ARCH_INTERNAL_H

#include <arch/fault.h>
#include <arch/ptwalk.h>

/* Count the fault, print its report as KTAP diagnostics, and run the kernel's hook.
 * `attempt` is how many times this same access has already been retried. */
enum arch_fault_action arch_fault_dispatch(const struct arch_fault *f, unsigned attempt);

/* Fill a fault from a walk of the current tables. */
void arch_fault_from_walk(struct arch_fault *f, uint64_t va, enum arch_access access, uint64_t ip);

/* Fill a fault from walk `w` of `root` that refused (or, reason NONE, allowed) it: the
 * one place a fault record is built from a walk. A non-canonical address names no
 * level and no entry. */
void arch_fault_from_pt_walk(struct arch_fault *f, const struct pt_walk *w, phys_addr_t root,
                             uint64_t va, enum arch_access access, uint64_t ip);

/* What a #PF error code says the access was: an instruction fetch (I/D, bit 4), a
 * write (W/R, bit 1) or a read. */
static inline enum arch_access arch_fault_access_of(uint64_t error_code)
{
    return (error_code & 16)  ? ARCH_ACCESS_EXEC
           : (error_code & 2) ? ARCH_ACCESS_WRITE
                              : ARCH_ACCESS_READ;
}

/* The retry bound: how many times in a row one CPU's access at the same address has
 * faulted, so a hook that answers "retry" without fixing anything ends as unhandled
 * after ARCH_FAULT_MAX_RETRIES instead of looping. */
struct arch_fault_retry {
    uint64_t va; /* the last faulting address; 0 after a fault that was not retried */
    unsigned n;
};

/* Count a fault at va; returns how many times it was retried before this one. */
static inline unsigned arch_fault_retry_note(struct arch_fault_retry *r, uint64_t va)
{
    r->n = va == r->va ? r->n + 1 : 0;
    r->va = va;
    return r->n;
}

/* Print what the build knows of the faulting page's past (the sim: where it was mapped
 * and unmapped, and by which region), as KTAP diagnostics. */
void arch_fault_history(const struct arch_fault *f);

#define ARCH_FAULT_MAX_RETRIES 8

#endif
