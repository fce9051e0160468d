/* sim/unwind.h - the hosted platform for subsys/unwind: which module's tables cover a
 * pc (asked of the dynamic linker), and a stack reader that refuses anything outside
 * the stack the caller runs on. */
#ifndef SIM_UNWIND_H
#define SIM_UNWIND_H

#include <unwind/unwind.h>

/* The tables of the loaded module whose text holds pc, or NULL (no module, one
 * without tables, or 64 modules cached already). Thread-safe. A table found is cached
 * for the process's life: a module must not be unloaded once it was asked about. */
const struct unw_table *sim_unwind_lookup(uint64_t pc);

/* Reads inside the current stack (the host thread's, or the CPU fiber's) only; any
 * other address is refused (false). */
extern const struct unw_mem sim_unwind_stack_mem;

#endif
