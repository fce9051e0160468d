/* mmu_internal.h - the simulated MMU's three files and what they give each other.
 *
 *   fault.c  the top: the SIGSEGV handler, probes, translation for the accessors,
 *            the reports a fault or a stale use makes, the MMU's counters
 *   mmu.c    the seam: PTE stores, batches, CR3 loads, invlpg, walks of the tables;
 *            set-up
 *   tlb.c    the bottom: the MMU lock, the TLB arrays and their host realisation
 *            (mmap of the RAM memfd), strict mode's stale entries
 * Each calls only the ones below it.
 *
 * Everything here is called with the MMU lock held (sim_mmu_lock), except where said. */
#ifndef SIM_MMU_INTERNAL_H
#define SIM_MMU_INTERNAL_H

#include "sim_internal.h"
#include <arch/fault.h>

/* The files' own: hidden, reached directly in a position-independent build. */
#pragma GCC visibility push(hidden)

/* A TLB entry: the frame's address in the upper bits, these flags in the low 12. */
#define TLB_VALID    UINT64_C(1)
#define TLB_W        UINT64_C(2)
#define TLB_STALE    UINT64_C(4)  /* strict mode: the PTE changed, no flush yet */
#define TLB_STALE_WO UINT64_C(8)  /* ... and only writes lost their right */
#define TLB_REAL     UINT64_C(16) /* realised in the host, with the rights below */
#define TLB_FRAME(e) ((e) & ~UINT64_C(0xfff))

static inline bool sim_in_direct_map(uint64_t va)
{
    return va - SIM_DIRECT_MAP_BASE < sim_machine.ram_size;
}

/* ---- mmu.c ---- */
/* The root the MMU walks from. */
phys_addr_t sim_mmu_cr3(void);
/* Walk for an access that the TLB did not allow. On success the TLB is filled and
 * true returned (*pa set if pa != NULL); otherwise *f describes the fault. */
bool sim_mmu_walk_and_fill(uint64_t va, enum arch_access access, uint64_t ip, phys_addr_t *pa,
                           struct arch_fault *f);
/* A translation the running CPU still holds after another CPU changed its PTE and
 * flushed only its own TLB (sim_mmu_held_use): the leaf at base, its old frame and
 * rights, who wrote the PTE (and where: stack), who held it then and who still does. */
struct sim_tlb_held {
    uint64_t base, size;
    phys_addr_t pa;
    uint32_t had, holders, stack;
    unsigned writer;
    bool w, write_only;
};
/* Whether the running CPU's access to va would go through such a translation; if so
 * *out describes it (one missing TLB shootdown). */
bool sim_mmu_held_use(uint64_t va, enum arch_access access, struct sim_tlb_held *out);
/* Let that use happen, as hardware would: the old translation is put back in the TLB
 * arrays and realised, and the running CPU no longer holds the record. */
void sim_mmu_held_allow(const struct sim_tlb_held *h);
/* Count a fault the MMU raises without a walk (the frame is not RAM). */
void sim_mmu_count_fault(void);
/* Its counters (flushes, CR3 loads, faults) into *out. */
void sim_mmu_own_stats(struct sim_mmu_stats *out);

/* ---- tlb.c ---- */
/* The MMU lock (not recursive), at the bottom of the MMU: the TLB, the table
 * positions and the batches are changed only under it. */
void sim_mmu_lock(void);
void sim_mmu_unlock(void);
/* The host refused the machine something (mmap failed) with the lock held: not a kernel
 * bug, and nothing can go on, so no schedule is failed (that would leave the lock held
 * for the next one). Not the lock's to take: callable anywhere. */
ARCH_NORETURN void sim_mmu_fatal(const char *fmt, ...) ARCH_PRINTF(1, 2);
/* Allocate the arrays; lazy: realise leaves at their first access, not at their fill.
 * Not under the lock (boot). 0, or -1 with the reason on stderr. */
int sim_tlb_init(bool lazy);
/* A run of contiguous leaves to realise with one mmap: fills add to it, and
 * sim_tlb_run_flush maps what it holds. */
struct sim_tlb_run {
    uint64_t va, pa, len;
    bool w;
};
void sim_tlb_run_flush(struct sim_tlb_run *r);
/* Put a leaf in the TLB. An entry of equal or larger size already translating va wins:
 * it is either this same translation or a stale one that only a flush may remove. */
void sim_tlb_fill(struct sim_tlb_run *r, uint64_t va, uint64_t size, uint64_t pa, bool w);
/* The entry translating va (0 if none), with its *base and *size. */
uint64_t sim_tlb_find(uint64_t va, uint64_t *base, uint64_t *size);
/* Whether entry e lets `access` through as it is (a stale entry never does). */
bool sim_tlb_allows(uint64_t e, enum arch_access access);
/* Drop the entry of `size` at `base`; unmap its range in the host now, or (unmap
 * false, in a batch) leave that to the batch's sim_tlb_evict. */
void sim_tlb_drop(uint64_t base, uint64_t size, bool unmap);
/* Drop every entry in the 2 MiB slots of [lo, hi) (whole entries, window-clipped)
 * and unmap the range in the host. */
void sim_tlb_evict(uint64_t lo, uint64_t hi);
/* A full flush: every entry dropped, the window unmapped in the host. */
void sim_tlb_flush_all(void);
/* Lazy mode: an access found entry e (at base, of size) allowed but not realised.
 * Realise it, with the contiguous unrealised 4K entries of its 2M slot. */
void sim_tlb_realise(uint64_t base, uint64_t size, uint64_t e);
/* Lazy mode: realise the entry translating va for `access`, if one allows it. */
void sim_tlb_realise_at(uint64_t va, enum arch_access access);
/* Strict mode: the entry at [lo, hi) was removed (or, write_only, lost W): mark what
 * the TLB holds there stale and take the rights away in the host so a use faults. */
void sim_tlb_mark_stale(uint64_t lo, uint64_t hi, bool write_only);
/* Strict mode: if the entry translating va is stale and would have allowed `access`,
 * make it whole again (as the hardware would have used it) and describe it in *s. */
struct sim_tlb_stale {
    uint64_t base, size;
    phys_addr_t pa;
    bool write_only; /* it had been made read-only (else cleared or changed) */
};
bool sim_tlb_take_stale(uint64_t va, enum arch_access access, struct sim_tlb_stale *s);
/* Its counters: host_maps, fills and stale_uses. */
void sim_tlb_get_stats(struct sim_mmu_stats *out);
void sim_tlb_reset_stats(void);

/* ---- fault.c ---- */
/* Install the SIGSEGV and SIGBUS handlers (boot; not under the lock). */
void sim_fault_init(void);
/* Report the use of a stale translation: where (ip, the module offset, or 0; stack,
 * the access's stack id, or 0) and what the page's history says. */
void sim_fault_report_stale(uint64_t va, enum arch_access access, const struct sim_tlb_stale *s,
                            uint64_t ip, uint32_t stack);
/* Its counter, host_faults, back to 0 (reset; not under the lock). */
void sim_fault_reset_stats(void);

#pragma GCC visibility pop

#endif
