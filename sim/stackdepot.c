/* stackdepot.c - the sim's stack depot: every stack a report may show (a mapping, a
 * free, a lock acquisition, a fault), captured by frame pointers, interned once as a
 * 32-bit id, and formatted on demand with the best symbolizer at hand.
 *
 * The walker reads only the stack the code runs on: the host thread's, or the fiber
 * a deterministic run is on (the scheduler says which, sim_stack_set_bounds). */
#define _GNU_SOURCE
#include "sim_internal.h"
#include "san.h"
#include <arch/console.h>
#include <dlfcn.h>
#include <execinfo.h>
#include <string.h>
#include <sys/mman.h>
#include <sim/unwind.h>

/* The capture's own code, unchecked by ASan and MSan: it reads only saved frame
 * pointers and return addresses inside the stack's bounds (pushed by uninstrumented
 * prologues, so MSan would call each read uninitialised) and writes only the depot,
 * the sim's own mapping. A capture runs at every lock event, and ASan's redzones
 * around its pc array were a quarter of it. */
#define SIM_UNCHECKED __attribute__((no_sanitize("address", "memory")))
#define MAX_STACKS    (1u << 16)
#define STACK_DEPTH   24

struct stack {
    uint64_t hash;
    uint8_t depth;
    uintptr_t pc[STACK_DEPTH];
};

static struct {
    struct stack *stacks; /* MAX_STACKS, open addressing on hash; id = index + 1 */
    unsigned n_stacks;
} d;

