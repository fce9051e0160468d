/* arch/mem.h - the physical memory description and the kernel's address windows.
 *
 * Physical RAM is described by ranges the boot path collected (E820 over PVH in the
 * bare build; the memfd in the sim). Every RAM byte is visible through the direct map
 * at arch_direct_map_base() + phys. Kernel code maps its own pages only inside the
 * kernel VA window; in the sim that window is where the simulated MMU applies.
 * Every call here is for any CPU once the boot path has run (sim_boot in the sim). */
#ifndef ARCH_MEM_H
#define ARCH_MEM_H

#include <arch/types.h>

enum arch_mem_type {
    ARCH_MEM_USABLE,   /* free RAM: the frame allocator may hand it out */
    ARCH_MEM_RESERVED, /* firmware, holes, the null frame */
    ARCH_MEM_KERNEL,   /* the kernel image (bare) */
    ARCH_MEM_BOOT_PT,  /* page tables built by the boot path, live in CR3 */
};

struct arch_mem_range {
    phys_addr_t base;
    uint64_t size;
    enum arch_mem_type type;
};

/* The physical ranges of every type, sorted by base, non-overlapping, page aligned;
 * *count gets how many (0 in the sim before sim_boot). Valid for the life of the
 * kernel. */
const struct arch_mem_range *arch_mem_ranges(size_t *count);

/* True when [pa, pa+len) is RAM reachable through the direct map. */
bool arch_phys_is_ram(phys_addr_t pa, uint64_t len);

/* Where physical address 0 appears in the direct map. */
uintptr_t arch_direct_map_base(void);

/* Direct-map translation. Panics ("arch_phys_to_virt: not RAM") for an address the
 * direct map does not hold: past the end of RAM, in both builds (a reserved range
 * below it is held, as firmware tables are read through it): callers hold physical
 * addresses they got from the tables or the frame allocator, so a bad one is a bug. */
void *arch_phys_to_virt(phys_addr_t pa);
/* Zero the RAM [pa, pa+size), as a memset through the direct map would; a range
 * the direct map does not hold whole panics, as arch_phys_to_virt. The sim
 * gives large 4 KiB aligned ranges back to the host instead of writing them, so new
 * frames cost what is touched, not what was asked for. */
void arch_phys_zero(phys_addr_t pa, uint64_t size);

/* Inverse of arch_phys_to_virt; panics if `va` is not in the direct map. */
phys_addr_t arch_virt_to_phys(const void *va);

/* The kernel virtual window that mappings made by kernel code live in:
 * [base, base + size), base 1 GiB aligned, inside one PML4 slot. Fixed per build. */
struct arch_kva_window {
    uintptr_t base;
    uint64_t size;
};
struct arch_kva_window arch_kva_window(void);

/* Name [va, va+size) for diagnostics: the sim's fault reports say which region a
 * page belonged to. `name` must outlive the kernel (a string literal). No-op on
 * hardware, outside the window, and with the sim's page history off. */
void arch_mm_annotate(uint64_t va, uint64_t size, const char *name);

/* Print what the build knows of the page at va (the sim: its region, where it was
 * last mapped and unmapped) as "#" lines after `indent`; false if nothing. */
bool arch_mm_history(uint64_t va, const char *indent);

/* The frame allocator says which frames it hands out (in_use) and takes back, so the
 * sim's device models can tell a frame the kernel owns from a free one (a DMA into a
 * freed frame is a reported bug, naming where it was freed). No-op on hardware. */
void arch_mm_frames(phys_addr_t pa, uint64_t size, bool in_use);

#endif
