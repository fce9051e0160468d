/* sim_mmu_test.c - hosted-only checks of the fake machine: what its TLB holds and
 * when, address-space switches, the real SIGSEGV fault path, MMIO dispatch, frames
 * beyond RAM, and refused set-up. */
#include "../ktest/ktest.h"
#include "../ktest/ktest_frames.h"
#include <arch/cpu.h>
#include <arch/fault.h>
#include <arch/io.h>
#include <arch/mem.h>
#include <arch/pte.h>
#include <arch/ptwalk.h>
#include <sim/sim.h>
#include <valgrind/valgrind.h>

/* A PDPT + PD + PT under the window's PML4 slot of `root`, like the seam fixture. */
struct tables {
    phys_addr_t root;
    pte_t *pml4e, *pdpt, *pd, *pt;
};

static pte_t *table(struct ktest *t, phys_addr_t *pa)
{
    *pa = ktest_frame_alloc(ARCH_PAGE_4K);
    KASSERT_NE(t, *pa, 0);
    return arch_phys_to_virt(*pa);
}

static void build(struct ktest *t, struct tables *tb, phys_addr_t root)
{
    uint64_t va = SIM_KVA_BASE;
    phys_addr_t pdpt, pd, pt;
    tb->root = root;
    tb->pdpt = table(t, &pdpt);
    tb->pd = table(t, &pd);
    tb->pt = table(t, &pt);
    arch_set_pte(&tb->pd[PT_INDEX(va, 2)], pt | PTE_P | PTE_W);
    arch_set_pte(&tb->pdpt[PT_INDEX(va, 3)], pd | PTE_P | PTE_W);
    tb->pml4e = &((pte_t *)arch_phys_to_virt(root))[PT_INDEX(va, 4)];
    arch_set_pte(tb->pml4e, pdpt | PTE_P | PTE_W);
}

static void cleanup(void *arg)
{
    struct tables *tb = arg;
    arch_write_cr3(SIM_BOOT_PML4);
    arch_set_pte(tb->pml4e, 0);
    arch_write_cr3(SIM_BOOT_PML4);
    arch_set_page_fault_hook(NULL, NULL);
}

static void setup(struct ktest *t, struct tables *tb)
{
    KASSERT_EQ(t, arch_read_cr3(), SIM_BOOT_PML4);
    build(t, tb, SIM_BOOT_PML4);
    ktest_defer(t, cleanup, tb);
}

static void sim_mmu_test_present_pte_is_realised_at_once(struct ktest *t)
{
    static struct tables tb;
    setup(t, &tb);
    uint64_t va = SIM_KVA_BASE + 3 * ARCH_PAGE_4K;
    KEXPECT_FALSE(t, sim_tlb_lookup(va).valid);
    phys_addr_t frame = ktest_frame_alloc(ARCH_PAGE_4K);
    struct sim_mmu_stats before, after;
    sim_mmu_get_stats(&before);
    arch_set_pte(&tb.pt[3], frame | PTE_P | PTE_W);
    sim_mmu_get_stats(&after);
    struct sim_tlb_entry e = sim_tlb_lookup(va + 8);
    KEXPECT_TRUE(t, e.valid);
    KEXPECT_EQ(t, e.va, va);
    KEXPECT_EQ(t, e.pa, frame);
    KEXPECT_EQ(t, e.page_size, ARCH_PAGE_4K);
    KEXPECT_TRUE(t, e.writable);
    KEXPECT_EQ(t, after.fills, before.fills + 1);
    KEXPECT_EQ(t, after.host_faults, before.host_faults); /* nothing faulted to get there */
}

static void sim_mmu_test_cleared_pte_stays_in_tlb_until_invlpg(struct ktest *t)
{
    static struct tables tb;
    setup(t, &tb);
    uint64_t va = SIM_KVA_BASE + 4 * ARCH_PAGE_4K;
    arch_set_pte(&tb.pt[4], ktest_frame_alloc(ARCH_PAGE_4K) | PTE_P | PTE_W);
    arch_set_pte(&tb.pt[4], 0);
    KEXPECT_TRUE(t, sim_tlb_lookup(va).valid);
    arch_invlpg((void *)(uintptr_t)(va + 100)); /* any address inside the page */
    KEXPECT_FALSE(t, sim_tlb_lookup(va).valid);
}

