/* mmu_ops.c - libFuzzer target: the sim's MMU against its own rules.
 *
 * The input is a list of 4-byte operations on a small machine: PTE stores into six
 * table frames (pointing at tables, data frames, a 2 MiB frame, frame 0, or a frame
 * that is not RAM, with fuzzed W/PS/NX and reserved bits), invlpg, CR3 reloads, and
 * read/write probes. After every step the checks hold:
 *  - a probe succeeds exactly when the TLB holds a translation with the rights, or
 *    (nothing cached) when a walk of the tables allows it; what it reads is what the
 *    direct map holds at the translated frame (so the host mapping matches the model);
 *  - after a CR3 reload the TLB holds exactly what the tables say for every sampled
 *    address; after invlpg(va) the entry for va is what the tables say.
 * Stale translations that no flush removed are allowed; anything else aborts. */
#include <kmachine.h>
#include <arch/cpu.h>
#include <arch/fault.h>
#include <arch/mem.h>
#include <arch/pte.h>
#include <arch/ptwalk.h> /* struct pt_walk */
#include <sim/sim.h>
#include <stdio.h>
#include <stdlib.h>

#define N_TABLES 6
#define N_DATA   4
#define T(i)     (UINT64_C(0x10000) + (i)*ARCH_PAGE_4K)
#define D(i)     (UINT64_C(0x20000) + (i)*ARCH_PAGE_4K)
#define BIG      UINT64_C(0x200000)   /* 2 MiB aligned RAM */
#define NOT_RAM  UINT64_C(0x40000000) /* beyond the 16 MiB machine */

static void fail(const char *what, uint64_t va, uint64_t a, uint64_t b)
{
    fprintf(stderr, "mmu_ops: %s at va 0x%llx (0x%llx vs 0x%llx)\n", what, (unsigned long long)va,
            (unsigned long long)a, (unsigned long long)b);
    abort();
}

/* 64 sampled addresses: PDPT slots 448..451 (the window's first GiBs), PD 0..3, PT 0..3. */
static uint64_t sample_va(unsigned x)
{
    uint64_t pml4_base = SIM_KVA_BASE & ~((UINT64_C(1) << 39) - 1);
    return pml4_base + ((uint64_t)(448 + (x & 3)) << 30) + ((uint64_t)((x >> 2) & 3) << 21) +
           ((uint64_t)((x >> 4) & 3) << 12) + ((x >> 6) & 3) * 8;
}

/* The model's own walk of the tables, written from the SDM and not shared with the
 * MMU (which uses pt_walk): a supervisor access with CR0.WP = 1 is allowed when
 * every level is present RAM with no reserved bit set (bits 51:MAXPHYADDR, PS at
 * level 4, and the low bits of a huge frame; 62:52 are the software's) and, for a write,
 * every level is writable. Sets w->pa and w->writable when the walk reaches a leaf. */
static bool walk_allows(uint64_t va, enum arch_access a, struct pt_walk *w)
{
    const uint64_t reserved = ~PTE_NX & ~PTE_SOFT_HIGH & ~((UINT64_C(1) << ARCH_PHYS_BITS) - 1);
    phys_addr_t table = arch_read_cr3() & PTE_ADDR_MASK;
    bool writable = true;
    w->pa = 0, w->writable = false;
    for (int level = 4;; level--) {
        if (!arch_phys_is_ram(table, ARCH_PAGE_4K))
            return false;
        pte_t e = arch_get_pte((const pte_t *)arch_phys_to_virt(table) + PT_INDEX(va, level));
        if (!(e & PTE_P) || (e & reserved) || (level == 4 && (e & PTE_PS)))
            return false;
        writable = writable && (e & PTE_W);
        if (level == 1 || (e & PTE_PS)) {
            uint64_t size = UINT64_C(1) << PT_LEVEL_SHIFT(level);
            if (level > 1 && (e & (size - 1) & ~UINT64_C(0x1fff)))
                return false; /* a huge frame's low address bits (bit 12 is PAT) */
            w->pa = (e & PTE_ADDR_MASK & ~(size - 1)) + (va & (size - 1));
            w->writable = writable;
            return a != ARCH_ACCESS_WRITE || writable;
        }
        table = e & PTE_ADDR_MASK;
    }
}

static uint64_t ram_word(phys_addr_t pa)
{
    return *(volatile uint64_t *)arch_phys_to_virt(pa);
}