void sim_stackdepot_init(void)
{
    if (d.stacks)
        return; /* ids handed out stay valid for the process */
    void *m = mmap(NULL, MAX_STACKS * sizeof(struct stack), PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    d.stacks = m == MAP_FAILED ? NULL : m;
}

bool sim_stackdepot_ready(void)
{
    return d.stacks != NULL;
}

/* Walk the frame-pointer chain from fp: far cheaper than DWARF unwinding, and every
 * build keeps frame pointers. Stops at the end of the stack it is on. Saved frame
 * pointers and return addresses are pushed by uninstrumented prologues: MSan would
 * call every read of them uninitialised. */
SIM_UNCHECKED static int fp_walk(const uintptr_t *fp, uintptr_t lo, uintptr_t hi, void **pcs,
                                 int max)
{
    int n = 0;
    while (n < max && (uintptr_t)fp >= lo && (uintptr_t)fp + 16 <= hi && fp[1]) {
        pcs[n++] = (void *)fp[1];
        const uintptr_t *next = (const uintptr_t *)fp[0];
        if (next <= fp)
            break;
        fp = next;
    }
    return n;
}

#ifdef KERNSIM_FRAME_POINTERS
SIM_UNCHECKED __attribute__((noinline)) static int fp_backtrace(void **pcs, int max)
{
    uintptr_t lo, hi;
    sim_stack_bounds(&lo, &hi);
    if (!hi)
        return backtrace(pcs, max);
    /* Not inlined: like backtrace(), the first entry is the return into the caller. */
    return fp_walk(__builtin_frame_address(0), lo, hi, pcs, max);
}
#else
#define fp_backtrace backtrace
#endif

/* The stack table is the sim's bookkeeping, shared by every simulated CPU: threads in a
 * free-running run (lockdep, the page history, the frame allocator's hook, the heap and
 * the fault path intern under different locks, or none), fibers in a deterministic one.
 * One spin lock serialises it, taken invisibly to ThreadSanitizer (its accesses and its
 * synchronisation), so that it neither reports the sim nor orders the CPUs. A spin lock,
 * not a mutex: the fault handler interns too (never while its thread is in here: the
 * table is host memory, so nothing in here faults into the handler). */
static bool intern_busy;

static void intern_lock(void)
{
    san_hide(true);
    while (__atomic_test_and_set(&intern_busy, __ATOMIC_ACQUIRE))
        __builtin_ia32_pause();
}

static void intern_unlock(void)
{
    __atomic_clear(&intern_busy, __ATOMIC_RELEASE);
    san_hide(false);
}

SIM_UNCHECKED static uint32_t intern_locked(void **pcs, int n, int skip);

static uint32_t intern(void **pcs, int n, int skip)
{
    intern_lock();
    uint32_t id = intern_locked(pcs, n, skip);
    intern_unlock();
    return id;
}

/* A loop, not memcmp: ASan's memcmp interceptor checked both ranges' shadow on every
 * lookup, a quarter of what a lock acquisition cost the ringdev fuzzer. */
/* Whether the table's stack a is pc[0..depth). */
SIM_UNCHECKED static bool same_pcs(const struct stack *a, void *const *pc, int depth)
{
    if (a->depth != depth)
        return false;
    for (int i = 0; i < depth; i++) {
        if (a->pc[i] != (uintptr_t)pc[i])
            return false;
    }
    return true;
}

/* Hashed and compared from pcs in place: no stack-sized temporary to clear and copy
 * (the lock hook interns at every acquisition and release). */
SIM_UNCHECKED static uint32_t intern_locked(void **pcs, int n, int skip)
{
    int depth = n - skip > STACK_DEPTH ? STACK_DEPTH : n - skip;
    void *const *pc = pcs + skip;
    uint64_t hash = 1469598103934665603u;
    for (int i = 0; i < depth; i++)
        hash = (hash ^ (uintptr_t)pc[i]) * 1099511628211u;
    uint64_t key = hash | 1; /* 0 marks a free slot */
    for (unsigned probe = 0; probe < MAX_STACKS; probe++) {
        unsigned i = (unsigned)(hash + probe) & (MAX_STACKS - 1);
        struct stack *slot = &d.stacks[i];
        if (!slot->hash) {
            if (d.n_stacks + 1 >= MAX_STACKS)
                return 0;
            slot->hash = key;
            slot->depth = (uint8_t)depth;
            for (int k = 0; k < depth; k++)
                slot->pc[k] = (uintptr_t)pc[k];
            d.n_stacks++;
            return i + 1;
        }
        if (slot->hash == key && same_pcs(slot, pc, depth))
            return i + 1;
    }
    return 0;
}

uint32_t sim_stack_intern(void **pcs, int n)
{
    return d.stacks ? intern(pcs, n, 0) : 0;
}

/* The body of both captures, inlined into each so that each is one frame. */
__attribute__((always_inline)) static inline uint32_t capture(unsigned skip, unsigned depth)
{
    if (!d.stacks)
        return 0;
    void *pcs[STACK_DEPTH + 8];
    unsigned max = STACK_DEPTH + 8;
    if (depth && skip + 1 + depth < max)
        max = skip + 1 + depth;
    int n = fp_backtrace(pcs, (int)max);
    int k = (int)skip + 1 < n ? (int)skip + 1 : 0; /* and the capturing function itself */
    return intern(pcs, n, k);
}

SIM_UNCHECKED __attribute__((noinline)) uint32_t sim_stack_capture(unsigned skip)
{
    return capture(skip, 0);
}

SIM_UNCHECKED __attribute__((noinline)) uint32_t sim_stack_capture_depth(unsigned skip,
                                                                         unsigned depth)
{
    return capture(skip, depth);
}

uint32_t sim_stack_capture_from(uintptr_t fp, uintptr_t lo, uintptr_t hi)
{
    if (!d.stacks)
        return 0;
    void *pcs[STACK_DEPTH];
    return intern(pcs, fp_walk((const uintptr_t *)fp, lo, hi, pcs, STACK_DEPTH), 0);
}

uint32_t sim_stack_capture_context(uint64_t ip, uintptr_t fp)
{
    if (!d.stacks)
        return 0;
    void *pcs[STACK_DEPTH];
    uintptr_t lo, hi;
    sim_stack_bounds(&lo, &hi);
    pcs[0] = (void *)(uintptr_t)(ip + 1); /* printed as pc - 1: the instruction itself */
    return intern(pcs, 1 + fp_walk((const uintptr_t *)fp, lo, hi, pcs + 1, STACK_DEPTH - 1), 0);
}

/* From a signal handler: kernsim's unwinder walks through the signal frame (frame
 * pointers would skip the interrupted function's caller if it faulted in a prologue). */
uint32_t sim_stack_capture_interrupted(uint64_t ip)
{
    uint64_t pcs[64];
    enum unw_err err;
    int n = unw_backtrace(sim_unwind_lookup, &sim_unwind_stack_mem, pcs, 64, &err);
    for (int i = 0; i < n; i++) {
        if (pcs[i] != ip)
            continue;
        void *v[32];
        int m = 0;
        v[m++] = (void *)(uintptr_t)(ip + 1); /* printed as pc - 1: the instruction itself */
        for (int k = i + 1; k < n && m < 32; k++)
            v[m++] = (void *)(uintptr_t)pcs[k];
        return sim_stack_intern(v, m);
    }
    return 0;
}

size_t sim_stack_format(uint32_t id, const char *indent, char *buf, size_t size)
{
    size_t len = 0;
    if (!size)
        return 0;
    buf[0] = 0;
    if (!id || !d.stacks || id > MAX_STACKS)
        return (size_t)ksnprintf(buf, size, "#%s(no stack recorded)\n", indent);
    const struct stack *s = &d.stacks[id - 1];
    for (int i = 0, frame = 0; i < s->depth && len + 1 < size; i++) {
        char where[512] = {0};             /* the symbolizer writes it unseen by MSan */
        void *pc = (void *)(s->pc[i] - 1); /* return address -> the call */
        Dl_info info;
        uint64_t off;
        const char *fn;
        if (__sanitizer_symbolize_pc) {
            /* One string per function at pc, innermost first (a pc in inlined code is
             * in several), each ending in a NUL, the last followed by an empty one. */
            __sanitizer_symbolize_pc(pc, "%F %S", where, sizeof(where) - 1);
            for (const char *f = where; *f && len + 1 < size; f += strlen(f) + 1) {
                int w = ksnprintf(buf + len, size - len, "#%s#%d %s\n", indent, frame++, f);
                len += (size_t)w < size - len ? (size_t)w : size - len - 1;
            }
            continue;
        } else if ((fn = sim_symbolize((uint64_t)(uintptr_t)pc, &off))) {
            ksnprintf(where, sizeof(where), "in %s+0x%lx", fn, (unsigned long)off);
        } else if (dladdr(pc, &info) && info.dli_fbase) {
            const char *mod = info.dli_fname ? strrchr(info.dli_fname, '/') : NULL;
            ksnprintf(where, sizeof(where), "%s+0x%lx %s", mod ? mod + 1 : "?",
                      (uint64_t)((uintptr_t)pc - (uintptr_t)info.dli_fbase),
                      info.dli_sname ? info.dli_sname : "");
        } else {
            ksnprintf(where, sizeof(where), "%p", pc);
        }
        int w = ksnprintf(buf + len, size - len, "#%s#%d %s\n", indent, frame++, where);
        len += (size_t)w < size - len ? (size_t)w : size - len - 1;
    }
    return len;
}

void sim_stack_print(uint32_t id, const char *indent)
{
    char buf[STACK_DEPTH * 300];
    size_t n = sim_stack_format(id, indent, buf, sizeof(buf));
    arch_console_write(buf, n); /* not kprintf: its line limit would cut the stack */
}
