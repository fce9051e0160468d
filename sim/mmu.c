/* mmu.c - the simulated MMU and TLB over the kernel VA window.
 *
 * The TLB is three arrays (1 GiB, 2 MiB and 4 KiB slots of the window) that never
 * overlap. A leaf it holds is realised in the host as an mmap(MAP_FIXED) of the RAM
 * memfd at the leaf's virtual address, so plain C accesses run at native speed and
 * aliases really alias. The host never allows more than the TLB does: a realised
 * range is always a TLB entry's, with no more rights.
 *
 * When leaves are realised depends on the checker. Under Valgrind, at once (it reports
 * the first touch of a range that a SIGSEGV handler fills as an invalid access). Else
 * at the first access: filling the TLB costs no system call, and the fault that
 * realises a leaf realises every contiguous leaf of its 2 MiB slot with it. A CR3 load
 * fills every leaf the tables hold; a fuzzer reloads often and touches few.
 *
 * - A PTE store (arch_set_pte) that makes something present realises it at once
 *   (x86 needs no flush for not-present -> present). Realising never replaces an
 *   entry of equal or larger size: a stale translation stays until it is flushed.
 * - Clearing or downgrading a PTE changes nothing here until arch_invlpg of an
 *   address in that leaf, or a CR3 write; then the leaf is dropped and its range is
 *   refilled from the tables (a TLB may prefetch any valid translation).
 * - An access the host refuses (SIGSEGV in the window) is walked: if the tables allow
 *   it the TLB is filled and the access retried, else it is a page fault.
 *
 * The model holds one address space for all CPUs (the host has one). */
#define _GNU_SOURCE
#include "arch_internal.h"
#include "sim_internal.h"
#include "runfail.h"
#include "san.h"
#include <arch/console.h>
#include <arch/cpu.h>
#include <arch/debug.h>
#include <arch/mem.h>
#include <arch/panic.h>
#include <arch/ptwalk.h>
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <sim/sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>
#include <valgrind/valgrind.h>

#define N1G (SIM_KVA_SIZE >> 30)
#define N2M (SIM_KVA_SIZE >> 21)
#define N4K (SIM_KVA_SIZE >> 12)

#define TLB_VALID    UINT64_C(1)
#define TLB_W        UINT64_C(2)
#define TLB_STALE    UINT64_C(4)  /* strict mode: the PTE changed, no flush yet */
#define TLB_STALE_WO UINT64_C(8)  /* ... and only writes lost their right */
#define TLB_REAL     UINT64_C(16) /* realised in the host, with the rights below */

static struct {
    pthread_mutex_t lock;
    phys_addr_t cr3;
    uint64_t tlb1g[N1G];
    uint64_t tlb2m[N2M];
    uint16_t n4k_in_2m[N2M]; /* how many 4K slots of each 2M slot are valid */
    uint64_t *tlb4k;         /* N4K entries, NORESERVE */
    /* What a full flush must clear: 2M slots [dirty_lo, dirty_hi) of tlb2m and
     * n4k_in_2m, and the pages of tlb4k (one per 2M slot) listed in dirty4k, or all of
     * it when more than DIRTY_4K were (a clear is then one madvise). A CR3 load cost a
     * 320 KiB memset and a fault for every 4K entry filled after it. */
    uint32_t dirty_lo, dirty_hi;
    uint32_t dirty4k[64];
    unsigned ndirty4k;
    uint64_t *table_pos; /* per RAM frame: (va_base | level) where it was linked; 0 = never */
    struct sim_mmu_stats stats;
    struct sigaction old_segv, old_bus;
    bool strict;
    bool lazy;     /* realise leaves at their first access, not when they are filled */
    bool widened;  /* the fault handler runs with more signals blocked than it interrupted */
    bool realised; /* some of the window may be host-mapped: a full flush must unmap */
    unsigned batch_depth;
    uint64_t batch_fill_lo, batch_fill_hi;   /* new translations to realise at batch end */
    uint64_t batch_flush_lo, batch_flush_hi; /* flushed ranges to unmap and refill */
} mmu = {.lock = PTHREAD_MUTEX_INITIALIZER};

/* This host thread holds mmu.lock, so a fault now is a fault inside the MMU. Per host
 * thread, as the mutex it mirrors: nothing between mmu_lock and mmu_unlock is a
 * scheduling point, so no fiber is ever switched out while it is set (sim_run_fail
 * refuses to abandon one). The fibers of a deterministic run still share it, and TSan
 * models each fiber as a thread, so it is read and written as a relaxed atomic: TSan
 * never calls atomics a race, and relaxed ones order nothing, so no race between
 * simulated CPUs is hidden. (An atomic is also what a signal handler should read.) */
static __thread bool in_mmu;

/* The rest of the fault path's per-context state is per simulated CPU (struct sim_exec):
 * a fiber may be switched out inside a fault hook with a retry count or a probe's jump
 * buffer in it. This is the host thread's own, for code not run by the scheduler. */
static __thread struct sim_exec thread_exec, *bound_exec;

struct sim_exec *sim_exec_self(void)
{
    return bound_exec ? bound_exec : &thread_exec;
}

void sim_exec_bind(struct sim_exec *x)
{
    bound_exec = x;
}

static void mmu_lock(void)
{
    pthread_mutex_lock(&mmu.lock);
    __atomic_store_n(&in_mmu, true, __ATOMIC_RELAXED);
}

static void mmu_unlock(void)
{
    __atomic_store_n(&in_mmu, false, __ATOMIC_RELAXED);
    pthread_mutex_unlock(&mmu.lock);
}

bool sim_mmu_busy(void)
{
    return __atomic_load_n(&in_mmu, __ATOMIC_RELAXED);
}

/* The host refused the machine something (mmap failed) while mmu.lock is held: not a
 * kernel bug, and nothing can go on, so no schedule is failed (that would leave the lock
 * held and in_mmu set for the next one). */
static __attribute__((noreturn, format(printf, 1, 2))) void mmu_fatal(const char *fmt, ...)
{
    char msg[300];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    ssize_t w = write(2, msg, n < 0 ? 0 : (size_t)n < sizeof(msg) ? (size_t)n : sizeof(msg) - 1);
    (void)w;
    abort();
}

/* ---- host realisation ---------------------------------------------------------- */

/* A run of contiguous leaves to realise with one mmap. */
struct run {
    uint64_t va, pa, len;
    bool w;
};

