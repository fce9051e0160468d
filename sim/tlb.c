/* tlb.c - the simulated TLB and its host realisation.
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
 * realises a leaf realises every contiguous leaf of its 2 MiB slot with it.
 *
 * The MMU lock is here, at the bottom of the MMU: everything below it runs under it.
 * What fills and drops entries, and
 * when, is mmu.c's (the PTE seam) and fault.c's (an access the host refused). */
#define _GNU_SOURCE
#include "mmu_internal.h"
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

/* ---- the MMU lock: over the TLB, the table positions and the batches ---- */

static pthread_mutex_t mmu_lock = PTHREAD_MUTEX_INITIALIZER;

/* This host thread holds the MMU lock, so a fault now is a fault inside the MMU. Per host
 * thread, as the mutex it mirrors: nothing between sim_mmu_lock and its unlock is a
 * scheduling point, so no fiber is ever switched out while it is set (sim_run_fail
 * refuses to abandon one). The fibers of a deterministic run still share it, and TSan
 * models each fiber as a thread, so it is read and written as a relaxed atomic: TSan
 * never calls atomics a race, and relaxed ones order nothing, so no race between
 * simulated CPUs is hidden. (An atomic is also what a signal handler should read.) */
static __thread bool in_mmu;

void sim_mmu_lock(void)
{
    pthread_mutex_lock(&mmu_lock);
    __atomic_store_n(&in_mmu, true, __ATOMIC_RELAXED);
}

void sim_mmu_unlock(void)
{
    __atomic_store_n(&in_mmu, false, __ATOMIC_RELAXED);
    pthread_mutex_unlock(&mmu_lock);
}

bool sim_mmu_busy(void)
{
    return __atomic_load_n(&in_mmu, __ATOMIC_RELAXED);
}

void sim_mmu_fatal(const char *fmt, ...)
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

#define N1G (SIM_KVA_SIZE >> 30)
#define N2M (SIM_KVA_SIZE >> 21)
#define N4K (SIM_KVA_SIZE >> 12)

static struct {
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
    bool lazy;     /* realise leaves at their first access, not when they are filled */
    bool realised; /* some of the window may be host-mapped: a full flush must unmap */
    uint64_t host_maps, fills, stale_uses;
} tlb;

/* ---- host realisation ---------------------------------------------------------- */

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
        sim_mmu_fatal("kernsim: sim mmu: mmap of 0x%lx bytes at 0x%lx failed: %s "
                      "(vm.max_map_count?)\n",
                      len, va, strerror(errno));
    tlb.realised = true;
    tlb.host_maps++;
}

static void host_unmap(uint64_t va, uint64_t len)
{
    void *r = mmap((void *)(uintptr_t)va, len, PROT_NONE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE, -1, 0);
    if (r == MAP_FAILED)
        sim_mmu_fatal("kernsim: sim mmu: cannot unmap 0x%lx bytes at 0x%lx: %s\n", len, va,
                      strerror(errno));
}

void sim_tlb_run_flush(struct sim_tlb_run *r)
{
    if (r->len)
        host_map(r->va, r->pa, r->len, r->w);
    r->len = 0;
}

static void run_add(struct sim_tlb_run *r, uint64_t va, uint64_t pa, uint64_t len, bool w)
{
    if (r->len && r->va + r->len == va && r->pa + r->len == pa && r->w == w) {
        r->len += len;
        return;
    }
    sim_tlb_run_flush(r);
    *r = (struct sim_tlb_run){va, pa, len, w};
}

/* ---- the arrays ------------------------------------------------------------------ */

__attribute__((always_inline)) static inline uint64_t *slot(uint64_t va, uint64_t size)
{
    uint64_t off = va - SIM_KVA_BASE;
    if (size == ARCH_PAGE_1G)
        return &tlb.tlb1g[off >> 30];
    if (size == ARCH_PAGE_2M)
        return &tlb.tlb2m[off >> 21];
    return &tlb.tlb4k[off >> 12];
}

