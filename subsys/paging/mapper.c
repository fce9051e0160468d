/* mapper.c - map, unmap, protect and translate on the x86_64 4-level tables.
 *
 * Every operation is one recursive walk over the range, run twice: a check pass that
 * reads the tables and decides the result (and how many tables a map needs), then,
 * only if it succeeds, a commit pass that writes. A refused request therefore changes
 * nothing. Tables are allocated from the frame allocator, counted (present entries,
 * kept in the frame's word) and freed when they empty. */
#include "paging_internal.h"
#include <arch/console.h>
#include <arch/cpu.h>
#include <arch/debug.h>
#include <arch/mem.h>
#include <arch/panic.h>
#include <arch/ptwalk.h>

enum op_kind { OP_MAP, OP_UNMAP, OP_PROTECT };

struct op {
    enum op_kind kind;
    bool commit;
    int leaf_level;  /* OP_MAP/OP_UNMAP: the level of the pages; OP_PROTECT: any leaf */
    uint64_t va0;    /* start of the range */
    phys_addr_t pa0; /* OP_MAP: frame of va0 */
    pte_t bits;      /* OP_MAP: leaf bits besides the address; OP_PROTECT: the new rights */
    bool active;     /* the space is loaded: flush what changes */
    uint64_t tables; /* check pass of OP_MAP: tables that must be allocated */
    struct pg_ret err;
    uint64_t size;  /* OP_MAP: of the range, for the frame checks */
    unsigned flags; /* OP_MAP: as asked */
    /* OP_MAP of new frames (pg_map_alloc_range): each page takes the next frame of a
     * chain instead of pa0 + i pages. They are fresh from the allocator: no frame
     * check. */
    bool fresh;
    phys_addr_t next_frame;
};

/* A chain of fresh frames, linked through their first word (the direct map), so that
 * a range's every frame can be allocated before any is mapped, with no array. */
static phys_addr_t chain_take(phys_addr_t *head)
{
    phys_addr_t f = *head;
    volatile phys_addr_t *link = arch_phys_to_virt(f);
    *head = *link;
    *link = 0; /* the frame is all zero again */
    return f;
}

static uint64_t level_size(int level)
{
    return UINT64_C(1) << PT_LEVEL_SHIFT(level);
}

static int level_of(uint64_t page_size)
{
    return page_size == ARCH_PAGE_4K   ? 1
           : page_size == ARCH_PAGE_2M ? 2
           : page_size == ARCH_PAGE_1G ? 3
                                       : 0;
}

static pte_t *table_ptr(phys_addr_t table)
{
    return arch_phys_to_virt(table);
}

static struct pg_ret fail(enum pg_err err, uint64_t value)
{
    return (struct pg_ret){err, value};
}

/* The first frame mapped anywhere under a table (to name what is in the way). */
static phys_addr_t first_frame(phys_addr_t table, int level)
{
    const pte_t *t = table_ptr(table);
    for (unsigned i = 0; i < PTE_ENTRIES; i++) {
        pte_t e = arch_get_pte(&t[i]);
        if (!(e & PTE_P))
            continue;
        return pte_is_leaf(e, level) ? pte_leaf_frame(e, level)
                                     : first_frame(PTE_ADDR(e), level - 1);
    }
    return 0;
}

/* Tables a map would create below an absent entry at `level` for [lo, hi). */
static uint64_t tables_needed(int level, uint64_t lo, uint64_t hi, int leaf_level)
{
    if (level - 1 < leaf_level)
        return 0;
    uint64_t n = 1, span = level_size(level - 1);
    if (level - 1 == leaf_level)
        return n;
    for (uint64_t s = ARCH_ALIGN_DOWN(lo, span); s < hi; s += span)
        n += tables_needed(level - 1, s > lo ? s : lo, s + span < hi ? s + span : hi, leaf_level);
    return n;
}

/* The leaf at va changed: no CPU may go on using it (the frame may be freed next). */
static void flush(struct op *op, uint64_t va)
{
    if (op->active)
        arch_tlb_shootdown((const void *)(uintptr_t)va, 1);
}

