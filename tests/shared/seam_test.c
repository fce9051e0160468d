/* seam_test.c - the seam's first test, the same source in the sim and the bare kernel.
 *
 * PTEs are written by hand (no paging subsystem yet) into tables hung off the kernel
 * VA window's PML4 slot; every case removes them again and reloads CR3. */
#include "../ktest/ktest.h"
#include "../ktest/ktest_frames.h"
#include <arch/atomic.h>
#include <arch/console.h>
#include <arch/cpu.h>
#include <arch/fault.h>
#include <arch/mem.h>
#include <arch/pte.h>

/* A PDPT, PD and PT for the first 2 MiB of the window, plus the PD slot after it
 * for 2 MiB leaves. */
struct fixture {
    uintptr_t va; /* window base: PT slot 0 maps it */
    pte_t *pml4e;
    pte_t *pd;
    pte_t *pt;
};

static void fixture_teardown(void *arg)
{
    struct fixture *fx = arg;
    arch_set_pte(fx->pml4e, 0);
    arch_write_cr3(arch_read_cr3()); /* flush everything the case left */
    arch_set_page_fault_hook(NULL, NULL);
}

static pte_t *new_table(struct ktest *t, phys_addr_t *pa)
{
    *pa = ktest_frame_alloc(ARCH_PAGE_4K);
    KASSERT_NE(t, *pa, 0);
    return arch_phys_to_virt(*pa);
}

static void fixture_setup(struct ktest *t, struct fixture *fx)
{
    struct arch_kva_window win = arch_kva_window();
    KASSERT_TRUE(t, ARCH_IS_ALIGNED(win.base, ARCH_PAGE_1G));
    fx->va = win.base;
    pte_t *pml4 = arch_phys_to_virt(arch_read_cr3());
    fx->pml4e = &pml4[PT_INDEX(fx->va, 4)];
    KASSERT_EQ(t, arch_get_pte(fx->pml4e), 0); /* the window starts empty */
    phys_addr_t pdpt_pa, pd_pa, pt_pa;
    pte_t *pdpt = new_table(t, &pdpt_pa);
    fx->pd = new_table(t, &pd_pa);
    fx->pt = new_table(t, &pt_pa);
    arch_set_pte(&fx->pd[PT_INDEX(fx->va, 2)], pt_pa | PTE_P | PTE_W);
    arch_set_pte(&pdpt[PT_INDEX(fx->va, 3)], pd_pa | PTE_P | PTE_W);
    arch_set_pte(fx->pml4e, pdpt_pa | PTE_P | PTE_W);
    ktest_defer(t, fixture_teardown, fx);
}

static void *page_va(struct fixture *fx, unsigned index)
{
    return (void *)(fx->va + (uintptr_t)index * ARCH_PAGE_4K);
}

/* Map PT slot `index` to a new zeroed frame; returns the frame. */
static phys_addr_t map_4k(struct ktest *t, struct fixture *fx, unsigned index, pte_t flags)
{
    phys_addr_t frame = ktest_frame_alloc(ARCH_PAGE_4K);
    KASSERT_NE(t, frame, 0);
    arch_set_pte(&fx->pt[index], frame | PTE_P | PTE_NX | flags);
    return frame;
}

static void seam_test_4k_page_reads_and_writes_its_frame(struct ktest *t)
{
    static struct fixture fx;
    fixture_setup(t, &fx);
    phys_addr_t frame = map_4k(t, &fx, 1, PTE_W);
    volatile uint64_t *va = page_va(&fx, 1);
    volatile uint64_t *dm = arch_phys_to_virt(frame);

    va[0] = 0x1122334455667788;
    va[511] = 0xfeed;
    KEXPECT_EQ(t, dm[0], 0x1122334455667788);
    KEXPECT_EQ(t, dm[511], 0xfeed);
    dm[7] = 0xabcdef;
    KEXPECT_EQ(t, va[7], 0xabcdef);
}

static void seam_test_2m_page_reads_and_writes_its_frame(struct ktest *t)
{
    static struct fixture fx;
    fixture_setup(t, &fx);
    phys_addr_t frame = ktest_frame_alloc(ARCH_PAGE_2M);
    KASSERT_NE(t, frame, 0);
    uintptr_t base = fx.va + ARCH_PAGE_2M; /* the PD slot after the PT's */
    arch_set_pte(&fx.pd[PT_INDEX(base, 2)], frame | PTE_P | PTE_W | PTE_PS | PTE_NX);
    volatile uint64_t *va = (volatile uint64_t *)base;
    volatile uint64_t *dm = arch_phys_to_virt(frame);

    va[0] = 1;
    va[(ARCH_PAGE_2M - 8) / 8] = 2;        /* the last word of the page */
    va[(ARCH_PAGE_4K * 300 + 16) / 8] = 3; /* somewhere in the middle */
    KEXPECT_EQ(t, dm[0], 1);
    KEXPECT_EQ(t, dm[(ARCH_PAGE_2M - 8) / 8], 2);
    KEXPECT_EQ(t, dm[(ARCH_PAGE_4K * 300 + 16) / 8], 3);
}

