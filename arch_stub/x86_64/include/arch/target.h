/* arch/target.h (x86_64 bare) - what the seam inlines for the real machine.
 * Chosen by include path: the hosted build finds sim/include instead. */
#ifndef ARCH_TARGET_H
#define ARCH_TARGET_H

#include <stdint.h>

/* kernsim's bare kernel runs on the boot CPU only (no SMP bring-up yet). */
#define ARCH_CPU_ID() 0u

/* One CPU runs kernel code directly: a scheduling point is nothing. */
#define ARCH_SCHED_POINT(addr, kind)         ((void)(addr), (void)(kind))
/* No lock tracking on the real machine yet (lockdep there waits for backtraces). */
#define ARCH_LOCK_HOOK(ev, lock, map, flags) ((void)(ev), (void)(lock), (void)(map), (void)(flags))

/* Non-local exit for the test harness: rbx, rbp, r12-r15, rsp, rip. */
typedef uint64_t arch_jmp_buf[8];
int x86_setjmp(arch_jmp_buf b) __attribute__((returns_twice));
__attribute__((noreturn)) void x86_longjmp(arch_jmp_buf b, int v);
#define arch_setjmp(b)     x86_setjmp(b)
#define arch_longjmp(b, v) x86_longjmp((b), (v))

#define ARCH_TARGET_NAME "bare"

#endif
