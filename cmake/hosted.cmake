# The hosted build: the seam implemented by sim/, tests as ordinary programs.

add_library(ks_host_flags INTERFACE)
target_link_libraries(ks_host_flags INTERFACE ks_warnings)
target_include_directories(ks_host_flags INTERFACE ${PROJECT_SOURCE_DIR}/arch_stub/include
                                                   ${PROJECT_SOURCE_DIR}/sim/include
                                                   ${PROJECT_SOURCE_DIR}/subsys)
target_compile_options(ks_host_flags INTERFACE -g)
# Every build keeps frame pointers (see ks_warnings): the sim's stack capture walks
# them instead of unwinding with DWARF. No sibling calls either: a tail call drops its
# caller's frame, and reports name the frames a capture skips by count, so an optimised
# build would skip one too many (the functions counted are noinline for the same
# reason).
target_compile_definitions(ks_host_flags INTERFACE KERNSIM_FRAME_POINTERS)
target_compile_options(ks_host_flags INTERFACE -fno-optimize-sibling-calls)
if(KERNSIM_SANITIZE)
  # No recovery: any sanitizer report fails the test that triggered it.
  target_compile_options(ks_host_flags INTERFACE -fsanitize=${KERNSIM_SANITIZE}
                                                 -fno-sanitize-recover=all)
  target_link_options(ks_host_flags INTERFACE -fsanitize=${KERNSIM_SANITIZE})
  if(KERNSIM_SANITIZE MATCHES "memory")
    # An uninitialised read names where the value came from: for kernel-heap memory,
    # the kmalloc that handed it out (arch_san_alloc).
    target_compile_options(ks_host_flags INTERFACE -fsanitize-memory-track-origins)
    target_link_options(ks_host_flags INTERFACE -fsanitize-memory-track-origins)
  endif()
endif()
if(KERNSIM_COVERAGE)
  # Source coverage (scripts/kernsim coverage): every test writes a raw profile.
  target_compile_options(ks_host_flags INTERFACE -fprofile-instr-generate -fcoverage-mapping)
  target_link_options(ks_host_flags INTERFACE -fprofile-instr-generate)
endif()
if(KERNSIM_VALGRIND)
  # Valgrind 3.19 cannot read clang 14's default DWARF 5.
  target_compile_options(ks_host_flags INTERFACE -gdwarf-4)
endif()

# Three layers, each a library that carries its usage requirements (include
# directories, sanitizer flags), so a program links the ones it needs:
#   ks_seam     the fake machine (sim/) and the seam code both builds share
#               (arch_stub/common): what kernel code is compiled and linked against;
#   ks_subsys   kernsim's own subsystems, written against the seam alone (the
#               unwinder, which the sim's panic path uses for its backtraces, is its
#               own ks_unwind beneath both);
#   ks_harness  the test harness: ktest, its frame fixtures and kmachine (the boot).
# ks_sim is the seam with every subsystem, for kernsim's own programs.
add_library(ks_seam STATIC sim/machine.c sim/boot.c sim/console.c sim/stackbounds.c sim/san.c
                           sim/mem.c sim/mmu.c sim/tlb.c sim/fault.c sim/cpu.c sim/irq.c sim/io.c
                           sim/panic.c sim/history.c sim/stackdepot.c sim/devices.c sim/debug.c
                           sim/explore.c sim/strategy.c sim/spin.c sim/fiber.c sim/schedio.c
                           sim/freerun.c sim/lockdep.c sim/runfail.c sim/agent.c sim/switch.S
                           sim/unwind_host.c sim/dma.c sim/symbols.c ${KS_SEAM_COMMON})
find_package(Threads REQUIRED)
target_link_libraries(ks_seam PUBLIC ks_host_flags Threads::Threads ${CMAKE_DL_LIBS})
# What the seam's two implementations share with its common code, for them alone.
target_include_directories(ks_seam PRIVATE ${PROJECT_SOURCE_DIR}/arch_stub/common)
add_library(ks_unwind STATIC ${KS_SUBSYS_UNWIND})
# The seam's panic path calls the unwinder, whose catch_unwind calls the seam: two
# static libraries that name each other, which CMake repeats on the link line.
target_link_libraries(ks_unwind PUBLIC ks_seam)
target_link_libraries(ks_seam PUBLIC ks_unwind)
add_library(ks_subsys STATIC ${KS_SUBSYS})
target_link_libraries(ks_subsys PUBLIC ks_seam)
add_library(ks_sim INTERFACE)
target_link_libraries(ks_sim INTERFACE ks_subsys ks_seam)