static void host_map(uint64_t va, uint64_t pa, uint64_t len, bool w)
{
    /* Only the part backed by RAM gets memory; the rest stays PROT_NONE so an access
     * there faults and is reported as "frame is not RAM" (MMIO needs the accessors). */
    if (pa >= sim_machine.ram_size)
        return;
    if (len > sim_machine.ram_size - pa)
        len = sim_machine.ram_size - pa;
    int prot = PROT_READ | (w ? PROT_WRITE : 0);
    /* A short run is populated at once: it is mostly a block about to be used whole,
     * and one system call beats a fault per page. A long one (a heap segment, a huge
     * page) is left to fault in what is used. */
    int populate = len <= (UINT64_C(256) << 10) ? MAP_POPULATE : 0;
    void *r = mmap((void *)(uintptr_t)va, len, prot, MAP_SHARED | MAP_FIXED | populate,
                   sim_machine.memfd, (off_t)pa);
    if (r == MAP_FAILED)
        mmu_fatal("kernsim: sim mmu: mmap of 0x%lx bytes at 0x%lx failed: %s (vm.max_map_count?)\n",
                  len, va, strerror(errno));
    mmu.realised = true;
    mmu.stats.host_maps++;
}

static void host_unmap(uint64_t va, uint64_t len)
{
    void *r = mmap((void *)(uintptr_t)va, len, PROT_NONE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE, -1, 0);
    if (r == MAP_FAILED)
        mmu_fatal("kernsim: sim mmu: cannot unmap 0x%lx bytes at 0x%lx: %s\n", len, va,
                  strerror(errno));
}

static void run_flush(struct run *r)
{
    if (r->len)
        host_map(r->va, r->pa, r->len, r->w);
    r->len = 0;
}

static void run_add(struct run *r, uint64_t va, uint64_t pa, uint64_t len, bool w)
{
    if (r->len && r->va + r->len == va && r->pa + r->len == pa && r->w == w) {
        r->len += len;
        return;
    }
    run_flush(r);
    *r = (struct run){va, pa, len, w};
}

/* ---- the TLB arrays ------------------------------------------------------------- */

__attribute__((always_inline)) static inline uint64_t *slot(uint64_t va, uint64_t size)
{
    uint64_t off = va - SIM_KVA_BASE;
    if (size == ARCH_PAGE_1G)
        return &mmu.tlb1g[off >> 30];
    if (size == ARCH_PAGE_2M)
        return &mmu.tlb2m[off >> 21];
    return &mmu.tlb4k[off >> 12];
}

#define DIRTY_4K (sizeof(mmu.dirty4k) / sizeof(mmu.dirty4k[0]))

static void slot_set(uint64_t va, uint64_t size, uint64_t val)
{
    uint64_t *s = slot(va, size);
    uint32_t i2m = (uint32_t)((va - SIM_KVA_BASE) >> 21);
    if (val && size != ARCH_PAGE_1G) {
        if (mmu.dirty_lo == mmu.dirty_hi)
            mmu.dirty_lo = i2m, mmu.dirty_hi = i2m + 1;
        else if (i2m < mmu.dirty_lo)
            mmu.dirty_lo = i2m;
        else if (i2m >= mmu.dirty_hi)
            mmu.dirty_hi = i2m + 1;
    }
    if (size == ARCH_PAGE_4K && ((*s & TLB_VALID) != (val & TLB_VALID))) {
        if ((val & TLB_VALID) && !mmu.n4k_in_2m[i2m] && mmu.ndirty4k <= DIRTY_4K) {
            if (mmu.ndirty4k < DIRTY_4K)
                mmu.dirty4k[mmu.ndirty4k] = i2m;
            mmu.ndirty4k++; /* past DIRTY_4K: too many to list */
        }
        mmu.n4k_in_2m[i2m] += (val & TLB_VALID) ? 1 : -1;
    }
    *s = val;
}

/* Empty the TLB arrays (a full flush): what was written since the last one. */
static void tlb_clear_all(void)
{
    memset(mmu.tlb1g, 0, sizeof(mmu.tlb1g));
    memset(&mmu.tlb2m[mmu.dirty_lo], 0, (mmu.dirty_hi - mmu.dirty_lo) * sizeof(mmu.tlb2m[0]));
    memset(&mmu.n4k_in_2m[mmu.dirty_lo], 0,
           (mmu.dirty_hi - mmu.dirty_lo) * sizeof(mmu.n4k_in_2m[0]));
    if (mmu.ndirty4k > DIRTY_4K) {
        madvise(mmu.tlb4k, N4K * sizeof(uint64_t), MADV_DONTNEED);
    } else {
        for (unsigned i = 0; i < mmu.ndirty4k; i++) /* a page of 4K entries per 2M slot */
            memset(&mmu.tlb4k[(uint64_t)mmu.dirty4k[i] << 9], 0, 512 * sizeof(uint64_t));
    }
    mmu.dirty_lo = mmu.dirty_hi = 0;
    mmu.ndirty4k = 0;
}

/* The entry translating va, if any: returns it and sets *base and *size. Inlined,
 * so that a caller built untraced (sim_tlb_lookup) reads it untraced too. */
__attribute__((always_inline)) static inline uint64_t tlb_find(uint64_t va, uint64_t *base,
                                                               uint64_t *size)
{
    static const uint64_t sizes[] = {ARCH_PAGE_1G, ARCH_PAGE_2M, ARCH_PAGE_4K};
    for (int i = 0; i < 3; i++) {
        uint64_t e = *slot(va, sizes[i]);
        if (e & TLB_VALID) {
            *base = ARCH_ALIGN_DOWN(va, sizes[i]);
            *size = sizes[i];
            return e;
        }
    }
    return 0;
}

/* Forget the 4K entries inside one 2M slot (their host mappings are being
 * overwritten by the caller or are unmapped by it). */
ARCH_BULK static void drop_4k_in(uint64_t va2m)
{
    uint64_t i2m = (va2m - SIM_KVA_BASE) >> 21;
    if (!mmu.n4k_in_2m[i2m])
        return;
    for (uint64_t va = va2m; va < va2m + ARCH_PAGE_2M; va += ARCH_PAGE_4K)
        slot_set(va, ARCH_PAGE_4K, 0);
}

/* Forget every entry inside one 1G slot; true if there was one. Only the 2M slots
 * written since the last full flush can hold one. */
ARCH_BULK static bool drop_under_1g(uint64_t va1g)
{
    bool inside = false;
    uint64_t lo = (va1g - SIM_KVA_BASE) >> 21, hi = lo + 512;
    lo = lo > mmu.dirty_lo ? lo : mmu.dirty_lo;
    hi = hi < mmu.dirty_hi ? hi : mmu.dirty_hi;
    for (uint64_t i = lo; i < hi; i++) {
        inside |= mmu.n4k_in_2m[i] || (mmu.tlb2m[i] & TLB_VALID);
        slot_set(SIM_KVA_BASE + (i << 21), ARCH_PAGE_2M, 0);
        drop_4k_in(SIM_KVA_BASE + (i << 21));
    }
    return inside;
}

