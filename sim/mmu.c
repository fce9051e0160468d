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
 * holds one address space for all CPUs (the host has one).
 *
 * A TLB per CPU is modelled by what makes the CPUs' TLBs differ: after a leaf's PTE is
 * cleared, moved or made read-only while several CPUs run, every running CPU may still
 * cache the old translation (x86 may cache any translation it could walk), so a record
 * (struct held) names the leaf, its old frame and rights, the CPUs that still hold it
 * and where the PTE was written. invlpg or a CR3 load on a CPU takes that CPU out; a
 * shootdown takes every CPU out. The TLB arrays (tlb.c) then hold what a CPU that
 * flushed sees; a CPU still holding a flushed record is kept from the host mapping of
 * its range (the deterministic scheduler calls sim_mmu_cpu_switch), so its next use
 * faults here and is reported as a missing TLB shootdown. */
#define _GNU_SOURCE
#include "mmu_internal.h"
#include <arch/console.h>
#include <arch/cpu.h>
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
#include <valgrind/memcheck.h>
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

/* ---- what other CPUs still cache -------------------------------------------------- */

/* A translation some running CPUs may still use after its PTE changed: [lo, hi) of
 * leaves of `leaf` bytes to the frames from pa, sorted by lo, never overlapping. */
struct held {
    uint64_t lo, hi, leaf;
    phys_addr_t pa;
    uint64_t maps_seen; /* the host's map count when the range was last kept from it */
    uint32_t holders;   /* CPUs that still hold it */
    uint32_t had;       /* CPUs that held it when the PTE changed */
    uint32_t stack;     /* the PTE write */
    uint8_t writer;     /* the CPU that wrote it */
    bool w;             /* the old translation allowed writes */
    bool write_only;    /* only W was taken away (the frame is the same) */
    bool flushed;       /* some CPU flushed it: the TLB arrays hold the tables' state */
};

#define HELD_MAX 64

/* The CPUs past the 32nd are not modelled: they hold nothing. */
static uint32_t cpu_bit(unsigned cpu)
{
    return cpu < 32 ? UINT32_C(1) << cpu : 0;
}

static struct {
    struct held h[HELD_MAX];
    unsigned n;
    uint32_t running; /* CPUs whose TLBs are modelled: a deterministic or free run's */
    uint64_t made, dropped, evictions, reports, shootdowns;
} hd;

/* hd.n and hd.running change under the MMU lock, or (running) between runs, and are
 * read without it on the paths every schedule takes: atomically, relaxed. */
static void set_n(unsigned n)
{
    __atomic_store_n(&hd.n, n, __ATOMIC_RELAXED);
}

static uint32_t running(void)
{
    return __atomic_load_n(&hd.running, __ATOMIC_RELAXED);
}

static bool same_kind(const struct held *a, const struct held *b)
{
    return a->leaf == b->leaf && a->holders == b->holders && a->had == b->had &&
           a->writer == b->writer && a->w == b->w && a->write_only == b->write_only &&
           a->flushed == b->flushed && a->pa + (a->hi - a->lo) == b->pa && a->hi == b->lo;
}

/* Join record i with the next where they continue each other. */
static void held_merge(unsigned i)
{
    if (i + 1 < hd.n && same_kind(&hd.h[i], &hd.h[i + 1])) {
        hd.h[i].hi = hd.h[i + 1].hi;
        memmove(&hd.h[i + 1], &hd.h[i + 2], (hd.n - i - 2) * sizeof(hd.h[0]));
        set_n(hd.n - 1);
    }
}

static void held_remove(unsigned i)
{
    memmove(&hd.h[i], &hd.h[i + 1], (hd.n - i - 1) * sizeof(hd.h[0]));
    set_n(hd.n - 1);
}

/* Insert r (not overlapping any record) in order, merging with its neighbours. */
static void held_insert(const struct held *r)
{
    unsigned i = 0;
    while (i < hd.n && hd.h[i].lo < r->lo)
        i++;
    if (i && same_kind(&hd.h[i - 1], r)) {
        hd.h[i - 1].hi = r->hi;
        held_merge(i - 1);
        return;
    }
    if (hd.n == HELD_MAX) { /* the oldest kind of knowledge to lose: the lowest range */
        hd.dropped++;
        held_remove(0);
        i = i ? i - 1 : 0;
    }
    memmove(&hd.h[i + 1], &hd.h[i], (hd.n - i) * sizeof(hd.h[0]));
    hd.h[i] = *r;
    set_n(hd.n + 1);
    held_merge(i);
}

