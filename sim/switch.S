/* switch.S - the deterministic scheduler's context switch.
 *
 *   void sim_ctx_switch(void **save_sp, void *load_sp)
 *
 * Saves the callee-saved registers on the current stack, stores the stack pointer in
 * *save_sp, loads load_sp and pops the same registers from there, returning into the
 * other context. A new context's stack is laid out by fiber.c to pop six zeros and
 * return into the CPU's body. */
    .text
    .globl sim_ctx_switch
    .type sim_ctx_switch, @function
sim_ctx_switch:
    pushq %rbp
    pushq %rbx
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    movq %rsp, (%rdi)
    movq %rsi, %rsp
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %rbx
    popq %rbp
    ret
    .size sim_ctx_switch, .-sim_ctx_switch

    .section .note.GNU-stack,"",@progbits
