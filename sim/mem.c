/* mem.c - simulated physical memory: one memfd, its direct map, the RAM ranges. */
#define _GNU_SOURCE
#include "sim_internal.h"
#include <arch/debug.h>
#include <arch/mem.h>
#include <arch/panic.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static struct arch_mem_range ranges[3];

int sim_mem_init(uint64_t size)
{
    int fd = memfd_create("kernsim-ram", MFD_CLOEXEC);
    if (fd < 0 || ftruncate(fd, (off_t)size) != 0) {
        fprintf(stderr, "kernsim: memfd for %llu bytes of RAM: %s\n", (unsigned long long)size,
                strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    void *dm = mmap((void *)SIM_DIRECT_MAP_BASE, size, PROT_READ | PROT_WRITE,
                    MAP_SHARED | MAP_FIXED_NOREPLACE, fd, 0);
    if (dm != (void *)SIM_DIRECT_MAP_BASE) {
        fprintf(stderr, "kernsim: cannot place the direct map at 0x%llx: %s\n",
                (unsigned long long)SIM_DIRECT_MAP_BASE,
                dm == MAP_FAILED ? strerror(errno) : "kernel chose another address");
        if (dm != MAP_FAILED)
            munmap(dm, size);
        close(fd);
        return -1;
    }
    sim_machine.memfd = fd;
    sim_machine.ram_size = size;
    ranges[0] = (struct arch_mem_range){0, ARCH_PAGE_4K, ARCH_MEM_RESERVED};
    ranges[1] = (struct arch_mem_range){SIM_BOOT_PML4, ARCH_PAGE_4K, ARCH_MEM_BOOT_PT};
    ranges[2] = (struct arch_mem_range){SIM_FIRST_FREE, size - SIM_FIRST_FREE, ARCH_MEM_USABLE};
    return 0;
}

void sim_mem_fini(void)
{
    munmap((void *)SIM_DIRECT_MAP_BASE, sim_machine.ram_size);
    close(sim_machine.memfd);
    sim_machine.memfd = -1;
    sim_machine.ram_size = 0;
}

/* Zero RAM. A few populated pages (a fuzz input's tables and frames) are written:
 * punching them would free them, and the next input would fault each one in again.
 * More than that are punched: the file's holes read as zeros, uncommitted. */
void sim_mem_zero(void)
{
    enum { MAX_EXTENTS = 16, MAX_WRITTEN = 256 << 10 };
    struct {
        off_t lo, hi;
    } ext[MAX_EXTENTS];
    int fd = sim_machine.memfd, n = 0;
    off_t end = (off_t)sim_machine.ram_size, total = 0, at = 0;
    while (at < end) {
        off_t lo = lseek(fd, at, SEEK_DATA), hi;
        if (lo < 0 && errno == ENXIO)
            break; /* no data after at */
        if (lo < 0 || (hi = lseek(fd, lo, SEEK_HOLE)) < 0 || n == MAX_EXTENTS ||
            (total += hi - lo) > MAX_WRITTEN)
            goto punch;
        ext[n].lo = lo, ext[n].hi = hi > end ? end : hi, n++;
        at = hi;
    }
    for (int i = 0; i < n; i++) {
        char *p = (char *)SIM_DIRECT_MAP_BASE + ext[i].lo;
        arch_san_unpoison(p, (size_t)(ext[i].hi - ext[i].lo)); /* RAM, not a checker's report */
        memset(p, 0, (size_t)(ext[i].hi - ext[i].lo));
    }
    return;
punch:
    if (fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, end) != 0)
        memset((void *)SIM_DIRECT_MAP_BASE, 0, sim_machine.ram_size);
}

uint64_t sim_ram_size(void)
{
    return sim_machine.ram_size;
}

const struct arch_mem_range *arch_mem_ranges(size_t *count)
{
    *count = sim_machine.booted ? 3 : 0;
    return ranges;
}

bool arch_phys_is_ram(phys_addr_t pa, uint64_t len)
{
    return pa < sim_machine.ram_size && len <= sim_machine.ram_size - pa;
}

uintptr_t arch_direct_map_base(void)
{
    return SIM_DIRECT_MAP_BASE;
}

void *arch_phys_to_virt(phys_addr_t pa)
{
    if (!arch_phys_is_ram(pa, 1))
        arch_panic("arch_phys_to_virt: 0x%lx is not RAM (RAM ends at 0x%lx)", pa,
                   sim_machine.ram_size);
    return (void *)(uintptr_t)(SIM_DIRECT_MAP_BASE + pa);
}

void arch_phys_zero(phys_addr_t pa, uint64_t size)
{
    void *p = arch_phys_to_virt(pa);
    if (!arch_phys_is_ram(pa, size))
        arch_panic("arch_phys_zero: [0x%lx, +0x%lx) is not RAM", pa, size);
    /* A hole in the memfd reads as zeros through every mapping of it. Small ranges
     * are cheaper to write. The checkers learn the bytes are defined, as a memset
     * would tell them. */
    if (size < (UINT64_C(64) << 10) || (pa | size) & (ARCH_PAGE_4K - 1) ||
        fallocate(sim_machine.memfd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)pa,
                  (off_t)size) != 0) {
        memset(p, 0, size);
        return;
    }
    arch_san_unpoison(p, size);
}

phys_addr_t arch_virt_to_phys(const void *va)
{
    uint64_t off = (uintptr_t)va - SIM_DIRECT_MAP_BASE;
    if (off >= sim_machine.ram_size)
        arch_panic("arch_virt_to_phys: %p is not in the direct map", va);
    return off;
}

struct arch_kva_window arch_kva_window(void)
{
    return (struct arch_kva_window){SIM_KVA_BASE, SIM_KVA_SIZE};
}