/* Put a leaf in the TLB (host realisation goes through `run`). An entry of equal or
 * larger size already translating va wins: it is either this same translation or a
 * stale one that only a flush may remove. Smaller entries inside are dropped, as a
 * TLB may drop entries at any time. */
static void tlb_fill(struct run *r, uint64_t va, uint64_t size, uint64_t pa, bool w)
{
    if (mmu.tlb1g[(va - SIM_KVA_BASE) >> 30] & TLB_VALID)
        return;
    if (size <= ARCH_PAGE_2M && (mmu.tlb2m[(va - SIM_KVA_BASE) >> 21] & TLB_VALID))
        return;
    if (size == ARCH_PAGE_4K && (*slot(va, size) & TLB_VALID))
        return;
    bool inside = false; /* smaller entries the new one replaces */
    if (size == ARCH_PAGE_1G) {
        inside = drop_under_1g(va);
    } else if (size == ARCH_PAGE_2M) {
        inside = mmu.n4k_in_2m[(va - SIM_KVA_BASE) >> 21];
        drop_4k_in(va);
    }
    mmu.stats.fills++;
    if (mmu.lazy) {
        if (inside && mmu.realised)
            host_unmap(va, size); /* what they realised is not the new entry's */
        slot_set(va, size, pa | TLB_VALID | (w ? TLB_W : 0));
        return;
    }
    slot_set(va, size, pa | TLB_VALID | (w ? TLB_W : 0) | TLB_REAL);
    run_add(r, va, pa, size, w); /* the mapping replaces the smaller ones' */
}

static void realise(uint64_t base, uint64_t size, uint64_t e);

/* Lazy mode: realise the entry translating va for `access`, if the TLB has one that
 * allows it and is not realised yet. Lock held. */
static void realise_at(uint64_t va, enum arch_access access)
{
    uint64_t base, size, e = tlb_find(va, &base, &size);
    if ((e & (TLB_VALID | TLB_REAL | TLB_STALE)) == TLB_VALID && access != ARCH_ACCESS_EXEC &&
        (access != ARCH_ACCESS_WRITE || (e & TLB_W)))
        realise(base, size, e);
}

/* Lazy mode: an access in the window found entry e (at base, of size) not realised.
 * Realise it, with the contiguous 4K entries of its 2M slot that are not either
 * (another fault would take each of them), within what the TLB allows. Lock held. */
static void realise(uint64_t base, uint64_t size, uint64_t e)
{
    const uint64_t rights = TLB_W | TLB_STALE_WO;
    uint64_t lo = base, hi = base + size, pa = e & ~UINT64_C(0xfff);
    if (size == ARCH_PAGE_4K) {
        uint64_t slot2m = ARCH_ALIGN_DOWN(base, ARCH_PAGE_2M);
        for (uint64_t v = lo - ARCH_PAGE_4K; v >= slot2m; v -= ARCH_PAGE_4K) {
            uint64_t o = *slot(v, ARCH_PAGE_4K);
            if ((o & (TLB_VALID | TLB_REAL | TLB_STALE)) != TLB_VALID ||
                (o & rights) != (e & rights) || (o & ~UINT64_C(0xfff)) != pa - (base - v))
                break;
            lo = v;
        }
        for (uint64_t v = hi; v < slot2m + ARCH_PAGE_2M; v += ARCH_PAGE_4K) {
            uint64_t o = *slot(v, ARCH_PAGE_4K);
            if ((o & (TLB_VALID | TLB_REAL | TLB_STALE)) != TLB_VALID ||
                (o & rights) != (e & rights) || (o & ~UINT64_C(0xfff)) != pa + (v - base))
                break;
            hi = v + ARCH_PAGE_4K;
        }
        for (uint64_t v = lo; v < hi; v += ARCH_PAGE_4K)
            *slot(v, ARCH_PAGE_4K) |= TLB_REAL;
    } else {
        *slot(base, size) |= TLB_REAL;
    }
    host_map(lo, pa - (base - lo), hi - lo, (e & TLB_W) && !(e & TLB_STALE_WO));
}

/* Drop the entry of `size` at `base` and unmap its range in the host. */
static void tlb_drop(uint64_t base, uint64_t size)
{
    bool real = *slot(base, size) & TLB_REAL;
    slot_set(base, size, 0);
    if (real)
        host_unmap(base, size);
}

/* ---- walking the tables ---------------------------------------------------------- */

static void note_table(phys_addr_t table, int level, uint64_t va_base)
{
    mmu.table_pos[table >> 12] = va_base | (uint64_t)level;
}

/* Fill the TLB with every present leaf of the subtree under `table` (at `level`,
 * covering VAs from va_base) that intersects [lo, hi). */
/* The first present entry of t in [i, n), or n. Not traced for coverage: most of a
 * table is empty, and a fuzzer learns nothing from the scan over it. Nor checked by
 * ASan: t is a table in the machine's RAM, kernsim's own mapping, never a heap block;
 * eight entries are tested per step. */
__attribute__((no_sanitize("coverage", "address"), noinline)) static unsigned
next_present(const pte_t *t, unsigned i, unsigned n)
{
    /* Not arch_get_pte: an ASan-built inline function is not inlined into this one. */
#define P(k) __atomic_load_n(&t[i + (k)], __ATOMIC_RELAXED)
    while (i + 8 <= n && !((P(0) | P(1) | P(2) | P(3) | P(4) | P(5) | P(6) | P(7)) & PTE_P))
        i += 8;
#undef P
    while (i < n && !(__atomic_load_n(&t[i], __ATOMIC_RELAXED) & PTE_P))
        i++;
    return i;
}

static void fill_table(struct run *r, phys_addr_t table, int level, uint64_t va_base, uint64_t lo,
                       uint64_t hi, bool w)
{
    uint64_t span = UINT64_C(1) << PT_LEVEL_SHIFT(level);
    const pte_t *t = arch_phys_to_virt(table);
    unsigned first = lo > va_base ? (unsigned)((lo - va_base) / span) : 0;
    unsigned end = hi - va_base >= PTE_ENTRIES * span
                       ? PTE_ENTRIES
                       : (unsigned)((hi - va_base + span - 1) / span); /* entries below hi */
    for (unsigned i = next_present(t, first, end); i < end; i = next_present(t, i + 1, end)) {
        uint64_t va = va_base + i * span;
        pte_t e = arch_get_pte(&t[i]);
        if (!(e & PTE_P) || !pt_entry_well_formed(e, level))
            continue;
        bool ew = w && (e & PTE_W);
        if (pte_is_leaf(e, level)) {
            tlb_fill(r, va, span, pte_leaf_frame(e, level), ew);
            continue;
        }
        phys_addr_t child = PTE_ADDR(e);
        if (!arch_phys_is_ram(child, ARCH_PAGE_4K))
            continue;
        note_table(child, level - 1, va);
        fill_table(r, child, level - 1, va, lo, hi, ew);
    }
}

