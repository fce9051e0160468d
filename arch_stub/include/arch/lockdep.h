/* arch/lockdep.h - what locks tell the machine about themselves.
 *
 * A lock embeds a struct arch_lockdep_map naming it and its class (one static class
 * per place locks are defined, as in Linux). The lock calls arch_lock_event when it
 * starts to wait, when it has the lock and when it lets go. The sim uses the events
 * for deadlock reports (who waits for what, who holds it) and for lock-order checking
 * (lockdep); the bare build compiles them to nothing. */
#ifndef ARCH_LOCKDEP_H
#define ARCH_LOCKDEP_H

#include <arch/target.h>
#include <arch/types.h>

struct arch_lock_class {
    const char *name;
    unsigned id; /* given by the checker on first use; 0 before */
};

struct arch_lockdep_map {
    const char *name;            /* this lock, e.g. "dev->lock" */
    struct arch_lock_class *cls; /* its class */
};

enum arch_lock_event {
    ARCH_LOCK_ACQUIRE,  /* about to wait for the lock (order checked here) */
    ARCH_LOCK_ACQUIRED, /* holds it now */
    ARCH_LOCK_RELEASED, /* let go */
};

/* Flags of an event. */
#define ARCH_LOCK_SHARED 1u /* a read (shared) acquisition */
#define ARCH_LOCK_TRY    2u /* a try-lock: cannot deadlock, adds no order */

/* For lock implementations only, on the CPU doing it: ACQUIRE before waiting (not for
 * a try-lock), ACQUIRED once held, RELEASED before the store that lets go. `lock` is
 * the instance, `map` (which outlives it) its name and class. Nothing is returned; in
 * the sim a bad release or an order inversion is reported there.
 * ARCH_LOCK_HOOK comes from arch/target.h (per build). Always inlined: the hook's
 * stack capture counts the lock function as its caller's frame at every -O level. */
static inline __attribute__((always_inline)) void
arch_lock_event(enum arch_lock_event ev, const void *lock, const struct arch_lockdep_map *map,
                unsigned flags)
{
    ARCH_LOCK_HOOK(ev, lock, map, flags);
}

#endif