static void sim_mmu_test_stale_2m_entry_outlives_split_until_flush(struct ktest *t)
{
    static struct tables tb;
    setup(t, &tb);
    uint64_t va = SIM_KVA_BASE + ARCH_PAGE_2M;
    phys_addr_t big = ktest_frame_alloc(ARCH_PAGE_2M);
    arch_set_pte(&tb.pd[1], big | PTE_P | PTE_W | PTE_PS);
    KEXPECT_EQ(t, sim_tlb_lookup(va).page_size, ARCH_PAGE_2M);
    /* Split it into 4K pages without a flush: the 2M translation is still cached. */
    phys_addr_t pt_pa;
    pte_t *pt = table(t, &pt_pa);
    for (unsigned i = 0; i < 512; i++)
        arch_set_pte(&pt[i], (big + i * ARCH_PAGE_4K) | PTE_P);
    arch_set_pte(&tb.pd[1], pt_pa | PTE_P | PTE_W);
    KEXPECT_EQ(t, sim_tlb_lookup(va + 5 * ARCH_PAGE_4K).page_size, ARCH_PAGE_2M);
    KEXPECT_TRUE(t, arch_probe_write64((void *)(uintptr_t)va, 1, NULL)); /* stale: writable */
    arch_invlpg((void *)(uintptr_t)va);
    struct sim_tlb_entry e = sim_tlb_lookup(va + 5 * ARCH_PAGE_4K);
    KEXPECT_EQ(t, e.page_size, ARCH_PAGE_4K);
    KEXPECT_EQ(t, e.pa, big + 5 * ARCH_PAGE_4K);
    KEXPECT_FALSE(t, e.writable);
    KEXPECT_FALSE(t, arch_probe_write64((void *)(uintptr_t)va, 1, NULL));
}

static void sim_mmu_test_cr3_switch_changes_what_an_address_reads(struct ktest *t)
{
    static struct tables a, b;
    setup(t, &a);
    phys_addr_t root_b = ktest_frame_alloc(ARCH_PAGE_4K);
    KASSERT_NE(t, root_b, 0);
    build(t, &b, root_b); /* not loaded: nothing of it may be realised */
    phys_addr_t fa = ktest_frame_alloc(ARCH_PAGE_4K), fb = ktest_frame_alloc(ARCH_PAGE_4K);
    *(uint64_t *)arch_phys_to_virt(fa) = 0xaaaa;
    *(uint64_t *)arch_phys_to_virt(fb) = 0xbbbb;
    arch_set_pte(&a.pt[0], fa | PTE_P);
    arch_set_pte(&b.pt[0], fb | PTE_P);
    volatile uint64_t *va = (volatile uint64_t *)(uintptr_t)SIM_KVA_BASE;
    KEXPECT_EQ(t, *va, 0xaaaa);
    arch_write_cr3(root_b);
    KEXPECT_EQ(t, arch_read_cr3(), root_b);
    KEXPECT_EQ(t, *va, 0xbbbb);
    arch_write_cr3(SIM_BOOT_PML4);
    KEXPECT_EQ(t, *va, 0xaaaa);
}

static unsigned raw_calls;
static pte_t *raw_pt;
static phys_addr_t raw_frame;

static enum arch_fault_action raw_hook(const struct arch_fault *f, void *ctx)
{
    raw_calls++;
    arch_set_pte(&raw_pt[PT_INDEX(f->addr, 1)], raw_frame | PTE_P | PTE_W);
    return ARCH_FAULT_RETRY;
}

