/* sim/lockdep.h - the sim's lock checker: every spin and rw lock operation of the
 * kernel reaches it through ARCH_LOCK_HOOK (arch/target.h), which it owns. Reports
 * (a lock-order inversion, a release of a lock not held, a deadlock's holders) fail a
 * deterministic run, and print and panic outside one.
 *
 * The switches below are plain stores: set them while no CPU takes or releases a lock
 * (before a test's CPUs start). sim_boot reads KERNSIM_LOCKDEP (0: tracking off);
 * sim_explore turns tracking on and sets order checking as its options say while it
 * explores, and gives the caller's settings back when it returns. */
#ifndef SIM_LOCKDEP_H
#define SIM_LOCKDEP_H

#include <stdbool.h>

/* Lock tracking and lock-order checking (lockdep). On by default; benchmarks turn it
 * off to measure the locks alone, as kernels build without lock proving. */
void sim_lockdep_enable(bool on);
/* Check the order of lock classes (on by default; tracking alone still names holders). */
void sim_lockdep_check_order(bool on);
/* How many frames of each acquisition's and release's stack lockdep keeps for its
 * reports: 0 (the default) keeps them all, 1 only the call that took or released the
 * lock. Every check stays; a fuzzer that takes a lock thousands of times an input sets
 * 1, as the capture is most of what a lock costs it. */
void sim_lockdep_stack_depth(unsigned frames);

#endif
