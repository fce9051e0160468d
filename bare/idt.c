/* idt.c - the IDT: every vector goes to bare_trap, which hands interrupts (32..255) to
 * the seam's x86_irq_dispatch and, of the exceptions, reports a double fault
 * (bare/double_fault.c), lets the seam handle page faults (and probe #GPs) and turns
 * anything else into a register dump and a panic exit. */
#include "../arch_stub/x86_64/x86.h"
#include <arch/console.h>
#include <arch/panic.h>

struct idt_gate {
    uint16_t off_lo, selector;
    uint8_t ist; /* bits 2:0: the IST entry to switch to, 0 for none; bits 7:3 zero */
    uint8_t type_attr;
    uint16_t off_mid;
    uint32_t off_hi, zero;
} __attribute__((packed));

ARCH_STATIC_ASSERT(sizeof(struct idt_gate) == 16, "long-mode IDT gates are 16 bytes");
ARCH_STATIC_ASSERT(sizeof(struct x86_trap_frame) == 22 * 8, "isr.S pushes 22 quadwords");

extern const uint64_t isr_table[32];
extern const char irq_stubs[]; /* vectors 32..255, 16 bytes each (isr.S) */
/* Read-only once the kernel's tables are up: a runaway write through .bss cannot take
 * the #DF gate with it. */
static struct idt_gate idt[256] X86_RO_AFTER_INIT __attribute__((aligned(16)));

ARCH_NORETURN void bare_double_fault(const struct x86_trap_frame *tf);

/* Which vectors get a stack of their own. #DF, so that a kernel stack overflow (a #PF
 * with no room for its frame) is reported; NMI and #MC, which can arrive at any
 * instruction, however full the stack. Not #PF: a page fault inside the #PF handler
 * (a probe) would restart at the top of the same IST stack, over the frames of the
 * first; on the interrupted stack they nest, and an overflow still ends in #DF. */
static uint8_t ist_of(int vector)
{
    switch (vector) {
    case 8:
        return X86_IST_DF;
    case 2:
        return X86_IST_NMI;
    case 18:
        return X86_IST_MC;
    }
    return 0;
}

/* Called once by bare_main, after bare_tss_init (an IST gate makes the CPU read the
 * TSS) and while the boot tables still map .rodata, where idt[] lives, writable. */
void bare_idt_init(void)
{
    for (int v = 0; v < 256; v++) {
        uint64_t h = v < 32 ? isr_table[v] : (uint64_t)(uintptr_t)(irq_stubs + 16 * (v - 32));
        idt[v] = (struct idt_gate){
            .off_lo = (uint16_t)h,
            .selector = X86_SEL_CODE,
            .ist = ist_of(v),
            .type_attr = 0x8e, /* present, ring 0, 64-bit interrupt gate (IF cleared) */
            .off_mid = (uint16_t)(h >> 16),
            .off_hi = (uint32_t)(h >> 32),
        };
    }
    struct {
        uint16_t limit;
        uint64_t base;
    } __attribute__((packed)) desc = {sizeof(idt) - 1, (uint64_t)(uintptr_t)idt};
    __asm__ volatile("lidt %0" ::"m"(desc));
}

void bare_trap(struct x86_trap_frame *tf)
{
    if (tf->vector >= 32) {
        x86_irq_dispatch((unsigned)tf->vector);
        return;
    }
    if (tf->vector == 8)
        bare_double_fault(tf);
    if ((tf->vector == 14 || tf->vector == 13) && x86_handle_fault(tf))
        return;
    x86_dump_frame(tf);
    arch_panic("unhandled exception %lu at rip 0x%lx", tf->vector, tf->rip);
}