static void set(phys_addr_t table, unsigned i, pte_t old, pte_t val)
{
    arch_set_pte(&table_ptr(table)[i], val);
    int d = ((val & PTE_P) ? 1 : 0) - ((old & PTE_P) ? 1 : 0);
    /* An adopted root (the boot tables) is not the allocator's: nothing to count. */
    if (d && frame_state_of(table) == FS_TABLE)
        frame_table_adjust(table, d);
}

/* One leaf of the range (entry `e` at `level`, covering slot_va). */
static void leaf_op(struct op *op, phys_addr_t table, unsigned i, int level, uint64_t slot_va)
{
    pte_t e = arch_get_pte(&table_ptr(table)[i]);
    uint64_t size = level_size(level);
    switch (op->kind) {
    case OP_MAP: {
        if (e & PTE_P) {
            phys_addr_t there = pte_is_leaf(e, level) ? pte_leaf_frame(e, level)
                                                      : first_frame(PTE_ADDR(e), level - 1);
            op->err = fail(PG_ERR_PAGE_ALREADY_MAPPED, there);
            return;
        }
        if (!op->commit)
            return;
        phys_addr_t pa = op->fresh ? chain_take(&op->next_frame) : op->pa0 + (slot_va - op->va0);
        set(table, i, e, pa | op->bits);
        if (op->bits & PG_PTE_TRACKED)
            frame_map_get(pa, size >> ARCH_PAGE_SHIFT, (op->bits & PG_PTE_OWNED) != 0);
        return;
    }
    case OP_UNMAP:
        if (!(e & PTE_P)) {
            op->err = fail(PG_ERR_PAGE_NOT_MAPPED, slot_va);
            return;
        }
        if (!pte_is_leaf(e, level)) {
            op->err = fail(PG_ERR_COUNT_MISMATCH, slot_va); /* smaller pages live there */
            return;
        }
        if ((e & PG_PTE_OWNED) && frame_count_of(pte_leaf_frame(e, level)) > 1) {
            op->err = fail(PG_ERR_FRAME_IN_USE, pte_leaf_frame(e, level)); /* still shared */
            return;
        }
        if (!op->commit)
            return;
        set(table, i, e, 0);
        flush(op, slot_va);
        if (e & PG_PTE_TRACKED) {
            frame_map_put(pte_leaf_frame(e, level), size >> ARCH_PAGE_SHIFT);
            if ((e & PG_PTE_OWNED) && frame_free(pte_leaf_frame(e, level), size) != PG_OK)
                arch_panic("pg_unmap: owned frame 0x%lx could not be freed",
                           pte_leaf_frame(e, level));
        }
        return;
    case OP_PROTECT: {
        if (!op->commit)
            return;
        pte_t rights = PTE_W | PTE_NX | PTE_PCD | PTE_PWT;
        pte_t val = (e & ~rights) | op->bits;
        if (val != e) {
            set(table, i, e, val);
            flush(op, slot_va);
        }
        return;
    }
    }
}