/* Clip [*lo, *hi) to the window; false if nothing is left. */
static bool clip_to_window(uint64_t *lo, uint64_t *hi)
{
    if (*lo < SIM_KVA_BASE)
        *lo = SIM_KVA_BASE;
    if (*hi > SIM_KVA_BASE + SIM_KVA_SIZE)
        *hi = SIM_KVA_BASE + SIM_KVA_SIZE;
    return *lo < *hi;
}

static void fill_range(uint64_t lo, uint64_t hi)
{
    if (!clip_to_window(&lo, &hi))
        return;
    struct run r = {0};
    note_table(mmu.cr3, 4, 0);
    fill_table(&r, mmu.cr3, 4, 0, lo, hi, true);
    run_flush(&r);
}

/* The table a walk from CR3 for va reaches at `level`, or 0 if it does not get there. */
static phys_addr_t table_at(uint64_t va, int level)
{
    phys_addr_t table = mmu.cr3;
    for (int l = 4; l > level; l--) {
        const pte_t *t = arch_phys_to_virt(table);
        pte_t e = arch_get_pte(&t[PT_INDEX(va, l)]);
        if (!(e & PTE_P) || (e & PTE_PS) || !pt_entry_well_formed(e, l))
            return 0;
        table = PTE_ADDR(e);
        if (!arch_phys_is_ram(table, ARCH_PAGE_4K))
            return 0;
    }
    return table;
}

/* ---- the seam -------------------------------------------------------------------- */

static void mark_stale(uint64_t lo, uint64_t hi, bool write_only);

static bool leaf_at(pte_t e, int level)
{
    return (e & PTE_P) && pte_is_leaf(e, level);
}

static void grow(uint64_t *lo, uint64_t *hi, uint64_t a, uint64_t b)
{
    if (*lo == *hi)
        *lo = a, *hi = b;
    else
        *lo = a < *lo ? a : *lo, *hi = b > *hi ? b : *hi;
}

/* A table was linked in at [va, ...): the leaves already written in it (a mapper
 * fills a new table before linking it) were mapped now, by this caller. */
static void record_subtree(phys_addr_t table, int level, uint64_t va)
{
    if (!arch_phys_is_ram(table, ARCH_PAGE_4K))
        return; /* a broken entry: the walk will say so when it is used */
    note_table(table, level, va);
    const pte_t *t = arch_phys_to_virt(table);
    for (unsigned i = next_present(t, 0, PTE_ENTRIES); i < PTE_ENTRIES;
         i = next_present(t, i + 1, PTE_ENTRIES)) {
        pte_t e = arch_get_pte(&t[i]);
        uint64_t at = va + ((uint64_t)i << PT_LEVEL_SHIFT(level)), lo = at,
                 hi = at + (UINT64_C(1) << PT_LEVEL_SHIFT(level));
        if (hi <= SIM_KVA_BASE || lo >= SIM_KVA_BASE + SIM_KVA_SIZE)
            continue;
        if (leaf_at(e, level)) {
            clip_to_window(&lo, &hi);
            sim_history_record(lo, hi - lo, SIM_PAGE_MAPPED);
        } else if (level > 1) {
            record_subtree(PTE_ADDR(e), level - 1, at);
        }
    }
}

/* The entry covering [va, va+span) at `level` went from old to val. Lock held. */
__attribute__((noinline)) static void pte_changed(uint64_t va, uint64_t span, int level, pte_t old,
                                                  pte_t val)
{
    bool was = old & PTE_P, now = val & PTE_P;
    bool moved = was && now &&
                 (PTE_ADDR(old) != PTE_ADDR(val) || leaf_at(old, level) != leaf_at(val, level));
    uint64_t lo = va, hi = va + span;
    clip_to_window(&lo, &hi); /* the caller checked that the entry reaches the window */
    if (leaf_at(old, level) && (!now || moved))
        sim_history_record(lo, hi - lo, SIM_PAGE_UNMAPPED);
    if (leaf_at(val, level) && (!was || moved))
        sim_history_record(lo, hi - lo, SIM_PAGE_MAPPED);
    else if (leaf_at(val, level) && leaf_at(old, level) &&
             ((old ^ val) & (PTE_W | PTE_NX | PTE_U | PTE_PCD | PTE_PWT)))
        sim_history_record(lo, hi - lo, SIM_PAGE_PROTECTED);
    else if (now && level > 1 && !leaf_at(val, level) && (!was || moved)) {
        /* A table linked in: know its position now (the fill that would note it may
         * be deferred to the end of a batch, and its leaves are written before
         * that), and record the leaves it already holds. */
        record_subtree(PTE_ADDR(val), level - 1, va);
    }
    if (mmu.strict && was) {
        if (!now || moved)
            mark_stale(lo, hi, false);
        else if ((old & PTE_W) && !(val & PTE_W))
            mark_stale(lo, hi, true);
    }
    /* Only a present entry can add a translation; removals wait for a flush. */
    if (!now)
        return;
    if (mmu.batch_depth)
        grow(&mmu.batch_fill_lo, &mmu.batch_fill_hi, lo, hi);
    else
        fill_range(lo, hi);
}

void arch_set_pte(pte_t *ptep, pte_t val)
{
    phys_addr_t pa = arch_virt_to_phys(ptep);
    if (!ARCH_IS_ALIGNED(pa, sizeof(pte_t)))
        arch_panic("arch_set_pte: misaligned entry pointer %p", (void *)ptep);
    mmu_lock();
    pte_t old = __atomic_exchange_n(ptep, val, __ATOMIC_ACQ_REL);
    uint64_t pos = mmu.table_pos[pa >> 12];
    if (pos && old != val) {
        int level = (int)(pos & 7);
        uint64_t span = UINT64_C(1) << PT_LEVEL_SHIFT(level);
        uint64_t va = (pos & ~UINT64_C(7)) + ((pa & 0xfff) / sizeof(pte_t)) * span;
        if (level == 4 && va >= (UINT64_C(1) << 47))
            va |= UINT64_C(0xffff) << 48;
        /* The position is where the table was last linked; check it still is. */
        if (va < SIM_KVA_BASE + SIM_KVA_SIZE && va + span > SIM_KVA_BASE &&
            table_at(va, level) == ARCH_ALIGN_DOWN(pa, ARCH_PAGE_4K))
            pte_changed(va, span, level, old, val);
    }
    mmu_unlock();
}

