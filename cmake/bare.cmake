# The bare build: the same subsystem and test sources, cross-compiled with clang for
# x86_64-unknown-none-elf against arch_stub/x86_64, linked by lld with bare/kernel.ld
# into an ELF64 that QEMU boots through its PVH note.

# Freestanding headers (stdint.h, stddef.h, stdarg.h, stdbool.h) come from clang's
# own resource directory, never from the host's libc.
execute_process(COMMAND ${CMAKE_C_COMPILER} -print-resource-dir
                OUTPUT_VARIABLE KS_CLANG_RESOURCE_DIR OUTPUT_STRIP_TRAILING_WHITESPACE)
set(KS_CLANG_RESOURCE_INCLUDE ${KS_CLANG_RESOURCE_DIR}/include)
set(KS_BARE_FLAGS
    --target=x86_64-unknown-none-elf -ffreestanding -fno-builtin -nostdlib -nostdinc
    -isystem ${KS_CLANG_RESOURCE_INCLUDE}
    -mno-red-zone -mgeneral-regs-only -mcmodel=small -fno-pic -fno-pie
    -fno-stack-protector -fasynchronous-unwind-tables -fno-omit-frame-pointer -O2 -g)

find_program(KS_LLD ld.lld REQUIRED)

# The bare build's flags and include path, for everything the kernel is made of.
add_library(ks_bare_flags INTERFACE)
target_include_directories(ks_bare_flags INTERFACE ${PROJECT_SOURCE_DIR}/arch_stub/include
                                                   ${PROJECT_SOURCE_DIR}/subsys
                                                   ${PROJECT_SOURCE_DIR}/arch_stub/x86_64/include)
target_link_libraries(ks_bare_flags INTERFACE ks_warnings)
target_compile_options(ks_bare_flags INTERFACE ${KS_BARE_FLAGS})
# The subsystems apart, as objects: the kernel links them, and the seam rule
# (scripts/check-seam-rule) reads them.
add_library(ks_subsys_bare OBJECT ${KS_SUBSYS} ${KS_SUBSYS_UNWIND})
target_link_libraries(ks_subsys_bare PRIVATE ks_bare_flags)

add_executable(kernsim-kernel
  bare/boot.S bare/isr.S bare/idt.c bare/tss.c bare/double_fault.c bare/mm.c bare/main.c
  bare/unwind.c bare/kallsyms.c
  arch_stub/x86_64/cpu.c arch_stub/x86_64/irq.c arch_stub/x86_64/io.c arch_stub/x86_64/mem.c
  arch_stub/x86_64/console.c arch_stub/x86_64/panic.c arch_stub/x86_64/fault.c
  arch_stub/x86_64/probe.S arch_stub/x86_64/setjmp.S arch_stub/x86_64/libc.c
  ${KS_SEAM_COMMON} $<TARGET_OBJECTS:ks_subsys_bare> ${KS_KTEST} ${KS_SHARED_TESTS} ${KS_CATCH_TEST})
target_link_libraries(kernsim-kernel PRIVATE ks_bare_flags)
target_include_directories(kernsim-kernel PRIVATE ${PROJECT_SOURCE_DIR}/arch_stub/common)
target_link_options(kernsim-kernel PRIVATE --target=x86_64-unknown-none-elf -nostdlib -static
                    -fuse-ld=lld -Wl,-T,${PROJECT_SOURCE_DIR}/bare/kernel.ld -Wl,--no-pie
                    -Wl,-z,max-page-size=4096 -Wl,--build-id=none -Wl,--eh-frame-hdr)
set_target_properties(kernsim-kernel PROPERTIES LINK_DEPENDS ${PROJECT_SOURCE_DIR}/bare/kernel.ld
                                                SUFFIX ".elf")

# The kernel's function names go into its reserved .kallsyms space after the link.
# The tool is built for the host (no cross flags) and rewrites the ELF in place.
add_executable(ks_kallsyms scripts/kallsyms.c)
target_link_libraries(ks_kallsyms PRIVATE ks_warnings)
add_custom_command(TARGET kernsim-kernel POST_BUILD
                   COMMAND ks_kallsyms $<TARGET_FILE:kernsim-kernel> VERBATIM)

# Boot it in QEMU (TCG) as a test: pass only on the pass exit code with a clean KTAP.
find_program(KS_QEMU qemu-system-x86_64)
if(NOT KS_QEMU)
  message(FATAL_ERROR "qemu-system-x86_64 not found: run scripts/setup, or configure with "
                      "-DKERNSIM_BARE=OFF")
endif()
add_test(NAME bare.qemu
         COMMAND ${PROJECT_SOURCE_DIR}/scripts/run-bare --qemu ${KS_QEMU}
                 --log ${PROJECT_BINARY_DIR}/bare-serial.log $<TARGET_FILE:kernsim-kernel>)
set_tests_properties(bare.qemu PROPERTIES LABELS bare TIMEOUT 90)

