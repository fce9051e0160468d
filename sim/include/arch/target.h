/* arch/target.h (sim) - what the seam inlines, for the hosted build.
 * Chosen by include path: the bare build finds arch_stub/x86_64/include instead. */
#ifndef ARCH_TARGET_H
#define ARCH_TARGET_H

#include <setjmp.h>

/* The scheduler installs sim_sched_hook (deterministic mode); when it is NULL a
 * scheduling point costs one predictable branch. */
extern void (*volatile sim_sched_hook)(const volatile void *addr, int kind);

static inline void sim_sched_point(const volatile void *addr, int kind)
{
    void (*hook)(const volatile void *, int) = sim_sched_hook;
    if (__builtin_expect(hook != 0, 0))
        hook(addr, kind);
}

/* The simulated CPU this host thread runs as (sim_set_current_cpu). Local-exec: the
 * sim is linked into executables only, and arch_cpu_id is then one load. */
extern __thread unsigned sim_current_cpu __attribute__((tls_model("local-exec")));
#define ARCH_CPU_ID() (sim_current_cpu)

#define ARCH_SCHED_POINT(addr, kind) sim_sched_point((const volatile void *)(addr), (kind))

/* Lock events (arch/lockdep.h) go to the sim's lock tracker when one is installed. */
struct arch_lockdep_map;
extern void (*volatile sim_lock_hook)(int ev, const void *lock, const struct arch_lockdep_map *map,
                                      unsigned flags);
#define ARCH_LOCK_HOOK(ev, lock, map, flags)                                                       \
    do {                                                                                           \
        void (*hook_)(int, const void *, const struct arch_lockdep_map *, unsigned) =              \
            sim_lock_hook;                                                                         \
        if (__builtin_expect(hook_ != 0, 0))                                                       \
            hook_((ev), (lock), (map), (flags));                                                   \
    } while (0)

/* Non-local exit for the test harness (ASSERT stops a test case). */
typedef jmp_buf arch_jmp_buf;
#define arch_setjmp(b)     setjmp(b)
#define arch_longjmp(b, v) longjmp((b), (v))

#define ARCH_TARGET_NAME "sim"

#endif
