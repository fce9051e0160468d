/* probe.S - fault-safe single accesses. Each access instruction is listed in the
 * ex_table section with a fix-up; the #PF/#GP handler resumes there after a fault.
 * int x86_probe_*(...): 0 when the access happened, 1 after a fault. */
    .text

.macro PROBE name, insn
    .globl \name
    .type \name, @function
\name:
1:  \insn
    xorl %eax, %eax
    ret
2:  movl $1, %eax
    ret
    .pushsection ex_table, "a"
    .balign 8
    .quad 1b, 2b
    .popsection
    .size \name, . - \name
.endm

/* Reads store through %rsi only after the access succeeded. */
    .globl x86_probe_read8
    .type x86_probe_read8, @function
x86_probe_read8:
1:  movzbl (%rdi), %eax
    movb %al, (%rsi)
    xorl %eax, %eax
    ret
2:  movl $1, %eax
    ret
    .pushsection ex_table, "a"
    .balign 8
    .quad 1b, 2b
    .popsection

    .globl x86_probe_read64
    .type x86_probe_read64, @function
x86_probe_read64:
1:  movq (%rdi), %rax
    movq %rax, (%rsi)
    xorl %eax, %eax
    ret
2:  movl $1, %eax
    ret
    .pushsection ex_table, "a"
    .balign 8
    .quad 1b, 2b
    .popsection

PROBE x86_probe_write8, "movb %sil, (%rdi)"
PROBE x86_probe_write64, "movq %rsi, (%rdi)"

    .section .note.GNU-stack, "", @progbits