# The runner must fail every way a kernel run can go wrong; each of these boots the
# kernel told to misbehave and checks run-bare's verdict (and that it did not pass).
# A triple fault (the IDT itself is gone) must still be one; a stack overflow and any
# other double fault are caught on the #DF stack and named.
foreach(case "hang|hung: no exit" "triple|triple fault or reset"
             "panic|kernel panic \\(exit code 37\\)" "silent|no complete KTAP"
             "fault|kernel panic \\(exit code 37\\)"
             "overflow|double fault: kernel stack overflow \\(exit code 39\\)"
             "double|double fault \\(exit code 39\\)"
             "filter|some tests failed \\(exit code 35\\)")
  string(REPLACE "|" ";" parts "${case}")
  list(GET parts 0 what)
  list(GET parts 1 verdict)
  if(what STREQUAL "filter")
    set(append "ktest.filter=no_such_suite")
  else()
    set(append "bare.misbehave=${what}")
  endif()
  add_test(NAME bare.runner_catches_${what}
           COMMAND ${PROJECT_SOURCE_DIR}/scripts/run-bare --qemu ${KS_QEMU} --timeout 3
                   --append ${append} $<TARGET_FILE:kernsim-kernel>)
  set_tests_properties(bare.runner_catches_${what} PROPERTIES LABELS bare TIMEOUT 30
                       PASS_REGULAR_EXPRESSION "; ${verdict}" FAIL_REGULAR_EXPRESSION "; pass$")
endforeach()

# The same kernel with its heap in checking mode (heap.checking=1 on the command line):
# run-bare must pass, and the kernel must say it ran in checking mode.
add_test(NAME bare.qemu_heap_checking
         COMMAND bash -o pipefail -c "\"$0\" --qemu \"$1\" --append heap.checking=1 \"$2\" | tee /dev/stderr | grep -c 'kernel heap: checking mode' >/dev/null"
                 ${PROJECT_SOURCE_DIR}/scripts/run-bare ${KS_QEMU} $<TARGET_FILE:kernsim-kernel>)
set_tests_properties(bare.qemu_heap_checking PROPERTIES LABELS bare TIMEOUT 90)

# Panics and unhandled exceptions print a backtrace by the kernel's own unwind
# tables, which run-bare names from the ELF: through the exception frame to the
# faulting function and its callers. A double fault prints one by frame pointers
# from its own stack (bare/double_fault.c), named the same way.
foreach(what panic fault overflow double)
  add_test(NAME bare.${what}_backtrace_names_the_callers
           COMMAND ${PROJECT_SOURCE_DIR}/scripts/expect-failure
                   --output "^#   \\[<[0-9a-f]+>\\] misbehave\\+0x[0-9a-f]+ .*bare/main.c"
                   --output "^#   \\[<[0-9a-f]+>\\] bare_main\\+0x[0-9a-f]+ .*bare/main.c"
                   --output "^#   \\[<[0-9a-f]+>\\] long_mode\\+0x[0-9a-f]+ .*bare/boot.S" --
                   ${PROJECT_SOURCE_DIR}/scripts/run-bare --qemu ${KS_QEMU} --timeout 10
                   --append bare.misbehave=${what} $<TARGET_FILE:kernsim-kernel>)
  set_tests_properties(bare.${what}_backtrace_names_the_callers PROPERTIES LABELS bare TIMEOUT 30)
endforeach()

# A kernel stack overflow: the #DF report names the overflowed stack and its guard
# page, shows CR2 as the page fault that had no room for its frame, and folds the
# recursion into one frame and a count. A double fault that is no overflow says so.
add_test(NAME bare.stack_overflow_is_reported_as_a_double_fault
         COMMAND ${PROJECT_SOURCE_DIR}/scripts/expect-failure
                 --output "^# double fault: kernel stack overflow: rsp [0-9a-f]{16} ran into the guard page [0-9a-f]{16} below the boot stack$"
                 --output "^# exception 8 \\(#DF double fault\\) error 0x0$"
                 --output "^#   cr2 [0-9a-f]{16}: the page fault that had no room for its frame$"
                 --output "^#   \\[<[0-9a-f]+>\\] overflow_stack\\+0x[0-9a-f]+ .*bare/main.c"
                 --output "^#   \\.\\.\\. the frame above [0-9]+ more times$"
                 --output "^Bail out! double fault$" --
                 ${PROJECT_SOURCE_DIR}/scripts/run-bare --qemu ${KS_QEMU} --timeout 10
                 --append bare.misbehave=overflow $<TARGET_FILE:kernsim-kernel>)
add_test(NAME bare.double_fault_without_overflow_is_not_called_one
         COMMAND ${PROJECT_SOURCE_DIR}/scripts/expect-failure
                 --output "^# double fault: an exception while the CPU delivered another \\(rsp [0-9a-f]{16} on the boot stack\\)$"
                 --output "^#   cr2 [0-9a-f]{16}: the last page fault's address"
                 --output "; double fault \\(exit code 39\\)$" --
                 ${PROJECT_SOURCE_DIR}/scripts/run-bare --qemu ${KS_QEMU} --timeout 10
                 --append bare.misbehave=double $<TARGET_FILE:kernsim-kernel>)
# A runaway write through .bss (zeroing the fault path's hooks) is an unhandled #PF at
# the end of the image, not a triple fault: the IDT is read-only .rodata now.
add_test(NAME bare.runaway_write_through_bss_is_no_triple_fault
         COMMAND ${PROJECT_SOURCE_DIR}/scripts/expect-failure
                 --output "^# unhandled page fault: write at 0x[0-9a-f]{16}"
                 --output "; kernel panic \\(exit code 37\\)$" --
                 ${PROJECT_SOURCE_DIR}/scripts/run-bare --qemu ${KS_QEMU} --timeout 10
                 --append bare.misbehave=runaway $<TARGET_FILE:kernsim-kernel>)
set_tests_properties(bare.stack_overflow_is_reported_as_a_double_fault
                     bare.double_fault_without_overflow_is_not_called_one
                     bare.runaway_write_through_bss_is_no_triple_fault
                     PROPERTIES LABELS bare TIMEOUT 30)
