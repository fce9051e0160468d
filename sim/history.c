/* history.c - what happened to each page of the kernel VA window: where it was last
 * mapped and unmapped (interned backtraces) and which region it belonged to, so a
 * fault on a page that used to be mapped can say so. */
#define _GNU_SOURCE
#include "arch_internal.h"
#include "sim_internal.h"
#include "san.h"
#include <arch/console.h>
#include <dlfcn.h>
#include <execinfo.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define N4K         (SIM_KVA_SIZE >> 12)
#define MAX_STACKS  (1u << 16)
#define STACK_DEPTH 24
#define MAX_NAMES   4096

struct stack {
    uint64_t hash;
    uint8_t depth;
    uintptr_t pc[STACK_DEPTH];
};

struct page_hist {
    uint32_t mapped;    /* stack id, 0 = none */
    uint32_t unmapped;  /* stack id, 0 = none */
    uint32_t protected; /* stack id of the last change of rights, 0 = none */
    uint16_t name;      /* name id, 0 = none */
};

/* What the frame allocator last said of each RAM frame (arch_mm_frames). */
enum { FRAME_UNKNOWN, FRAME_IN_USE, FRAME_FREE };
struct frame_hist {
    uint32_t freed; /* stack id of the last free, 0 = none */
    uint8_t state;
};
#define NFRAMES (SIM_RAM_MAX >> 12)

static struct {
    bool on;
    bool frames_dirty;
    struct frame_hist *frames; /* NFRAMES, NORESERVE */
    bool dirty;                /* pages[] was written since the last reset */
    struct page_hist *pages;   /* N4K, NORESERVE */
    struct stack *stacks;      /* MAX_STACKS, open addressing on hash; id = index + 1 */
    unsigned n_stacks;
    const char *names[MAX_NAMES];
    unsigned n_names;
} h;

