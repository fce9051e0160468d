/* sim_reset.c - sim_reset zeroes RAM, however much of it the last run wrote: a few
 * scattered pages (written over in place), many extents and more than a few hundred
 * KiB (punched), and bytes seen through the kernel window as well as the direct map.
 * Refused boots first, which must leave nothing for the boot that follows.
 * Exits 0 when every byte reads zero after each reset and the window is empty again;
 * prints what it found otherwise. */
#include <arch/cpu.h>
#include <arch/fault.h>
#include <arch/mem.h>
#include <arch/pte.h>
#include <sim/sim.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#define RAM (UINT64_C(16) << 20)

static int failures;

/* What the last run wrote, by whole pages: read back after the reset (reading only
 * these keeps the rest of RAM unpopulated, so the few-pages case stays few). */
static struct {
    phys_addr_t lo, hi;
} written[64];
static int nwritten;

static void fill(phys_addr_t pa, uint64_t len, uint8_t v)
{
    memset(arch_phys_to_virt(pa), v, len);
    written[nwritten].lo = ARCH_ALIGN_DOWN(pa, ARCH_PAGE_4K);
    written[nwritten++].hi = ARCH_ALIGN_UP(pa + len, ARCH_PAGE_4K);
}

static void expect_zero_in(phys_addr_t lo, phys_addr_t hi, const char *after)
{
    const uint64_t *w = arch_phys_to_virt(0);
    for (uint64_t i = lo / 8; i < hi / 8; i++)
        if (w[i]) {
            printf("sim_reset: after %s, RAM at 0x%llx holds 0x%llx\n", after,
                   (unsigned long long)(i * 8), (unsigned long long)w[i]);
            failures++;
            return;
        }
}

static void reset_and_check(const char *after)
{
    sim_reset();
    for (int i = 0; i < nwritten; i++)
        expect_zero_in(written[i].lo, written[i].hi, after);
    nwritten = 0;
}

/* Boots that are refused leave nothing behind: one with too many CPUs, and one whose
 * kernel window is taken (after RAM was made); then a boot works. */
static int refused_boots_leave_nothing(void)
{
    struct sim_config many = {.ram_size = RAM, .ncpus = 65};
    if (sim_boot(&many) != -1 || sim_ram_size() != 0) {
        printf("sim_reset: a boot with 65 CPUs was not refused cleanly\n");
        return 1;
    }
    void *squat = mmap((void *)SIM_KVA_BASE, ARCH_PAGE_4K, PROT_NONE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    if (squat != (void *)SIM_KVA_BASE) {
        printf("sim_reset: cannot take the kernel window's first page\n");
        return 1;
    }
    struct sim_config cfg = {.ram_size = RAM};
    int rc = sim_boot(&cfg);
    munmap(squat, ARCH_PAGE_4K);
    if (rc != -1 || sim_ram_size() != 0) {
        printf("sim_reset: a boot without its kernel window was not refused cleanly\n");
        return 1;
    }
    return 0;
}

int main(void)
{
    struct sim_config cfg = {.ram_size = RAM};
    if (refused_boots_leave_nothing() || sim_boot(&cfg) != 0)
        return 1;
    arch_fault_set_reports(false);
    /* A few pages, one byte at each end of each, and the last byte of RAM. */
    fill(0x3000, 1, 0xa1);
    fill(0x10000 + 4095, 1, 0xa2);
    fill(0x200000, ARCH_PAGE_4K, 0xa3);
    fill(RAM - 1, 1, 0xa4);
    reset_and_check("a few pages");

    /* More extents than are written over in place. */
    for (int i = 0; i < 40; i++)
        fill((phys_addr_t)(0x900000 + i * 2 * ARCH_PAGE_4K), 8, (uint8_t)(0xb0 + i));
    reset_and_check("forty extents");

    /* More bytes than are written over in place. */
    fill(0xc00000, UINT64_C(1) << 20, 0xc5);
    reset_and_check("a MiB");

    /* Through the window: a table chain maps a data frame, which is written there. */
    pte_t *root = arch_phys_to_virt(SIM_BOOT_PML4);
    phys_addr_t pdpt = 0x20000, pd = 0x21000, pt = 0x22000, data = 0x23000;
    arch_set_pte(&((pte_t *)arch_phys_to_virt(pd))[PT_INDEX(SIM_KVA_BASE, 2)], pt | PTE_P | PTE_W);
    arch_set_pte(&((pte_t *)arch_phys_to_virt(pdpt))[PT_INDEX(SIM_KVA_BASE, 3)],
                 pd | PTE_P | PTE_W);
    arch_set_pte(&((pte_t *)arch_phys_to_virt(pt))[PT_INDEX(SIM_KVA_BASE, 1)],
                 data | PTE_P | PTE_W);
    arch_set_pte(&root[PT_INDEX(SIM_KVA_BASE, 4)], pdpt | PTE_P | PTE_W);
    *(volatile uint64_t *)(uintptr_t)SIM_KVA_BASE = 0xd6d6d6d6;
    for (phys_addr_t t = pdpt; t <= data; t += ARCH_PAGE_4K)
        written[nwritten].lo = t, written[nwritten++].hi = t + ARCH_PAGE_4K;
    reset_and_check("a write through the window");
    struct arch_fault f;
    uint64_t v;
    if (arch_probe_read64((const void *)(uintptr_t)SIM_KVA_BASE, &v, &f)) {
        printf("sim_reset: the window still maps 0x%llx after a reset\n",
               (unsigned long long)SIM_KVA_BASE);
        failures++;
    }
    expect_zero_in(0, RAM, "every case"); /* and nothing else was left behind */
    if (!failures)
        printf("sim_reset: RAM reads zero after every reset\n");
    return failures != 0;
}
