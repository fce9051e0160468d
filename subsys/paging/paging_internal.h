/* paging_internal.h - what the files of subsys/paging share; not for callers. */
#ifndef SUBSYS_PAGING_INTERNAL_H
#define SUBSYS_PAGING_INTERNAL_H

#include "paging.h"

/* Software bits in a leaf: the mapping owns its frame / the frame is counted. */
#define PG_PTE_OWNED   PTE_AVL0
#define PG_PTE_TRACKED PTE_AVL1

enum frame_state {
    FS_UNMANAGED = 0, /* not RAM, reserved, the kernel, or the allocator's own bookkeeping */
    FS_FREE = 1,
    FS_ALLOCATED = 2, /* count: how many leaves map it */
    FS_TABLE = 3,     /* count: present entries in it */
};
#define FRAME_COUNT_MAX 0x3fff

enum frame_state frame_state_of(phys_addr_t pa);
unsigned frame_count_of(phys_addr_t pa);
/* Adjust the map counts of the `n` 4 KiB frames from pa (all FS_ALLOCATED). */
void frame_map_get(phys_addr_t pa, uint64_t n);
void frame_map_put(phys_addr_t pa, uint64_t n);
/* A zeroed page-table frame, state FS_TABLE with count 0; value 0 if none. */
phys_addr_t frame_table_alloc(void);
void frame_table_free(phys_addr_t pa);
unsigned frame_table_adjust(phys_addr_t pa, int delta);
uint64_t frame_free_count(void);

#endif