add_library(ks_harness STATIC ${KS_KTEST} tests/runner/kmachine.c)
target_include_directories(ks_harness PUBLIC ${PROJECT_SOURCE_DIR}/tests/runner)
target_link_libraries(ks_harness PUBLIC ks_sim)

if(KERNSIM_VALGRIND)
  find_program(VALGRIND valgrind REQUIRED)
  # The sim resumes code after a fault it handled (a TLB fill, a reported stale use):
  # every guest register must be exact at a memory access, not only the unwinding ones.
  set(KS_TEST_WRAPPER ${VALGRIND} --tool=memcheck --error-exitcode=99 --leak-check=full
                      --px-default=allregs-at-mem-access
                      --errors-for-leak-kinds=definite --quiet
                      --suppressions=${PROJECT_SOURCE_DIR}/tests/valgrind.supp)
else()
  set(KS_TEST_WRAPPER "")
endif()

# One executable and one ctest test per test file. The suites reach the runner
# through the ktest_suites section, so the sources are linked in directly.
function(ks_hosted_test file)
  get_filename_component(name ${file} NAME_WE)
  add_executable(${name} tests/runner/sim_main.c ${file})
  target_link_libraries(${name} PRIVATE ks_harness)
  add_test(NAME sim.${name} COMMAND ${KS_TEST_WRAPPER} $<TARGET_FILE:${name}>)
  set_tests_properties(sim.${name} PROPERTIES LABELS sim TIMEOUT 120)
endfunction()

foreach(t ${KS_SHARED_TESTS} tests/hosted/sim_mmu_test.c tests/hosted/paging_sim_test.c
          tests/hosted/sched_test.c tests/hosted/sync_sched_test.c tests/hosted/irq_sched_test.c)
  ks_hosted_test(${t})
endforeach()
# 120 000 schedules and a bounded DFS: about 70 s alone under the fuzz preset's
# coverage and ASan, so a 2-core CI running two tests at once needs more than 120.
set_tests_properties(sim.sync_sched_test PROPERTIES TIMEOUT 300)

# The worked example of docs/byo-subsystem.md: the ringdev driver against its model.
add_executable(ringdev_test tests/runner/sim_main.c tests/hosted/ringdev_test.c
                            tests/hosted/ringdev_model.c)
target_link_libraries(ringdev_test PRIVATE ks_harness)
add_test(NAME sim.ringdev_test COMMAND ${KS_TEST_WRAPPER} $<TARGET_FILE:ringdev_test>)
set_tests_properties(sim.ringdev_test PROPERTIES LABELS sim TIMEOUT 120)

add_executable(heap_sim_test tests/runner/sim_main.c tests/hosted/heap_sim_test.c)
target_link_libraries(heap_sim_test PRIVATE ks_harness)
add_executable(heap_stress_test tests/runner/sim_main.c tests/hosted/heap_stress_test.c)
target_link_libraries(heap_stress_test PRIVATE ks_harness)

# The heap suites in both modes, whatever this preset's default is.
foreach(prog heap_test heap_sim_test heap_stress_test)
  foreach(mode fast checking)
    add_test(NAME sim.${prog}_${mode} COMMAND ${KS_TEST_WRAPPER} $<TARGET_FILE:${prog}>)
    set_tests_properties(sim.${prog}_${mode} PROPERTIES LABELS sim TIMEOUT 120
                         ENVIRONMENT KERNSIM_HEAP_MODE=${mode})
  endforeach()
endforeach()

# Planted concurrency bugs the scheduler must find with fixed seeds and replay
# (label bugs): one program each, with the shared hunting harness.
foreach(bug lost_update aba_stack abba_deadlock lock_order rw_starvation queue_publish
            rwlock_deadlock double_unlock irq_lock irq_wait dma_inflight lost_irq
            missing_shootdown)
  add_executable(bug_${bug} tests/runner/sim_main.c tests/bugs/${bug}.c tests/bugs/bug_harness.c)
  target_link_libraries(bug_${bug} PRIVATE ks_harness)
  add_test(NAME bugs.${bug} COMMAND ${KS_TEST_WRAPPER} $<TARGET_FILE:bug_${bug}>)
  set_tests_properties(bugs.${bug} PROPERTIES LABELS bugs TIMEOUT 300)
