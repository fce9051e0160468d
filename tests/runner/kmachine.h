/* kmachine.h - the one way a hosted program boots kernsim's machine: the sim, then
 * the kernel's memory in the order the bare kernel starts it (the heap on its arena,
 * the frame allocator, the kernel VA allocator, the boot address space adopted, the
 * heap growing through paging). Every test runner, bug program, fuzzer and benchmark
 * boots through here, so each step fails the same way everywhere. */
#ifndef KMACHINE_H
#define KMACHINE_H

#include <heap/heap.h>
#include <paging/paging.h>
#include <stdbool.h>
#include <stdint.h>

/* How far to boot. */
enum kmachine_level {
    KMACHINE_KERNEL = 0, /* everything: the sim, the heap, paging, the heap on paging */
    KMACHINE_PAGING,     /* the sim and paging (frames, VA, the boot space); no heap */
    KMACHINE_SIM,        /* the simulated machine alone */
};

/* Which heap mode. */
enum kmachine_heap {
    KMACHINE_HEAP_DEFAULT = 0, /* $KERNSIM_HEAP_MODE, else checking under ASan, MSan or
                                * Valgrind and fast otherwise */
    KMACHINE_HEAP_FAST,
    KMACHINE_HEAP_CHECKING,
    KMACHINE_HEAP_ENV_OR_FAST, /* $KERNSIM_HEAP_MODE, else fast (a fuzzer's default) */
};

struct kmachine_opts {
    enum kmachine_level level;
    enum kmachine_heap heap;
    uint64_t ram_size; /* bytes; 0: the sim's default ($KERNSIM_RAM_MB or 256 MiB) */
    unsigned ncpus;    /* 0: the sim's default ($KERNSIM_CPUS or 4) */
    bool no_history;   /* page history off (a backtrace per PTE store buys a fuzzer nothing) */
};

/* The step that failed, or KMACHINE_OK. */
enum kmachine_err {
    KMACHINE_OK = 0,
    KMACHINE_EBADMODE, /* $KERNSIM_HEAP_MODE is neither fast nor checking */
    KMACHINE_ESIM,     /* sim_boot refused (it printed why) */
    KMACHINE_EHEAP,    /* heap_init: the heap was already started */
    KMACHINE_EFRAMES,  /* frame_init */
    KMACHINE_EVA,      /* va_init */
    KMACHINE_ESPACE,   /* pg_space_adopt of the boot CR3 */
    KMACHINE_EATTACH,  /* heap_attach_paging */
};

/* What kmachine_boot brought up. */
struct kmachine {
    enum kmachine_level level;
    enum heap_mode heap_mode; /* when level is KMACHINE_KERNEL */
    struct pg_space *space;   /* the kernel's address space (NULL for KMACHINE_SIM) */
};

/* Boot once per process, as `o` says (NULL: everything, the defaults). Returns
 * KMACHINE_OK and fills `m` (may be NULL; m->space points at a static space), or the
 * step that failed after printing one line to stderr that names it ("kernsim: boot:
 * ...", after sim_boot's own for KMACHINE_ESIM). A bad heap mode is found before
 * anything starts; a later failure leaves the steps before it done (a second call is
 * KMACHINE_ESIM). A refused boot does not exit; callers decide (test runners exit 2). */
enum kmachine_err kmachine_boot(const struct kmachine_opts *o, struct kmachine *m);

/* The step an error names, for messages ("unknown kmachine error" for none). */
const char *kmachine_strerror(enum kmachine_err e);

#endif