#define DIRTY_4K (sizeof(tlb.dirty4k) / sizeof(tlb.dirty4k[0]))

static void slot_set(uint64_t va, uint64_t size, uint64_t val)
{
    uint64_t *s = slot(va, size);
    uint32_t i2m = (uint32_t)((va - SIM_KVA_BASE) >> 21);
    if (val && size != ARCH_PAGE_1G) {
        if (tlb.dirty_lo == tlb.dirty_hi)
            tlb.dirty_lo = i2m, tlb.dirty_hi = i2m + 1;
        else if (i2m < tlb.dirty_lo)
            tlb.dirty_lo = i2m;
        else if (i2m >= tlb.dirty_hi)
            tlb.dirty_hi = i2m + 1;
    }
    if (size == ARCH_PAGE_4K && ((*s & TLB_VALID) != (val & TLB_VALID))) {
        if ((val & TLB_VALID) && !tlb.n4k_in_2m[i2m] && tlb.ndirty4k <= DIRTY_4K) {
            if (tlb.ndirty4k < DIRTY_4K)
                tlb.dirty4k[tlb.ndirty4k] = i2m;
            tlb.ndirty4k++; /* past DIRTY_4K: too many to list */
        }
        tlb.n4k_in_2m[i2m] += (val & TLB_VALID) ? 1 : -1;
    }
    *s = val;
}

/* Empty the arrays: what was written since the last full flush. */
static void clear_all(void)
{
    memset(tlb.tlb1g, 0, sizeof(tlb.tlb1g));
    memset(&tlb.tlb2m[tlb.dirty_lo], 0, (tlb.dirty_hi - tlb.dirty_lo) * sizeof(tlb.tlb2m[0]));
    memset(&tlb.n4k_in_2m[tlb.dirty_lo], 0,
           (tlb.dirty_hi - tlb.dirty_lo) * sizeof(tlb.n4k_in_2m[0]));
    if (tlb.ndirty4k > DIRTY_4K) {
        madvise(tlb.tlb4k, N4K * sizeof(uint64_t), MADV_DONTNEED);
    } else {
        for (unsigned i = 0; i < tlb.ndirty4k; i++) /* a page of 4K entries per 2M slot */
            memset(&tlb.tlb4k[(uint64_t)tlb.dirty4k[i] << 9], 0, 512 * sizeof(uint64_t));
    }
    tlb.dirty_lo = tlb.dirty_hi = 0;
    tlb.ndirty4k = 0;
}

/* The entry translating va, if any: returns it and sets *base and *size. Inlined,
 * so that a caller built untraced (sim_tlb_lookup) reads it untraced too. */
