/* mmu.c - the simulated MMU: the PTE seam, batches, CR3 loads, invlpg and walks.
 *
 * A PTE store, a flush or a CR3 load changes the TLB (tlb.c) the way x86's may change:
 * - A PTE store (arch_set_pte) that makes something present fills it at once (x86
 *   needs no flush for not-present -> present). A fill never replaces an entry of
 *   equal or larger size: a stale translation stays until it is flushed.
 * - Clearing or downgrading a PTE changes nothing in the TLB until arch_invlpg of an
 *   address in that leaf, or a CR3 write; then the leaf is dropped and its range is
 *   refilled from the tables (a TLB may prefetch any valid translation). In strict mode
 *   the entry is marked stale at the store, so its next use is reported.
 * - A CR3 load fills every leaf the tables hold; a fuzzer reloads often and touches few.
 * - An access the TLB does not allow is walked (sim_mmu_walk_and_fill): if the tables
 *   allow it the TLB is filled and the access retried, else it is a page fault
 *   (fault.c, above this file, raises it).
 *
 * To know which leaf a PTE store changes, every table's position (level and base VA
 * where it was linked) is noted when a walk or a fill passes through it. The model
 * holds one address space for all CPUs (the host has one). */
#define _GNU_SOURCE
#include "mmu_internal.h"
#include <arch/console.h>
#include <arch/mem.h>
#include <arch/panic.h>
#include <arch/ptwalk.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <valgrind/valgrind.h>

static struct {
    phys_addr_t cr3;
    uint64_t *table_pos; /* per RAM frame: (va_base | level) where it was linked; 0 = never */
    bool strict;
    unsigned batch_depth;
    uint64_t batch_fill_lo, batch_fill_hi;   /* new translations to realise at batch end */
    uint64_t batch_flush_lo, batch_flush_hi; /* flushed ranges to unmap and refill */
    uint64_t flushes, cr3_loads, faults;
} mmu;

/* ---- walking the tables ---------------------------------------------------------- */

static void note_table(phys_addr_t table, int level, uint64_t va_base)
{
    mmu.table_pos[table >> 12] = va_base | (uint64_t)level;
}

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

/* Fill the TLB with every present leaf of the subtree under `table` (at `level`,
 * covering VAs from va_base) that intersects [lo, hi). */
static void fill_table(struct sim_tlb_run *r, phys_addr_t table, int level, uint64_t va_base,
                       uint64_t lo, uint64_t hi, bool w)
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
            sim_tlb_fill(r, va, span, pte_leaf_frame(e, level), ew);
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
    struct sim_tlb_run r = {0};
    note_table(mmu.cr3, 4, 0);
    fill_table(&r, mmu.cr3, 4, 0, lo, hi, true);
    sim_tlb_run_flush(&r);
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
            sim_tlb_mark_stale(lo, hi, false);
        else if ((old & PTE_W) && !(val & PTE_W))
            sim_tlb_mark_stale(lo, hi, true);
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
    sim_mmu_lock();
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
    sim_mmu_unlock();
}

/* Drop every TLB entry that touches [lo, hi) (growing the range to whole entries),
 * unmap it in the host and refill it from the tables. Lock held. */
static void evict_and_refill(uint64_t lo, uint64_t hi)
{
    uint64_t base, size;
    if (!clip_to_window(&lo, &hi))
        return;
    if (sim_tlb_find(lo, &base, &size) && base < lo)
        lo = base;
    if (sim_tlb_find(hi - 1, &base, &size) && base + size > hi)
        hi = base + size;
    sim_tlb_evict(lo, hi);
    fill_range(lo, hi);
}

void arch_pte_batch_begin(void)
{
    sim_mmu_lock();
    mmu.batch_depth++;
    sim_mmu_unlock();
}

void arch_pte_batch_end(void)
{
    sim_mmu_lock();
    if (!mmu.batch_depth) {
        sim_mmu_unlock(); /* a kernel bug: fail the schedule (or panic) without the lock */
        arch_panic("arch_pte_batch_end: no batch is open");
    }
    if (--mmu.batch_depth == 0) {
        if (mmu.batch_flush_lo != mmu.batch_flush_hi)
            evict_and_refill(mmu.batch_flush_lo, mmu.batch_flush_hi);
        if (mmu.batch_fill_lo != mmu.batch_fill_hi)
            fill_range(mmu.batch_fill_lo, mmu.batch_fill_hi);
        mmu.batch_fill_lo = mmu.batch_fill_hi = mmu.batch_flush_lo = mmu.batch_flush_hi = 0;
    }
    sim_mmu_unlock();
}

