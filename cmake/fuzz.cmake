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
endif()

# runs: how many inputs the bounded, seeded exploration tries after the replay. The
# exploration (scripts/fuzz-explore) gives the same result on every run of one build,
# and runs twice to show it: the second run must end on the same coverage line.
function(ks_fuzz_target name runs)
  add_executable(${name}_fuzz fuzz/${name}.c ${ARGN}) # ARGN: the target's own extra sources
  target_link_libraries(${name}_fuzz PRIVATE ks_sim)
  separate_arguments(engine UNIX_COMMAND "${KERNSIM_FUZZ_ENGINE}")
  target_link_options(${name}_fuzz PRIVATE ${engine})
  set(corpus ${CMAKE_SOURCE_DIR}/fuzz/corpus/${name})
  add_test(NAME fuzz.${name}.replay COMMAND ${name}_fuzz -runs=0 -close_fd_mask=1 ${corpus})
  add_test(NAME fuzz.${name}.explore
           COMMAND ${CMAKE_SOURCE_DIR}/scripts/fuzz-explore --runs ${runs} --twice
                   --artifacts ${CMAKE_BINARY_DIR}/fuzz-artifacts/${name}
                   $<TARGET_FILE:${name}_fuzz> ${corpus})
  set_tests_properties(fuzz.${name}.replay fuzz.${name}.explore PROPERTIES LABELS fuzz
                                                                          TIMEOUT 300)
endfunction()

ks_fuzz_target(mmu_ops 30000)
ks_fuzz_target(paging_ops 30000)
ks_fuzz_target(heap_ops 3000)
add_test(NAME fuzz.heap_ops.replay_checking
         COMMAND heap_ops_fuzz -runs=0 -close_fd_mask=1 ${CMAKE_SOURCE_DIR}/fuzz/corpus/heap_ops)
set_tests_properties(fuzz.heap_ops.replay_checking PROPERTIES LABELS fuzz TIMEOUT 300
                     ENVIRONMENT KERNSIM_HEAP_MODE=checking)
ks_fuzz_target(ehframe 20000)
ks_fuzz_target(ringdev_ops 20000 tests/hosted/ringdev_model.c) # the worked example
