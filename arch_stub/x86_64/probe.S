/* probe.S - fault-safe single accesses. Each access instruction is listed in the
 * ex_table section with a fix-up; the #PF/#GP handler resumes there after a fault.
 * int x86_probe_*(...): 0 when the access happened, 1 after a fault. */
    .text

/* \access is the one instruction that may fault; \store (reads only) hands the
 * value back through %rsi after it succeeded. */
.macro PROBE name, access, store=
    .globl \name
    .type \name, @function
\name:
1:  \access
    \store
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

PROBE x86_probe_read8, "movzbl (%rdi), %eax", "movb %al, (%rsi)"
PROBE x86_probe_read64, "movq (%rdi), %rax", "movq %rax, (%rsi)"
PROBE x86_probe_write8, "movb %sil, (%rdi)"
PROBE x86_probe_write64, "movq %rsi, (%rdi)"

    .section .note.GNU-stack, "", @progbits