/* Drop every TLB entry that touches [lo, hi) (growing the range to whole entries),
 * unmap it in the host and refill it from the tables. Lock held. */
static void evict_and_refill(uint64_t lo, uint64_t hi)
{
    uint64_t base, size;
    if (!clip_to_window(&lo, &hi))
        return;
    if (tlb_find(lo, &base, &size) && base < lo)
        lo = base;
    if (tlb_find(hi - 1, &base, &size) && base + size > hi)
        hi = base + size;
    for (uint64_t va = ARCH_ALIGN_DOWN(lo, ARCH_PAGE_2M); va < hi; va += ARCH_PAGE_2M) {
        uint64_t *g = &mmu.tlb1g[(va - SIM_KVA_BASE) >> 30];
        if (*g & TLB_VALID)
            *g = 0;
        slot_set(va, ARCH_PAGE_2M, 0);
        drop_4k_in(va);
    }
    host_unmap(lo, hi - lo);
    fill_range(lo, hi);
}

void arch_pte_batch_begin(void)
{
    mmu_lock();
    mmu.batch_depth++;
    mmu_unlock();
}

void arch_pte_batch_end(void)
{
    mmu_lock();
    if (!mmu.batch_depth) {
        mmu_unlock(); /* a kernel bug: fail the schedule (or panic) without the lock */
        arch_panic("arch_pte_batch_end: no batch is open");
    }
    if (--mmu.batch_depth == 0) {
        if (mmu.batch_flush_lo != mmu.batch_flush_hi)
            evict_and_refill(mmu.batch_flush_lo, mmu.batch_flush_hi);
        if (mmu.batch_fill_lo != mmu.batch_fill_hi)
            fill_range(mmu.batch_fill_lo, mmu.batch_fill_hi);
        mmu.batch_fill_lo = mmu.batch_fill_hi = mmu.batch_flush_lo = mmu.batch_flush_hi = 0;
    }
    mmu_unlock();
}

phys_addr_t arch_read_cr3(void)
{
    return __atomic_load_n(&mmu.cr3, __ATOMIC_ACQUIRE);
}

void arch_write_cr3(phys_addr_t root)
{
    if (!ARCH_IS_ALIGNED(root, ARCH_PAGE_4K) || !arch_phys_is_ram(root, ARCH_PAGE_4K))
        arch_panic("arch_write_cr3: 0x%lx is not a 4 KiB aligned RAM frame", root);
    mmu_lock();
    __atomic_store_n(&mmu.cr3, root, __ATOMIC_RELEASE);
    /* Nothing realised since the last full flush: the window is already all PROT_NONE.
     * (Natively the remap is cheap, but memcheck --track-origins clears origins a word
     * at a time over the 64 GiB: 30 s.) */
    if (mmu.realised)
        host_unmap(SIM_KVA_BASE, SIM_KVA_SIZE);
    mmu.realised = false;
    tlb_clear_all();
    mmu.stats.cr3_loads++;
    mmu.batch_fill_lo = mmu.batch_fill_hi = mmu.batch_flush_lo = mmu.batch_flush_hi = 0;
    fill_range(SIM_KVA_BASE, SIM_KVA_BASE + SIM_KVA_SIZE);
    mmu_unlock();
}

void arch_invlpg(const void *p)
{
    uint64_t va = (uintptr_t)p;
    if (!sim_in_window(va))
        return; /* translations outside the window are the host's, never stale */
    mmu_lock();
    mmu.stats.flushes++;
    uint64_t base, size;
    if (!tlb_find(va, &base, &size)) {
        /* Nothing cached: the next access walks anyway, so prefetch what it would find
         * (the tables may have been written without arch_set_pte). */
        base = ARCH_ALIGN_DOWN(va, ARCH_PAGE_4K);
        size = ARCH_PAGE_4K;
    } else if (!mmu.batch_depth) {
        tlb_drop(base, size);
    } else {
        slot_set(base, size, 0); /* the host mapping goes at the end of the batch */
    }
    if (mmu.batch_depth)
        grow(&mmu.batch_flush_lo, &mmu.batch_flush_hi, base, base + size);
    else
        fill_range(base, base + size);
    mmu_unlock();
}

/* Walk for an access that the TLB did not allow. On success the TLB is filled and
 * true returned (*pa set if pa != NULL); otherwise *f describes the fault. Called
 * with the lock held. */
static bool walk_and_fill(uint64_t va, enum arch_access access, uint64_t ip, phys_addr_t *pa,
                          struct arch_fault *f)
{
    struct pt_walk w;
    pt_walk(mmu.cr3, va, access, &w);
    if (w.reason == ARCH_FAULT_NONE && !sim_in_window(va)) {
        /* Translated by the tables, but outside the window nothing can be realised:
         * fine for the MMIO accessors, which only need the physical address. */
        if (pa)
            *pa = w.pa;
        return pa != NULL;
    }
    if (w.reason == ARCH_FAULT_NONE) {
        uint64_t base = ARCH_ALIGN_DOWN(va, w.page_size), ebase, esize;
        /* A stale entry with fewer rights (or another frame) is what refused: the
         * tables now allow the access, so drop it as a real TLB does on a fault. */
        if (tlb_find(va, &ebase, &esize))
            tlb_drop(ebase, esize);
        struct run r = {0};
        tlb_fill(&r, base, w.page_size, w.pa - (va - base), w.writable);
        run_flush(&r);
        if (pa)
            *pa = w.pa;
        return true;
    }
    mmu.stats.faults++;
    arch_fault_from_pt_walk(f, &w, mmu.cr3, va, access, ip);
    if (f->reason == ARCH_FAULT_NONE)
        f->reason = ARCH_FAULT_NOT_PRESENT;
    return false;
}

static bool tlb_allows(uint64_t e, enum arch_access access)
{
    if ((e & TLB_STALE) && (!(e & TLB_STALE_WO) || access == ARCH_ACCESS_WRITE))
        return false; /* strict mode: make the use of a stale entry visible */
    return (e & TLB_VALID) && (access != ARCH_ACCESS_WRITE || (e & TLB_W));
}

/* Strict mode: a stale entry that would have allowed the access was used. Report it
 * once, then let it work as the hardware would have. Lock held. */
