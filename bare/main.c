/* main.c - the bare kernel: serial, IDT, memory map from PVH, own page tables, then
 * every registered ktest suite; the exit code tells QEMU's caller how it went. */
#include "../arch_stub/x86_64/x86.h"
#include "../tests/ktest/ktest.h"
#include <heap/heap.h>
#include <paging/paging.h>
#include <arch/console.h>
#include <arch/panic.h>

void bare_tss_init(void);
void bare_idt_init(void);
void bare_mm_init(uint64_t ram_end);
struct pg_space *bare_mm_final(uint64_t ram_end);
void bare_unwind_init(void);

/* xen/include/public/arch-x86/hvm/start_info.h */
#define HVM_START_MAGIC 0x336ec578
struct hvm_start_info {
    uint32_t magic, version, flags, nr_modules;
    uint64_t modlist_paddr, cmdline_paddr, rsdp_paddr, memmap_paddr;
    uint32_t memmap_entries, reserved;
};
struct hvm_memmap_entry {
    uint64_t addr, size;
    uint32_t type, reserved;
};
#define E820_RAM 1

extern char __kernel_start[], __kernel_end[], __boot_pt_start[], __boot_pt_end[];

#define MAX_RANGES 32
static struct arch_mem_range ranges[MAX_RANGES];
static size_t n_ranges;

static void add_range(uint64_t base, uint64_t end, enum arch_mem_type type)
{
    if (base >= end)
        return;
    if (n_ranges == MAX_RANGES)
        arch_panic("bare_main: more than %d memory ranges", MAX_RANGES);
    ranges[n_ranges++] = (struct arch_mem_range){base, end - base, type};
}

/* Add [base, end) of RAM, carving out the low MiB, the kernel image and the boot
 * page tables (which lie inside the image). */
static void add_ram(uint64_t base, uint64_t end)
{
    const uint64_t cuts[][3] = {
        {0, 0x100000, ARCH_MEM_RESERVED},
        {(uintptr_t)__kernel_start, (uintptr_t)__boot_pt_start, ARCH_MEM_KERNEL},
        {(uintptr_t)__boot_pt_start, (uintptr_t)__boot_pt_end, ARCH_MEM_BOOT_PT},
        {(uintptr_t)__boot_pt_end, (uintptr_t)__kernel_end, ARCH_MEM_KERNEL},
    };
    base = ARCH_ALIGN_UP(base, ARCH_PAGE_4K);
    end = ARCH_ALIGN_DOWN(end, ARCH_PAGE_4K);
    for (unsigned i = 0; i < 4 && base < end; i++) {
        uint64_t cb = cuts[i][0], ce = cuts[i][1];
        if (ce <= base || cb >= end)
            continue;
        add_range(base, cb, ARCH_MEM_USABLE);
        add_range(cb > base ? cb : base, ce < end ? ce : end, (enum arch_mem_type)cuts[i][2]);
        base = ce;
    }
    add_range(base, end, ARCH_MEM_USABLE);
}

/* The value of "key=" on the kernel command line (QEMU's -append), or NULL. */
static const char *cmdline_value(const struct hvm_start_info *si, const char *key, char *buf,
                                 size_t size)
{
    if (!si->cmdline_paddr || si->cmdline_paddr >= (UINT64_C(1) << 30))
        return NULL;
    const char *s = kstrstr((const char *)(uintptr_t)si->cmdline_paddr, key);
    if (!s)
        return NULL;
    s += kstrlen(key);
    size_t n = 0;
    while (s[n] && s[n] != ' ' && n + 1 < size) {
        buf[n] = s[n];
        n++;
    }
    buf[n] = '\0';
    return n ? buf : NULL;
}

/* Recurse until the stack runs into its guard page. Each frame holds a 512-byte array
 * whose address the next call gets, so no frame can be dropped or become a loop. */
__attribute__((noinline)) static uint64_t overflow_stack(volatile uint64_t *up, uint64_t depth)
{
    volatile uint64_t frame[64];
    frame[0] = depth;
    frame[1] = up ? up[0] : 0;
    if (depth == UINT64_MAX)
        return frame[1];
    return overflow_stack(frame, depth + 1) + frame[0];
}

/* "bare.misbehave=WHAT" makes the kernel fail on purpose, so the QEMU runner's own
 * tests can show it catches each way a kernel run goes wrong. */