/* Probe va and check the result against the state seen just before. */
static void probe_and_check(uint64_t va, bool write, uint8_t val)
{
    struct sim_tlb_entry e = sim_tlb_lookup(va);
    struct pt_walk w;
    enum arch_access a = write ? ARCH_ACCESS_WRITE : ARCH_ACCESS_READ;
    bool expect;
    phys_addr_t pa;
    if (e.valid) {
        pa = e.pa + (va - e.va);
        expect = (!write || e.writable) && arch_phys_is_ram(pa, 8);
        if (!expect && write && !e.writable && walk_allows(va, a, &w))
            expect = arch_phys_is_ram(w.pa, 8), pa = w.pa; /* spurious fault: refilled */
    } else {
        expect = walk_allows(va, a, &w) && arch_phys_is_ram(w.pa, 8);
        pa = w.pa;
    }
    uint64_t got = 0;
    struct arch_fault f;
    bool ok = write ? arch_probe_write64((void *)(uintptr_t)va, val, &f)
                    : arch_probe_read64((const void *)(uintptr_t)va, &got, &f);
    if (ok != expect)
        fail(write ? "write probe disagrees with the model" : "read probe disagrees", va, ok,
             expect);
    if (!ok)
        return;
    if (write && ram_word(pa) != val)
        fail("write did not land in the translated frame", va, ram_word(pa), val);
    if (!write && got != ram_word(pa))
        fail("read did not come from the translated frame", va, got, ram_word(pa));
}

/* The TLB's entry for va must be exactly the tables' translation. */
static void check_fresh(uint64_t va)
{
    struct sim_tlb_entry e = sim_tlb_lookup(va);
    struct pt_walk w;
    bool allowed = walk_allows(va, ARCH_ACCESS_READ, &w);
    if (e.valid != allowed)
        fail("TLB after a flush disagrees with the tables", va, e.valid, allowed);
    if (e.valid && (e.pa + (va - e.va) != w.pa || e.writable != w.writable))
        fail("TLB entry after a flush is not the walk's", va, e.pa + (va - e.va), w.pa);
}

static pte_t make_pte(uint8_t sel, uint8_t flags)
{
    phys_addr_t target;
    switch (sel & 7) {
    case 0:
        return 0;
    case 1:
    case 2:
        target = T((sel >> 3) % N_TABLES);
        break;
    case 3:
    case 4:
        target = D((sel >> 3) % N_DATA);
        break;
    case 5:
        target = BIG;
        break;
    case 6:
        target = NOT_RAM;
        break;
    default:
        target = 0;
        break;
    }
    pte_t e = target | ((flags & 0x80) ? 0 : PTE_P);
    if (flags & 0x40)
        e |= PTE_W;
    if (flags & 0x20)
        e |= PTE_PS;
    if (flags & 0x10)
        e |= PTE_NX;
    if (flags & 0x08)
        e |= UINT64_C(1) << 13; /* reserved in a 2M/1G leaf */
    if ((flags & 0x07) == 0x07)
        e |= UINT64_C(1) << 50; /* above MAXPHYADDR */
    if ((flags & 0x07) == 0x06)
        e |= UINT64_C(1) << 52 | UINT64_C(1) << 62; /* the software's: ignored */
    return e;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    /* No page history: a backtrace per PTE store buys a fuzzer nothing. */
    struct kmachine_opts o = {
        .level = KMACHINE_SIM, .ram_size = UINT64_C(16) << 20, .no_history = true};
    if (kmachine_boot(&o, NULL))
        abort();
    arch_fault_set_reports(false); /* expected faults, thousands a second */
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sim_reset();
    pte_t *root = arch_phys_to_virt(SIM_BOOT_PML4);
    /* A scaffold, so single mutations reach leaves: T0 is the PDPT of the window,
     * T0[448] -> T1 (a PD), T1[0] -> T2 (a PT). Inputs may rewrite any of it. */
    pte_t *t0 = arch_phys_to_virt(T(0)), *t1 = arch_phys_to_virt(T(1));
    arch_set_pte(&t1[0], T(2) | PTE_P | PTE_W);
    arch_set_pte(&t0[448], T(1) | PTE_P | PTE_W);
    arch_set_pte(&root[PT_INDEX(SIM_KVA_BASE, 4)], T(0) | PTE_P | PTE_W);
    for (size_t i = 0; i + 4 <= size && i < 4 * 256; i += 4) {
        const uint8_t *op = data + i;
        uint64_t va = sample_va(op[1]);
        switch (op[0] % 6) {
        case 0:
        case 1: {
            unsigned idx = (op[1] & 3) + ((op[1] & 4) ? 448 : 0);
            pte_t *t = arch_phys_to_virt(T((op[1] >> 3) % N_TABLES));
            arch_set_pte(&t[idx], make_pte(op[2], op[3]));
            break;
        }
        case 2:
            arch_invlpg((void *)(uintptr_t)va);
            check_fresh(va);
            break;
        case 3:
            arch_write_cr3(SIM_BOOT_PML4);
            /* Every page the samples touch (PD 0..3 x PT 0..3 of slot 448), once: the
             * samples' byte offsets in a page share its entry and its walk. */
            for (unsigned x = 0; x < 64; x += 4)
                check_fresh(sample_va(x));
            break;
        case 4:
            probe_and_check(va, false, 0);
            break;
        default:
            probe_and_check(va, true, op[2]);
            break;
        }
    }
    return 0;
}
