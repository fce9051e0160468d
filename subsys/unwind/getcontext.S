/* getcontext.S - void unw_getcontext(struct unw_regs *regs)
 *
 * Fills the registers the caller will have once this returns: the callee-saved ones
 * as they are, rsp without the return address, rip the return address. The others
 * are not known (`valid` says which are). Layout: struct unw_regs in unwind.h, eight
 * bytes per DWARF register number, then the 32-bit valid mask. */
    .text
    .globl unw_getcontext
    .type unw_getcontext, @function
unw_getcontext:
    .cfi_startproc
    movq %rbx, 3*8(%rdi)
    movq %rbp, 6*8(%rdi)
    leaq 8(%rsp), %rax
    movq %rax, 7*8(%rdi)
    movq %r12, 12*8(%rdi)
    movq %r13, 13*8(%rdi)
    movq %r14, 14*8(%rdi)
    movq %r15, 15*8(%rdi)
    movq (%rsp), %rax
    movq %rax, 16*8(%rdi)
    /* rbx rbp rsp r12 r13 r14 r15 rip */
    movl $((1<<3)|(1<<6)|(1<<7)|(1<<12)|(1<<13)|(1<<14)|(1<<15)|(1<<16)), 17*8(%rdi)
    movb $0, 17*8+4(%rdi)
    ret
    .cfi_endproc
    .size unw_getcontext, .-unw_getcontext

    .section .note.GNU-stack,"",@progbits
