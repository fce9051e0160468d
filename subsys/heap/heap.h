/* heap.h - the kernel heap. The one public header of subsys/heap.
 *
 * Small blocks (up to HEAP_SMALL_MAX) come from size-class slabs ("spans" of 64 KiB)
 * kept per CPU, so the common path takes no lock and no atomic; a block freed by
 * another CPU goes back to its span through a lock-free list. Larger blocks are page
 * backed. The heap starts in a static arena and, once heap_attach_paging() is called,
 * grows by mapping pages through subsys/paging.
 *
 * kfree checks before it touches anything: alignment, that the pointer is inside the
 * heap, the back-pointer to its metadata, that the block is not already free. A bad
 * free is reported ("# heap: ..." on the console, counted in heap_stats, the text in
 * heap_last_report()) and changes nothing; the heap stays usable. Corrupted heap
 * metadata is a bug and panics.
 *
 * Checking mode (heap_init(HEAP_CHECKING)) adds redzones around every block, a
 * quarantine that delays reuse, poisoning (0xa5 new, 0xdf freed), allocation and
 * free stacks in reports, and tells the build's checkers (ASan, Valgrind, MSan in
 * the sim) about every block. */
#ifndef SUBSYS_HEAP_H
#define SUBSYS_HEAP_H

#include <arch/types.h>

#define HEAP_SMALL_MAX   2048
#define HEAP_ALIGN       16 /* every block is at least this aligned */
#define HEAP_POISON_NEW  0xa5
#define HEAP_POISON_FREE 0xdf

enum heap_mode {
    HEAP_FAST = 0,
    HEAP_CHECKING = 1,
};

/* Start the heap on its static arena. Once, by the boot CPU, before any other heap
 * call. true, or false (nothing started or changed) if it was already started (the
 * mode of a running heap cannot change) or `mode` is neither mode. */
bool heap_init(enum heap_mode mode);
/* The mode heap_init chose (HEAP_FAST before it). Any CPU. */
enum heap_mode heap_mode(void);

struct pg_space;
enum heap_err {
    HEAP_OK,
    HEAP_ERR_NOT_INITIALISED,  /* heap_init has not run */
    HEAP_ERR_NO_SPACE,         /* no address space, or one that is not live */
    HEAP_ERR_ALREADY_ATTACHED, /* the heap grows through paging already */
    HEAP_ERR_NO_PAGING,        /* the frame allocator is not initialised */
    HEAP_ERR_NO_ADDRESS_SPACE, /* no room for the heap's area in the kernel window */
    HEAP_ERR_COUNT_
};
/* What an error means, for reports ("unknown error" for a value that is none). */
const char *heap_strerror(enum heap_err err);
/* From now on, grow by mapping pages in `as` (which must be loaded). Once, after
 * heap_init and frame_init, by the boot CPU. HEAP_OK, or why not with the heap
 * unchanged (it keeps growing in its arena). */
enum heap_err heap_attach_paging(struct pg_space *as);

/* Any CPU, concurrently with every other, after heap_init (before it: NULL). Not from
 * an interrupt handler that may interrupt its own CPU inside the heap: the slow paths
 * take the heap's lock with preemption off but interrupts on.
 * All return NULL when out of memory, for size 0 (kmalloc(0) is NULL, as in Linux's
 * ZERO_SIZE_PTR spirit minus the special pointer), or for sizes near SIZE_MAX. */
void *kmalloc(size_t size);
void *kzalloc(size_t size);
/* `align` must be a power of two (else NULL and a report); up to 1 GiB. */
void *kmalloc_aligned(size_t size, size_t align);
/* krealloc(NULL, n) is kmalloc(n); krealloc(p, 0) frees p and returns NULL. On
 * failure p is left untouched. Contents up to the smaller size are kept. */
void *krealloc(void *p, size_t size);
/* Any CPU (not only the allocating one), as kmalloc. kfree(NULL) does nothing; a
 * pointer that is not a live block's start is reported and changes nothing. */