/* Walk [lo, hi) under `table` (at `level`). Stops at the first error. */
static void walk(struct op *op, phys_addr_t table, int level, uint64_t lo, uint64_t hi)
{
    uint64_t span = level_size(level);
    for (uint64_t s = ARCH_ALIGN_DOWN(lo, span); s < hi && !op->err.err; s += span) {
        uint64_t a = s > lo ? s : lo, b = s + span < hi ? s + span : hi;
        unsigned i = (unsigned)PT_INDEX(s, level);
        pte_t e = arch_get_pte(&table_ptr(table)[i]);
        bool present = e & PTE_P;
        if (present && !pt_entry_well_formed(e, level))
            arch_panic("pg walk: malformed entry 0x%lx at level %d for 0x%lx", e, level, s);
        if (level == op->leaf_level ||
            (op->kind == OP_PROTECT && present && pte_is_leaf(e, level))) {
            if (op->kind == OP_PROTECT && (a != s || b != s + span)) {
                op->err =
                    fail(PG_ERR_PARENT_HUGE, pte_leaf_frame(e, level)); /* covers part of it */
                return;
            }
            leaf_op(op, table, i, level, s);
            continue;
        }
        if (present && pte_is_leaf(e, level)) {
            op->err = fail(PG_ERR_PARENT_HUGE, pte_leaf_frame(e, level));
            return;
        }
        if (!present) {
            if (op->kind != OP_MAP) {
                op->err = fail(PG_ERR_PAGE_NOT_MAPPED, a);
                return;
            }
            if (!op->commit) {
                op->tables += tables_needed(level, a, b, op->leaf_level);
                continue;
            }
            phys_addr_t child = frame_table_alloc();
            if (!child)
                arch_panic("pg_map: table allocation failed after the check reserved it");
            set(table, i, e, child | PTE_P | PTE_W);
            e = arch_get_pte(&table_ptr(table)[i]);
        }
        phys_addr_t child = PTE_ADDR(e);
        if (frame_state_of(child) != FS_TABLE)
            arch_panic("pg walk: entry 0x%lx at level %d points at a frame that is not a table", e,
                       level);
        walk(op, child, level - 1, a, b);
        if (op->commit && op->kind == OP_UNMAP && frame_count_of(child) == 0) {
            set(table, i, e, 0);
            flush(op, a); /* drop paging-structure caches that still point at it */
            frame_table_free(child);
        }
    }
}

/* Argument checks common to every range operation. */
static enum pg_err check_range(const struct pg_space *as, uint64_t va, uint64_t size,
                               uint64_t align)
{
    if (!as || !as->live)
        return PG_ERR_NOT_INITIALISED;
    if (!frame_initialised())
        return PG_ERR_NOT_INITIALISED;
    if (!size)
        return PG_ERR_ZERO_SIZE;
    if (va + size < va)
        return PG_ERR_OVERFLOW;
    if (!arch_va_canonical(va) || !arch_va_canonical(va + size - 1) ||
        (va >> 47) != ((va + size - 1) >> 47))
        return PG_ERR_NON_CANONICAL;
    if (!ARCH_IS_ALIGNED(va, align) || !ARCH_IS_ALIGNED(size, align))
        return PG_ERR_MISALIGNED;
    return PG_OK;
}

/* The check walk: nothing is written. For a map, also the frames and the tables the
 * commit will need. */
/* Inlined into run, so a refusal's report names run's caller as the one who asked. */
__attribute__((always_inline)) static inline struct pg_ret check(struct pg_space *as, struct op *op,
                                                                 uint64_t va, uint64_t size)
{
    op->active = arch_read_cr3() == as->root;
    op->commit = false;
    walk(op, as->root, 4, va, va + size);
    if (op->err.err)
        return op->err;
    if (op->kind == OP_MAP) {
        /* The pages are free; now the frames (a page conflict is the better answer). */
        enum pg_refusal why = PG_REFUSE_QUIETLY;
        struct pg_ret fr =
            op->fresh ? fail(PG_OK, 0) : pg_admit_frames(op->pa0, op->size, op->flags, &why);
        if (fr.err) {
            pg_report_refusal(as, op->va0 + (fr.value - op->pa0), fr.value, why);
            return fr;
        }
        if (op->tables > frame_free_count() || op->tables > frame_tables_left())
            return fail(PG_ERR_NO_MEMORY, op->tables);
    }
    return fail(PG_OK, va);
}

/* The commit walk, after a check that passed: it cannot fail. */
static struct pg_ret commit(struct op *op, phys_addr_t root, uint64_t va, uint64_t size)
{
    op->commit = true;
    arch_pte_batch_begin();
    walk(op, root, 4, va, va + size);
    arch_pte_batch_end();
    if (op->err.err)
        arch_panic("pg: commit failed after its check passed (%s)", pg_strerror(op->err.err));
    return fail(PG_OK, va);
}

