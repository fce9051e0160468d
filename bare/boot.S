/* boot.S - PVH entry: QEMU's -kernel starts us in 32-bit protected mode, paging off,
 * %ebx = physical address of the hvm_start_info. We identity-map the first GiB with
 * 2 MiB pages, enable PAE, long mode, NX (EFER.NXE) and CR0.WP, and call bare_main in
 * 64-bit mode. The kernel is linked at 1 MiB with VA = PA. */

#define XEN_ELFNOTE_PHYS32_ENTRY 18

    /* The note QEMU looks for: name "Xen", type 18, the 32-bit entry address. */
    .section .note.pvh, "a", @note
    .balign 4
    .long 4                     /* namesz */
    .long 4                     /* descsz */
    .long XEN_ELFNOTE_PHYS32_ENTRY
    .asciz "Xen"
    .balign 4
    .long pvh_entry
    .balign 4

    .section .text.boot32, "ax"
    .code32
    .globl pvh_entry
pvh_entry:
    cli
    cld
    movl %ebx, %esi             /* rep stosb below clobbers edi/ecx/eax, not esi */

    /* Zero .bss: the page tables and the stack live there. */
    movl $__bss_start, %edi
    movl $__bss_end, %ecx
    subl %edi, %ecx
    xorl %eax, %eax
    rep stosb
    movl %esi, boot_start_info

    /* boot_pml4[0] -> boot_pdpt[0] -> boot_pd: 512 x 2 MiB, present + writable. */
    movl $boot_pdpt, %eax
    orl $3, %eax
    movl %eax, boot_pml4
    movl $boot_pd, %eax
    orl $3, %eax
    movl %eax, boot_pdpt
    movl $boot_pd, %edi
    movl $0x83, %eax            /* P | W | PS */
    movl $512, %ecx
1:  movl %eax, (%edi)
    movl $0, 4(%edi)
    addl $0x200000, %eax
    addl $8, %edi
    loop 1b

    movl %cr4, %eax
    orl $(1 << 5), %eax         /* PAE */
    movl %eax, %cr4
    movl $boot_pml4, %eax
    movl %eax, %cr3
    movl $0xc0000080, %ecx      /* EFER */
    rdmsr
    orl $((1 << 8) | (1 << 11)), %eax /* LME | NXE */
    wrmsr
    movl %cr0, %eax
    orl $((1 << 31) | (1 << 16) | 1), %eax /* PG | WP | PE */
    movl %eax, %cr0

    lgdt gdt_desc
    ljmp $0x08, $long_mode

    .code64
    .text
    .type long_mode, @function
long_mode:
    movw $0x10, %ax
    movw %ax, %ds
    movw %ax, %es
    movw %ax, %ss
    xorw %ax, %ax
    movw %ax, %fs
    movw %ax, %gs
    .cfi_startproc
    .cfi_undefined rip          /* the outermost frame: unwinders stop here */
    leaq boot_stack_top(%rip), %rsp
    xorl %ebp, %ebp             /* ends frame-pointer backtraces */
    movl boot_start_info(%rip), %edi
    call bare_main
2:  cli
    hlt
    jmp 2b
    .cfi_endproc
    .size long_mode, . - long_mode

    .section .rodata
    .balign 16
gdt:
    .quad 0                     /* null */
    /* Accessed bits preset, so the CPU never writes these: the kernel's own tables map
     * the GDT read-only. The TSS descriptor below is written once, by bare_tss_init
     * and its ltr (which sets the busy bit), while the boot tables still map it writable. */
    .quad 0x00af9b000000ffff    /* 0x08: 64-bit code, ring 0 */
    .quad 0x00cf93000000ffff    /* 0x10: data, ring 0 */
    .globl gdt_tss
gdt_tss:                        /* 0x18: the 64-bit TSS, 16 bytes, filled in by bare_tss_init */
    .quad 0, 0
gdt_end:
gdt_desc:
    .word gdt_end - gdt - 1
    .long gdt

    .data
    .balign 4
    .globl boot_start_info
boot_start_info:
    .long 0

    .section .bss.pagetables, "aw", @nobits
    .balign 4096
boot_pml4: .skip 4096
boot_pdpt: .skip 4096
boot_pd:   .skip 4096

    /* The stack has its own section: kernel.ld leaves an unmapped guard page below it. */
    .section .bss.stack, "aw", @nobits
    .balign 4096
    .globl boot_stack, boot_stack_top
boot_stack:
    .skip 65536
boot_stack_top:

    .section .note.GNU-stack, "", @progbits
