/* fiber.c - the simulated CPUs' stacks, and the switch between them and the explorer.
 *
 * In a deterministic run every CPU is a fiber of the explorer's thread, with its own
 * stack at a fixed address (reports and heap layouts do not move between runs), below
 * the fake machine's RAM, in application memory for every sanitizer. A switch tells
 * every checker: ASan through its fiber calls, TSan through its fiber API with
 * hand-offs that synchronise only when asked (so a race between two CPUs is still a
 * race), Valgrind through stack registration, kernsim's stack walker through the
 * bounds it may read. */
#define _GNU_SOURCE
#include "sched_internal.h"
#include "sim_internal.h"
#include "san.h"
#include <arch/panic.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <valgrind/valgrind.h>

void sim_ctx_switch(void **save_sp, void *load_sp);

#define STACK_BASE  UINT64_C(0x565f00000000)
#define STACK_SIZE  SIM_FIBER_STACK_SIZE
#define STACK_GUARD UINT64_C(0x10000)

static struct {
    bool ready;
    struct {
        void *sp; /* saved stack pointer while switched out */
        uint8_t *lo;
        void *tsan;
    } f[SIM_SCHED_MAX_CPUS + 1]; /* the last: the explorer's (lo unused) */
    uintptr_t main_lo, main_hi;
} F;

int sim_fiber_init(void)
{
    if (F.ready)
        return 0;
    for (unsigned i = 0; i < SIM_SCHED_MAX_CPUS; i++) {
        uint8_t *base = (uint8_t *)(uintptr_t)(STACK_BASE + i * (STACK_SIZE + STACK_GUARD));
        void *m = mmap(base, STACK_GUARD + STACK_SIZE, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED_NOREPLACE, -1, 0);
        if (m != base) {
            fprintf(stderr, "kernsim sched: cannot map CPU stacks at %p: %s\n", (void *)base,
                    m == MAP_FAILED ? strerror(errno) : "address taken");
            if (m != MAP_FAILED)
                munmap(m, STACK_GUARD + STACK_SIZE);
            return -1;
        }
        mprotect(base, STACK_GUARD, PROT_NONE); /* an overflow faults instead of corrupting */
        F.f[i].lo = base + STACK_GUARD;
        VALGRIND_STACK_REGISTER(F.f[i].lo, F.f[i].lo + STACK_SIZE);
    }
    pthread_attr_t attr;
    void *b;
    size_t sz;
    if (pthread_getattr_np(pthread_self(), &attr) || pthread_attr_getstack(&attr, &b, &sz)) {
        fprintf(stderr, "kernsim sched: cannot find the explorer's own stack\n");
        return -1;
    }
    pthread_attr_destroy(&attr);
    F.main_lo = (uintptr_t)b, F.main_hi = (uintptr_t)b + sz;
    F.ready = true;
    return 0;
}

void sim_fiber_reset(unsigned cpu, bool resume, void (*body)(void))
{
    if (resume)
        return;
    /* A fresh mapping: no frames, and no shadow state from a fiber that used the stack
     * before (TSan resets its shadow on mmap; ASan is told). Under TSan the fiber is
     * new too: the old one's view of the stack holds the abandoned frames. */
    uint8_t *lo = F.f[cpu].lo;
    if (F.f[cpu].tsan && mmap(lo, STACK_SIZE, PROT_READ | PROT_WRITE,
                              MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1, 0) != lo)
        arch_panic("kernsim sched: cannot remap a CPU stack");
    if (__asan_unpoison_memory_region)
        __asan_unpoison_memory_region(lo, STACK_SIZE); /* frames abandoned mid-run */
    uintptr_t *top = (uintptr_t *)(lo + STACK_SIZE);
    *--top = 0;               /* body's return address: none */
    *--top = (uintptr_t)body; /* sim_ctx_switch returns here */
    for (int r = 0; r < 6; r++)
        *--top = 0; /* r15 r14 r13 r12 rbx rbp: rbp 0 ends stack walks */
    F.f[cpu].sp = top;
    if (__tsan_create_fiber) {
        if (F.f[cpu].tsan)
            __tsan_destroy_fiber(F.f[cpu].tsan);
        F.f[cpu].tsan = __tsan_create_fiber(0);
    }
}

void sim_fiber_begin(void)
{
    if (__sanitizer_finish_switch_fiber)
        __sanitizer_finish_switch_fiber(NULL, NULL, NULL);
    san_ignore_accesses(true); /* the body's bookkeeping, as after every switch */
}

static void switch_ctx(void **save, unsigned to, bool dying, bool sync)
{
    uintptr_t lo = F.main_lo;
    size_t size = F.main_hi - F.main_lo;
    if (to != SIM_FIBER_MAIN)
        lo = (uintptr_t)F.f[to].lo, size = STACK_SIZE;
    sim_stack_set_bounds(to == SIM_FIBER_MAIN ? 0 : lo, to == SIM_FIBER_MAIN ? 0 : lo + size);
    /* A CPU is never switched out with TSan's ignores on, so one abandoned by a failed
     * schedule can be destroyed cleanly. */
    san_ignore_accesses(false);
    void *fake = NULL;
    if (__sanitizer_start_switch_fiber)
        __sanitizer_start_switch_fiber(dying ? NULL : &fake, (const void *)lo, size);
    if (__tsan_switch_to_fiber)
        __tsan_switch_to_fiber(F.f[to].tsan, sync ? 0 : TSAN_SWITCH_NO_SYNC);
    sim_ctx_switch(save, F.f[to].sp);
    if (__sanitizer_finish_switch_fiber)
        __sanitizer_finish_switch_fiber(fake, NULL, NULL);
    san_ignore_accesses(true);
}

void sim_fiber_switch(unsigned from, unsigned to, bool sync)
{
    if (from == SIM_FIBER_MAIN && __tsan_get_current_fiber)
        F.f[SIM_FIBER_MAIN].tsan = __tsan_get_current_fiber();
    switch_ctx(&F.f[from].sp, to, false, sync);
}

void sim_fiber_abandon(void)
{
    void *dummy;
    switch_ctx(&dummy, SIM_FIBER_MAIN, true, true);
    __builtin_unreachable();
}

uint32_t sim_fiber_stack(unsigned cpu, uintptr_t fp)
{
    uintptr_t lo = (uintptr_t)F.f[cpu].lo;
    return sim_stack_capture_from(fp, lo, lo + STACK_SIZE);
}
