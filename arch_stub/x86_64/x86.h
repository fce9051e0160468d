/* x86.h - what the bare boot code shares with the x86_64 seam implementation.
 * Not on any include path: subsystems cannot reach it. */
#ifndef X86_H
#define X86_H

#include <arch/mem.h>
#include <arch/types.h>

/* Where kernsim's bare kernel puts things. */
#define X86_DIRECT_MAP_BASE UINT64_C(0xffff888000000000) /* as Linux: all RAM, 2 MiB pages */
#define X86_DIRECT_MAP_MAX  (UINT64_C(4) << 30)
#define X86_KVA_BASE        UINT64_C(0xffffc90000000000) /* as Linux's vmalloc area */
#define X86_KVA_SIZE        (UINT64_C(64) << 30)

/* isa-debug-exit (iobase 0xf4): QEMU exits with (code << 1) | 1. */
#define X86_EXIT_PORT         0xf4
#define X86_EXIT_PASS         0x10 /* QEMU exit status 33 */
#define X86_EXIT_FAIL         0x11 /* 35 */
#define X86_EXIT_PANIC        0x12 /* 37 */
#define X86_EXIT_DOUBLE_FAULT 0x13 /* 39: bare/double_fault.c */

/* Selectors of boot.S's GDT. */
#define X86_SEL_CODE 0x08
#define X86_SEL_DATA 0x10
#define X86_SEL_TSS  0x18 /* a 16-byte descriptor: the 64-bit TSS (bare/tss.c) */

/* IST entries (bare/tss.c): a gate that names one makes the CPU switch to that stack
 * before it pushes the exception frame, whatever stack it interrupted, so these
 * vectors are taken even when the kernel stack is full. */
#define X86_IST_DF  1 /* #DF: where a kernel stack overflow ends up */
#define X86_IST_NMI 2
#define X86_IST_MC  3

/* The kernel's stacks, in address order, each directly above an unmapped 4 KiB guard
 * page: [0] the boot stack (boot.S) that the kernel and its tests run on, [n] the
 * stack of IST entry n. Defined in bare/tss.c, in .rodata. */
struct x86_stack {
    const char *name;
    uint8_t *lo, *hi; /* the stack is [lo, hi), its guard page [lo - 4096, lo) */
};
#define X86_N_STACKS 4
extern const struct x86_stack x86_stacks[X86_N_STACKS];

/* For what is written once during early boot and afterwards only read, by the CPU or
 * by the fault path: the IDT and the TSS. kernel.ld places the section inside .rodata,
 * which the boot tables map writable and bare_mm_final's tables read-only (Linux's
 * __ro_after_init), so a runaway write through .data and .bss cannot take away the
 * gates that would report it. */
#define X86_RO_AFTER_INIT __attribute__((section(".data.ro_after_init")))

/* What the exception stubs push, lowest address first (bare/isr.S). */
struct x86_trap_frame {
    uint64_t r15, r14, r13, r12, r11, r10, r9, r8;
    uint64_t rdi, rsi, rbp, rbx, rdx, rcx, rax;
    uint64_t vector, error;
    uint64_t rip, cs, rflags, rsp, ss;
};

/* Record the RAM map the boot path built; arch_mem_ranges returns it. */
void x86_mem_init(const struct arch_mem_range *ranges, size_t count);

void x86_serial_init(void);
ARCH_NORETURN void x86_exit(uint8_t code);

uint64_t x86_read_cr2(void);

/* irq.c: the local APIC's physical base (IA32_APIC_BASE); set up interrupts once the
 * kernel has mapped that page uncached at apic_va (the 8259s are masked); the IDT's
 * vectors 32..255 go to x86_irq_dispatch. */
phys_addr_t x86_apic_base(void);
void x86_irq_init(void *apic_va);
void x86_irq_dispatch(unsigned vector);

/* #PF and #GP: returns true if handled (retry or probe fix-up), false to panic. */
bool x86_handle_fault(struct x86_trap_frame *f);
void x86_dump_frame(const struct x86_trap_frame *f);
/* The first part of x86_dump_frame: vector, error code and registers, no backtrace. */
void x86_dump_regs(const struct x86_trap_frame *f);
void x86_backtrace(uint64_t rbp);
/* Set by the kernel once its unwinder is up: backtraces from a panic and from an
 * exception frame by the tables instead of by frame pointers. */
extern void (*x86_panic_backtrace)(void);
extern void (*x86_trap_backtrace)(const struct x86_trap_frame *tf);

#endif