static void sim_mmu_test_plain_access_faults_into_the_hook(struct ktest *t)
{
    if (RUNNING_ON_VALGRIND)
        ktest_skip(t, "memcheck reports the deliberate fault as an invalid read");
    static struct tables tb;
    setup(t, &tb);
    raw_pt = tb.pt;
    raw_frame = ktest_frame_alloc(ARCH_PAGE_4K);
    *(uint64_t *)arch_phys_to_virt(raw_frame + 16) = 0x600d;
    raw_calls = 0;
    arch_set_page_fault_hook(raw_hook, NULL);
    struct sim_mmu_stats before, after;
    sim_mmu_get_stats(&before);
    /* A plain C load: the host faults, the sim walks, reports, and the hook maps it. */
    uint64_t v = *(volatile uint64_t *)(uintptr_t)(SIM_KVA_BASE + 9 * ARCH_PAGE_4K + 16);
    sim_mmu_get_stats(&after);
    KEXPECT_EQ(t, v, 0x600d);
    KEXPECT_EQ(t, raw_calls, 1);
    KEXPECT_EQ(t, after.host_faults, before.host_faults + 1); /* the hook's PTE store realised it */
}

struct regs {
    uint32_t r[4];
    unsigned reads, writes;
};

static uint64_t dev_read(void *ctx, uint64_t off, unsigned width)
{
    struct regs *d = ctx;
    d->reads++;
    return d->r[off / 4];
}

static void dev_write(void *ctx, uint64_t off, unsigned width, uint64_t v)
{
    struct regs *d = ctx;
    d->writes++;
    d->r[off / 4] = (uint32_t)v;
}

static void unregister(void *arg)
{
    sim_mmio_unregister((phys_addr_t)(uintptr_t)arg);
}

static void sim_mmu_test_mmio_reaches_the_device_model(struct ktest *t)
{
    static struct tables tb;
    static struct regs dev;
    static const struct sim_mmio_ops ops = {dev_read, dev_write};
    setup(t, &tb);
    const phys_addr_t base = UINT64_C(0xfee00000); /* far above the 256 MiB of RAM */
    dev = (struct regs){0};
    KASSERT_EQ(t, sim_mmio_register(base, sizeof(dev.r), &ops, &dev, "test-regs"), 0);
    ktest_defer(t, unregister, (void *)(uintptr_t)base);
    KEXPECT_EQ(t, sim_mmio_register(base + 4, 4, &ops, &dev, "overlap"), -1);
    KEXPECT_EQ(t, sim_mmio_register(0x1000, 4, &ops, &dev, "in-ram"), -1);

    arch_set_pte(&tb.pt[10], base | PTE_P | PTE_W | PTE_PCD | PTE_NX);
    volatile uint32_t *regs = (volatile uint32_t *)(uintptr_t)(SIM_KVA_BASE + 10 * ARCH_PAGE_4K);
    arch_mmio_write32(&regs[2], 0x1234);
    KEXPECT_EQ(t, dev.r[2], 0x1234);
    KEXPECT_EQ(t, arch_mmio_read32(&regs[2]), 0x1234);
    KEXPECT_EQ(t, dev.reads, 1);
    KEXPECT_EQ(t, dev.writes, 1);
    /* Past the device: nothing decodes it, reads float high. */
    KEXPECT_EQ(t, arch_mmio_read32(&regs[64]), 0xffffffff);
    /* A plain load from the MMIO page is not a device access: it is reported. */
    struct arch_fault f;
    uint64_t v;
    KEXPECT_FALSE(t, arch_probe_read64((const void *)&regs[0], &v, &f));
    KEXPECT_EQ(t, f.reason, ARCH_FAULT_NO_BACKING);
    KEXPECT_EQ(t, dev.reads, 1);
}

static uint32_t port_in(void *ctx, uint16_t port, unsigned width)
{
    return *(uint32_t *)ctx + port;
}

static void port_out(void *ctx, uint16_t port, unsigned width, uint32_t v)
{
    *(uint32_t *)ctx = v;
}

/* Port devices: a claim that is empty, wraps, lacks an op or overlaps is refused, and
 * one that is not reaches its ops. Ports cannot be given back, so the claim is made
 * once per process. */
