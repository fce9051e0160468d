/* isr.S - one stub per vector (0..31 exceptions, 32..255 interrupts): push a zero error code where the CPU
 * pushes none, push the vector, save the registers as struct x86_trap_frame and call
 * bare_trap(frame). If it returns, the (possibly edited) frame is resumed. */
    .text

.macro STUB vec, has_error
    .globl isr_\vec
isr_\vec:
    .if \has_error == 0
    pushq $0
    .endif
    pushq $\vec
    jmp isr_common
.endm

STUB 0, 0
STUB 1, 0
STUB 2, 0
STUB 3, 0
STUB 4, 0
STUB 5, 0
STUB 6, 0
STUB 7, 0
STUB 8, 1
STUB 9, 0
STUB 10, 1
STUB 11, 1
STUB 12, 1
STUB 13, 1
STUB 14, 1
STUB 15, 0
STUB 16, 0
STUB 17, 1
STUB 18, 0
STUB 19, 0
STUB 20, 0
STUB 21, 1
STUB 22, 0
STUB 23, 0
STUB 24, 0
STUB 25, 0
STUB 26, 0
STUB 27, 0
STUB 28, 0
STUB 29, 1
STUB 30, 1
STUB 31, 0

/* Vectors 32..255 (interrupts: no error code), 16 bytes apart from irq_stubs. */
    .balign 16
    .globl irq_stubs
irq_stubs:
    .set vec, 32
    .rept 224
    .balign 16
    pushq $0
    pushq $vec
    jmp isr_common
    .set vec, vec + 1
    .endr

    .type isr_common, @function
isr_common:
    pushq %rax
    pushq %rcx
    pushq %rdx
    pushq %rbx
    pushq %rbp
    pushq %rsi
    pushq %rdi
    pushq %r8
    pushq %r9
    pushq %r10
    pushq %r11
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    movq %rsp, %rdi             /* 22 quadwords pushed: rsp stays 16-byte aligned */
    cld
    /* For unwinders, the call below is in a signal frame whose caller is the
     * interrupted code: its registers are in the trap frame at rsp (struct
     * x86_trap_frame), its rsp (the CFA) at rsp + 160. Each rule is
     * DW_CFA_expression(reg, DW_OP_breg7 offset), or def_cfa_expression for the CFA. */
    .cfi_startproc simple
    .cfi_signal_frame
    .cfi_escape 0x0f, 4, 0x77, 0xa0, 0x01, 0x06 /* CFA = *(rsp + 160) */
    .cfi_escape 0x10, 16, 3, 0x77, 0x88, 0x01   /* rip at rsp + 136 */
    .cfi_escape 0x10, 6, 3, 0x77, 0xd0, 0x00    /* rbp (80: two bytes of sleb128) */
    .cfi_escape 0x10, 3, 3, 0x77, 0xd8, 0x00    /* rbx (88) */
    .cfi_escape 0x10, 12, 2, 0x77, 24           /* r12 */
    .cfi_escape 0x10, 13, 2, 0x77, 16           /* r13 */
    .cfi_escape 0x10, 14, 2, 0x77, 8            /* r14 */
    .cfi_escape 0x10, 15, 2, 0x77, 0            /* r15 */
    call bare_trap
    .cfi_endproc
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %r11
    popq %r10
    popq %r9
    popq %r8
    popq %rdi
    popq %rsi
    popq %rbp
    popq %rbx
    popq %rdx
    popq %rcx
    popq %rax
    addq $16, %rsp              /* vector and error code */
    iretq
    .size isr_common, . - isr_common

    .section .rodata
    .balign 8
    .globl isr_table
isr_table:
    .irp v, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
    .quad isr_\v
    .endr

    .section .note.GNU-stack, "", @progbits
