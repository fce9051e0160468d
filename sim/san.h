/* san.h - the sanitizer runtimes' entry points the sim calls, declared once. Each is
 * weak: NULL when its runtime is not linked, so one build of the sim serves every
 * preset (a caller tests the pointer before it calls). */
#ifndef SIM_SAN_H
#define SIM_SAN_H

#include <stdbool.h>
#include <stddef.h>

#define SAN_WEAK __attribute__((weak))

/* AddressSanitizer. */
void __asan_poison_memory_region(const volatile void *p, size_t size) SAN_WEAK;
void __asan_unpoison_memory_region(const volatile void *p, size_t size) SAN_WEAK;
void __asan_handle_no_return(void) SAN_WEAK;
void __asan_set_error_report_callback(void (*cb)(const char *)) SAN_WEAK;
void *__asan_get_report_address(void) SAN_WEAK;

/* MemorySanitizer. */
void __msan_poison(const volatile void *p, size_t size) SAN_WEAK;
void __msan_allocated_memory(const volatile void *p, size_t size) SAN_WEAK;
void __msan_unpoison(const volatile void *p, size_t size) SAN_WEAK;

/* ThreadSanitizer. */
void __tsan_init(void) SAN_WEAK;
void *__tsan_get_current_fiber(void) SAN_WEAK;
void *__tsan_create_fiber(unsigned flags) SAN_WEAK;
void __tsan_destroy_fiber(void *fiber) SAN_WEAK;
void __tsan_switch_to_fiber(void *fiber, unsigned flags) SAN_WEAK;
void __tsan_ignore_thread_begin(void) SAN_WEAK;
void __tsan_ignore_thread_end(void) SAN_WEAK;
void __tsan_acquire(void *addr) SAN_WEAK;
void __tsan_release(void *addr) SAN_WEAK;
void AnnotateIgnoreSyncBegin(const char *file, int line) SAN_WEAK;
void AnnotateIgnoreSyncEnd(const char *file, int line) SAN_WEAK;
#define TSAN_SWITCH_NO_SYNC 1u /* __tsan_switch_to_fiber's flag: no happens-before edge */

/* Every runtime: fiber switches, stacks, symbols. */
void __sanitizer_start_switch_fiber(void **fake_stack_save, const void *bottom,
                                    size_t size) SAN_WEAK;
void __sanitizer_finish_switch_fiber(void *fake_stack_save, const void **bottom_old,
                                     size_t *size_old) SAN_WEAK;
void __sanitizer_print_stack_trace(void) SAN_WEAK;
void __sanitizer_symbolize_pc(void *pc, const char *fmt, char *out, size_t out_size) SAN_WEAK;

/* The two ways the sim keeps its own work out of ThreadSanitizer's sight.
 *
 * san_hide(true) .. san_hide(false): the calling thread's accesses and its
 * synchronisation both, for the sim's bookkeeping that every CPU shares (lockdep's
 * tables, the stack depot): TSan would report the bookkeeping, and its locks would
 * order the CPUs that the kernel's own locks do not, hiding real races.
 *
 * san_ignore_accesses(true) .. (false): accesses only; synchronisation stays seen. For
 * the scheduler's state, whose hand-offs carry the happens-before edges they mean to
 * (or are switched with TSAN_SWITCH_NO_SYNC where they must not). */
static inline void san_hide(bool on)
{
    if (!__tsan_ignore_thread_begin)
        return;
    if (on) {
        __tsan_ignore_thread_begin();
        AnnotateIgnoreSyncBegin(__FILE__, __LINE__);
    } else {
        AnnotateIgnoreSyncEnd(__FILE__, __LINE__);
        __tsan_ignore_thread_end();
    }
}

static inline void san_ignore_accesses(bool on)
{
    if (on && __tsan_ignore_thread_begin)
        __tsan_ignore_thread_begin();
    else if (!on && __tsan_ignore_thread_end)
        __tsan_ignore_thread_end();
}

#endif
