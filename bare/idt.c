/* idt.c - the IDT: every exception goes to bare_trap, which lets the seam handle
 * page faults (and probe #GPs) and turns anything else into a register dump and a
 * panic exit. */
#include "../arch_stub/x86_64/x86.h"
#include <arch/console.h>
#include <arch/panic.h>

struct idt_gate {
    uint16_t off_lo, selector;
    uint8_t ist, type_attr;
    uint16_t off_mid;
    uint32_t off_hi, zero;
} __attribute__((packed));

ARCH_STATIC_ASSERT(sizeof(struct idt_gate) == 16, "long-mode IDT gates are 16 bytes");
ARCH_STATIC_ASSERT(sizeof(struct x86_trap_frame) == 22 * 8, "isr.S pushes 22 quadwords");

extern const uint64_t isr_table[32];
static struct idt_gate idt[32] __attribute__((aligned(16)));

void bare_idt_init(void)
{
    for (int v = 0; v < 32; v++) {
        uint64_t h = isr_table[v];
        idt[v] = (struct idt_gate){
            .off_lo = (uint16_t)h,
            .selector = 0x08,
            .ist = 0,
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
    if ((tf->vector == 14 || tf->vector == 13) && x86_handle_fault(tf))
        return;
    x86_dump_frame(tf);
    arch_panic("unhandled exception %lu at rip 0x%lx", tf->vector, tf->rip);
}
