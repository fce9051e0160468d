/* paging_internal.h - what the files of subsys/paging share; not for callers. */
#ifndef SUBSYS_PAGING_INTERNAL_H
#define SUBSYS_PAGING_INTERNAL_H

#include "paging.h"

/* The files' own: hidden, reached directly in a position-independent build. */
#pragma GCC visibility push(hidden)

/* Software bits in a leaf: the mapping owns its frame / the frame is counted. */
#define PG_PTE_OWNED   PTE_AVL0
#define PG_PTE_TRACKED PTE_AVL1

enum frame_state {
    FS_UNMANAGED = 0, /* not RAM, reserved, the kernel, or the allocator's own bookkeeping */
    FS_FREE = 1,
    FS_ALLOCATED = 2, /* count: how many leaves map it; owned: one of them owns it */
    FS_TABLE = 3,     /* count: present entries in it */
};
#define FRAME_COUNT_MAX 0x1fff

enum frame_state frame_state_of(phys_addr_t pa);
unsigned frame_count_of(phys_addr_t pa);
/* The frame belongs to the mapping that maps it (pg_map_alloc_range, regions, the
 * heap): nobody else may map it, shared or not. */
bool frame_owned(phys_addr_t pa);
/* The end of the frames the allocator describes: every frame at or above it is
 * FS_UNMANAGED. */
phys_addr_t frame_end(void);
/* Adjust the map counts of the `n` 4 KiB frames from pa (all FS_ALLOCATED). `owned`:
 * this is the first mapping, and it owns the frames (put clears it with the count). */
void frame_map_get(phys_addr_t pa, uint64_t n, bool owned);
void frame_map_put(phys_addr_t pa, uint64_t n);
/* A zeroed page-table frame, state FS_TABLE with count 0; value 0 if none. */
phys_addr_t frame_table_alloc(void);
/* How many more tables frame_table_alloc may hand out, if frames allow (injection,
 * frame_fail_tables_after); UINT64_MAX when nothing is injected. */
uint64_t frame_tables_left(void);
void frame_table_free(phys_addr_t pa);
unsigned frame_table_adjust(phys_addr_t pa, int delta);
uint64_t frame_free_count(void);

/* admit.c */
/* Why pg_admit_frames refused a frame, for the report. */
enum pg_refusal {
    PG_REFUSE_QUIETLY,   /* nothing to add to the error */
    PG_REFUSE_ALIAS,     /* mapped already, and PG_SHARED was not asked */
    PG_REFUSE_OWNED,     /* another mapping owns the frame */
    PG_REFUSE_UNTRACKED, /* PG_UNTRACKED over a frame the allocator handed out */
    PG_REFUSE_MMIO,      /* a device mapping (PG_UNCACHED|PG_UNTRACKED) over RAM */
};

/* Every 4 KiB frame of [pa, pa+size) may be mapped with `flags`: PG_OK, or the first
 * frame that may not with the error and (in *why) what to say of it. */
struct pg_ret pg_admit_frames(phys_addr_t pa, uint64_t size, unsigned flags, enum pg_refusal *why);
/* Report the refusal (unless pg_set_reports turned reports off, or why says nothing),
 * naming where in `as` the frame is mapped and, three frames up, who asked. */
void pg_report_refusal(const struct pg_space *as, uint64_t va, phys_addr_t f, enum pg_refusal why);

#pragma GCC visibility pop

#endif