endforeach()

# The memory half of the catalogue: one program per bug class (tests/bugs/*.c with
# machine.c). Each test passes only if the program fails, prints every pattern, and
# prints the same report again on a second run (expect-failure --twice). Which checker
# sees a bug first depends on the preset, and so do the patterns.
set(KS_ASAN FALSE)
set(KS_MSAN FALSE)
set(KS_TSAN FALSE)
if(KERNSIM_SANITIZE MATCHES "address")
  set(KS_ASAN TRUE)
endif()
if(KERNSIM_SANITIZE MATCHES "memory")
  set(KS_MSAN TRUE)
endif()
if(KERNSIM_SANITIZE MATCHES "thread")
  set(KS_TSAN TRUE)
endif()
# ks_mem_bug(NAME ARGS "arg;..." WRAPPER "extra;checker;flags" ENV "K=V" OUTPUT regex...)
function(ks_mem_bug name)
  cmake_parse_arguments(B "" "TEST" "ARGS;WRAPPER;ENV;OUTPUT" ${ARGN})
  if(NOT TARGET bug_${name})
    add_executable(bug_${name} tests/bugs/${name}.c tests/bugs/machine.c)
    target_link_libraries(bug_${name} PRIVATE ks_harness)
  endif()
  set(test ${name})
  if(B_TEST)
    set(test ${B_TEST})
  endif()
  set(outs "")
  foreach(o ${B_OUTPUT})
    list(APPEND outs --output "${o}")
  endforeach()
  add_test(NAME bugs.${test}
           COMMAND ${PROJECT_SOURCE_DIR}/scripts/expect-failure --twice ${outs} --
                   ${KS_TEST_WRAPPER} ${B_WRAPPER} $<TARGET_FILE:bug_${name}> ${B_ARGS})
  set_tests_properties(bugs.${test} PROPERTIES LABELS bugs TIMEOUT 120)
  if(B_ENV)
    set_tests_properties(bugs.${test} PROPERTIES ENVIRONMENT "${B_ENV}")
  endif()
endfunction()

set(hex "0x[0-9a-f]+")
if(KS_ASAN)
  ks_mem_bug(use_after_free OUTPUT "ERROR: AddressSanitizer: use-after-poison"
             "is 4 bytes inside the 56-byte kernel heap block at ${hex} \\(freed, in quarantine\\)"
             "irq_complete" "submit_request" "request_timeout")
  ks_mem_bug(redzone_overflow OUTPUT "ERROR: AddressSanitizer: use-after-poison"
             "is 0 bytes after the 11-byte kernel heap block at ${hex} \\(live\\)" "dev_name_dup")
elseif(KERNSIM_VALGRIND)
  ks_mem_bug(use_after_free OUTPUT "Invalid write of size 4" "irq_complete"
             "is 4 bytes inside a block of size 56 free'd" "submit_request" "request_timeout")
  ks_mem_bug(redzone_overflow OUTPUT "Invalid write of size [0-9]+" "dev_name_dup"
             "bytes inside a block of size 11 alloc'd|0 bytes after a block of size 11 alloc'd")
else()
  ks_mem_bug(use_after_free OUTPUT
             "# heap: use after free: block ${hex} \\(56 bytes\\) was written after it was freed: byte \\+4"
             "submit_request" "request_timeout")
  ks_mem_bug(redzone_overflow OUTPUT
             "# heap: redzone overwritten: kfree\\(${hex}\\): the redzone after the 11-byte block was written at \\+0"
             "dev_name_dup")
endif()
ks_mem_bug(double_free OUTPUT
           "# heap: double free: kfree\\(${hex}\\): the 256-byte block was already freed"
           "dev_destroy" "dev_probe")
ks_mem_bug(invalid_free OUTPUT
           "# heap: interior pointer: kfree\\(${hex}\\): not the start of the block at ${hex}"
           "# heap: not a heap pointer: kfree\\(${hex}\\): the global 'boot_cmdline'\\+0x0"
           "dev_free_rings" "boot_cleanup")