static void sim_mmu_test_port_devices_are_claimed_once(struct ktest *t)
{
    static uint32_t last;
    static bool claimed;
    static const struct sim_pio_ops ops = {port_in, port_out}, half = {port_in, NULL};
    KEXPECT_EQ(t, sim_pio_register(0x3f8, 1, &ops, &last, "over-com1"), -1);
    KEXPECT_EQ(t, sim_pio_register(0x510, 0, &ops, &last, "empty"), -1);
    KEXPECT_EQ(t, sim_pio_register(0xfff0, 0x20, &ops, &last, "past-the-end"), -1);
    KEXPECT_EQ(t, sim_pio_register(0x510, 4, &half, &last, "no-out"), -1);
    if (!claimed) {
        KASSERT_EQ(t, sim_pio_register(0x510, 4, &ops, &last, "test-ports"), 0);
        claimed = true;
    }
    KEXPECT_EQ(t, sim_pio_register(0x513, 1, &ops, &last, "overlap"), -1);
    arch_outb(0x511, 7);
    KEXPECT_EQ(t, last, 7);
    KEXPECT_EQ(t, arch_inl(0x512), 7 + 0x512);
    KEXPECT_EQ(t, arch_inb(0x514), 0xff); /* past it: nothing decodes, reads float high */
}

static void unlink_low(void *arg)
{
    arch_set_pte(arg, 0);
    arch_write_cr3(arch_read_cr3());
}

static void sim_mmu_test_mmio_outside_the_window_follows_the_tables(struct ktest *t)
{
    static struct regs dev;
    static const struct sim_mmio_ops ops = {dev_read, dev_write};
    const phys_addr_t base = UINT64_C(0xfed00000);
    dev = (struct regs){.r = {0x11, 0x22, 0x33, 0x44}};
    KASSERT_EQ(t, sim_mmio_register(base, sizeof(dev.r), &ops, &dev, "low-regs"), 0);
    ktest_defer(t, unregister, (void *)(uintptr_t)base);
    /* PML4 slot 0 -> PDPT -> 1 GiB leaf over the device: the host never maps it, the
     * accessor only needs the walk. */
    phys_addr_t pdpt;
    pte_t *p = table(t, &pdpt);
    arch_set_pte(&p[3], ARCH_ALIGN_DOWN(base, ARCH_PAGE_1G) | PTE_P | PTE_W | PTE_PS | PTE_PCD);
    pte_t *pml4e = &((pte_t *)arch_phys_to_virt(arch_read_cr3()))[0];
    KASSERT_EQ(t, arch_get_pte(pml4e), 0);
    arch_set_pte(pml4e, pdpt | PTE_P | PTE_W);
    ktest_defer(t, unlink_low, pml4e);
    volatile uint32_t *regs =
        (volatile uint32_t *)(uintptr_t)(3 * ARCH_PAGE_1G + (base & (ARCH_PAGE_1G - 1)));
    KEXPECT_EQ(t, arch_mmio_read32(&regs[1]), 0x22);
    arch_mmio_write32(&regs[3], 0x99);
    KEXPECT_EQ(t, dev.r[3], 0x99);
}

static void sim_mmu_test_1g_leaf_is_backed_only_where_ram_is(struct ktest *t)
{
    static struct tables tb;
    setup(t, &tb);
    uint64_t va = SIM_KVA_BASE + ARCH_PAGE_1G;
    arch_set_pte(&tb.pdpt[PT_INDEX(va, 3)], 0 | PTE_P | PTE_PS | PTE_NX); /* frame 0, read only */
    *(uint64_t *)arch_phys_to_virt(0x5000) = 0x51;
    uint64_t v = 0;
    KEXPECT_TRUE(t, arch_probe_read64((void *)(uintptr_t)(va + 0x5000), &v, NULL));
    KEXPECT_EQ(t, v, 0x51);
    KEXPECT_EQ(t, sim_tlb_lookup(va).page_size, ARCH_PAGE_1G);
    struct arch_fault f;
    KEXPECT_FALSE(t, arch_probe_read64((void *)(uintptr_t)(va + (UINT64_C(512) << 20)), &v, &f));
    KEXPECT_EQ(t, f.reason, ARCH_FAULT_NO_BACKING);
}