/* CPUs `cpus` flush every leaf that meets [lo, hi) (and, `arrays`, so did the TLB
 * arrays): split the records there and take the CPUs out of the part inside; a record
 * nobody holds goes. */
static void held_flush(uint64_t lo, uint64_t hi, uint32_t cpus, bool arrays)
{
    for (unsigned i = 0; i < hd.n;) {
        struct held *r = &hd.h[i];
        uint64_t a = ARCH_ALIGN_DOWN(lo > r->lo ? lo : r->lo, r->leaf),
                 b = ARCH_ALIGN_UP(hi < r->hi ? hi : r->hi, r->leaf);
        a = a < r->lo ? r->lo : a, b = b > r->hi ? r->hi : b;
        if (a >= b || ((r->flushed || !arrays) && !(r->holders & cpus))) {
            i++;
            continue;
        }
        struct held mid = *r, tail = *r;
        mid.lo = a, mid.hi = b, mid.pa = r->pa + (a - r->lo);
        mid.holders &= ~cpus;
        mid.flushed |= arrays;
        tail.lo = b, tail.pa = r->pa + (b - r->lo);
        r->hi = a;
        bool keep_head = r->lo < r->hi;
        if (!keep_head)
            held_remove(i);
        if (tail.lo < tail.hi)
            held_insert(&tail);
        if (mid.holders)
            held_insert(&mid);
        /* everything up to b is done: go on after it */
        i = 0;
        while (i < hd.n && hd.h[i].lo < b)
            i++;
    }
}

/* A leaf [lo, hi) to frame pa (writable: w) changed while CPUs ran: remember who may
 * still use it. */
static void held_note(uint64_t lo, uint64_t hi, uint64_t leaf, phys_addr_t pa, bool w,
                      bool write_only)
{
    unsigned me = arch_cpu_id();
    uint32_t cpus = running() | cpu_bit(me);
    if (!(cpus & ~cpu_bit(me)))
        return; /* no other CPU runs: its own stale entry is the TLB arrays' */
    held_flush(lo, hi, ~UINT32_C(0), true); /* an older record of the range is this one now */
    struct held r = {.lo = lo,
                     .hi = hi,
                     .leaf = leaf,
                     .pa = pa,
                     .holders = cpus,
                     .had = cpus,
                     .writer = (uint8_t)me,
                     .w = w,
                     .write_only = write_only};
    /* The stack only for a record that does not continue the last one (an unmap of a
     * range writes its leaves in order). */
    bool cont = false;
    for (unsigned i = 0; i < hd.n && !cont; i++) {
        r.stack = hd.h[i].stack;
        cont = same_kind(&hd.h[i], &r);
    }
    if (!cont)
        r.stack = sim_stack_capture(3); /* held_note, pte_changed, arch_set_pte */
    hd.made++;
    held_insert(&r);
}

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
    if (running() && leaf_at(old, level)) {
        bool w_lost = (old & PTE_W) && !(val & PTE_W) && !moved && now;
        if (!now || moved || w_lost)
            held_note(lo, hi, span, pte_leaf_frame(old, level) + (lo - va), (old & PTE_W) != 0,
                      !(!now || moved));
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
    if (hd.n) /* every record's stale entry is gone from the arrays; this CPU holds none */
        held_flush(SIM_KVA_BASE, SIM_KVA_BASE + SIM_KVA_SIZE, cpu_bit(arch_cpu_id()), true);
    mmu.cr3_loads++;
    mmu.batch_fill_lo = mmu.batch_fill_hi = mmu.batch_flush_lo = mmu.batch_flush_hi = 0;
    fill_range(SIM_KVA_BASE, SIM_KVA_BASE + SIM_KVA_SIZE);
    sim_mmu_unlock();
}

/* invlpg of va on the CPUs `cpus`. Lock held. */
static void invlpg_on(uint64_t va, uint32_t cpus)
{
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
    if (hd.n)
        held_flush(base, base + size, cpus, true);
}

void arch_invlpg(const void *p)
{
    uint64_t va = (uintptr_t)p;
    if (!sim_in_window(va))
        return; /* translations outside the window are the host's, never stale */
    sim_mmu_lock();
    invlpg_on(va, cpu_bit(arch_cpu_id()));
    sim_mmu_unlock();
}

void arch_tlb_shootdown(const void *p, uint64_t len)
{
    uint64_t lo = (uintptr_t)p, hi = lo + len;
    if (!len || hi < lo || !clip_to_window(&lo, &hi))
        return;
    sim_mmu_lock();
    hd.shootdowns++;
    for (uint64_t va = ARCH_ALIGN_DOWN(lo, ARCH_PAGE_4K); va < hi; va += ARCH_PAGE_4K)
        invlpg_on(va, ~UINT32_C(0)); /* every CPU: the IPIs and their wait, at once */
    sim_mmu_unlock();
}