ks_mem_bug(wrong_size_free OUTPUT
           "# heap: size mismatch: kfree_sized\\(${hex}, 8\\): the block is 72 bytes"
           "msg_release" "msg_new")
if(KS_MSAN)
  ks_mem_bug(uninit_read OUTPUT "WARNING: MemorySanitizer: use-of-uninitialized-value" "link_up"
             "Memory was marked as uninitialized" "kmalloc" "config_new")
elseif(KERNSIM_VALGRIND)
  ks_mem_bug(uninit_read WRAPPER --track-origins=yes
             OUTPUT "Conditional jump or move depends on uninitialised value" "link_up"
             "Uninitialised value was created by a heap allocation" "config_new")
  # --track-origins makes memcheck clear origins a word at a time over the 64 GiB
  # kernel window when the sim reserves it: about 30 s a run, two runs.
  set_tests_properties(bugs.uninit_read PROPERTIES TIMEOUT 300)
endif()
ks_mem_bug(misaligned_access TEST misaligned_atomic ARGS atomic OUTPUT
           "misaligned atomic: a 4-byte atomic on ${hex}, which is not 4-byte aligned"
           "trace_hit_atomic")
if(KERNSIM_SANITIZE MATCHES "undefined")
  ks_mem_bug(misaligned_access TEST misaligned_load ARGS plain ENV UBSAN_OPTIONS=print_stacktrace=1
             OUTPUT "load of misaligned address ${hex} for type 'uint32_t'" "trace_read_plain")
endif()
if(KS_TSAN)
  ks_mem_bug(data_race OUTPUT "WARNING: ThreadSanitizer: data race" "rx_drop"
             "Location is global 'netdev_stats'")
endif()
ks_mem_bug(frame_alias OUTPUT
           "# paging: aliasing refused: mapping page ${hex} to frame ${hex} without PG_SHARED, but the frame is already mapped at ${hex}"
           "region 'rx-buffer'" "rx_setup" "rx_map_uncached")
ks_mem_bug(use_after_unmap OUTPUT "page fault" "region 'fw-log'" "last unmapped at"
           "fw_log_shutdown" "fw_log_write")
ks_mem_bug(write_readonly OUTPUT "page fault" "region 'route-table'" "routes_seal" "route_lookup")
ks_mem_bug(missing_tlb_flush OUTPUT "# missing TLB flush: read at ${hex} used the stale translation"
           "scratch_retarget" "copy_from_frame")
ks_mem_bug(dma_after_free OUTPUT
           "# DMA into a freed frame: device 'kernsim-dma' at 0xfee00000, descriptor 2"
           "rx_link_down" "rx_kick")
ks_mem_bug(memory_leak OUTPUT "# heap: memory leak: the 120-byte block at ${hex} was never freed"
           "dev_probe")
# A release of a lock not held is reported at the release, by lockdep or (lockdep off,
# as in the bare kernel) by the lock itself; never as a later deadlock.
ks_mem_bug(unlock_unheld OUTPUT
           "kernsim lockdep: bad unlock: cpu 0 releases 'fw_lock' \\(class fw_lock\\), which it does not hold"
           "no CPU holds it; cpu 0 last released it at:" "fw_abort" "fw_load"
           "kernel panic: kernsim lockdep: cpu 0 releases 'fw_lock'")
ks_mem_bug(unlock_unheld TEST unlock_unheld_no_lockdep ENV KERNSIM_LOCKDEP=0 OUTPUT
           "kernel panic: spin_unlock: 'fw_lock' is not locked \\(released twice, or never taken\\)"
           "fw_load")
ks_mem_bug(panic_cleanups OUTPUT "nic: firmware state 0xdead after reset" "fw_check"
           "cleanup: freeing the scratch buffer"
           "the panic was caught; the lock is free and the block was freed")
set_source_files_properties(tests/bugs/panic_cleanups.c PROPERTIES COMPILE_OPTIONS
                            "-fexceptions;-fasynchronous-unwind-tables")

# The unwinder against libgcc: the frames it walks are built like release code.
add_executable(unwind_test tests/runner/sim_main.c tests/hosted/unwind_test.c
                           tests/hosted/unwind_frames.c)
