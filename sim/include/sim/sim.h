/* sim/sim.h - the fake machine's own API, for hosted programs (test runners,
 * fuzzers, benchmarks). Kernel code never includes this; it sees arch/ only. Unless
 * said otherwise these are set-up calls: from the host thread, after sim_boot, while
 * no simulated CPU runs. */
#ifndef SIM_SIM_H
#define SIM_SIM_H

#include <arch/types.h>

/* Where the fake machine lives in the host address space. Fixed, so simulated
 * addresses (and so reports) are identical from run to run. Chosen to be ordinary
 * application memory under ASan, MSan, TSan and Valgrind alike. */
#define SIM_DIRECT_MAP_BASE UINT64_C(0x566000000000)
#define SIM_RAM_MAX         (UINT64_C(64) << 30)
#define SIM_KVA_BASE        UINT64_C(0x567000000000)
#define SIM_KVA_SIZE        (UINT64_C(64) << 30)

/* The null frame and the boot PML4 (empty, loaded in CR3 by sim_boot). */
#define SIM_BOOT_PML4  UINT64_C(0x1000)
#define SIM_FIRST_FREE UINT64_C(0x2000)

struct sim_config {
    uint64_t ram_size; /* bytes; 0: $KERNSIM_RAM_MB or 256 MiB. 2 MiB multiple, 4 MiB..64 GiB */
    unsigned ncpus;    /* 0: $KERNSIM_CPUS (1..64) or 4 */
};

/* Bring the machine up: RAM (one memfd), the direct map, the kernel VA window, the
 * MMU with CR3 = SIM_BOOT_PML4, the fault handler, COM1 and isa-debug-exit. Once per
 * process; cfg may be NULL (the defaults). Returns 0, or -1 after printing why (bad
 * size or KERNSIM_CPUS, address range taken, already booted); a refused boot leaves
 * nothing behind. */
int sim_boot(const struct sim_config *cfg);

/* Return to the state just after sim_boot: RAM zeroed, window unmapped, TLB empty,
 * CR3 = SIM_BOOT_PML4, no hook, page history forgotten, no MMIO device and no port
 * device but COM1 and isa-debug-exit. For fuzzers that need a fresh machine per
 * input. Panics before sim_boot. The kernel's own state (heap, frame allocator) is
 * not reset. */
void sim_reset(void);

/* The RAM sim_boot set up, in bytes; 0 before it. Any thread. */
uint64_t sim_ram_size(void);

/* MMIO device models, reached by physical address through arch_mmio_*. */
struct sim_mmio_ops {
    uint64_t (*read)(void *ctx, uint64_t offset, unsigned width);
    void (*write)(void *ctx, uint64_t offset, unsigned width, uint64_t value);
};
/* Claim [base, base+size) of physical address space for a device. ops, ctx and name
 * stay the caller's and must outlive the registration; the callbacks run on the
 * accessing CPU, unlocked. Returns 0, or -1 with a "#" line if the range is empty or
 * wraps, an op is missing, the range overlaps RAM or another device, or the table (32)
 * is full. */
int sim_mmio_register(phys_addr_t base, uint64_t size, const struct sim_mmio_ops *ops, void *ctx,
                      const char *name);
/* Drop the device registered at exactly `base`: 0, or -1 if there is none. */
int sim_mmio_unregister(phys_addr_t base);

/* The kernsim timer device (see sim/devices.c for the register contract). */
#define SIM_TIMER_PERIOD      0x0
#define SIM_TIMER_COUNTER     0x4
#define SIM_TIMER_IRQ_CTRL    0x8
#define SIM_TIMER_STATUS      0xc
#define SIM_TIMER_SIZE        0x10
#define SIM_TIMER_IRQ_ENABLE  (1u << 0)
#define SIM_TIMER_IRQ_PENDING (1u << 1)
struct sim_timer {
    phys_addr_t base;
    uint32_t period, counter, irq_ctrl, status;
    uint64_t expiries, reads, writes;
};
/* Put a timer at physical `base` (outside RAM). *t is reset either way and must
 * outlive the device. 0, or -1 as sim_mmio_register. */
int sim_timer_attach(struct sim_timer *t, phys_addr_t base);
/* Let `ticks` of simulated time pass (nothing, while PERIOD is 0). Not while a CPU may
 * be accessing the timer: nothing locks *t. */
void sim_timer_advance(struct sim_timer *t, uint64_t ticks);

/* The kernsim DMA engine (see sim/dma.c for the full contract): 32-bit registers, and
 * a ring of 16-byte descriptors in RAM that the device reads by physical address.
 * Writing DOORBELL = n makes it process descriptors from HEAD up to (not including)
 * n mod SIZE: to-device buffers are read and summed into CHECKSUM, from-device buffers
 * are filled with the device's data. Outside the deterministic scheduler that happens
 * in the doorbell write; under it the device works while the CPUs do, one descriptor a
 * step at points the strategy chooses. A completion that sets STATUS.DONE while it was
 * clear raises IRQ's vector on IRQ's CPU (edge-triggered: reading STATUS re-arms it). A buffer in a
 * frame the frame allocator calls free is a reported bug ("DMA into a freed frame"), and so is one
 * in a frame that was freed and handed out again since the doorbell posted it ("DMA into a reused
 * frame"): each names the descriptor, where the frame was freed (and allocated again) and where the
 * doorbell was rung. Under the scheduler the report fails the schedule. */
