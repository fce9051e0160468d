/* tss.c - the 64-bit TSS and the exception stacks. Long mode has no hardware task
 * switch, but the TSS still holds the Interrupt Stack Table: a gate whose IST field is
 * n makes the CPU load RSP from IST entry n before it pushes the exception frame, every
 * time. A kernel stack overflow faults on the guard page, the CPU cannot push that
 * #PF's frame on the same full stack, and the two make a #DF; taken on a stack of its
 * own it is reported (bare/double_fault.c) instead of ending in a triple fault. */
#include "../arch_stub/x86_64/x86.h"
#include <arch/panic.h>
#include <stddef.h>

/* Intel SDM vol. 3A, "64-Bit TSS Format" (Task Management). */
struct tss64 {
    uint32_t reserved0;
    uint64_t rsp[3]; /* RSP0-2: for a change to CPL 0-2; nothing runs outside ring 0 */
    uint64_t reserved1;
    uint64_t ist[7]; /* ist[0] is IST1 */
    uint64_t reserved2;
    uint16_t reserved3;
    uint16_t iomap_base; /* past the limit: no I/O permission bitmap */
} __attribute__((packed));

ARCH_STATIC_ASSERT(sizeof(struct tss64) == 0x68, "the 64-bit TSS is 104 bytes");
ARCH_STATIC_ASSERT(offsetof(struct tss64, rsp) == 0x04, "RSP0 is at 0x04");
ARCH_STATIC_ASSERT(offsetof(struct tss64, ist) == 0x24, "IST1 is at 0x24");
ARCH_STATIC_ASSERT(offsetof(struct tss64, iomap_base) == 0x66, "the I/O map base is at 0x66");

/* Room for the report (bare/double_fault.c) and for bare_trap's DWARF backtrace and
 * panic on the NMI and #MC stacks (subsys/unwind's CFA state alone is ~6 KiB). */
#define IST_STACK_SIZE (16 * 1024)

/* Each exception stack sits right above its own guard page: bare_mm_final leaves the
 * guard unmapped, so an overflowing handler faults instead of writing below. */
struct ist_stack {
    uint8_t guard[ARCH_PAGE_4K];
    uint8_t stack[IST_STACK_SIZE];
};
ARCH_STATIC_ASSERT(IST_STACK_SIZE % ARCH_PAGE_4K == 0, "exception stacks are whole pages");

/* kernel.ld puts .bss.ist right after the boot stack, so x86_stacks is in address order. */
static struct ist_stack ist_stacks[3] __attribute__((section(".bss.ist"), aligned(4096)));
static struct tss64 tss X86_RO_AFTER_INIT __attribute__((aligned(128)));

extern uint8_t boot_stack[], boot_stack_top[];
extern uint64_t gdt_tss[2]; /* boot.S: GDT slot X86_SEL_TSS, zero until bare_tss_init */

ARCH_STATIC_ASSERT(X86_IST_DF == 1 && X86_IST_NMI == 2 && X86_IST_MC == 3 && X86_N_STACKS == 4,
                   "x86_stacks[n] is ist_stacks[n - 1]");
const struct x86_stack x86_stacks[X86_N_STACKS] = {
    [0] = {"boot stack", boot_stack, boot_stack_top},
    [X86_IST_DF] = {"#DF stack", ist_stacks[0].stack, ist_stacks[0].stack + IST_STACK_SIZE},
    [X86_IST_NMI] = {"NMI stack", ist_stacks[1].stack, ist_stacks[1].stack + IST_STACK_SIZE},
    [X86_IST_MC] = {"#MC stack", ist_stacks[2].stack, ist_stacks[2].stack + IST_STACK_SIZE},
};

/* Point the IST entries at their stacks, fill the GDT's TSS descriptor and load TR.
 * Called once by bare_main: before bare_idt_init installs gates that name an IST entry
 * (the CPU reads the TSS that TR points at), and while the boot tables still map
 * .rodata, where the GDT and the TSS live, writable. */
void bare_tss_init(void)
{
    /* One whole-struct store: no pointer to a member of the packed TSS is formed. The
     * CPU aligns an IST pointer down to 16 itself; these are page aligned. */
    tss = (struct tss64){
        .ist = {[X86_IST_DF - 1] = (uint64_t)(uintptr_t)x86_stacks[X86_IST_DF].hi,
                [X86_IST_NMI - 1] = (uint64_t)(uintptr_t)x86_stacks[X86_IST_NMI].hi,
                [X86_IST_MC - 1] = (uint64_t)(uintptr_t)x86_stacks[X86_IST_MC].hi},
        .iomap_base = sizeof(struct tss64),
    };

    /* SDM vol. 3A, "TSS Descriptor in 64-bit mode": limit 15:0, base 23:0, type 9 (an
     * available 64-bit TSS) with S = 0, DPL 0 and P, limit 19:16, G = 0, base 31:24; then
     * base 63:32 and a second half whose type field must be zero. */
    uint64_t base = (uint64_t)(uintptr_t)&tss, limit = sizeof(tss) - 1;
    gdt_tss[0] = (limit & 0xffff) | (base & 0xffffff) << 16 | UINT64_C(0x89) << 40 |
                 ((limit >> 16) & 0xf) << 48 | ((base >> 24) & 0xff) << 56;
    gdt_tss[1] = base >> 32;
    __asm__ volatile("ltr %w0" ::"r"((uint16_t)X86_SEL_TSS) : "memory");

    uint16_t tr;
    __asm__ volatile("str %w0" : "=r"(tr));
    uint64_t type = (gdt_tss[0] >> 40) & 0xf; /* ltr set the busy bit: 9 became 0xb */
    if (tr != X86_SEL_TSS || type != 0xb)
        arch_panic("bare_tss_init: TR 0x%x, TSS descriptor type 0x%lx (want 0x%x, busy 0xb)", tr,
                   type, X86_SEL_TSS);
}