static bool stale_use(uint64_t va, enum arch_access access, uint64_t ip, uint64_t raw_ip)
{
    uint64_t base, size, e = tlb_find(va, &base, &size);
    if (!(e & TLB_STALE) || (access == ARCH_ACCESS_WRITE && !(e & TLB_W)) ||
        access == ARCH_ACCESS_EXEC || ((e & TLB_STALE_WO) && access != ARCH_ACCESS_WRITE))
        return false;
    mmu.stats.stale_uses++;
    phys_addr_t pa = e & ~UINT64_C(0xfff);
    if (sim_count_report()) {
        kprintf("# missing TLB flush: %s at 0x%016lx used the stale translation 0x%lx -> 0x%lx "
                "(%s); its entry was %s without invlpg or a CR3 write\n",
                arch_access_name(access), va, base, pa,
                size == ARCH_PAGE_1G   ? "1G"
                : size == ARCH_PAGE_2M ? "2M"
                                       : "4K",
                (e & TLB_STALE_WO) ? "made read-only" : "cleared or changed");
        if (ip)
            kprintf("#   ip 0x%016lx cpu %u\n", ip, arch_cpu_id());
        if (raw_ip) {
            kprintf("#   at:\n");
            sim_stack_print(sim_stack_capture_interrupted(raw_ip), "     ");
        }
        sim_history_describe(va, "   ");
    }
    slot_set(base, size, (e & ~(TLB_STALE | TLB_STALE_WO)) | TLB_REAL);
    host_map(base, pa, size, (e & TLB_W) != 0);
    return true;
}

/* Strict mode: the entry at [lo, hi) was removed or lost W; mark what the TLB holds
 * there stale and take the rights away in the host so that a use faults. */
static void mark_stale(uint64_t lo, uint64_t hi, bool write_only)
{
    for (uint64_t va = ARCH_ALIGN_DOWN(lo, ARCH_PAGE_4K); va < hi;) {
        uint64_t base, size, e = tlb_find(va, &base, &size);
        if (!e) {
            uint64_t i2m = (va - SIM_KVA_BASE) >> 21;
            va = mmu.n4k_in_2m[i2m] ? va + ARCH_PAGE_4K
                                    : ARCH_ALIGN_DOWN(va, ARCH_PAGE_2M) + ARCH_PAGE_2M;
            continue;
        }
        uint64_t ne = e | TLB_STALE | (write_only ? TLB_STALE_WO : 0);
        if (mmu.lazy || !write_only) { /* unrealised: the next access faults */
            ne &= ~TLB_REAL;
            if (e & TLB_REAL)
                host_unmap(base, size);
        } else if (e & TLB_W) {
            mprotect((void *)(uintptr_t)base, size, PROT_READ); /* reads go on */
        }
        slot_set(base, size, ne);
        va = base + size;
    }
}

static bool in_direct_map(uint64_t va)
{
    return va - SIM_DIRECT_MAP_BASE < sim_machine.ram_size;
}

bool sim_mmu_translate(uint64_t va, enum arch_access access, phys_addr_t *pa, struct arch_fault *f)
{
    /* The direct map is the boot path's, outside the simulated MMU: always there. */
    if (in_direct_map(va)) {
        *pa = va - SIM_DIRECT_MAP_BASE;
        return true;
    }
    for (unsigned attempt = 0;; attempt++) {
        mmu_lock();
        uint64_t base, size, e = sim_in_window(va) ? tlb_find(va, &base, &size) : 0;
        bool ok;
        if (tlb_allows(e, access) || (e && stale_use(va, access, 0, 0))) {
            *pa = (e & ~UINT64_C(0xfff)) + (va - base);
            ok = true;
        } else {
            ok = walk_and_fill(va, access, 0, pa, f);
        }
        mmu_unlock();
        if (ok)
            return true;
        if (arch_fault_dispatch(f, attempt) != ARCH_FAULT_RETRY)
            return false;
    }
}

/* ---- faults and probes ------------------------------------------------------------ */

static void chain(struct sigaction *old, int sig, siginfo_t *si, void *uc)
{
    if (old->sa_flags & SA_SIGINFO && old->sa_sigaction) {
        old->sa_sigaction(sig, si, uc);
        return;
    }
    if (old->sa_handler != SIG_DFL && old->sa_handler != SIG_IGN) {
        old->sa_handler(sig);
        return;
    }
    /* Default action: let the access happen again with the default disposition. */
    signal(sig, SIG_DFL);
}

/* A fault kernsim cannot serve: outside the simulated machine, or while it was serving
 * one already (in its handler or a kernel fault hook called from it). Said plainly on
 * stderr with the interrupted code's stack, before whatever handles it next (a
 * sanitizer's report, or the default action's crash): a runaway copy over host memory
 * or over kernsim's own state must not end without a diagnosis. */