void kfree(void *p);
/* As kfree, but `size` must match the allocation, like Rust's layout check: in
 * checking mode exactly the size asked for; in fast mode a size of the block's size
 * class (large blocks: exactly). Otherwise a report, and the block stays allocated. */
void kfree_sized(void *p, size_t size);
/* Bytes usable at p (>= the size asked for); 0 and a report if p is not a live block. */
size_t kmalloc_usable_size(const void *p);

enum heap_report {
    HEAP_REPORT_NOT_HEAP,      /* not a heap address at all */
    HEAP_REPORT_NOT_ALLOCATED, /* inside the heap, but nothing was allocated there */
    HEAP_REPORT_INTERIOR,      /* inside a block, not its start */
    HEAP_REPORT_DOUBLE_FREE,
    HEAP_REPORT_SIZE_MISMATCH,  /* kfree_sized with the wrong size */
    HEAP_REPORT_BAD_ALIGN,      /* kmalloc_aligned with a non-power-of-two */
    HEAP_REPORT_REDZONE,        /* checking mode: a redzone byte was overwritten */
    HEAP_REPORT_USE_AFTER_FREE, /* checking mode: a quarantined block was written */
    HEAP_REPORT_EARLY_OOM,      /* the bootstrap arena ran out before paging was attached */
    HEAP_REPORT_LEAK,           /* checking mode: heap_leak_check found a block no one freed */
    HEAP_REPORT_COUNT_
};

/* Counted from the spans when asked (the fast paths keep no counters), so only while
 * no other CPU allocates or frees, as heap_valid and heap_trim: the walk checks every
 * link it follows, and another CPU's list changing under it would look like
 * corruption (a panic). heap_get_reports may be called at any time. Quarantined
 * blocks count as live. */
struct heap_stats {
    uint64_t live_blocks, live_bytes; /* usable bytes of live blocks */
    uint64_t spans, large_blocks;     /* in use */
    uint64_t mapped_bytes;            /* taken from paging (spans and large blocks) */
    uint64_t quarantined;
    uint64_t oom; /* allocations that returned NULL for lack of memory */
    uint64_t reports[HEAP_REPORT_COUNT_];
};
void heap_get_stats(struct heap_stats *out);
/* Only the report counters of heap_get_stats, without its walk of every span (for
 * callers that check reports often, as fuzzers do). */
void heap_get_reports(uint64_t counts[HEAP_REPORT_COUNT_]);
/* The text of the last report ("" if none): a static buffer the next report, on any
 * CPU, rewrites. */
const char *heap_last_report(void);
/* Reports are printed (with the bad call's stack) unless this turned them off; they
 * are counted and kept for heap_last_report either way. For fuzzers, whose models
 * predict every report. */
void heap_set_reports(bool print);

/* Leak checking (checking mode, like kmemleak over a scope): heap_leak_mark() before
 * the code under test, heap_leak_check(mark) after it reports every block allocated
 * since the mark and still live (not freed, not quarantined), with where it was
 * allocated, and returns how many. Only when no other CPU is using the heap. In fast
 * mode blocks carry no history: both return 0 and the check says it cannot run. */
uint64_t heap_leak_mark(void);
uint64_t heap_leak_check(uint64_t mark);

/* If p is in or next to a block of the checked heap, say which (offset, size, live or
 * freed, where allocated and freed) as "#" lines after `indent`; false otherwise. For
 * the checkers' reports (an ASan report on a kernel-heap address, a page fault). */
bool heap_describe(const void *p, const char *indent);

/* Fault injection for tests and fuzzers: after `n` more successful growths (a
 * segment of spans mapped), every growth fails, so allocations that need one return
 * NULL (counted in heap_stats.oom) and change nothing else; UINT64_MAX turns it off.
 * Frame failures (frame_fail_after) reach the heap through paging as well. */
void heap_fail_growth_after(uint64_t n);

/* Walk every span and large block and check their metadata and counts; false before
 * heap_init. Only while no other CPU uses the heap, as heap_get_stats. */
bool heap_valid(void);

/* Flush the quarantine and give empty spans and segments back to paging. Only when
 * no other CPU is using the heap (tests, shutdown). */
void heap_trim(void);

#endif