static void sim_mmu_test_reserved_bits_are_refused(struct ktest *t)
{
    static struct tables tb;
    setup(t, &tb);
    uint64_t va = SIM_KVA_BASE + 2 * ARCH_PAGE_2M;
    phys_addr_t big = ktest_frame_alloc(ARCH_PAGE_2M);
    arch_set_pte(&tb.pd[2], (big + ARCH_PAGE_4K * 2) | PTE_P | PTE_PS); /* bit 13: misaligned */
    KEXPECT_FALSE(t, sim_tlb_lookup(va).valid);
    struct arch_fault f;
    uint64_t v;
    KEXPECT_FALSE(t, arch_probe_read64((void *)(uintptr_t)va, &v, &f));
    KEXPECT_EQ(t, f.reason, ARCH_FAULT_RESERVED);
    KEXPECT_EQ(t, f.level, 2);
}

/* Bits 62:52 of a present entry are the software's (ignored by the MMU with CR4.PKE
 * clear, as both builds boot); bits 51:ARCH_PHYS_BITS are reserved. */
static void sim_mmu_test_high_software_bits_are_ignored(struct ktest *t)
{
    static struct tables tb;
    setup(t, &tb);
    uint64_t va = SIM_KVA_BASE + 3 * ARCH_PAGE_4K;
    phys_addr_t pa = ktest_frame_alloc(ARCH_PAGE_4K);
    KASSERT_NE(t, pa, 0);
    *(volatile uint64_t *)arch_phys_to_virt(pa) = 0x5eed;
    pte_t soft = UINT64_C(0x7ff) << 52; /* every bit from 52 to 62 */
    arch_set_pte(&tb.pt[3], pa | PTE_P | PTE_W | soft);
    KEXPECT_TRUE(t, pt_entry_well_formed(pa | PTE_P | soft, 1));
    uint64_t v = 0;
    struct arch_fault f;
    KEXPECT_TRUE(t, arch_probe_read64((void *)(uintptr_t)va, &v, &f));
    KEXPECT_EQ(t, v, 0x5eed);
    KEXPECT_FALSE(t, pt_entry_well_formed(pa | PTE_P | UINT64_C(1) << ARCH_PHYS_BITS, 1));
    KEXPECT_FALSE(t, pt_entry_well_formed(pa | PTE_P | UINT64_C(1) << 51, 1));
    arch_set_pte(&tb.pt[3], pa | PTE_P | UINT64_C(1) << 51);
    arch_invlpg((void *)(uintptr_t)va);
    KEXPECT_FALSE(t, arch_probe_read64((void *)(uintptr_t)va, &v, &f));
    KEXPECT_EQ(t, f.reason, ARCH_FAULT_RESERVED);
    KEXPECT_EQ(t, f.level, 1);
    arch_set_pte(&tb.pt[3], 0);
    arch_invlpg((void *)(uintptr_t)va);
}

static void sim_mmu_test_second_boot_is_refused(struct ktest *t)
{
    phys_addr_t root = arch_read_cr3();
    uint64_t ram = sim_ram_size();
    struct sim_config big = {.ram_size = UINT64_C(1) << 30};
    KEXPECT_EQ(t, sim_boot(&big), -1);
    KEXPECT_EQ(t, arch_read_cr3(), root);
    KEXPECT_EQ(t, sim_ram_size(), ram);
}

KTEST_SUITE(sim_mmu, KTEST_CASE(sim_mmu_test_present_pte_is_realised_at_once),
            KTEST_CASE(sim_mmu_test_cleared_pte_stays_in_tlb_until_invlpg),
            KTEST_CASE(sim_mmu_test_stale_2m_entry_outlives_split_until_flush),
            KTEST_CASE(sim_mmu_test_cr3_switch_changes_what_an_address_reads),
            KTEST_CASE(sim_mmu_test_plain_access_faults_into_the_hook),
            KTEST_CASE(sim_mmu_test_mmio_reaches_the_device_model),
            KTEST_CASE(sim_mmu_test_mmio_outside_the_window_follows_the_tables),
            KTEST_CASE(sim_mmu_test_port_devices_are_claimed_once),
            KTEST_CASE(sim_mmu_test_1g_leaf_is_backed_only_where_ram_is),
            KTEST_CASE(sim_mmu_test_reserved_bits_are_refused),
            KTEST_CASE(sim_mmu_test_high_software_bits_are_ignored),
            KTEST_CASE(sim_mmu_test_second_boot_is_refused));
