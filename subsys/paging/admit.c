/* admit.c - which frames a mapping may take, and the report when it may not.
 *
 * A tracked mapping takes frames the allocator handed out, that no mapping owns and,
 * unless it shares them (PG_SHARED), that nothing maps; an untracked one (the direct
 * map's kind) takes none the allocator handed out; a device mapping takes no RAM. A
 * refusal that names a bug is said out loud, with who has the frame. */
#include "paging_internal.h"
#include <arch/console.h>
#include <arch/debug.h>
#include <arch/mem.h>
#include <arch/ptwalk.h>

static struct pg_ret fail(enum pg_err err, uint64_t value)
{
    return (struct pg_ret){err, value};
}

static uint64_t level_size(int level)
{
    return UINT64_C(1) << PT_LEVEL_SHIFT(level);
}

static pte_t *table_ptr(phys_addr_t table)
{
    return arch_phys_to_virt(table);
}

/* The lowest RAM address in [pa, pa+size), or `pa + size` if there is none. */
static phys_addr_t first_ram(phys_addr_t pa, uint64_t size)
{
    size_t n;
    const struct arch_mem_range *r = arch_mem_ranges(&n);
    for (size_t i = 0; i < n; i++) { /* sorted by base */
        if (r[i].base + r[i].size > pa && r[i].base < pa + size)
            return r[i].base > pa ? r[i].base : pa;
    }
    return pa + size;
}

/* Every 4 KiB frame of [pa, pa+size) may be mapped with these flags: a tracked
 * mapping needs frames the allocator handed out, that no mapping owns, and that are
 * unmapped unless PG_SHARED; an untracked one needs frames the allocator did not
 * hand out (free ones and tables are the direct map's), and a device mapping needs
 * frames that are not RAM. */
struct pg_ret pg_admit_frames(phys_addr_t pa, uint64_t size, unsigned flags, enum pg_refusal *why)
{
    if (pa + size < pa || pa + size > (UINT64_C(1) << ARCH_PHYS_BITS))
        return fail(PG_ERR_INVALID_FRAME, pa);
    if (flags & PG_UNTRACKED) {
        phys_addr_t ram = first_ram(pa, size);
        if ((flags & PG_UNCACHED) && ram != pa + size) {
            *why = PG_REFUSE_MMIO;
            return fail(PG_ERR_INVALID_FRAME, ram);
        }
        phys_addr_t end = frame_end() < pa + size ? frame_end() : pa + size;
        for (phys_addr_t f = pa; f < end; f += ARCH_PAGE_4K) {
            if (frame_state_of(f) == FS_ALLOCATED) {
                *why = PG_REFUSE_UNTRACKED;
                return fail(PG_ERR_INVALID_FRAME, f);
            }
        }
        return fail(PG_OK, 0);
    }
    for (phys_addr_t f = pa; f < pa + size; f += ARCH_PAGE_4K) {
        if (frame_state_of(f) != FS_ALLOCATED)
            return fail(PG_ERR_INVALID_FRAME, f);
        unsigned c = frame_count_of(f);
        if (c == FRAME_COUNT_MAX || (c && !(flags & PG_SHARED)) || frame_owned(f)) {
            *why = c == FRAME_COUNT_MAX   ? PG_REFUSE_QUIETLY
                   : !(flags & PG_SHARED) ? PG_REFUSE_ALIAS
                                          : PG_REFUSE_OWNED;
            return fail(PG_ERR_FRAME_ALREADY_MAPPED, f);
        }
    }
    return fail(PG_OK, 0);
}

static bool reports = true;

void pg_set_reports(bool on)
{
    reports = on;
}

bool pg_reports_on(void)
{
    return reports;
}

/* Where in the window of `root` frame f is mapped (a leaf covering it), or 0. */
static uint64_t find_mapping(phys_addr_t table, int level, uint64_t base, phys_addr_t f)
{
    const pte_t *t = table_ptr(table);
    for (unsigned i = 0; i < PTE_ENTRIES; i++) {
        pte_t e = arch_get_pte(&t[i]);
        uint64_t va = base + (uint64_t)i * level_size(level);
        if (!(e & PTE_P))
            continue;
        if (pte_is_leaf(e, level)) {
            phys_addr_t pa = pte_leaf_frame(e, level);
            if (f - pa < level_size(level))
                return va + (f - pa);
        } else {
            uint64_t hit = find_mapping(PTE_ADDR(e), level - 1, va, f);
            if (hit)
                return hit;
        }
    }
    return 0;
}

/* A refused frame is said out loud: two pages on one frame "without asking", a page
 * on a frame another mapping owns, or a mapping that claims not to be the
 * allocator's over a frame the allocator handed out are the bugs the checks exist to
 * catch, and the report names who has the frame. */
void pg_report_refusal(const struct pg_space *as, uint64_t va, phys_addr_t f, enum pg_refusal why)
{
    if (!reports || why == PG_REFUSE_QUIETLY)
        return;
    struct arch_kva_window w = arch_kva_window();
    pte_t top = arch_get_pte(&table_ptr(as->root)[PT_INDEX(w.base, 4)]);
    uint64_t slot = ARCH_ALIGN_DOWN(w.base, level_size(4)); /* the window's PML4 slot */
    uint64_t there = (top & PTE_P) ? find_mapping(PTE_ADDR(top), 3, slot, f) : 0;
    const char *where = there ? "" : " (not in this address space's window)";
    switch (why) {
    case PG_REFUSE_ALIAS:
        kprintf("# paging: aliasing refused: mapping page 0x%lx to frame 0x%lx without "
                "PG_SHARED, but the frame is already mapped",
                va, f);
        break;
    case PG_REFUSE_OWNED:
        kprintf("# paging: aliasing refused: mapping page 0x%lx to frame 0x%lx, but the frame "
                "belongs to the mapping that owns it, mapped",
                va, f);
        break;
    case PG_REFUSE_UNTRACKED:
        kprintf("# paging: untracked mapping refused: mapping page 0x%lx to frame 0x%lx with "
                "PG_UNTRACKED, but the frame allocator handed that frame out; it is mapped",
                va, f);
        where = there ? "" : " nowhere in this address space's window";
        break;
    default:
        kprintf("# paging: device mapping refused: mapping page 0x%lx to 0x%lx uncached and "
                "untracked (PG_MMIO), but that is RAM\n",
                va, f);
        there = 0, where = NULL;
        break;
    }
    if (there)
        kprintf(" at 0x%lx\n", there);
    else if (where)
        kprintf("%s\n", where);
    if (there)
        arch_mm_history(there, "   ");
    kprintf("#   the refused mapping was asked for at:\n");
    arch_stack_print(arch_stack_capture(3), "     "); /* report, run, map */
}