static void seam_test_two_pages_on_one_frame_alias(struct ktest *t)
{
    static struct fixture fx;
    fixture_setup(t, &fx);
    phys_addr_t frame = map_4k(t, &fx, 2, PTE_W);
    arch_set_pte(&fx.pt[3], frame | PTE_P | PTE_W | PTE_NX);
    volatile uint64_t *a = page_va(&fx, 2);
    volatile uint64_t *b = page_va(&fx, 3);

    a[10] = 0x5a5a5a5a;
    KEXPECT_EQ(t, b[10], 0x5a5a5a5a);
    b[11] = 0x77;
    KEXPECT_EQ(t, a[11], 0x77);
    KEXPECT_NE(t, (uintptr_t)a, (uintptr_t)b);
}

static void seam_test_cleared_pte_works_until_invlpg(struct ktest *t)
{
    static struct fixture fx;
    fixture_setup(t, &fx);
    phys_addr_t frame = map_4k(t, &fx, 4, PTE_W);
    volatile uint64_t *va = page_va(&fx, 4);
    va[0] = 42; /* the translation is now in the TLB */

    arch_set_pte(&fx.pt[4], 0);
    uint64_t v = 0;
    struct arch_fault f;
    KEXPECT_TRUE(t, arch_probe_read64((const void *)va, &v, &f)); /* stale entry still used */
    KEXPECT_EQ(t, v, 42);

    arch_invlpg((const void *)va);
    uint64_t faults = arch_fault_count();
    KEXPECT_FALSE(t, arch_probe_read64((const void *)va, &v, &f));
    KEXPECT_EQ(t, arch_fault_count(), faults + 1);
    KEXPECT_EQ(t, f.addr, (uintptr_t)va);
    KEXPECT_EQ(t, f.access, ARCH_ACCESS_READ);
    KEXPECT_EQ(t, f.reason, ARCH_FAULT_NOT_PRESENT);
    KEXPECT_EQ(t, f.level, 1);
    /* the frame kept its contents: only the translation went away */
    KEXPECT_EQ(t, *(volatile uint64_t *)arch_phys_to_virt(frame), 42);
}

static unsigned hook_calls;
static struct arch_fault hook_seen;

static enum arch_fault_action record_hook(const struct arch_fault *f, void *ctx)
{
    (void)ctx;
    hook_calls++;
    hook_seen = *f;
    return ARCH_FAULT_UNHANDLED;
}

static void seam_test_write_to_read_only_page_is_reported(struct ktest *t)
{
    static struct fixture fx;
    fixture_setup(t, &fx);
    phys_addr_t frame = map_4k(t, &fx, 5, 0 /* read only */);
    *(volatile uint64_t *)arch_phys_to_virt(frame) = 9;
    volatile uint64_t *va = page_va(&fx, 5);
    KEXPECT_EQ(t, va[0], 9); /* reading is fine */

    hook_calls = 0;
    arch_set_page_fault_hook(record_hook, NULL);
    struct arch_fault f;
    KEXPECT_FALSE(t, arch_probe_write64((void *)va, 1, &f));
    KEXPECT_EQ(t, hook_calls, 1);
    KEXPECT_EQ(t, hook_seen.addr, (uintptr_t)va);
    KEXPECT_EQ(t, f.access, ARCH_ACCESS_WRITE);
    KEXPECT_EQ(t, f.reason, ARCH_FAULT_NOT_WRITABLE);
    KEXPECT_EQ(t, f.level, 1);
    KEXPECT_EQ(t, f.entry & PTE_ADDR_MASK, frame);
    char line[200];
    arch_fault_format(&f, line, sizeof(line));
    KEXPECT_STR_CONTAINS(t, line, "write at");
    KEXPECT_STR_CONTAINS(t, line, "not writable");
    KEXPECT_EQ(t, *(volatile uint64_t *)arch_phys_to_virt(frame), 9); /* nothing written */
}

static void seam_test_downgrade_takes_effect_at_invlpg(struct ktest *t)
{
    static struct fixture fx;
    fixture_setup(t, &fx);
    phys_addr_t frame = map_4k(t, &fx, 6, PTE_W);
    volatile uint64_t *va = page_va(&fx, 6);
    va[0] = 1;

    arch_set_pte(&fx.pt[6], frame | PTE_P | PTE_NX);          /* now read only */
    KEXPECT_TRUE(t, arch_probe_write64((void *)va, 2, NULL)); /* stale writable entry */
    arch_invlpg((const void *)va);
    struct arch_fault f;
    KEXPECT_FALSE(t, arch_probe_write64((void *)va, 3, &f));
    KEXPECT_EQ(t, f.reason, ARCH_FAULT_NOT_WRITABLE);
    KEXPECT_EQ(t, va[0], 2);
}

