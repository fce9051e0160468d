/* debug.c - arch/debug.h in the sim: stacks, what an address is, and the reports'
 * count (the checkers' client interfaces are san.c's). */
#define _GNU_SOURCE
#include "sim_internal.h"
#include "san.h"
#include <arch/console.h>
#include <arch/debug.h>
#include <dlfcn.h>
#include <pthread.h>
#include <string.h>
#include <valgrind/memcheck.h>

/* AddressSanitizer knows an address was poisoned, not which kernel-heap block it is
 * in: after its report, before it exits, let the describers say (sim_debug_init). */
static void asan_reported(const char *report)
{
    (void)report;
    void *addr = __asan_get_report_address ? __asan_get_report_address() : NULL;
    if (addr) {
        kprintf("# kernsim: what AddressSanitizer's address %p is:\n", addr);
        if (!arch_describe(addr, "   "))
            kprintf("#   nothing the kernel knows of\n");
    }
}

void sim_debug_init(void)
{
    if (__asan_set_error_report_callback)
        __asan_set_error_report_callback(asan_reported);
}

__attribute__((noinline)) uint32_t arch_stack_capture(unsigned skip)
{
    return sim_stack_capture(skip + 1);
}

void arch_stack_print(uint32_t id, const char *indent)
{
    sim_stack_print(id, indent);
}

char *arch_describe_address(const void *p, char *buf, size_t size)
{
    uintptr_t a = (uintptr_t)p, stack_lo, stack_hi;
    Dl_info info;
    const char *sym;
    uint64_t off;
    if (a - SIM_DIRECT_MAP_BASE < sim_machine.ram_size) {
        ksnprintf(buf, size, "the direct map (physical 0x%lx)", a - SIM_DIRECT_MAP_BASE);
    } else if (sim_in_window(a)) {
        ksnprintf(buf, size, "the kernel VA window, outside the heap");
    } else if ((sim_stack_bounds(&stack_lo, &stack_hi), a - stack_lo < stack_hi - stack_lo)) {
        /* cached bounds, the running fiber's in a deterministic run: no allocation, so
         * a fault handler's report may ask */
        ksnprintf(buf, size, "the current thread's stack");
    } else if ((sym = sim_symbolize(a, &off)) != NULL) { /* .symtab, then the dynamic linker */
        ksnprintf(buf, size, "the global '%s'+0x%lx", sym, (unsigned long)off);
    } else if (dladdr(p, &info) && info.dli_fname) {
        const char *mod = strrchr(info.dli_fname, '/');
        ksnprintf(buf, size, "static data of %s", mod ? mod + 1 : info.dli_fname);
    } else {
        ksnprintf(buf, size, "host memory not from the kernel heap (another allocator?)");
    }
    return buf;
}

static uint64_t reports;
static bool report_output = true;

void sim_set_report_output(bool on)
{
    report_output = on;
}

bool sim_count_report(void)
{
    __atomic_fetch_add(&reports, 1, __ATOMIC_RELAXED);
    return report_output;
}

uint64_t sim_report_count(void)
{
    return __atomic_load_n(&reports, __ATOMIC_RELAXED);
}