__attribute__((noinline)) static struct pg_ret run(struct pg_space *as, struct op *op, uint64_t va,
                                                   uint64_t size)
{
    struct pg_ret r = check(as, op, va, size);
    return r.err ? r : commit(op, as->root, va, size);
}

static pte_t rights_bits(unsigned flags)
{
    return ((flags & PG_WRITE) ? PTE_W : 0) | ((flags & PG_EXEC) ? 0 : PTE_NX) |
           ((flags & PG_UNCACHED) ? PTE_PCD | PTE_PWT : 0) | ((flags & PG_GLOBAL) ? PTE_G : 0);
}

static enum pg_err check_rights(unsigned flags)
{
    if ((flags & PG_WRITE) && (flags & PG_EXEC) && !(flags & PG_ALLOW_WX))
        return PG_ERR_WRITE_EXEC;
    return PG_OK;
}

__attribute__((noinline)) static struct pg_ret map(struct pg_space *as, uint64_t va, phys_addr_t pa,
                                                   uint64_t size, uint64_t page_size,
                                                   unsigned flags)
{
    int level = level_of(page_size);
    if (!level)
        return fail(page_size ? PG_ERR_COUNT_MISMATCH : PG_ERR_ZERO_SIZE, page_size);
    enum pg_err err = check_range(as, va, size, page_size);
    if (!err && !ARCH_IS_ALIGNED(pa, page_size))
        err = PG_ERR_MISALIGNED;
    if (!err)
        err = check_rights(flags);
    if (err)
        return fail(err, va);
    struct op op = {
        .kind = OP_MAP, .leaf_level = level, .va0 = va, .pa0 = pa, .size = size, .flags = flags};
    op.bits = PTE_P | rights_bits(flags) | (level > 1 ? PTE_PS : 0) |
              ((flags & PG_UNTRACKED) ? 0 : PG_PTE_TRACKED);
    return run(as, &op, va, size);
}

struct pg_ret pg_map_range(struct pg_space *as, uint64_t va, phys_addr_t pa, uint64_t size,
                           uint64_t page_size, unsigned flags)
{
    return map(as, va, pa, size, page_size, flags);
}

struct pg_ret pg_unmap_range(struct pg_space *as, uint64_t va, uint64_t size, uint64_t page_size)
{
    int level = level_of(page_size);
    if (!level)
        return fail(page_size ? PG_ERR_COUNT_MISMATCH : PG_ERR_ZERO_SIZE, page_size);
    enum pg_err err = check_range(as, va, size, page_size);
    if (err)
        return fail(err, va);
    struct op op = {.kind = OP_UNMAP, .leaf_level = level};
    return run(as, &op, va, size);
}

struct pg_ret pg_protect_range(struct pg_space *as, uint64_t va, uint64_t size, unsigned flags)
{
    enum pg_err err = check_range(as, va, size, ARCH_PAGE_4K);
    if (!err)
        err = check_rights(flags);
    if (err)
        return fail(err, va);
    struct op op = {.kind = OP_PROTECT, .leaf_level = 0, .bits = rights_bits(flags) & ~PTE_G};
    return run(as, &op, va, size);
}

/* Map new frames, owned by the mapping: validate, then commit. One check walk; then
 * every frame is allocated (chained through the frames themselves); then one commit
 * walk maps them. Too few tables or free frames for the whole range is a refusal
 * before anything is allocated; if frames still run out part way (fragmentation of
 * large frames, an injected failure), the ones taken go back and nothing was mapped:
 * the caller sees no change. */