phys_addr_t arch_read_cr3(void)
{
    return __atomic_load_n(&mmu.cr3, __ATOMIC_ACQUIRE);
}

void arch_write_cr3(phys_addr_t root)
{
    if (!ARCH_IS_ALIGNED(root, ARCH_PAGE_4K) || !arch_phys_is_ram(root, ARCH_PAGE_4K))
        arch_panic("arch_write_cr3: 0x%lx is not a 4 KiB aligned RAM frame", root);
    sim_mmu_lock();
    __atomic_store_n(&mmu.cr3, root, __ATOMIC_RELEASE);
    sim_tlb_flush_all();
    mmu.cr3_loads++;
    mmu.batch_fill_lo = mmu.batch_fill_hi = mmu.batch_flush_lo = mmu.batch_flush_hi = 0;
    fill_range(SIM_KVA_BASE, SIM_KVA_BASE + SIM_KVA_SIZE);
    sim_mmu_unlock();
}

void arch_invlpg(const void *p)
{
    uint64_t va = (uintptr_t)p;
    if (!sim_in_window(va))
        return; /* translations outside the window are the host's, never stale */
    sim_mmu_lock();
    mmu.flushes++;
    uint64_t base, size;
    if (!sim_tlb_find(va, &base, &size)) {
        /* Nothing cached: the next access walks anyway, so prefetch what it would find
         * (the tables may have been written without arch_set_pte). */
        base = ARCH_ALIGN_DOWN(va, ARCH_PAGE_4K);
        size = ARCH_PAGE_4K;
    } else if (!mmu.batch_depth) {
        sim_tlb_drop(base, size, true);
    } else {
        sim_tlb_drop(base, size, false); /* the host mapping goes at the end of the batch */
    }
    if (mmu.batch_depth)
        grow(&mmu.batch_flush_lo, &mmu.batch_flush_hi, base, base + size);
    else
        fill_range(base, base + size);
    sim_mmu_unlock();
}

bool sim_mmu_walk_and_fill(uint64_t va, enum arch_access access, uint64_t ip, phys_addr_t *pa,
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
        if (sim_tlb_find(va, &ebase, &esize))
            sim_tlb_drop(ebase, esize, true);
        struct sim_tlb_run r = {0};
        sim_tlb_fill(&r, base, w.page_size, w.pa - (va - base), w.writable);
        sim_tlb_run_flush(&r);
        if (pa)
            *pa = w.pa;
        return true;
    }
    mmu.faults++;
    arch_fault_from_pt_walk(f, &w, mmu.cr3, va, access, ip);
    if (f->reason == ARCH_FAULT_NONE)
        f->reason = ARCH_FAULT_NOT_PRESENT;
    return false;
}

/* ---- set-up and introspection ------------------------------------------------------ */

void sim_set_strict_tlb(bool on)
{
    sim_mmu_lock();
    mmu.strict = on;
    sim_mmu_unlock();
}

int sim_mmu_init(void)
{
    const char *strict = getenv("KERNSIM_STRICT_TLB");
    mmu.strict = strict && !strcmp(strict, "1");
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
    mmu.table_pos = mmap(NULL, tsize, PROT_READ | PROT_WRITE,
                         MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (mmu.table_pos == MAP_FAILED) {
        fprintf(stderr, "kernsim: cannot allocate the MMU's table positions: %s\n",
                strerror(errno));
        munmap(win, SIM_KVA_SIZE);
        return -1;
    }
    /* Under Valgrind leaves are realised when they are filled, else at the first access. */
    if (sim_tlb_init(!RUNNING_ON_VALGRIND)) {
        munmap(mmu.table_pos, tsize);
        munmap(win, SIM_KVA_SIZE);
        return -1;
    }
    return 0;
}

void sim_mmu_reset(void)
{
    sim_mmu_lock();
    uint64_t tsize = (sim_machine.ram_size >> 12) * sizeof(uint64_t);
    if (tsize <= (UINT64_C(64) << 10))
        memset(mmu.table_pos, 0, tsize); /* small: cheaper than faulting it in again */
    else
        madvise(mmu.table_pos, tsize, MADV_DONTNEED);
    mmu.flushes = mmu.cr3_loads = mmu.faults = 0;
    sim_tlb_reset_stats();
    sim_mmu_unlock();
}

void sim_mmu_own_stats(struct sim_mmu_stats *out)
{
    out->flushes = mmu.flushes, out->cr3_loads = mmu.cr3_loads, out->faults = mmu.faults;
}

phys_addr_t sim_mmu_cr3(void)
{
    return mmu.cr3;
}

void sim_mmu_count_fault(void)
{
    mmu.faults++;
}