target_link_libraries(unwind_test PRIVATE ks_harness gcc_s)
set_source_files_properties(tests/hosted/unwind_frames.c PROPERTIES
                            COMPILE_OPTIONS "-O2;-fomit-frame-pointer;-fasynchronous-unwind-tables")
add_test(NAME sim.unwind_test COMMAND ${KS_TEST_WRAPPER} $<TARGET_FILE:unwind_test>)
set_tests_properties(sim.unwind_test PROPERTIES LABELS sim TIMEOUT 120)

# The unwinder's table reader against elfutils libdw on every binary of the machine
# (label corpus). ctest samples addresses to stay under two minutes;
# `build/<preset>/ehframe_corpus --sample 0 /usr/bin /usr/lib/x86_64-linux-gnu` compares
# every address.
find_library(KS_LIBDW dw)
find_library(KS_LIBELF elf)
# libdw is not built for MSan, and one sanitizer run of it is enough for CI.
if(KS_LIBDW AND KS_LIBELF AND NOT KERNSIM_VALGRIND AND NOT KERNSIM_FUZZ
   AND NOT KERNSIM_SANITIZE MATCHES "memory|thread")
  add_executable(ehframe_corpus tests/corpus/ehframe_corpus.c)
  target_link_libraries(ehframe_corpus PRIVATE ks_harness ${KS_LIBDW} ${KS_LIBELF})
  add_test(NAME corpus.ehframe_vs_libdw
           COMMAND $<TARGET_FILE:ehframe_corpus> --sample 2 /usr/bin /usr/lib/x86_64-linux-gnu)
  set_tests_properties(corpus.ehframe_vs_libdw PROPERTIES LABELS corpus TIMEOUT 300)
endif()

# catch_unwind: the frames it unwinds through are built with -fexceptions.
add_executable(catch_test tests/runner/sim_main.c tests/shared/catch_test.c
                          tests/shared/cleanup_frames.c)
target_link_libraries(catch_test PRIVATE ks_harness gcc_s)
add_test(NAME sim.catch_test COMMAND ${KS_TEST_WRAPPER} $<TARGET_FILE:catch_test>)
set_tests_properties(sim.catch_test PROPERTIES LABELS sim TIMEOUT 60)

# The front-end: --help everywhere, one clear line for every wrong flag or file.
add_test(NAME sim.kernsim_cli COMMAND ${PROJECT_SOURCE_DIR}/tests/hosted/kernsim_cli_test.sh
                                      ${PROJECT_SOURCE_DIR}/scripts/kernsim)
set_tests_properties(sim.kernsim_cli PROPERTIES LABELS sim TIMEOUT 60)

# The heap before paging has its own boot order, so its own program.
add_executable(heap_early tests/hosted/heap_early.c)
target_link_libraries(heap_early PRIVATE ks_harness)
add_test(NAME sim.heap_early_arena COMMAND ${KS_TEST_WRAPPER} $<TARGET_FILE:heap_early>)
set_tests_properties(sim.heap_early_arena PROPERTIES LABELS sim TIMEOUT 60)

# A runaway write over the heap's metadata, then a walk of it: each walk must stop
# with a "heap corruption" report naming the span, its class and the bad link.
add_executable(heap_corruption tests/hosted/heap_corruption.c)
target_link_libraries(heap_corruption PRIVATE ks_harness)
set(span_at "the span at 0x[0-9a-f]+ \\(class [0-9]+: [0-9]+-byte blocks, CPU [0-9]+\\)")
foreach(c "trim|kernel panic: heap corruption: ${span_at}: its own free list links to 0x4141414141414141"
          "stats|kernel panic: heap corruption: ${span_at}: its own free list links to 0x4141414141414141"
          "valid|# heap corruption: the span at 0x[0-9a-f]+ \\(class 3\\): its own free list links to 0x4141414141414141"
          "alloc|kernel panic: heap corruption: ${span_at}: its free list's head 0x4141414141414141 is not a free block"
          "remote|kernel panic: heap corruption: ${span_at}: its remote free list links to 0x4141414141414141"
          "header|kernel panic: heap corruption: ${span_at}: its header was overwritten"
          "pool|kernel panic: heap corruption: the pool of free spans links to 0x[0-9a-f]+, which is not a free span")
  string(REPLACE "|" ";" parts "${c}")
  list(GET parts 0 case)
  list(GET parts 1 report)
  add_test(NAME sim.heap_corruption_${case}
           COMMAND ${PROJECT_SOURCE_DIR}/scripts/expect-failure --output "${report}" --
                   ${KS_TEST_WRAPPER} $<TARGET_FILE:heap_corruption> ${case})
  set_tests_properties(sim.heap_corruption_${case} PROPERTIES LABELS sim TIMEOUT 60)
