# libFuzzer targets (the fuzz preset: ASan + UBSan + fuzzer coverage on all hosted code).
# ctest replays each committed seed corpus and then explores for a bounded, seeded run.
# Under OSS-Fuzz or ClusterFuzzLite (fuzz/oss-fuzz/build.sh) the engine and sanitizers
# come from the environment: $CFLAGS for the compile, $LIB_FUZZING_ENGINE for the link.
set(KERNSIM_FUZZ_ENGINE "-fsanitize=fuzzer" CACHE STRING
    "How fuzz targets link the engine ($LIB_FUZZING_ENGINE under OSS-Fuzz)")
if(KERNSIM_FUZZ_ENGINE STREQUAL "-fsanitize=fuzzer")
  # Without the stack-depth feature: its value moves with the stack's alignment, so
  # the same input would count as new in one process and not in another.
  # Optimised as OSS-Fuzz builds are (-O1 with the sanitizers; there $CFLAGS says):
  # twice the executions of -O0 for the same checks. Stack captures stay exact (see
  # ks_host_flags).
  target_compile_options(ks_host_flags INTERFACE -fsanitize=fuzzer-no-link
                                                 -fno-sanitize-coverage=stack-depth -O1)
  # Each target traces coverage in the code it is about, and nowhere else: ks_sim (the
  # machine, the seam and every subsystem) is built untraced, and each target links
  # its own traced copy of its subject, which the linker takes instead of the archive's.
  # The rest still runs under ASan and UBSan. Tracing everything cost every target a
  # third to a half of its time (its compares in the page-table walks a heap fuzzer
  # passes through, the machine's bookkeeping), and guided it by other code's values.
  foreach(lib ks_seam ks_unwind ks_subsys ks_harness)
    target_compile_options(${lib} PRIVATE
                           -fsanitize-coverage-ignorelist=${PROJECT_SOURCE_DIR}/fuzz/coverage-ignore.txt)
  endforeach()
  # The targets' own models keep their edges but not their compares: the fuzzer
  # learns from the code under test, and a model's loops over its leaves and slots
  # are compares on every operation.
  file(GLOB ks_fuzz_sources ${PROJECT_SOURCE_DIR}/fuzz/*.c)
  set_source_files_properties(${ks_fuzz_sources} tests/hosted/ringdev_model.c
                              PROPERTIES COMPILE_OPTIONS "-fno-sanitize-coverage=trace-cmp")
  set(KS_FUZZ_SCOPED TRUE)
endif()

# runs: how many inputs the bounded, seeded exploration tries after the replay. The
# exploration (scripts/fuzz-explore) gives the same result on every run of one build,
# and runs twice to show it: the second run must end on the same coverage line.
# SUBJECT: the sources the target is about (traced); EXTRA: its other own sources.
function(ks_fuzz_target name runs)
  cmake_parse_arguments(F "" "" "SUBJECT;EXTRA" ${ARGN})
  add_executable(${name}_fuzz fuzz/${name}.c ${F_EXTRA})
  if(KS_FUZZ_SCOPED)
    target_sources(${name}_fuzz PRIVATE ${F_SUBJECT})
    # A subject from the seam's implementation sees what ks_seam's own sources do.
    target_include_directories(${name}_fuzz PRIVATE ${PROJECT_SOURCE_DIR}/arch_stub/common)
  endif()
  target_link_libraries(${name}_fuzz PRIVATE ks_harness)
  separate_arguments(engine UNIX_COMMAND "${KERNSIM_FUZZ_ENGINE}")
  target_link_options(${name}_fuzz PRIVATE ${engine})
  set(corpus ${PROJECT_SOURCE_DIR}/fuzz/corpus/${name})
  add_test(NAME fuzz.${name}.replay COMMAND ${name}_fuzz -runs=0 -close_fd_mask=1 ${corpus})
  add_test(NAME fuzz.${name}.explore
           COMMAND ${PROJECT_SOURCE_DIR}/scripts/fuzz-explore --runs ${runs} --twice
                   --artifacts ${PROJECT_BINARY_DIR}/fuzz-artifacts/${name}
                   $<TARGET_FILE:${name}_fuzz> ${corpus})
  set_tests_properties(fuzz.${name}.replay fuzz.${name}.explore PROPERTIES LABELS fuzz
                                                                          TIMEOUT 300)
endfunction()

ks_fuzz_target(mmu_ops 30000 SUBJECT sim/mmu.c sim/tlb.c arch_stub/common/ptwalk.c)
ks_fuzz_target(paging_ops 30000 SUBJECT ${KS_SUBSYS_PAGING})
ks_fuzz_target(heap_ops 20000 SUBJECT ${KS_SUBSYS_HEAP})
add_test(NAME fuzz.heap_ops.replay_checking
         COMMAND heap_ops_fuzz -runs=0 -close_fd_mask=1 ${PROJECT_SOURCE_DIR}/fuzz/corpus/heap_ops)
add_test(NAME fuzz.heap_ops.explore_checking
         COMMAND ${PROJECT_SOURCE_DIR}/scripts/fuzz-explore --runs 20000 --twice
                 --artifacts ${PROJECT_BINARY_DIR}/fuzz-artifacts/heap_ops_checking
                 $<TARGET_FILE:heap_ops_fuzz> ${PROJECT_SOURCE_DIR}/fuzz/corpus/heap_ops)
set_tests_properties(fuzz.heap_ops.replay_checking fuzz.heap_ops.explore_checking
                     PROPERTIES LABELS fuzz TIMEOUT 300 ENVIRONMENT KERNSIM_HEAP_MODE=checking)
ks_fuzz_target(ehframe 20000 SUBJECT subsys/unwind/ehframe.c subsys/unwind/cfa.c
               subsys/unwind/expr.c subsys/unwind/step.c subsys/unwind/lsda.c)
ks_fuzz_target(dma_ops 20000 SUBJECT sim/dma.c)
ks_fuzz_target(ringdev_ops 20000 SUBJECT subsys/ringdev/ringdev.c # the worked example
               EXTRA tests/hosted/ringdev_model.c)
