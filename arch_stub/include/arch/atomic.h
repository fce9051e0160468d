/* arch/atomic.h - atomics with an explicit memory order.
 *
 * Subsystems use these, never <stdatomic.h>: every operation passes through
 * ARCH_SCHED_POINT, which is nothing in the bare build and a scheduling point in the
 * sim, so a deterministic scheduler can switch CPUs at each one. They work on any
 * naturally aligned integer or pointer object (GCC/Clang __atomic builtins); a
 * misaligned one panics. Any CPU, any context. */
#ifndef ARCH_ATOMIC_H
#define ARCH_ATOMIC_H

#include <arch/types.h>
#include <arch/target.h> /* ARCH_SCHED_POINT(addr, kind): per build, by include path */

/* The C11 orders. Every use says what it orders against what. */
enum arch_memorder {
    ARCH_RELAXED = __ATOMIC_RELAXED, /* atomic only: orders nothing else */
    ARCH_ACQUIRE = __ATOMIC_ACQUIRE, /* loads, RMWs: later accesses stay after it, and see
                                        what came before the release it read from */
    ARCH_RELEASE = __ATOMIC_RELEASE, /* stores, RMWs: earlier accesses are done before it */
    ARCH_ACQ_REL = __ATOMIC_ACQ_REL, /* RMWs: both */
    ARCH_SEQ_CST = __ATOMIC_SEQ_CST, /* both, and one total order of all SEQ_CST operations:
                                        orders a store before a later load */
};

/* What a scheduling point is about to do, for the scheduler's bookkeeping; the
 * operand's size is in the bits above (ARCH_SP_SIZE), 0 for none. */
enum arch_sched_kind {
    ARCH_SP_LOAD,
    ARCH_SP_STORE,
    ARCH_SP_RMW,
    ARCH_SP_RELAX,
    ARCH_SP_YIELD,
    ARCH_SP_PREEMPT_OFF,
    ARCH_SP_PREEMPT_ON,
    ARCH_SP_IRQ,  /* interrupts went on: one pending, or raised now, may arrive here */
    ARCH_SP_HALT, /* arch_halt: the CPU waits for an interrupt */
};
/* The object's width: sizeof of its type, not of the expression, which for an atomic
 * pointer reads (to clang-tidy) as a sizeof(struct *) mistake. */
#define ARCH_ATOMIC_WIDTH(p) sizeof(__typeof__(*(p)))
#define ARCH_SP_SIZE(p)      ((int)ARCH_ATOMIC_WIDTH(p) << 8)

/* An atomic on a misaligned object is a bug in both builds: x86 turns a LOCKed one
 * into a split lock (a bus lock; #AC with split-lock detection) and a plain
 * __atomic load or store of it is not atomic at all. It panics, naming the address. */
ARCH_NORETURN void arch_atomic_misaligned(const volatile void *p, unsigned size);
#define ARCH_ATOMIC_ALIGNED(p)                                                                     \
    (__builtin_expect(((uintptr_t)(p) & (ARCH_ATOMIC_WIDTH(p) - 1)) != 0, 0)                       \
         ? arch_atomic_misaligned((p), ARCH_ATOMIC_WIDTH(p))                                       \
         : (void)0)

#define arch_atomic_load(p, mo)                                                                    \
    (ARCH_ATOMIC_ALIGNED(p), ARCH_SCHED_POINT((p), ARCH_SP_LOAD | ARCH_SP_SIZE(p)),                \
     __atomic_load_n((p), (mo)))
#define arch_atomic_store(p, v, mo)                                                                \
    do {                                                                                           \
        ARCH_ATOMIC_ALIGNED(p);                                                                    \
        ARCH_SCHED_POINT((p), ARCH_SP_STORE | ARCH_SP_SIZE(p));                                    \
        __atomic_store_n((p), (v), (mo));                                                          \
    } while (0)
#define arch_atomic_xchg(p, v, mo)                                                                 \
    (ARCH_ATOMIC_ALIGNED(p), ARCH_SCHED_POINT((p), ARCH_SP_RMW | ARCH_SP_SIZE(p)),                 \
     __atomic_exchange_n((p), (v), (mo)))
/* Strong compare-exchange: true and *p = desired if *p == *expected; otherwise false
 * and *expected = the value seen. mo_fail (a load) is neither RELEASE nor ACQ_REL and
 * no stronger than mo_ok. */
#define arch_atomic_cmpxchg(p, expected, desired, mo_ok, mo_fail)                                  \
    (ARCH_ATOMIC_ALIGNED(p), ARCH_SCHED_POINT((p), ARCH_SP_RMW | ARCH_SP_SIZE(p)),                 \
     __atomic_compare_exchange_n((p), (expected), (desired), false, (mo_ok), (mo_fail)))
#define arch_atomic_fetch_add(p, v, mo)                                                            \
    (ARCH_ATOMIC_ALIGNED(p), ARCH_SCHED_POINT((p), ARCH_SP_RMW | ARCH_SP_SIZE(p)),                 \
     __atomic_fetch_add((p), (v), (mo)))
#define arch_atomic_fetch_sub(p, v, mo)                                                            \
    (ARCH_ATOMIC_ALIGNED(p), ARCH_SCHED_POINT((p), ARCH_SP_RMW | ARCH_SP_SIZE(p)),                 \
     __atomic_fetch_sub((p), (v), (mo)))
#define arch_atomic_fetch_and(p, v, mo)                                                            \
    (ARCH_ATOMIC_ALIGNED(p), ARCH_SCHED_POINT((p), ARCH_SP_RMW | ARCH_SP_SIZE(p)),                 \
     __atomic_fetch_and((p), (v), (mo)))
#define arch_atomic_fetch_or(p, v, mo)                                                             \
    (ARCH_ATOMIC_ALIGNED(p), ARCH_SCHED_POINT((p), ARCH_SP_RMW | ARCH_SP_SIZE(p)),                 \
     __atomic_fetch_or((p), (v), (mo)))
/* A fence of order `mo`: ARCH_SEQ_CST orders every access before it against every
 * access after it; ARCH_ACQUIRE / ARCH_RELEASE are the C11 fences, paired with atomics
 * on the other side. */
#define arch_atomic_fence(mo)                                                                      \
    do {                                                                                           \
        ARCH_SCHED_POINT((void *)0, ARCH_SP_RMW);                                                  \
        __atomic_thread_fence(mo);                                                                 \
    } while (0)

/* An explicit scheduling point with no memory effect (a voluntary yield). */
#define arch_sched_yield() ARCH_SCHED_POINT((void *)0, ARCH_SP_YIELD)

/* Between these (they nest) the CPU is not switched away from: its atomics are not
 * scheduling points, as under preempt_disable. For code whose own interleavings are
 * tested elsewhere and whose internal points would otherwise vary from run to run
 * with its state (the heap's slow paths), which would make schedules unreplayable. */
#define arch_preempt_disable() ARCH_SCHED_POINT((void *)0, ARCH_SP_PREEMPT_OFF)
#define arch_preempt_enable()  ARCH_SCHED_POINT((void *)0, ARCH_SP_PREEMPT_ON)

#endif
