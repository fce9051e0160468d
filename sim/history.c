/* history.c - what happened to each page of the kernel VA window: where it was last
 * mapped and unmapped (stacks in the depot, stackdepot.c) and which region it
 * belonged to, so a fault on a page that used to be mapped can say so; and what the
 * frame allocator last said of each RAM frame, so a DMA or a stale translation into
 * a freed frame can say where it was freed. */
#include "arch_internal.h"
#include "sim_internal.h"
#include <arch/console.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define N4K       (SIM_KVA_SIZE >> 12)
#define MAX_NAMES 4096

struct page_hist {
    uint32_t mapped;    /* stack id, 0 = none */
    uint32_t unmapped;  /* stack id, 0 = none */
    uint32_t protected; /* stack id of the last change of rights, 0 = none */
    uint16_t name;      /* name id, 0 = none */
};

/* What the frame allocator last said of each RAM frame (arch_mm_frames). */
enum { FRAME_UNKNOWN, FRAME_IN_USE, FRAME_FREE };
struct frame_hist {
    uint32_t freed;     /* stack id of the last free, 0 = none */
    uint32_t allocated; /* stack id of the last allocation, 0 = none */
    uint32_t gen;       /* allocations so far: a frame freed and handed out again differs */
    uint8_t state;
};
#define NFRAMES (SIM_RAM_MAX >> 12)

static struct {
    bool on;
    bool frames_dirty;
    struct frame_hist *frames; /* NFRAMES, NORESERVE */
    bool dirty;                /* pages[] was written since the last reset */
    struct page_hist *pages;   /* N4K, NORESERVE */
    const char *names[MAX_NAMES];
    unsigned n_names;
} h;

void sim_history_init(void)
{
    const char *env = getenv("KERNSIM_HISTORY");
    h.on = !(env && !strcmp(env, "0"));
    h.pages = mmap(NULL, N4K * sizeof(struct page_hist), PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    h.frames = mmap(NULL, NFRAMES * sizeof(struct frame_hist), PROT_READ | PROT_WRITE,
                    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (h.frames == MAP_FAILED)
        h.frames = NULL;
    sim_stackdepot_init();
    if (h.pages == MAP_FAILED || !sim_stackdepot_ready())
        h.on = false, h.pages = NULL;
}

void sim_history_reset(void)
{
    if (h.pages && h.dirty)
        madvise(h.pages, N4K * sizeof(struct page_hist), MADV_DONTNEED);
    h.dirty = false;
    h.n_names = 0;
    if (h.frames && h.frames_dirty)
        madvise(h.frames, NFRAMES * sizeof(struct frame_hist), MADV_DONTNEED);
    h.frames_dirty = false;
}

void arch_mm_frames(phys_addr_t pa, uint64_t size, bool in_use)
{
    if (!h.frames || pa >= SIM_RAM_MAX || size > SIM_RAM_MAX - pa)
        return;
    uint32_t stack = h.on ? sim_stack_capture(2) : 0;
    h.frames_dirty = true;
    for (uint64_t f = pa >> 12; f < (pa + size + 0xfff) >> 12; f++) {
        struct frame_hist *fh = &h.frames[f];
        if (in_use) {
            fh->allocated = stack;
            fh->gen += fh->state != FRAME_IN_USE;
        } else {
            fh->freed = stack;
        }
        fh->state = in_use ? FRAME_IN_USE : FRAME_FREE;
    }
}

uint32_t sim_frame_generation(phys_addr_t pa)
{
    return h.frames && pa < SIM_RAM_MAX ? h.frames[pa >> 12].gen : 0;
}

bool sim_frame_reused(phys_addr_t pa, uint32_t gen, uint32_t *freed_stack, uint32_t *alloc_stack)
{
    if (!h.frames || pa >= SIM_RAM_MAX)
        return false;
    const struct frame_hist *fh = &h.frames[pa >> 12];
    if (fh->state != FRAME_IN_USE || fh->gen == gen)
        return false;
    *freed_stack = fh->freed;
    *alloc_stack = fh->allocated;
    return true;
}

bool sim_frame_freed(phys_addr_t pa, uint32_t *freed_stack)
{
    if (!h.frames || pa >= SIM_RAM_MAX || h.frames[pa >> 12].state != FRAME_FREE)
        return false;
    *freed_stack = h.frames[pa >> 12].freed;
    return true;
}

void sim_set_history(bool on)
{
    h.on = on && h.pages;
}

void sim_history_record(uint64_t va, uint64_t size, enum sim_page_event ev)
{
    if (!h.on || !sim_in_window(va))
        return;
    uint32_t id = sim_stack_capture(3); /* record, pte_changed, arch_set_pte */
    h.dirty = true;
    uint64_t first = (va - SIM_KVA_BASE) >> 12, n = size >> 12;
    for (uint64_t i = first; i < first + n && i < N4K; i++) {
        if (ev == SIM_PAGE_MAPPED)
            h.pages[i].mapped = id, h.pages[i].protected = 0;
        else if (ev == SIM_PAGE_UNMAPPED)
            h.pages[i].unmapped = id;
        else
            h.pages[i].protected = id;
    }
}

void arch_mm_annotate(uint64_t va, uint64_t size, const char *name)
{
    if (!h.on || !sim_in_window(va) || !name)
        return;
    unsigned id = 0;
    for (unsigned i = 0; i < h.n_names && !id; i++) {
        if (h.names[i] == name)
            id = i + 1;
    }
    if (!id && h.n_names < MAX_NAMES) {
        h.names[h.n_names++] = name;
        id = h.n_names;
    }
    h.dirty = true;
    uint64_t first = (va - SIM_KVA_BASE) >> 12, n = size >> 12;
    for (uint64_t i = first; i < first + n && i < N4K; i++)
        h.pages[i].name = (uint16_t)id;
}

bool sim_history_describe(uint64_t va, const char *indent)
{
    if (!h.pages || !sim_in_window(va))
        return false;
    const struct page_hist *p = &h.pages[(va - SIM_KVA_BASE) >> 12];
    if (!p->mapped && !p->unmapped && !p->name)
        return false;
    const char *name = p->name ? h.names[p->name - 1] : NULL;
    kprintf("#%spage 0x%lx belonged to %s%s%s\n", indent, ARCH_ALIGN_DOWN(va, ARCH_PAGE_4K),
            name ? "region '" : "no named region", name ? name : "", name ? "'" : "");
    if (p->mapped) {
        kprintf("#%s  last mapped at:\n", indent);
        sim_stack_print(p->mapped, "       ");
    }
    if (p->protected) {
        kprintf("#%s  rights last changed at:\n", indent);
        sim_stack_print(p->protected, "       ");
    }
    if (p->unmapped) {
        kprintf("#%s  last unmapped at:\n", indent);
        sim_stack_print(p->unmapped, "       ");
    }
    return true;
}

bool arch_mm_history(uint64_t va, const char *indent)
{
    return sim_history_describe(va, indent);
}

void arch_fault_history(const struct arch_fault *f)
{
    sim_history_describe(f->addr, "   ");
}

struct sim_page_history sim_page_history(uint64_t va)
{
    struct sim_page_history r = {0};
    if (!h.pages || !sim_in_window(va))
        return r;
    const struct page_hist *p = &h.pages[(va - SIM_KVA_BASE) >> 12];
    r.region = p->name ? h.names[p->name - 1] : NULL;
    r.mapped = p->mapped != 0;
    r.unmapped = p->unmapped != 0;
    return r;
}