void sim_history_init(void)
{
    const char *env = getenv("KERNSIM_HISTORY");
    h.on = !(env && !strcmp(env, "0"));
    h.pages = mmap(NULL, N4K * sizeof(struct page_hist), PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    h.stacks = mmap(NULL, MAX_STACKS * sizeof(struct stack), PROT_READ | PROT_WRITE,
                    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    h.frames = mmap(NULL, NFRAMES * sizeof(struct frame_hist), PROT_READ | PROT_WRITE,
                    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (h.frames == MAP_FAILED)
        h.frames = NULL;
    if (h.pages == MAP_FAILED || h.stacks == MAP_FAILED)
        h.on = false, h.pages = NULL, h.stacks = NULL;
}

void sim_history_reset(void)
{
    if (h.pages && h.dirty)
        madvise(h.pages, N4K * sizeof(struct page_hist), MADV_DONTNEED);
    h.dirty = false;
    h.n_names = 0;
    if (h.frames && h.frames_dirty)
        madvise(h.frames, NFRAMES * sizeof(struct frame_hist), MADV_DONTNEED);
    h.frames_dirty = false;
}

void arch_mm_frames(phys_addr_t pa, uint64_t size, bool in_use)
{
    if (!h.frames || pa >= SIM_RAM_MAX || size > SIM_RAM_MAX - pa)
        return;
    struct frame_hist fh = {in_use || !h.on ? 0 : sim_stack_capture(2),
                            in_use ? FRAME_IN_USE : FRAME_FREE};
    h.frames_dirty = true;
    for (uint64_t f = pa >> 12; f < (pa + size + 0xfff) >> 12; f++)
        h.frames[f] = fh;
}

bool sim_frame_freed(phys_addr_t pa, uint32_t *freed_stack)
{
    if (!h.frames || pa >= SIM_RAM_MAX || h.frames[pa >> 12].state != FRAME_FREE)
        return false;
    *freed_stack = h.frames[pa >> 12].freed;
    return true;
}

void sim_set_history(bool on)
{
    h.on = on && h.pages;
}

/* Intern the caller's stack, leaving out `skip` frames above it; 0 if the table is
 * full or not there. */
/* The stack the frame-pointer walker may read: the host thread's, or the fiber a
 * deterministic run is on (sim_stack_set_bounds). */
static __thread uintptr_t fp_lo, fp_hi, thread_lo, thread_hi;

void sim_stack_set_bounds(uintptr_t lo, uintptr_t hi)
{
    fp_lo = lo, fp_hi = hi;
}

/* Walk the frame-pointer chain from fp: far cheaper than DWARF unwinding, and every
 * build keeps frame pointers. Stops at the end of the stack it is on. Saved frame
 * pointers and return addresses are pushed by uninstrumented prologues: MSan would
 * call every read of them uninitialised. */
__attribute__((no_sanitize("memory"))) static int fp_walk(const uintptr_t *fp, uintptr_t lo,
                                                          uintptr_t hi, void **pcs, int max)
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

void sim_stack_bounds_init(void)
{
    if (thread_hi)
        return;
    pthread_attr_t attr;
    void *base;
    size_t size;
    if (!pthread_getattr_np(pthread_self(), &attr)) { /* allocates: never in a handler */
        if (!pthread_attr_getstack(&attr, &base, &size))
            thread_lo = (uintptr_t)base, thread_hi = (uintptr_t)base + size;
        pthread_attr_destroy(&attr);
    }
}

bool sim_stack_bounds_known(uintptr_t *lo, uintptr_t *hi)
{
    *lo = fp_hi ? fp_lo : thread_lo;
    *hi = fp_hi ? fp_hi : thread_hi;
    return *hi != 0;
}

/* The stack the calling code runs on (a fiber's, or the host thread's). Threads that
 * neither booted the machine nor were started by sim_run_cpus learn theirs here. */
void sim_stack_bounds(uintptr_t *lo, uintptr_t *hi)
{
    if (!sim_stack_bounds_known(lo, hi)) {
        sim_stack_bounds_init();
        *lo = thread_lo, *hi = thread_hi;
    }
}

#ifdef KERNSIM_FRAME_POINTERS
__attribute__((noinline)) static int fp_backtrace(void **pcs, int max)
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

static uint32_t intern_locked(void **pcs, int n, int skip);

static uint32_t intern(void **pcs, int n, int skip)
{
    intern_lock();
    uint32_t id = intern_locked(pcs, n, skip);
    intern_unlock();
    return id;
}

/* A loop, not memcmp: ASan's memcmp interceptor checked both ranges' shadow on every
 * lookup, a quarter of what a lock acquisition cost the ringdev fuzzer. */
static bool same_pcs(const struct stack *a, const struct stack *b)
{
    if (a->depth != b->depth)
        return false;
    for (int i = 0; i < a->depth; i++) {
        if (a->pc[i] != b->pc[i])
            return false;
    }
    return true;
}

static uint32_t intern_locked(void **pcs, int n, int skip)
{
    struct stack s = {.depth = (uint8_t)(n - skip > STACK_DEPTH ? STACK_DEPTH : n - skip)};
    uint64_t hash = 1469598103934665603u;
    for (int i = 0; i < s.depth; i++) {
        s.pc[i] = (uintptr_t)pcs[i + skip];
        hash = (hash ^ s.pc[i]) * 1099511628211u;
    }
    s.hash = hash | 1;
    for (unsigned probe = 0; probe < MAX_STACKS; probe++) {
        unsigned i = (unsigned)(hash + probe) & (MAX_STACKS - 1);
        struct stack *slot = &h.stacks[i];
        if (!slot->hash) {
            if (h.n_stacks + 1 >= MAX_STACKS)
                return 0;
            *slot = s;
            h.n_stacks++;
            return i + 1;
        }
        if (slot->hash == s.hash && same_pcs(slot, &s))
            return i + 1;
    }
    return 0;
}

uint32_t sim_stack_intern(void **pcs, int n)
{
    return h.stacks ? intern(pcs, n, 0) : 0;
}

/* The body of both captures, inlined into each so that each is one frame. */
__attribute__((always_inline)) static inline uint32_t capture(unsigned skip, unsigned depth)
{
    if (!h.stacks)
        return 0;
    void *pcs[STACK_DEPTH + 8];
    unsigned max = STACK_DEPTH + 8;
    if (depth && skip + 1 + depth < max)
        max = skip + 1 + depth;
    int n = fp_backtrace(pcs, (int)max);
    int k = (int)skip + 1 < n ? (int)skip + 1 : 0; /* and the capturing function itself */
    return intern(pcs, n, k);
}

__attribute__((noinline)) uint32_t sim_stack_capture(unsigned skip)
{
    return capture(skip, 0);
}

__attribute__((noinline)) uint32_t sim_stack_capture_depth(unsigned skip, unsigned depth)
{
    return capture(skip, depth);
}

uint32_t sim_stack_capture_from(uintptr_t fp, uintptr_t lo, uintptr_t hi)
{
    if (!h.stacks)
        return 0;
    void *pcs[STACK_DEPTH];
    return intern(pcs, fp_walk((const uintptr_t *)fp, lo, hi, pcs, STACK_DEPTH), 0);
}

uint32_t sim_stack_capture_context(uint64_t ip, uintptr_t fp)
{
    if (!h.stacks)
        return 0;
    void *pcs[STACK_DEPTH];
    uintptr_t lo, hi;
    sim_stack_bounds(&lo, &hi);
    pcs[0] = (void *)(uintptr_t)(ip + 1); /* printed as pc - 1: the instruction itself */
    return intern(pcs, 1 + fp_walk((const uintptr_t *)fp, lo, hi, pcs + 1, STACK_DEPTH - 1), 0);
}

void sim_history_record(uint64_t va, uint64_t size, enum sim_page_event ev)
{
    if (!h.on || !sim_in_window(va))
        return;
    uint32_t id = sim_stack_capture(3); /* record, pte_changed, arch_set_pte */
    h.dirty = true;
    uint64_t first = (va - SIM_KVA_BASE) >> 12, n = size >> 12;
    for (uint64_t i = first; i < first + n && i < N4K; i++) {
        if (ev == SIM_PAGE_MAPPED)
            h.pages[i].mapped = id, h.pages[i].protected = 0;
        else if (ev == SIM_PAGE_UNMAPPED)
            h.pages[i].unmapped = id;
        else
            h.pages[i].protected = id;
    }
}

void arch_mm_annotate(uint64_t va, uint64_t size, const char *name)
{
    if (!h.on || !sim_in_window(va) || !name)
        return;
    unsigned id = 0;
    for (unsigned i = 0; i < h.n_names && !id; i++) {
        if (h.names[i] == name)
            id = i + 1;
    }
    if (!id && h.n_names < MAX_NAMES) {
        h.names[h.n_names++] = name;
        id = h.n_names;
    }
    h.dirty = true;
    uint64_t first = (va - SIM_KVA_BASE) >> 12, n = size >> 12;
    for (uint64_t i = first; i < first + n && i < N4K; i++)
        h.pages[i].name = (uint16_t)id;
}

size_t sim_stack_format(uint32_t id, const char *indent, char *buf, size_t size)
{
    size_t len = 0;
    if (!size)
        return 0;
    buf[0] = 0;
    if (!id || !h.stacks || id > MAX_STACKS)
        return (size_t)ksnprintf(buf, size, "#%s(no stack recorded)\n", indent);
    const struct stack *s = &h.stacks[id - 1];
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

bool sim_history_describe(uint64_t va, const char *indent)
{
    if (!h.pages || !sim_in_window(va))
        return false;
    const struct page_hist *p = &h.pages[(va - SIM_KVA_BASE) >> 12];
    if (!p->mapped && !p->unmapped && !p->name)
        return false;
    const char *name = p->name ? h.names[p->name - 1] : NULL;
    kprintf("#%spage 0x%lx belonged to %s%s%s\n", indent, ARCH_ALIGN_DOWN(va, ARCH_PAGE_4K),
            name ? "region '" : "no named region", name ? name : "", name ? "'" : "");
    if (p->mapped) {
        kprintf("#%s  last mapped at:\n", indent);
        sim_stack_print(p->mapped, "       ");
    }
    if (p->protected) {
        kprintf("#%s  rights last changed at:\n", indent);
        sim_stack_print(p->protected, "       ");
    }
    if (p->unmapped) {
        kprintf("#%s  last unmapped at:\n", indent);
        sim_stack_print(p->unmapped, "       ");
    }
    return true;
}

bool arch_mm_history(uint64_t va, const char *indent)
{
    return sim_history_describe(va, indent);
}

void arch_fault_history(const struct arch_fault *f)
{
    sim_history_describe(f->addr, "   ");
}

struct sim_page_history sim_page_history(uint64_t va)
{
    struct sim_page_history r = {0};
    if (!h.pages || !sim_in_window(va))
        return r;
    const struct page_hist *p = &h.pages[(va - SIM_KVA_BASE) >> 12];
    r.region = p->name ? h.names[p->name - 1] : NULL;
    r.mapped = p->mapped != 0;
    r.unmapped = p->unmapped != 0;
    return r;
}
