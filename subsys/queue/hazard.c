/* hazard.c - hazard pointers: each CPU publishes the nodes it is about to read; a
 * retired node is freed only by a scan that finds it in no CPU's slots. */
#include "queue_internal.h"
#include <arch/atomic.h>
#include <arch/cpu.h>
#include <heap/heap.h>

#define HP_CPUS    64
#define RETIRE_MAX 256 /* more than every CPU's slots together: a scan always frees one */

static struct {
    void *slot[HP_SLOTS];
} __attribute__((aligned(64))) hazards[HP_CPUS];

static struct {
    void *node[RETIRE_MAX];
    unsigned n;
} __attribute__((aligned(64))) retired[HP_CPUS];

void *hp_protect(unsigned slot, void **src)
{
    void **mine = &hazards[arch_cpu_id()].slot[slot];
    /* acquire: pairs with the release that published p, so its fields are seen */
    void *p = arch_atomic_load(src, ARCH_ACQUIRE);
    for (;;) {
        /* seq_cst, both: publish, then re-read (a store then a load: only seq_cst
         * orders them). If src still holds p, p was not yet unlinked when the hazard
         * became visible, so a scan's seq_cst read of the slots, which follows the
         * unlink, finds it and keeps p */
        arch_atomic_store(mine, p, ARCH_SEQ_CST);
        void *again = arch_atomic_load(src, ARCH_SEQ_CST);
        if (again == p)
            return p;
        p = again;
    }
}

void hp_set(unsigned slot, void *p)
{
    /* seq_cst: the caller validates it with a seq_cst re-read, as hp_protect does */
    arch_atomic_store(&hazards[arch_cpu_id()].slot[slot], p, ARCH_SEQ_CST);
}

void hp_clear(unsigned slot)
{
    /* release: every read of the node it protected is done before a scan that sees the
     * slot empty frees the node */
    arch_atomic_store(&hazards[arch_cpu_id()].slot[slot], NULL, ARCH_RELEASE);
}

static bool protected(void *p)
{
    unsigned cpus = arch_cpu_count() < HP_CPUS ? arch_cpu_count() : HP_CPUS;
    for (unsigned c = 0; c < cpus; c++)
        for (unsigned s = 0; s < HP_SLOTS; s++)
            /* seq_cst: the other side of hp_protect's store-then-load (our unlink,
             * then this read); its acquire half pairs with hp_clear's release */
            if (arch_atomic_load(&hazards[c].slot[s], ARCH_SEQ_CST) == p)
                return true;
    return false;
}

static void scan(unsigned cpu)
{
    unsigned kept = 0;
    for (unsigned i = 0; i < retired[cpu].n; i++) {
        void *p = retired[cpu].node[i];
        if (protected(p))
            retired[cpu].node[kept++] = p;
        else
            kfree(p);
    }
    retired[cpu].n = kept;
}

void hp_retire(void *p)
{
    unsigned cpu = arch_cpu_id();
    unsigned limit = 2 * HP_SLOTS * (arch_cpu_count() < HP_CPUS ? arch_cpu_count() : HP_CPUS) + 1;
    retired[cpu].node[retired[cpu].n++] = p;
    if (retired[cpu].n >= (limit < RETIRE_MAX ? limit : RETIRE_MAX))
        scan(cpu);
}

uint64_t hp_retired_count(void)
{
    uint64_t n = 0;
    for (unsigned c = 0; c < HP_CPUS; c++)
        n += retired[c].n;
    return n;
}

void hp_scan_all(void)
{
    for (unsigned c = 0; c < HP_CPUS; c++)
        scan(c);
}