endforeach()

# Refused boots leave nothing behind, and sim_reset zeroes RAM whichever way it takes
# (written over, or punched).
add_executable(sim_reset tests/hosted/sim_reset.c)
target_link_libraries(sim_reset PRIVATE ks_harness)
add_test(NAME sim.reset_zeroes_ram COMMAND ${KS_TEST_WRAPPER} $<TARGET_FILE:sim_reset>)
set_tests_properties(sim.reset_zeroes_ram PROPERTIES LABELS sim TIMEOUT 60)

# A fault kernsim cannot serve (host memory, or inside its own fault path) ends with
# its diagnosis and the faulting function, whatever else reports it.
add_executable(host_fault tests/hosted/host_fault.c)
target_link_libraries(host_fault PRIVATE ks_harness)
foreach(c "runaway|a fault outside the simulated machine: segmentation fault writing at 0x[0-9a-f]+|runaway_copy"
          "nested|a fault while kernsim was handling a fault: segmentation fault reading at 0x[0-9a-f]+|bad_hook"
          "caught|a fault outside the simulated machine: segmentation fault writing at 0x[0-9a-f]+|runaway_copy")
  string(REPLACE "|" ";" parts "${c}")
  list(GET parts 0 case)
  list(GET parts 1 line)
  list(GET parts 2 fn)
  add_test(NAME sim.host_fault_${case}_is_diagnosed
           COMMAND ${PROJECT_SOURCE_DIR}/scripts/expect-failure --output "^kernsim: ${line}"
                   --output "${fn}" -- ${KS_TEST_WRAPPER} $<TARGET_FILE:host_fault> ${case})
  set_tests_properties(sim.host_fault_${case}_is_diagnosed PROPERTIES LABELS sim TIMEOUT 60)
endforeach()

# The runner itself refuses bad arguments.
add_test(NAME sim.runner_rejects_bad_flag COMMAND seam_test --no-such-flag)
set_tests_properties(sim.runner_rejects_bad_flag PROPERTIES LABELS sim WILL_FAIL TRUE)
# ... and a heap mode that is neither: kmachine_boot names it and boots nothing.
add_test(NAME sim.boot_rejects_bad_heap_mode
         COMMAND ${PROJECT_SOURCE_DIR}/scripts/expect-failure
                 --output "^kernsim: boot: KERNSIM_HEAP_MODE wants fast or checking: slow$" --
                 ${KS_TEST_WRAPPER} $<TARGET_FILE:seam_test>)
set_tests_properties(sim.boot_rejects_bad_heap_mode PROPERTIES LABELS sim TIMEOUT 60
                     ENVIRONMENT KERNSIM_HEAP_MODE=slow)

# Run `exe BUG` under the checker for each "BUG|report regex" in `cases`: the test
# passes only if the program fails and the checker's report is in its output.
function(ks_checker_canaries prefix exe cases)
  foreach(c ${cases})
    string(REPLACE "|" ";" parts "${c}")
    list(GET parts 0 bug)
    list(GET parts 1 report)
    add_test(NAME ${prefix}${bug}
             COMMAND ${PROJECT_SOURCE_DIR}/scripts/expect-failure --output "${report}" --
                     ${KS_TEST_WRAPPER} $<TARGET_FILE:${exe}> ${bug})
    set_tests_properties(${prefix}${bug} PROPERTIES LABELS sim TIMEOUT 60)
  endforeach()
endfunction()

