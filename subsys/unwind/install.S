/* install.S - void unw_install(const struct unw_regs *regs, uint64_t rax, uint64_t rdx)
 *
 * Resume execution in the frame `regs` describes: the callee-saved registers and rsp
 * from it, rax and rdx as given (a landing pad's exception pointer and selector),
 * then jump to regs->r[UNW_RIP]. Does not return. */
    .text
    .globl unw_install
    .type unw_install, @function
unw_install:
    movq %rsi, %rax
    movq 3*8(%rdi), %rbx
    movq 6*8(%rdi), %rbp
    movq 12*8(%rdi), %r12
    movq 13*8(%rdi), %r13
    movq 14*8(%rdi), %r14
    movq 15*8(%rdi), %r15
    movq 16*8(%rdi), %rcx
    movq 7*8(%rdi), %rsp
    jmp *%rcx
    .size unw_install, .-unw_install

    .section .note.GNU-stack,"",@progbits