static void misbehave(const char *what)
{
    if (!what)
        return;
    if (!kstrcmp(what, "hang")) {
        for (;;)
            __asm__ volatile("cli; hlt");
    } else if (!kstrcmp(what, "triple")) {
        struct {
            uint16_t limit;
            uint64_t base;
        } __attribute__((packed)) empty = {0, 0};
        __asm__ volatile("lidt %0; int3" ::"m"(empty)); /* #BP -> #GP -> #DF -> reset */
    } else if (!kstrcmp(what, "panic")) {
        arch_panic("bare.misbehave: deliberate panic");
    } else if (!kstrcmp(what, "silent")) {
        x86_exit(X86_EXIT_PASS); /* the pass code with no KTAP at all */
    } else if (!kstrcmp(what, "fault")) {
        *(volatile uint64_t *)(uintptr_t)X86_KVA_BASE = 1; /* nothing is mapped there */
    } else if (!kstrcmp(what, "overflow")) {
        /* The guard page -> #PF -> no room on the stack for its frame -> #DF. */
        (void)overflow_stack(NULL, 0);
    } else if (!kstrcmp(what, "double")) {
        /* A #DE through a gate that is not present raises #NP while it is delivered:
         * two contributory exceptions, a double fault that is no stack overflow. The
         * IDT is read-only by now, so break a copy. */
        static uint8_t copy[256 * 16] __attribute__((aligned(16)));
        struct {
            uint16_t limit;
            uint64_t base;
        } __attribute__((packed)) idtr;
        __asm__ volatile("sidt %0" : "=m"(idtr));
        if ((size_t)idtr.limit + 1 != sizeof(copy))
            arch_panic("bare.misbehave=double: the IDT limit is 0x%x", idtr.limit);
        __builtin_memcpy(copy, (const void *)(uintptr_t)idtr.base, sizeof(copy));
        copy[5] &= 0x7f; /* gate 0's P bit */
        idtr.base = (uint64_t)(uintptr_t)copy;
        __asm__ volatile("lidt %0; xorl %%ecx, %%ecx; divl %%ecx" ::"m"(idtr)
                         : "eax", "ecx", "edx", "memory");
    } else if (!kstrcmp(what, "runaway")) {
        /* A runaway write from the first global on, through all of .bss (where the IDT
         * was, and the fault path's hooks are) until the end of the image faults. */
        __builtin_memset(x86_stacks[X86_N_STACKS - 1].hi, 0, SIZE_MAX / 2);
    }
    arch_panic("bare.misbehave=%s: unknown (hang, triple, panic, silent, fault, overflow, double, "
               "runaway)",
               what);
}

void bare_main(uint32_t start_info_pa)
{
    x86_serial_init();
    bare_tss_init(); /* first: the IDT's #DF, NMI and #MC gates name its IST stacks */
    bare_idt_init();
    /* The heap runs from its static arena until paging is up. */
    static char heap_mode_buf[16];
    const struct hvm_start_info *si = (const void *)(uintptr_t)start_info_pa;
    if (!si || si->magic != HVM_START_MAGIC)
        arch_panic("bare_main: no PVH start info (magic 0x%x)", si ? si->magic : 0);
    if (si->version < 1 || !si->memmap_paddr || !si->memmap_entries)
        arch_panic("bare_main: PVH start info v%u has no memory map", si->version);

    /* E820 entries are not promised to be sorted: insert RAM in address order. */
    const struct hvm_memmap_entry *mm = (const void *)(uintptr_t)si->memmap_paddr;
    uint64_t done = 0, ram_end = 0;
    for (;;) {
        const struct hvm_memmap_entry *next = NULL;
        for (uint32_t i = 0; i < si->memmap_entries; i++) {
            if (mm[i].type == E820_RAM && mm[i].addr >= done && mm[i].size &&
                (!next || mm[i].addr < next->addr))
                next = &mm[i];
        }
        if (!next)
            break;
        uint64_t end = next->addr + next->size;
        if (end > X86_DIRECT_MAP_MAX)
            end = X86_DIRECT_MAP_MAX;
        add_ram(next->addr, end);
        if (end > ram_end)
            ram_end = end;
        done = next->addr + next->size;
    }
    if (!ram_end)
        arch_panic("bare_main: the memory map has no RAM");
    bare_mm_init(ram_end);
    x86_mem_init(ranges, n_ranges);
    /* Read the command line now: the final tables do not map the PVH start info. */
    static char filter_buf[64], misbehave_buf[64];
    const char *filter = cmdline_value(si, "ktest.filter=", filter_buf, sizeof(filter_buf));
    const char *mis = cmdline_value(si, "bare.misbehave=", misbehave_buf, sizeof(misbehave_buf));

    const char *hm = cmdline_value(si, "heap.checking=", heap_mode_buf, sizeof(heap_mode_buf));
    heap_init(hm && !kstrcmp(hm, "1") ? HEAP_CHECKING : HEAP_FAST);

    bare_unwind_init();
    kprintf("# kernsim bare kernel: %lu MiB RAM, %zu ranges\n", ram_end >> 20, n_ranges);
    struct pg_space *kernel = bare_mm_final(ram_end);
    enum heap_err herr = heap_attach_paging(kernel);
    if (herr != HEAP_OK)
        arch_panic("bare_main: the heap could not attach to paging: %s", heap_strerror(herr));
    kprintf("# kernel heap: %s mode, growing through paging\n",
            heap_mode() == HEAP_CHECKING ? "checking" : "fast");
    unsigned ran = 0;
    misbehave(mis);
    unsigned failed = ktest_run(filter, &ran);
    x86_exit(failed || !ran ? X86_EXIT_FAIL : X86_EXIT_PASS);
}
