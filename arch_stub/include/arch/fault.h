/* arch/fault.h - page faults: the report, the kernel's hook, and fault-safe probes.
 *
 * A faulting access in either build becomes a struct arch_fault, computed by one
 * walker (arch/ptwalk.h) from the current tables: the address, the access, the level
 * whose entry refused it and why. The report is printed as KTAP diagnostic lines
 * ("# page fault: ..."), then the kernel's hook runs. If the hook fixed the tables it
 * returns ARCH_FAULT_RETRY and the access is retried; otherwise a probe returns the
 * fault to its caller, and any other access panics with the report. */
#ifndef ARCH_FAULT_H
#define ARCH_FAULT_H

#include <arch/types.h>

enum arch_access {
    ARCH_ACCESS_READ,
    ARCH_ACCESS_WRITE,
    ARCH_ACCESS_EXEC,
};

enum arch_fault_reason {
    ARCH_FAULT_NONE,         /* the walk allows the access */
    ARCH_FAULT_NOT_PRESENT,  /* an entry on the walk has P = 0 */
    ARCH_FAULT_NOT_WRITABLE, /* a write, and some level has W = 0 */
    ARCH_FAULT_NO_EXECUTE,   /* an instruction fetch, and some level has NX = 1 */
    ARCH_FAULT_RESERVED,     /* reserved bits set in an entry (PS in a PML4E, misaligned huge frame,
                                address above MAXPHYADDR) */
    ARCH_FAULT_BAD_TABLE,    /* a non-leaf entry points outside RAM */
    ARCH_FAULT_NON_CANONICAL, /* the address is not canonical (#GP on hardware) */
    ARCH_FAULT_NO_BACKING, /* translation allowed, but the frame is not RAM (use MMIO accessors) */
};

struct arch_fault {
    uint64_t addr;    /* faulting virtual address (CR2) */
    uint64_t ip;      /* instruction of the access, 0 if unknown; in the sim an
                         offset into the host executable, stable across runs */
    phys_addr_t root; /* CR3 the walk started from */
    enum arch_access access;
    enum arch_fault_reason reason;
    int level;      /* 4..1: entry that refused; 0 if none */
    uint64_t entry; /* that entry's value */
};

enum arch_fault_action {
    ARCH_FAULT_UNHANDLED, /* not mine: probe returns the fault, otherwise panic */
    ARCH_FAULT_RETRY,     /* I fixed the tables: run the access again */
};

typedef enum arch_fault_action (*arch_fault_hook_t)(const struct arch_fault *f, void *ctx);

/* Install the kernel's page-fault hook (NULL removes it); returns the previous one.
 * Only while no CPU can fault (boot, a test's setup): hook and ctx are plain stores.
 * The hook runs in fault context, for probes' faults too: it may write PTEs and
 * invlpg, not block. A hook that returns RETRY without changing what faulted gets at
 * most 8 retries before the fault is treated as unhandled. */
arch_fault_hook_t arch_set_page_fault_hook(arch_fault_hook_t hook, void *ctx);

/* Fault-safe accesses (Linux's copy_from_kernel_nofault). Any CPU; `out` must be
 * valid. Return true when the access happened; on a fault return false (nothing was
 * read or written) and, if `f` is not NULL, fill it. The fault is counted, reported and
 * offered to the hook as any other. In the bare build the access really executes and
 * a #PF is fixed up through an exception table; in the sim the simulated MMU decides. */
bool arch_probe_read8(const void *va, uint8_t *out, struct arch_fault *f);
bool arch_probe_write8(void *va, uint8_t v, struct arch_fault *f);
bool arch_probe_read64(const void *va, uint64_t *out, struct arch_fault *f);
bool arch_probe_write64(void *va, uint64_t v, struct arch_fault *f);

/* Number of page faults taken so far (all CPUs), handled or not. */
uint64_t arch_fault_count(void);
/* Every fault is reported on the console (the access, the walk, the page's history)
 * unless this turned it off: fuzzers take thousands of expected faults a second. The
 * count and the hook are the same either way. A plain store: set it while no CPU
 * faults. */
void arch_fault_set_reports(bool on);

/* Short names for reports and tests ("?" for a value that is none). */
const char *arch_access_name(enum arch_access a);
const char *arch_fault_reason_name(enum arch_fault_reason r);

/* Format the one-line report into buf (NUL terminated if size > 0); returns buf. */
char *arch_fault_format(const struct arch_fault *f, char *buf, size_t size);

#endif
