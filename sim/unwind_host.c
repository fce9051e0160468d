/* unwind_host.c - subsys/unwind's platform in the sim: module tables from the dynamic
 * linker (PT_GNU_EH_FRAME and the executable PT_LOAD), cached, and a stack reader. */
#define _GNU_SOURCE
#include "sim_internal.h"
#include "san.h"
#include <dlfcn.h>
#include <link.h>
#include <pthread.h>
#include <sim/unwind.h>
#include <string.h>

#define MAX_MODULES 64

static struct {
    pthread_mutex_t mu;
    struct unw_table t[MAX_MODULES];
    unsigned n;
} mods = {.mu = PTHREAD_MUTEX_INITIALIZER};

struct find {
    uint64_t pc;
    struct unw_table t;
    bool found;
};

static int visit(struct dl_phdr_info *info, size_t size, void *arg)
{
    struct find *f = arg;
    const ElfW(Phdr) *text = NULL, *ehhdr = NULL;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        uint64_t lo = info->dlpi_addr + ph->p_vaddr;
        if (ph->p_type == PT_LOAD && (ph->p_flags & PF_X) && f->pc >= lo &&
            f->pc < lo + ph->p_memsz)
            text = ph;
        else if (ph->p_type == PT_GNU_EH_FRAME)
            ehhdr = ph;
    }
    if (!text)
        return 0;
    f->found = true;
    if (!ehhdr)
        return 1; /* a module without tables: found, but nothing to unwind with */
    const uint8_t *hdr = (const uint8_t *)(info->dlpi_addr + ehhdr->p_vaddr);
    /* The header's second field is .eh_frame's address; linkers write it pc-relative. */
    if (hdr[0] != 1 || hdr[1] != 0x1b)
        return 1;
    int32_t rel;
    memcpy(&rel, hdr + 4, 4);
    const uint8_t *eh = hdr + 4 + rel;
    /* .eh_frame lies in a loaded segment: scan for its end inside that segment. */
    const uint8_t *limit = NULL, *seg = NULL;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        const uint8_t *lo = (const uint8_t *)(info->dlpi_addr + ph->p_vaddr);
        if (ph->p_type == PT_LOAD && eh >= lo && eh < lo + ph->p_filesz)
            seg = lo, limit = lo + ph->p_filesz;
    }
    if (!limit)
        return 1;
    f->t = (struct unw_table){
        .eh_frame = eh,
        .eh_frame_size =
            (size_t)(limit - eh), /* records end at the terminator; reads stop at the segment */
        .eh_frame_hdr = hdr,
        .eh_frame_hdr_size = ehhdr->p_memsz,
        .lsda_lo = (uint64_t)(uintptr_t)seg, /* .gcc_except_table shares the tables' segment */
        .lsda_hi = (uint64_t)(uintptr_t)limit,
        .text_lo = info->dlpi_addr + text->p_vaddr,
        .text_hi = info->dlpi_addr + text->p_vaddr + text->p_memsz,
    };
    return 1;
}

const struct unw_table *sim_unwind_lookup(uint64_t pc)
{
    pthread_mutex_lock(&mods.mu);
    const struct unw_table *hit = NULL;
    for (unsigned i = 0; i < mods.n && !hit; i++)
        if (pc >= mods.t[i].text_lo && pc < mods.t[i].text_hi)
            hit = &mods.t[i];
    if (!hit) {
        struct find f = {.pc = pc};
        dl_iterate_phdr(visit, &f);
        if (f.found && f.t.eh_frame && mods.n < MAX_MODULES) {
            mods.t[mods.n] = f.t;
            hit = &mods.t[mods.n++];
        }
    }
    pthread_mutex_unlock(&mods.mu);
    return hit;
}

/* Saved registers were pushed by uninstrumented prologues: MSan must not check them. */
__attribute__((no_sanitize("memory"))) static bool stack_read(void *ctx, uint64_t addr, void *out,
                                                              size_t size)
{
    uintptr_t lo, hi;
    sim_stack_bounds(&lo, &hi);
    if (addr < lo || addr > hi || size > hi - addr)
        return false;
    if (size == 8)
        __builtin_memcpy(out, (const void *)(uintptr_t)addr, 8); /* the usual case, inline */
    else
        memcpy(out, (const void *)(uintptr_t)addr, size);
    if (__msan_unpoison)
        __msan_unpoison(out, size);
    return true;
}

const struct unw_mem sim_unwind_stack_mem = {stack_read, NULL};

/* An exception that is not a kernsim panic (C++ code in a library, say) goes on to
 * the unwinder that would have had it. */
void sim_unwind_foreign_resume(void *exc)
{
    void (*next)(void *) = (void (*)(void *))dlsym(RTLD_NEXT, "_Unwind_Resume");
    if (next)
        next(exc);
}