struct pg_ret pg_map_alloc_range(struct pg_space *as, uint64_t va, uint64_t size,
                                 uint64_t page_size, unsigned flags)
{
    int level = level_of(page_size);
    if (!level)
        return fail(page_size ? PG_ERR_COUNT_MISMATCH : PG_ERR_ZERO_SIZE, page_size);
    enum pg_err err = check_range(as, va, size, page_size);
    if (!err)
        err = check_rights(flags);
    if (!err && (flags & PG_UNTRACKED))
        err = PG_ERR_INVALID_FRAME; /* new frames are always the allocator's */
    if (err)
        return fail(err, va);
    struct op op = {.kind = OP_MAP,
                    .leaf_level = level,
                    .va0 = va,
                    .size = size,
                    .flags = flags & ~PG_SHARED,
                    .fresh = true};
    op.bits =
        PTE_P | rights_bits(op.flags) | (level > 1 ? PTE_PS : 0) | PG_PTE_TRACKED | PG_PTE_OWNED;
    struct pg_ret r = check(as, &op, va, size);
    if (r.err)
        return r;
    uint64_t pages = size / page_size, frames = pages * (page_size >> ARCH_PAGE_SHIFT);
    if (op.tables + frames > frame_free_count() || op.tables + frames < frames)
        return fail(PG_ERR_NO_MEMORY, op.tables);
    phys_addr_t head = 0, tail = 0;
    for (uint64_t i = 0; i < pages; i++) {
        r = frame_alloc(page_size);
        if (r.err) {
            while (head) {
                phys_addr_t f = chain_take(&head);
                frame_free(f, page_size);
            }
            return r;
        }
        arch_phys_zero(r.value, page_size);
        if (tail)
            *(volatile phys_addr_t *)arch_phys_to_virt(tail) = r.value;
        else
            head = r.value;
        tail = r.value;
    }
    op.next_frame = head;
    return commit(&op, as->root, va, size);
}

struct pg_ret pg_translate(const struct pg_space *as, uint64_t va, struct pg_translation *out)
{
    if (!as || !as->live)
        return fail(PG_ERR_NOT_INITIALISED, va);
    if (!arch_va_canonical(va))
        return fail(PG_ERR_NON_CANONICAL, va);
    struct pt_walk w;
    enum arch_fault_reason r = pt_walk(as->root, va, ARCH_ACCESS_READ, &w);
    if (r != ARCH_FAULT_NONE)
        return fail(PG_ERR_PAGE_NOT_MAPPED, va);
    pte_t e = w.entry[w.level];
    *out = (struct pg_translation){
        .pa = w.pa,
        .page_size = w.page_size,
        .flags = (w.writable ? PG_WRITE : 0) | (w.executable ? PG_EXEC : 0) |
                 ((e & PTE_PCD) ? PG_UNCACHED : 0) | ((e & PTE_G) ? PG_GLOBAL : 0),
        .owned = (e & PG_PTE_OWNED) != 0,
    };
    return fail(PG_OK, w.pa);
}

struct pg_ret pg_map_4k(struct pg_space *as, page4k_t p, frame4k_t f, unsigned flags)
{
    return pg_map_range(as, p.va, f.pa, ARCH_PAGE_4K, ARCH_PAGE_4K, flags);
}
struct pg_ret pg_map_2m(struct pg_space *as, page2m_t p, frame2m_t f, unsigned flags)
{
    return pg_map_range(as, p.va, f.pa, ARCH_PAGE_2M, ARCH_PAGE_2M, flags);
}
struct pg_ret pg_map_1g(struct pg_space *as, page1g_t p, frame1g_t f, unsigned flags)
{
    return pg_map_range(as, p.va, f.pa, ARCH_PAGE_1G, ARCH_PAGE_1G, flags);
}
struct pg_ret pg_unmap_4k(struct pg_space *as, page4k_t p)
{
    return pg_unmap_range(as, p.va, ARCH_PAGE_4K, ARCH_PAGE_4K);
}
struct pg_ret pg_unmap_2m(struct pg_space *as, page2m_t p)
{
    return pg_unmap_range(as, p.va, ARCH_PAGE_2M, ARCH_PAGE_2M);
}
struct pg_ret pg_unmap_1g(struct pg_space *as, page1g_t p)
{
    return pg_unmap_range(as, p.va, ARCH_PAGE_1G, ARCH_PAGE_1G);
}