# Each checker must turn its finding into a failed test: run a deliberate bug under it
# and require both its report and a failing exit status.
if(KERNSIM_SANITIZE OR KERNSIM_VALGRIND)
  add_executable(checker_canary tests/hosted/checker_canary.c)
  target_link_libraries(checker_canary PRIVATE ks_host_flags)
  set(canaries "")
  if(KERNSIM_SANITIZE MATCHES "address")
    list(APPEND canaries "heap-overflow|heap-buffer-overflow")
  endif()
  if(KERNSIM_SANITIZE MATCHES "undefined")
    list(APPEND canaries "signed-overflow|signed integer overflow")
  endif()
  if(KERNSIM_VALGRIND)
    list(APPEND canaries "heap-overflow|Invalid read of size 1")
  endif()
  # The same for kernel-heap memory: checking mode tells each checker about blocks.
  set(kcanaries "")
  if(KERNSIM_SANITIZE MATCHES "address")
    list(APPEND kcanaries "overflow|use-after-poison" "use-after-free|use-after-poison")
  endif()
  if(KERNSIM_SANITIZE MATCHES "memory")
    list(APPEND kcanaries "uninit-read|use-of-uninitialized-value")
  endif()
  if(KERNSIM_VALGRIND)
    list(APPEND kcanaries "uninit-read|depends on uninitialised value" "overflow|Invalid write"
         "use-after-free|Invalid read" "leak|definitely lost")
  endif()
  if(kcanaries)
    add_executable(heap_canary tests/hosted/heap_canary.c)
    target_link_libraries(heap_canary PRIVATE ks_harness)
  endif()
  ks_checker_canaries(sim.checker_catches_kernel_heap_ heap_canary "${kcanaries}")
  # Races between simulated CPUs: threads, and fibers whose hand-offs do not
  # synchronise. A lock between them must leave TSan silent.
  if(KERNSIM_SANITIZE MATCHES "thread")
    add_executable(race_canary tests/hosted/race_canary.c)
    target_link_libraries(race_canary PRIVATE ks_harness)
    ks_checker_canaries(sim.tsan_catches_ race_canary
                        "free-race|WARNING: ThreadSanitizer: data race;det-race|WARNING: ThreadSanitizer: data race")
    foreach(mode free-locked det-locked free-trylocked det-trylocked)
      add_test(NAME sim.tsan_quiet_${mode} COMMAND $<TARGET_FILE:race_canary> ${mode})
      set_tests_properties(sim.tsan_quiet_${mode} PROPERTIES LABELS sim TIMEOUT 60)
    endforeach()
  endif()
  ks_checker_canaries(sim.checker_catches_ checker_canary "${canaries}")
endif()

# A view used after its region was released is a bug the sim must stop, naming it.
add_executable(view_after_release tests/hosted/view_after_release.c)
target_link_libraries(view_after_release PRIVATE ks_harness)
add_test(NAME sim.view_use_after_release_panics
         COMMAND ${PROJECT_SOURCE_DIR}/scripts/expect-failure
                 --output "view of region 'timer-regs' used after the region was released" --
                 ${KS_TEST_WRAPPER} $<TARGET_FILE:view_after_release>)
set_tests_properties(sim.view_use_after_release_panics PROPERTIES LABELS sim TIMEOUT 60)
# ... and when the region went through a copy of its struct and the range was reused.
add_test(NAME sim.view_use_after_copy_release_panics
         COMMAND ${PROJECT_SOURCE_DIR}/scripts/expect-failure
                 --output "view of region 'timer-regs' used after the region was released" --
                 ${KS_TEST_WRAPPER} $<TARGET_FILE:view_after_release> copy)
set_tests_properties(sim.view_use_after_copy_release_panics PROPERTIES LABELS sim TIMEOUT 60)

# An unhandled page fault's panic names the faulting function and its callers.
add_executable(fault_backtrace tests/hosted/fault_backtrace.c)
target_link_libraries(fault_backtrace PRIVATE ks_harness)
add_test(NAME sim.fault_panic_has_a_backtrace
         COMMAND ${PROJECT_SOURCE_DIR}/scripts/expect-failure
                 --output "^#   #[0-9]+ touch_unmapped\\+0x[0-9a-f]+$"
                 --output "^#   #[0-9]+ driver_probe\\+0x[0-9a-f]+$" --
                 ${KS_TEST_WRAPPER} $<TARGET_FILE:fault_backtrace>)
set_tests_properties(sim.fault_panic_has_a_backtrace PROPERTIES LABELS sim TIMEOUT 60
                     FAIL_REGULAR_EXPRESSION "ThreadSanitizer: signal-unsafe call")