static void host_fault_report(int sig, const siginfo_t *si, const ucontext_t *uc, bool nested)
{
    uint64_t va = (uintptr_t)si->si_addr, ip = (uint64_t)uc->uc_mcontext.gregs[REG_RIP], off = 0;
    /* Symbols, the address's kind and the stack only where what they need was set up
     * (by sim_boot, and this thread's stack bounds known): learning them here could
     * allocate, and the fault may have been inside malloc. */
    uintptr_t lo, hi;
    bool full = sim_machine.booted && sim_stack_bounds_known(&lo, &hi);
    const char *fn = full ? sim_symbolize(ip, &off) : NULL;
    char what[96], line[600];
    int n = ksnprintf(
        line, sizeof(line), "kernsim: %s: %s %s at 0x%lx, ip 0x%lx (%s+0x%lx): %s\n",
        nested ? "a fault while kernsim was handling a fault"
               : "a fault outside the simulated machine",
        sig == SIGBUS ? "bus error" : "segmentation fault",
        (uc->uc_mcontext.gregs[REG_ERR] & 2) ? "writing" : "reading", va, ip, fn ? fn : "?", off,
        full ? arch_describe_address((void *)(uintptr_t)va, what, sizeof(what)) : "host memory");
    ssize_t w = write(2, line, n < 0 ? 0 : (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
    if (full) {
        n = (int)sim_stack_format(sim_stack_capture_interrupted(ip), "  ", line, sizeof(line));
        w = write(2, line, n < 0 ? 0 : (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
    }
    (void)w;
}

/* Host code moves with ASLR; an offset into its module does not. */
static uint64_t stable_ip(uint64_t ip)
{
    Dl_info info;
    if (dladdr((void *)(uintptr_t)ip, &info) && info.dli_fbase)
        return ip - (uintptr_t)info.dli_fbase;
    return ip;
}

/* This handler seldom leaves through sigreturn: a failed schedule switches fibers out of
 * it, a probe siglongjmps out (sigsetjmp(jb, 0): no mask saved), a caught panic unwinds
 * out, and a fault hook may reach a scheduling point that runs other CPUs inside it. The
 * kernel entered it with sa_mask added to the thread's mask, and under ThreadSanitizer
 * sa_mask is every signal (its sigaction interceptor fills it, whatever SA_NODEFER
 * says): left like that, the next fault on this host thread (the next schedule's, or
 * another fiber's) is a blocked SIGSEGV, which the kernel turns into a kill. So the
 * handler runs with the interrupted code's mask, however it ends. Elsewhere (an empty
 * sa_mask, SA_NODEFER) it already does, and a fault costs no system call for it. */
static void unblock_as_interrupted(const ucontext_t *uc)
{
    if (mmu.widened)
        pthread_sigmask(SIG_SETMASK, &uc->uc_sigmask, NULL);
}

static void handle_window_fault(struct sim_exec *x, siginfo_t *si, ucontext_t *uc);

static void on_fault(int sig, siginfo_t *si, void *ucv)
{
    ucontext_t *uc = ucv;
    uint64_t va = (uintptr_t)si->si_addr;
    struct sim_exec *x = sim_exec_self();
    if (!sim_in_window(va) && x->probe_jmp && sim_machine.booted && !sim_mmu_busy()) {
        /* A probe of host memory that is not there: what the walk says, as a fault. */
        unblock_as_interrupted(uc);
        arch_fault_from_walk(&x->probe_fault, va,
                             arch_fault_access_of((uint64_t)uc->uc_mcontext.gregs[REG_ERR]),
                             (uint64_t)uc->uc_mcontext.gregs[REG_RIP]);
        if (x->probe_fault.reason == ARCH_FAULT_NONE)
            x->probe_fault.reason = ARCH_FAULT_NOT_PRESENT;
        arch_fault_dispatch(&x->probe_fault, ARCH_FAULT_MAX_RETRIES);
        siglongjmp(*x->probe_jmp, 1);
    }
    if (!sim_in_window(va) || !sim_machine.booted) {
        host_fault_report(sig, si, uc, x->handling > 0);
        chain(sig == SIGSEGV ? &mmu.old_segv : &mmu.old_bus, sig, si, ucv);
        return;
    }
    unblock_as_interrupted(uc); /* also lets a fault inside the MMU reach the check below */
    if (sim_mmu_busy()) {
        static const char msg[] = "kernsim: fault inside the simulated MMU itself\n";
        ssize_t n = write(2, msg, sizeof(msg) - 1);
        (void)n;
        abort();
    }
    x->handling++;
    handle_window_fault(x, si, uc);
    x->handling--;
}

/* A fault in the kernel VA window: a TLB fill, a stale use, a fault for the kernel's
 * hook, or a panic. Returns only when the access may be retried. */
static void handle_window_fault(struct sim_exec *x, siginfo_t *si, ucontext_t *uc)
{
    uint64_t va = (uintptr_t)si->si_addr;
    enum arch_access access = arch_fault_access_of((uint64_t)uc->uc_mcontext.gregs[REG_ERR]);
    struct arch_fault f;
    mmu_lock();
    mmu.stats.host_faults++;
    uint64_t base, size, e = tlb_find(va, &base, &size);
    bool ok;
    if (tlb_allows(e, access) && !(e & TLB_REAL) && access != ARCH_ACCESS_EXEC) {
        realise(base, size, e); /* lazy mode: the first access to the leaf */
        mmu_unlock();
        return;
    }
    /* From here on the fault may be reported: where it was, as an offset into its
     * module (a lookup the common case above does without). */
    uint64_t ip = stable_ip((uint64_t)uc->uc_mcontext.gregs[REG_RIP]);
    if (e && stale_use(va, access, ip, (uint64_t)uc->uc_mcontext.gregs[REG_RIP])) {
        mmu_unlock();
        return; /* reported; the restored stale mapping lets the access complete */
    }
    if (tlb_allows(e, access)) {
        /* The TLB allows it and it is realised, so the host refused only because the
         * frame is not RAM (or, for an instruction fetch, because the sim never maps
         * pages executable: running code from simulated mappings is not supported). */
        f = (struct arch_fault){.addr = va,
                                .ip = ip,
                                .root = mmu.cr3,
                                .access = access,
                                .reason = ARCH_FAULT_NO_BACKING,
                                .level = 0};
        mmu.stats.faults++;
        ok = false;
    } else {
        ok = walk_and_fill(va, access, ip, NULL, &f);
    }
    if (ok)
        realise_at(va, access); /* what the walk filled, before the access runs again */
    mmu_unlock();
    if (ok)
        return;
    if (arch_fault_dispatch(&f, arch_fault_retry_note(&x->retry, va)) == ARCH_FAULT_RETRY) {
        mmu_lock();
        realise_at(va, access); /* the hook fixed the tables: no second fault for it */
        mmu_unlock();
        return;
    }
    x->retry.va = 0;
    if (x->probe_jmp) {
        x->probe_fault = f;
        siglongjmp(*x->probe_jmp, 1);
    }
    uint32_t stack = 0;
    if (sim_run_active()) {
        /* The report's stack for this CPU starts at the faulting instruction: only the
         * context has it (a frame-pointer chain holds return addresses, so a walk from
         * any frame of the panic path reaches the faulting function's caller, not it). */
        uint64_t rip = (uint64_t)uc->uc_mcontext.gregs[REG_RIP];
        stack = sim_stack_capture_interrupted(rip);
        if (!stack)
            stack = sim_stack_capture_context(rip, (uintptr_t)uc->uc_mcontext.gregs[REG_RBP]);
    }
    /* The panic runs here, in the handler, whose mask is the interrupted code's (above)
     * and which allocates nothing: what it needs was set up at boot. In a run it fails
     * the schedule by switching fibers out of the handler; the CPU's fiber is rebuilt
     * before it runs again. */
    char line[200];
    sim_panic_stack(stack, "unhandled %s", arch_fault_format(&f, line, sizeof(line)));
}

/* Run one access of `width` bytes with the TLB deciding first, so an expected fault
 * never touches the host (nothing for Valgrind to report); the signal path is the
 * backstop for a translation removed by another CPU in between. */
static bool probe(void *va, enum arch_access access, unsigned width, uint64_t *val,
                  struct arch_fault *out)
{
    struct arch_fault f;
    phys_addr_t pa;
    uint64_t a = (uintptr_t)va;
    enum arch_fault_reason refuse = ARCH_FAULT_NONE;
    if (!arch_va_canonical(a)) {
        refuse = ARCH_FAULT_NON_CANONICAL; /* #GP on hardware; the host would not say where */
    } else if (sim_in_window(a) || in_direct_map(a)) {
        if (!sim_mmu_translate(a, access, &pa, &f)) {
            if (out)
                *out = f;
            return false;
        }
        if (!arch_phys_is_ram(pa, width))
            refuse = ARCH_FAULT_NO_BACKING;
    }
    if (refuse != ARCH_FAULT_NONE) {
        f = (struct arch_fault){
            .addr = a, .root = arch_read_cr3(), .access = access, .reason = refuse};
        arch_fault_dispatch(&f, ARCH_FAULT_MAX_RETRIES);
        if (out)
            *out = f;
        return false;
    }
    /* Anything else is host memory: the kernel image, stacks and globals, which the
     * bare build reaches through its boot mappings. A missing page there faults in
     * the host and comes back through on_fault as a report. */
    struct sim_exec *x = sim_exec_self(); /* no scheduling point until the access is done */
    sigjmp_buf jb;
    unsigned handling = x->handling; /* the handlers this probe runs inside, if any */
    if (sigsetjmp(jb, 0)) {          /* the handler gave the thread its mask back */
        x->probe_jmp = NULL;
        x->handling = handling;
        if (out)
            *out = x->probe_fault;
        return false;
    }
    x->probe_jmp = &jb;
    if (access == ARCH_ACCESS_WRITE) {
        if (width == 1)
            *(volatile uint8_t *)va = (uint8_t)*val;
        else
            *(volatile uint64_t *)va = *val;
    } else {
        *val = width == 1 ? *(volatile uint8_t *)va : *(volatile uint64_t *)va;
    }
    x->probe_jmp = NULL;
    return true;
}

/* A panic caught out of a fault handler or a probe leaves neither behind: the next
 * fault on this CPU is not "inside a handler", and no longjmp goes to a dead probe. */
struct arch_catch_state arch_catch_save(void)
{
    struct sim_exec *x = sim_exec_self();
    return (struct arch_catch_state){{(uintptr_t)x->probe_jmp, x->handling}};
}

void arch_catch_restore(struct arch_catch_state s)
{
    struct sim_exec *x = sim_exec_self();
    x->probe_jmp = (sigjmp_buf *)s.word[0];
    x->handling = (unsigned)s.word[1];
    x->retry = (struct arch_fault_retry){0};
}

bool arch_probe_read8(const void *va, uint8_t *out, struct arch_fault *f)
{
    uint64_t v = 0;
    bool ok = probe((void *)va, ARCH_ACCESS_READ, 1, &v, f);
    if (ok)
        *out = (uint8_t)v;
    return ok;
}

bool arch_probe_write8(void *va, uint8_t v, struct arch_fault *f)
{
    uint64_t x = v;
    return probe(va, ARCH_ACCESS_WRITE, 1, &x, f);
}

bool arch_probe_read64(const void *va, uint64_t *out, struct arch_fault *f)
{
    return probe((void *)va, ARCH_ACCESS_READ, 8, out, f);
}

bool arch_probe_write64(void *va, uint64_t v, struct arch_fault *f)
{
    return probe(va, ARCH_ACCESS_WRITE, 8, &v, f);
}

/* ---- set-up and introspection ------------------------------------------------------ */

void sim_set_strict_tlb(bool on)
{
    mmu_lock();
    mmu.strict = on;
    mmu_unlock();
}

int sim_mmu_init(void)
{
    const char *strict = getenv("KERNSIM_STRICT_TLB");
    mmu.strict = strict && !strcmp(strict, "1");
    mmu.lazy = !RUNNING_ON_VALGRIND;
    void *win = mmap((void *)SIM_KVA_BASE, SIM_KVA_SIZE, PROT_NONE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED_NOREPLACE, -1, 0);
    if (win != (void *)SIM_KVA_BASE) {
        fprintf(stderr, "kernsim: cannot reserve the kernel VA window at 0x%llx: %s\n",
                (unsigned long long)SIM_KVA_BASE,
                win == MAP_FAILED ? strerror(errno) : "kernel chose another address");
        if (win != MAP_FAILED)
            munmap(win, SIM_KVA_SIZE);
        return -1;
    }
    size_t tsize = (sim_machine.ram_size >> 12) * sizeof(uint64_t);
    mmu.tlb4k = mmap(NULL, N4K * sizeof(uint64_t), PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    mmu.table_pos = mmap(NULL, tsize, PROT_READ | PROT_WRITE,
                         MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (mmu.tlb4k == MAP_FAILED || mmu.table_pos == MAP_FAILED) {
        fprintf(stderr, "kernsim: cannot allocate the TLB model: %s\n", strerror(errno));
        munmap(win, SIM_KVA_SIZE);
        return -1;
    }
    struct sigaction sa = {0};
    sa.sa_sigaction = on_fault;
    sa.sa_flags = SA_SIGINFO | SA_NODEFER;
    sigemptyset(&sa.sa_mask);
    mmu.widened = __tsan_init != NULL; /* its sigaction fills sa_mask */
    sigaction(SIGSEGV, &sa, &mmu.old_segv);
    sigaction(SIGBUS, &sa, &mmu.old_bus);
    return 0;
}

void sim_mmu_reset(void)
{
    mmu_lock();
    uint64_t tsize = (sim_machine.ram_size >> 12) * sizeof(uint64_t);
    if (tsize <= (UINT64_C(64) << 10))
        memset(mmu.table_pos, 0, tsize); /* small: cheaper than faulting it in again */
    else
        madvise(mmu.table_pos, tsize, MADV_DONTNEED);
    memset(&mmu.stats, 0, sizeof(mmu.stats));
    mmu_unlock();
}

/* A checker's question, not the MMU's work: not traced for coverage (a fuzzer's model
 * asks it after every step, and would guide the fuzzer by its own reads). */
__attribute__((no_sanitize("coverage"))) struct sim_tlb_entry sim_tlb_lookup(uint64_t va)
{
    struct sim_tlb_entry r = {0};
    if (!sim_in_window(va))
        return r;
    mmu_lock();
    uint64_t base, size, e = tlb_find(va, &base, &size);
    if (e) {
        r = (struct sim_tlb_entry){true, base, size, e & ~UINT64_C(0xfff), (e & TLB_W) != 0};
    }
    mmu_unlock();
    return r;
}

void sim_mmu_get_stats(struct sim_mmu_stats *out)
{
    mmu_lock();
    *out = mmu.stats;
    mmu_unlock();
}