#define SIM_DMA_RING_LO   0x00 /* rw: ring base, physical, 16-byte aligned */
#define SIM_DMA_RING_HI   0x04
#define SIM_DMA_RING_SIZE 0x08 /* rw: entries, a power of two up to 4096; 0 stops it */
#define SIM_DMA_DOORBELL  0x0c /* wo: the driver's tail */
#define SIM_DMA_HEAD      0x10 /* ro: the next descriptor the device will take */
#define SIM_DMA_STATUS    0x14 /* rc: SIM_DMA_ST_* since the last read */
#define SIM_DMA_CHECKSUM  0x18 /* ro: sum of the bytes read from memory so far */
#define SIM_DMA_IRQ       0x1c /* rw: bits 7:0 the vector raised when done (0: none), 15:8 the CPU */
#define SIM_DMA_SIZE      0x20
#define SIM_DMA_ST_DONE   (1u << 0) /* descriptors completed */
#define SIM_DMA_ST_ERROR  (1u << 1) /* a descriptor or ring outside RAM, or malformed */
struct sim_dma_desc {
    uint64_t addr; /* physical */
    uint32_t len;  /* bytes, up to 64 KiB */
    uint32_t flags;
};
#define SIM_DMA_TO_DEVICE (1u << 0)  /* the device reads the buffer; else it writes it */
#define SIM_DMA_DESC_DONE (1u << 31) /* set by the device when it completed the descriptor */
#define SIM_DMA_DESC_ERR  (1u << 30) /* set by the device when it refused the descriptor */
struct sim_dma {
    phys_addr_t base;
    uint64_t ring;
    uint32_t size, head, status, checksum;
    uint8_t next_byte; /* what the device writes next: a running counter */
    uint64_t completed, bytes_in, bytes_out, freed_frame_reports;
    /* Fault injection (tests, fuzzers): descriptors the device completes before it
     * refuses every one (as if the bus faulted: DESC_ERR, ST_ERROR, no memory read or
     * written, HEAD moves on). UINT64_MAX (what sim_dma_attach sets): never. */
    uint64_t fail_after;
    /* The device's own (sim/dma.c): work in hand under the scheduler, the interrupt,
     * and the frame generations each posted descriptor's buffer had at its doorbell. */
    uint32_t tail, irq;
    bool busy;
    uint32_t posted[4096][4]; /* the first 4 frames of each descriptor's buffer */
    uint32_t doorbell_stack;
};
/* Put a DMA engine at physical `base` (outside RAM), stopped (RING_SIZE 0). *d is
 * reset either way and must outlive the device. 0, or -1 as sim_mmio_register. */
int sim_dma_attach(struct sim_dma *d, phys_addr_t base);

/* Bugs the sim reported and let the kernel carry on from (a missing TLB flush, a
 * DMA into a freed frame): so a test can fail on them. Any thread; never reset. */
uint64_t sim_report_count(void);
/* Those reports are printed (with stacks) unless this turned them off; they are
 * counted either way. For fuzzers, whose models predict them. A plain store. */
void sim_set_report_output(bool on);

/* Port I/O device models. */
struct sim_pio_ops {
    uint32_t (*in)(void *ctx, uint16_t port, unsigned width);
    void (*out)(void *ctx, uint16_t port, unsigned width, uint32_t value);
};
/* Claim ports [base, base+count), as sim_mmio_register; -1 with a "#" line if the
 * range is empty or past 0xffff, an op is missing, it overlaps another device, or the
 * table (32) is full. */
int sim_pio_register(uint16_t base, uint16_t count, const struct sim_pio_ops *ops, void *ctx,
                     const char *name);

/* What the simulated TLB holds for `va` right now (tests and reports); not valid
 * outside the window or when nothing is cached. Any thread. */
struct sim_tlb_entry {
    bool valid;
    uint64_t va;        /* base of the cached leaf */
    uint64_t page_size; /* 4K, 2M or 1G */
    phys_addr_t pa;     /* frame of the leaf */
    bool writable;
};
struct sim_tlb_entry sim_tlb_lookup(uint64_t va);

struct sim_mmu_stats {
    uint64_t host_maps; /* mmap calls that realised translations */
    uint64_t fills;     /* leaves put in the TLB (eagerly or on a fault) */
    uint64_t flushes;   /* invlpg calls inside the window */
    uint64_t cr3_loads;
    uint64_t faults;      /* accesses the walk refused */
    uint64_t host_faults; /* SIGSEGVs taken in the window */
    uint64_t stale_uses;  /* strict mode: accesses through a translation not flushed */
};
/* Counts since sim_boot or the last sim_reset. Any thread. */
void sim_mmu_get_stats(struct sim_mmu_stats *out);

/* Strict TLB mode (also KERNSIM_STRICT_TLB=1): when a present entry is cleared,
 * changed or made read-only, the translation the TLB still holds is marked stale and
 * its first use is reported as a missing TLB flush (then allowed, as on hardware). */
void sim_set_strict_tlb(bool on);

/* Page history (on unless KERNSIM_HISTORY=0): each PTE store in the window records a
 * backtrace, so fault reports say where a page was mapped and unmapped. Turning it on
 * does nothing if its tables could not be set up at sim_boot. */
void sim_set_history(bool on);

/* What the page history knows of va: its region's name (or NULL) and whether a
 * mapping and an unmapping were recorded; all empty outside the window. */
struct sim_page_history {
    const char *region;
    bool mapped, unmapped;
};
struct sim_page_history sim_page_history(uint64_t va);

/* Set the simulated CPU the calling host thread runs as (the scheduler's job).
 * Panics for a cpu outside 0 .. arch_cpu_count()-1. */
void sim_set_current_cpu(unsigned cpu);

#endif