/* Called between runs, when none of a run's CPUs executes; with no record there is
 * nothing to take the MMU lock for (a schedule calls these four times). */
void sim_mmu_cpus_running(uint32_t cpus)
{
    __atomic_store_n(&hd.running, cpus, __ATOMIC_RELAXED);
    if (!__atomic_load_n(&hd.n, __ATOMIC_RELAXED))
        return;
    sim_mmu_lock();
    set_n(0); /* each CPU of a run starts with its TLB flushed */
    sim_mmu_unlock();
}

void sim_mmu_cpu_stopped(unsigned cpu)
{
    /* A record made after this CPU left the running set may still name it: harmless,
     * as it never uses a translation again in this run. */
    __atomic_fetch_and(&hd.running, ~cpu_bit(cpu), __ATOMIC_RELAXED);
    if (!__atomic_load_n(&hd.n, __ATOMIC_RELAXED))
        return;
    sim_mmu_lock();
    if (hd.n) /* it uses nothing any more */
        held_flush(SIM_KVA_BASE, SIM_KVA_BASE + SIM_KVA_SIZE, cpu_bit(cpu), false);
    sim_mmu_unlock();
}

/* The 2 MiB slots around [lo, hi), in the window. */
static void slots_of(uint64_t *lo, uint64_t *hi)
{
    *lo = ARCH_ALIGN_DOWN(*lo, ARCH_PAGE_2M);
    *hi = ARCH_ALIGN_UP(*hi, ARCH_PAGE_2M);
    clip_to_window(lo, hi);
}

void sim_mmu_cpu_switch(unsigned cpu)
{
    if (!__atomic_load_n(&hd.n, __ATOMIC_RELAXED))
        return;
    sim_mmu_lock();
    struct sim_mmu_stats st;
    sim_tlb_get_stats(&st);
    for (unsigned i = 0; i < hd.n; i++) {
        struct held *r = &hd.h[i];
        if (!r->flushed || !(r->holders & cpu_bit(cpu)) || r->maps_seen == st.host_maps + 1)
            continue;
        /* What the host maps there is what a CPU that flushed sees: keep this one out,
         * so that its next use faults and is checked. */
        uint64_t lo = r->lo, hi = r->hi;
        slots_of(&lo, &hi);
        sim_tlb_evict(lo, hi);
        /* Memcheck calls the first touch of a PROT_NONE range invalid before the fault
         * reaches the handler that checks it; the range is the window's, addressable. */
        VALGRIND_MAKE_MEM_DEFINED(lo, hi - lo);
        hd.evictions++;
        r->maps_seen = st.host_maps + 1; /* no map since: nothing to keep out */
    }
    sim_mmu_unlock();
}

bool sim_mmu_held_use(uint64_t va, enum arch_access access, struct sim_tlb_held *out)
{
    unsigned me = arch_cpu_id();
    for (unsigned i = 0; i < hd.n; i++) {
        const struct held *r = &hd.h[i];
        if (va < r->lo || va >= r->hi || !r->flushed || !(r->holders & cpu_bit(me)))
            continue;
        if (access == ARCH_ACCESS_EXEC || (access == ARCH_ACCESS_WRITE && !r->w) ||
            (r->write_only && access != ARCH_ACCESS_WRITE))
            return false; /* the old translation would not have let it through either */
        uint64_t base = ARCH_ALIGN_DOWN(va, r->leaf);
        base = base < r->lo ? r->lo : base;
        *out = (struct sim_tlb_held){.base = base,
                                     .size = r->leaf,
                                     .pa = r->pa + (base - r->lo),
                                     .w = r->w,
                                     .write_only = r->write_only,
                                     .writer = r->writer,
                                     .had = r->had,
                                     .holders = r->holders,
                                     .stack = r->stack};
        hd.reports++;
        return true;
    }
    return false;
}

void sim_mmu_held_allow(const struct sim_tlb_held *h)
{
    held_flush(h->base, h->base + h->size, cpu_bit(arch_cpu_id()), false);
    uint64_t lo = h->base, hi = h->base + h->size;
    slots_of(&lo, &hi);
    sim_tlb_evict(lo, hi);
    struct sim_tlb_run r = {0};
    sim_tlb_fill(&r, h->base, h->size, h->pa, h->w);
    sim_tlb_run_flush(&r);
    sim_tlb_realise_at(h->base, h->w ? ARCH_ACCESS_WRITE : ARCH_ACCESS_READ);
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