__attribute__((always_inline)) static inline uint64_t find(uint64_t va, uint64_t *base,
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

uint64_t sim_tlb_find(uint64_t va, uint64_t *base, uint64_t *size)
{
    return find(va, base, size);
}

bool sim_tlb_allows(uint64_t e, enum arch_access access)
{
    if ((e & TLB_STALE) && (!(e & TLB_STALE_WO) || access == ARCH_ACCESS_WRITE))
        return false; /* strict mode: make the use of a stale entry visible */
    return (e & TLB_VALID) && (access != ARCH_ACCESS_WRITE || (e & TLB_W));
}

/* Forget the 4K entries inside one 2M slot (their host mappings are being
 * overwritten by the caller or are unmapped by it). */
ARCH_BULK static void drop_4k_in(uint64_t va2m)
{
    uint64_t i2m = (va2m - SIM_KVA_BASE) >> 21;
    if (!tlb.n4k_in_2m[i2m])
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
    lo = lo > tlb.dirty_lo ? lo : tlb.dirty_lo;
    hi = hi < tlb.dirty_hi ? hi : tlb.dirty_hi;
    for (uint64_t i = lo; i < hi; i++) {
        inside |= tlb.n4k_in_2m[i] || (tlb.tlb2m[i] & TLB_VALID);
        slot_set(SIM_KVA_BASE + (i << 21), ARCH_PAGE_2M, 0);
        drop_4k_in(SIM_KVA_BASE + (i << 21));
    }
    return inside;
}

/* Smaller entries inside the new one are dropped, as a TLB may drop entries at any
 * time. */
void sim_tlb_fill(struct sim_tlb_run *r, uint64_t va, uint64_t size, uint64_t pa, bool w)
{
    if (tlb.tlb1g[(va - SIM_KVA_BASE) >> 30] & TLB_VALID)
        return;
    if (size <= ARCH_PAGE_2M && (tlb.tlb2m[(va - SIM_KVA_BASE) >> 21] & TLB_VALID))
        return;
    if (size == ARCH_PAGE_4K && (*slot(va, size) & TLB_VALID))
        return;
    bool inside = false; /* smaller entries the new one replaces */
    if (size == ARCH_PAGE_1G) {
        inside = drop_under_1g(va);
    } else if (size == ARCH_PAGE_2M) {
        inside = tlb.n4k_in_2m[(va - SIM_KVA_BASE) >> 21];
        drop_4k_in(va);
    }
    tlb.fills++;
    if (tlb.lazy) {
        if (inside && tlb.realised)
            host_unmap(va, size); /* what they realised is not the new entry's */
        slot_set(va, size, pa | TLB_VALID | (w ? TLB_W : 0));
        return;
    }
    slot_set(va, size, pa | TLB_VALID | (w ? TLB_W : 0) | TLB_REAL);
    run_add(r, va, pa, size, w); /* the mapping replaces the smaller ones' */
}

void sim_tlb_drop(uint64_t base, uint64_t size, bool unmap)
{
    bool real = *slot(base, size) & TLB_REAL;
    slot_set(base, size, 0);
    if (real && unmap)
        host_unmap(base, size);
}

void sim_tlb_evict(uint64_t lo, uint64_t hi)
{
    for (uint64_t va = ARCH_ALIGN_DOWN(lo, ARCH_PAGE_2M); va < hi; va += ARCH_PAGE_2M) {
        uint64_t *g = &tlb.tlb1g[(va - SIM_KVA_BASE) >> 30];
        if (*g & TLB_VALID)
            *g = 0;
        slot_set(va, ARCH_PAGE_2M, 0);
        drop_4k_in(va);
    }
    host_unmap(lo, hi - lo);
}

void sim_tlb_flush_all(void)
{
    /* Nothing realised since the last full flush: the window is already all PROT_NONE.
     * (Natively the remap is cheap, but memcheck --track-origins clears origins a word
     * at a time over the 64 GiB: 30 s.) */
    if (tlb.realised)
        host_unmap(SIM_KVA_BASE, SIM_KVA_SIZE);
    tlb.realised = false;
    clear_all();
}

/* ---- realising at the first access -------------------------------------------------- */

void sim_tlb_realise_at(uint64_t va, enum arch_access access)
{
    uint64_t base, size, e = find(va, &base, &size);
    if ((e & (TLB_VALID | TLB_REAL | TLB_STALE)) == TLB_VALID && access != ARCH_ACCESS_EXEC &&
        (access != ARCH_ACCESS_WRITE || (e & TLB_W)))
        sim_tlb_realise(base, size, e);
}

/* The contiguous 4K entries of the 2M slot are realised with it: another fault would
 * take each of them. Within what the TLB allows: same rights, contiguous frames. */
void sim_tlb_realise(uint64_t base, uint64_t size, uint64_t e)
{
    const uint64_t rights = TLB_W | TLB_STALE_WO;
    uint64_t lo = base, hi = base + size, pa = TLB_FRAME(e);
    if (size == ARCH_PAGE_4K) {
        uint64_t slot2m = ARCH_ALIGN_DOWN(base, ARCH_PAGE_2M);
        for (uint64_t v = lo - ARCH_PAGE_4K; v >= slot2m; v -= ARCH_PAGE_4K) {
            uint64_t o = *slot(v, ARCH_PAGE_4K);
            if ((o & (TLB_VALID | TLB_REAL | TLB_STALE)) != TLB_VALID ||
                (o & rights) != (e & rights) || TLB_FRAME(o) != pa - (base - v))
                break;
            lo = v;
        }
        for (uint64_t v = hi; v < slot2m + ARCH_PAGE_2M; v += ARCH_PAGE_4K) {
            uint64_t o = *slot(v, ARCH_PAGE_4K);
            if ((o & (TLB_VALID | TLB_REAL | TLB_STALE)) != TLB_VALID ||
                (o & rights) != (e & rights) || TLB_FRAME(o) != pa + (v - base))
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

/* ---- strict mode ------------------------------------------------------------------ */

void sim_tlb_mark_stale(uint64_t lo, uint64_t hi, bool write_only)
{
    for (uint64_t va = ARCH_ALIGN_DOWN(lo, ARCH_PAGE_4K); va < hi;) {
        uint64_t base, size, e = find(va, &base, &size);
        if (!e) {
            uint64_t i2m = (va - SIM_KVA_BASE) >> 21;
            va = tlb.n4k_in_2m[i2m] ? va + ARCH_PAGE_4K
                                    : ARCH_ALIGN_DOWN(va, ARCH_PAGE_2M) + ARCH_PAGE_2M;
            continue;
        }
        uint64_t ne = e | TLB_STALE | (write_only ? TLB_STALE_WO : 0);
        if (tlb.lazy || !write_only) { /* unrealised: the next access faults */
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

bool sim_tlb_take_stale(uint64_t va, enum arch_access access, struct sim_tlb_stale *s)
{
    uint64_t base, size, e = find(va, &base, &size);
    if (!(e & TLB_STALE) || (access == ARCH_ACCESS_WRITE && !(e & TLB_W)) ||
        access == ARCH_ACCESS_EXEC || ((e & TLB_STALE_WO) && access != ARCH_ACCESS_WRITE))
        return false;
    tlb.stale_uses++;
    *s = (struct sim_tlb_stale){base, size, TLB_FRAME(e), (e & TLB_STALE_WO) != 0};
    slot_set(base, size, (e & ~(TLB_STALE | TLB_STALE_WO)) | TLB_REAL);
    host_map(base, TLB_FRAME(e), size, (e & TLB_W) != 0);
    return true;
}

/* ---- set-up and introspection ------------------------------------------------------ */

int sim_tlb_init(bool lazy)
{
    tlb.lazy = lazy;
    tlb.tlb4k = mmap(NULL, N4K * sizeof(uint64_t), PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (tlb.tlb4k == MAP_FAILED) {
        fprintf(stderr, "kernsim: cannot allocate the TLB model: %s\n", strerror(errno));
        tlb.tlb4k = NULL;
        return -1;
    }
    return 0;
}

void sim_tlb_get_stats(struct sim_mmu_stats *out)
{
    out->host_maps = tlb.host_maps;
    out->fills = tlb.fills;
    out->stale_uses = tlb.stale_uses;
}

void sim_tlb_reset_stats(void)
{
    tlb.host_maps = tlb.fills = tlb.stale_uses = 0;
}

/* A checker's question, not the MMU's work: not traced for coverage (a fuzzer's model
 * asks it after every step, and would guide the fuzzer by its own reads). */
__attribute__((no_sanitize("coverage"))) struct sim_tlb_entry sim_tlb_lookup(uint64_t va)
{
    struct sim_tlb_entry r = {0};
    if (!sim_in_window(va))
        return r;
    sim_mmu_lock();
    uint64_t base, size, e = find(va, &base, &size);
    if (e)
        r = (struct sim_tlb_entry){true, base, size, TLB_FRAME(e), (e & TLB_W) != 0};
    sim_mmu_unlock();
    return r;
}