static phys_addr_t demand_frame;
static pte_t *demand_pt;
static unsigned demand_calls;

static enum arch_fault_action demand_hook(const struct arch_fault *f, void *ctx)
{
    uintptr_t base = (uintptr_t)ctx;
    demand_calls++;
    if (f->reason != ARCH_FAULT_NOT_PRESENT || f->addr - base >= ARCH_PAGE_2M)
        return ARCH_FAULT_UNHANDLED;
    arch_set_pte(&demand_pt[PT_INDEX(f->addr, 1)], demand_frame | PTE_P | PTE_W | PTE_NX);
    return ARCH_FAULT_RETRY;
}

static void seam_test_hook_can_map_the_page_and_retry(struct ktest *t)
{
    static struct fixture fx;
    fixture_setup(t, &fx);
    demand_frame = ktest_frame_alloc(ARCH_PAGE_4K);
    KASSERT_NE(t, demand_frame, 0);
    *(volatile uint64_t *)arch_phys_to_virt(demand_frame) = 0xd00d;
    demand_pt = fx.pt;
    demand_calls = 0;
    arch_set_page_fault_hook(demand_hook, (void *)fx.va);

    uint64_t v = 0;
    KEXPECT_TRUE(t, arch_probe_read64(page_va(&fx, 7), &v, NULL));
    KEXPECT_EQ(t, v, 0xd00d);
    KEXPECT_EQ(t, demand_calls, 1);
}

static void seam_test_fault_names_the_missing_level(struct ktest *t)
{
    static struct fixture fx;
    fixture_setup(t, &fx);
    /* 1 GiB in: PDPT slot present? No: only the first PD slot has anything. */
    void *va = (void *)(fx.va + 5 * ARCH_PAGE_2M);
    struct arch_fault f;
    uint64_t v;
    KEXPECT_FALSE(t, arch_probe_read64(va, &v, &f));
    KEXPECT_EQ(t, f.reason, ARCH_FAULT_NOT_PRESENT);
    KEXPECT_EQ(t, f.level, 2);
    char line[200];
    KEXPECT_STR_CONTAINS(t, arch_fault_format(&f, line, sizeof(line)), "PD entry");

    void *far = (void *)(fx.va + ARCH_PAGE_1G);
    KEXPECT_FALSE(t, arch_probe_read64(far, &v, &f));
    KEXPECT_EQ(t, f.level, 3);
}

static void seam_test_upper_level_read_only_wins(struct ktest *t)
{
    static struct fixture fx;
    fixture_setup(t, &fx);
    map_4k(t, &fx, 8, PTE_W);
    /* Make the PD entry read-only: the leaf's W no longer matters. */
    pte_t pde = arch_get_pte(&fx.pd[PT_INDEX(fx.va, 2)]);
    arch_set_pte(&fx.pd[PT_INDEX(fx.va, 2)], pde & ~PTE_W);
    arch_write_cr3(arch_read_cr3());
    struct arch_fault f;
    KEXPECT_FALSE(t, arch_probe_write64(page_va(&fx, 8), 1, &f));
    KEXPECT_EQ(t, f.reason, ARCH_FAULT_NOT_WRITABLE);
    KEXPECT_EQ(t, f.level, 2);
    uint64_t v = 1;
    KEXPECT_TRUE(t, arch_probe_read64(page_va(&fx, 8), &v, NULL));
    KEXPECT_EQ(t, v, 0);
}

static void seam_test_non_canonical_probe_is_reported(struct ktest *t)
{
    struct arch_fault f;
    uint64_t v;
    void *bad = (void *)UINT64_C(0x0000800000000000); /* first address past the low half */
    KEXPECT_FALSE(t, arch_probe_read64(bad, &v, &f));
    KEXPECT_EQ(t, f.reason, ARCH_FAULT_NON_CANONICAL);
    KEXPECT_EQ(t, f.addr, (uintptr_t)bad);
    KEXPECT_FALSE(t, arch_probe_write8(bad, 1, &f));
    KEXPECT_EQ(t, f.access, ARCH_ACCESS_WRITE);
}

