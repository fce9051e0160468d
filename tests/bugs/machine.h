/* machine.h - the kernel the memory bug programs run in: the sim booted, then the
 * checked heap and paging, in the order the bare kernel starts them. */
#ifndef BUG_MACHINE_H
#define BUG_MACHINE_H

#include <arch/cpu.h>
#include <heap/heap.h>
#include <paging/paging.h>

/* Boot with the checking heap (kmachine_boot), once, and make stdout unbuffered; on
 * failure print why and exit 2. Returns the kernel's address space. */
struct pg_space *bug_boot(void);

/* The end of a bug program, once no other CPU uses the heap: flush the heap's
 * quarantine (a block written after its free is found there), then count what the
 * heap and the sim reported. Prints one line and returns the exit status: 1 if
 * anything was reported, 0 if not (so a test expecting the failure notices a bug that
 * went unseen), 3 if the heap's metadata no longer checks out (heap_valid). */
int bug_finish(const char *name);

#endif