# An unhandled fault fails its schedule and only that one: a later fault is reported the
# same way, the signal mask is as it was, and the failing CPU's stack starts at the
# faulting function; under TSan, with no report on the MMU's own state.
add_executable(fault_after_failed_schedule tests/hosted/fault_after_failed_schedule.c)
target_link_libraries(fault_after_failed_schedule PRIVATE ks_harness)
add_test(NAME sim.fault_after_failed_schedule
         COMMAND ${KS_TEST_WRAPPER} $<TARGET_FILE:fault_after_failed_schedule>)
set_tests_properties(sim.fault_after_failed_schedule PROPERTIES LABELS sim TIMEOUT 60
                     FAIL_REGULAR_EXPRESSION "WARNING: ThreadSanitizer" SKIP_RETURN_CODE 77)

# Page and frame sizes must match at compile time: the mismatch must not build, and
# the same file without the mismatch must.
foreach(variant match mismatch)
  set(def "")
  if(variant STREQUAL "mismatch")
    set(def -DKS_SIZE_MISMATCH)
  endif()
  add_test(NAME sim.paging_size_${variant}_compiles
           COMMAND ${CMAKE_C_COMPILER} -fsyntax-only -Werror ${def}
                   -I${PROJECT_SOURCE_DIR}/arch_stub/include -I${PROJECT_SOURCE_DIR}/sim/include
                   -I${PROJECT_SOURCE_DIR}/subsys ${PROJECT_SOURCE_DIR}/tests/hosted/page_frame_types.c)
  set_tests_properties(sim.paging_size_${variant}_compiles PROPERTIES LABELS sim)
endforeach()
set_tests_properties(sim.paging_size_mismatch_compiles PROPERTIES WILL_FAIL TRUE)

# Benchmarks (scripts/bench): built everywhere, run for numbers from the bench preset.
# ctest only checks that the quick form still runs and stays consistent, not its time.
add_executable(paging_bench scripts/bench/paging_bench.c)
target_link_libraries(paging_bench PRIVATE ks_harness)
add_test(NAME sim.paging_bench_runs COMMAND ${KS_TEST_WRAPPER} $<TARGET_FILE:paging_bench> --quick --reps 1)
set_tests_properties(sim.paging_bench_runs PROPERTIES LABELS sim TIMEOUT 120)

add_executable(heap_bench scripts/bench/heap_bench.c)
target_link_libraries(heap_bench PRIVATE ks_harness)
add_test(NAME sim.heap_bench_runs COMMAND ${KS_TEST_WRAPPER} $<TARGET_FILE:heap_bench>
                                          --allocator kernsim-fast --quick --reps 1)
set_tests_properties(sim.heap_bench_runs PROPERTIES LABELS sim TIMEOUT 120)

add_executable(sched_bench scripts/bench/sched_bench.c)
target_link_libraries(sched_bench PRIVATE ks_harness)
add_test(NAME sim.sched_bench_runs COMMAND ${KS_TEST_WRAPPER} $<TARGET_FILE:sched_bench> --quick --reps 1)
set_tests_properties(sim.sched_bench_runs PROPERTIES LABELS sim TIMEOUT 120)

# The peers' locks and ring are inline assembly that ThreadSanitizer and MemorySanitizer
# cannot see into, and under Valgrind's one-thread-at-a-time its spinning threads
# crawl: the comparison is built only where it runs cleanly.
if(NOT KERNSIM_SANITIZE MATCHES "thread|memory" AND NOT KERNSIM_VALGRIND)
  add_executable(sync_bench scripts/bench/sync_bench.c)
  target_link_libraries(sync_bench PRIVATE ks_harness)
  add_test(NAME sim.sync_bench_runs COMMAND ${KS_TEST_WRAPPER} $<TARGET_FILE:sync_bench> --quick --reps 1)
  set_tests_properties(sim.sync_bench_runs PROPERTIES LABELS sim TIMEOUT 120)
endif()

# The unwinder beside libgcc, LLVM libunwind and nongnu libunwind (peers dlopen'ed).
add_executable(unwind_bench scripts/bench/unwind_bench.c tests/hosted/unwind_frames.c)
target_link_libraries(unwind_bench PRIVATE ks_harness gcc_s ${CMAKE_DL_LIBS})