static void seam_test_atomics_have_their_semantics(struct ktest *t)
{
    uint64_t x = 5;
    KEXPECT_EQ(t, arch_atomic_fetch_add(&x, 3, ARCH_RELAXED), 5);
    KEXPECT_EQ(t, arch_atomic_load(&x, ARCH_ACQUIRE), 8);
    KEXPECT_EQ(t, arch_atomic_fetch_or(&x, 0x10, ARCH_ACQ_REL), 8);
    KEXPECT_EQ(t, arch_atomic_fetch_and(&x, 0x18, ARCH_SEQ_CST), 0x18);
    KEXPECT_EQ(t, arch_atomic_xchg(&x, 100, ARCH_ACQ_REL), 0x18);
    uint64_t expect = 99;
    KEXPECT_FALSE(t, arch_atomic_cmpxchg(&x, &expect, 1, ARCH_ACQ_REL, ARCH_ACQUIRE));
    KEXPECT_EQ(t, expect, 100);
    KEXPECT_TRUE(t, arch_atomic_cmpxchg(&x, &expect, 1, ARCH_ACQ_REL, ARCH_ACQUIRE));
    arch_atomic_store(&x, 7, ARCH_RELEASE);
    KEXPECT_EQ(t, x, 7);
    uint32_t small = 0xffffffff;
    KEXPECT_EQ(t, arch_atomic_fetch_add(&small, 1, ARCH_RELAXED), 0xffffffff);
    KEXPECT_EQ(t, small, 0);
}

static void seam_test_irq_save_restores_previous_state(struct ktest *t)
{
    arch_irqflags_t outer = arch_irq_save();
    KEXPECT_FALSE(t, arch_irqs_enabled());
    arch_irqflags_t inner = arch_irq_save();
    KEXPECT_EQ(t, inner, 0); /* it was already disabled */
    arch_irq_restore(inner);
    KEXPECT_FALSE(t, arch_irqs_enabled());
    arch_irq_restore(outer);
    KEXPECT_EQ(t, arch_irqs_enabled(), outer != 0);
}

static void seam_test_formatter_matches_printf(struct ktest *t)
{
    char buf[96];
    ksnprintf(buf, sizeof(buf), "%5d|%-4s|%08x|%lx|%c|%%|%u", -42, "ab", 0xbeef,
              (unsigned long)0x123456789a, 'z', 0u);
    KEXPECT_STREQ(t, buf, "  -42|ab  |0000beef|123456789a|z|%|0");
    KEXPECT_EQ(t, ksnprintf(buf, 4, "%s", "truncated"), 9);
    KEXPECT_STREQ(t, buf, "tru");
    ksnprintf(buf, sizeof(buf), "%ld %.3s %p", (long)INT64_MIN, "abcdef", (void *)0x10);
    KEXPECT_STREQ(t, buf, "-9223372036854775808 abc 0x0000000000000010");
}

static void seam_test_memory_description_is_sane(struct ktest *t)
{
    size_t n;
    const struct arch_mem_range *r = arch_mem_ranges(&n);
    KASSERT_GT(t, n, 0);
    uint64_t usable = 0;
    for (size_t i = 0; i < n; i++) {
        KEXPECT_TRUE(t, ARCH_IS_ALIGNED(r[i].base, ARCH_PAGE_4K));
        KEXPECT_TRUE(t, ARCH_IS_ALIGNED(r[i].size, ARCH_PAGE_4K));
        if (i)
            KEXPECT_GE(t, r[i].base, r[i - 1].base + r[i - 1].size);
        if (r[i].type == ARCH_MEM_USABLE)
            usable += r[i].size;
    }
    KEXPECT_GE(t, usable, UINT64_C(64) << 20);
    phys_addr_t root = arch_read_cr3();
    KEXPECT_TRUE(t, arch_phys_is_ram(root, ARCH_PAGE_4K));
    KEXPECT_EQ(t, arch_virt_to_phys(arch_phys_to_virt(root)), root);
}

KTEST_SUITE(seam, KTEST_CASE(seam_test_4k_page_reads_and_writes_its_frame),
            KTEST_CASE(seam_test_2m_page_reads_and_writes_its_frame),
            KTEST_CASE(seam_test_two_pages_on_one_frame_alias),
            KTEST_CASE(seam_test_cleared_pte_works_until_invlpg),
            KTEST_CASE(seam_test_write_to_read_only_page_is_reported),
            KTEST_CASE(seam_test_downgrade_takes_effect_at_invlpg),
            KTEST_CASE(seam_test_hook_can_map_the_page_and_retry),
            KTEST_CASE(seam_test_fault_names_the_missing_level),
            KTEST_CASE(seam_test_upper_level_read_only_wins),
            KTEST_CASE(seam_test_non_canonical_probe_is_reported),
            KTEST_CASE(seam_test_atomics_have_their_semantics),
            KTEST_CASE(seam_test_irq_save_restores_previous_state),
            KTEST_CASE(seam_test_formatter_matches_printf),
            KTEST_CASE(seam_test_memory_description_is_sane));
