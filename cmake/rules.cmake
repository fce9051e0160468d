# The house rules, checked as tests (KERNSIM_RULES; on in the asan preset): DESIGN's
# central rule on the objects, and the format of every tracked C file.

# The subsystems reach the machine only through the seam, in both builds: what their
# objects leave undefined is a seam name, mem*, setjmp/longjmp or a name the build's
# arch/target.h declares for its inline paths.
set(ks_seam_rule ${PROJECT_SOURCE_DIR}/scripts/check-seam-rule)
add_test(NAME rules.sim_subsystems_reach_only_the_seam
         COMMAND ${ks_seam_rule} --nm ${CMAKE_NM} --target-h
                 ${PROJECT_SOURCE_DIR}/sim/include/arch/target.h $<TARGET_FILE:ks_subsys>
                 $<TARGET_FILE:ks_unwind>)
if(KERNSIM_BARE)
  add_test(NAME rules.bare_subsystems_reach_only_the_seam
           COMMAND ${ks_seam_rule} --nm ${CMAKE_NM} --target-h
                   ${PROJECT_SOURCE_DIR}/arch_stub/x86_64/include/arch/target.h
                   $<TARGET_OBJECTS:ks_subsys_bare>
           COMMAND_EXPAND_LISTS)
  set_tests_properties(rules.bare_subsystems_reach_only_the_seam PROPERTIES LABELS rules)
endif()
# ... and the check itself fails on a subsystem that calls the C library.
add_library(ks_seam_rule_violation OBJECT tests/hosted/seam_rule_violation.c
                                          tests/hosted/tidy_violation.c)
target_link_libraries(ks_seam_rule_violation PRIVATE ks_host_flags)
add_test(NAME rules.seam_rule_refuses_libc
         COMMAND ${PROJECT_SOURCE_DIR}/scripts/expect-failure
                 --output "seam_rule_violation.c.o uses 'malloc', which is not a seam name" --
                 ${ks_seam_rule} --nm ${CMAKE_NM} --target-h
                 ${PROJECT_SOURCE_DIR}/sim/include/arch/target.h $<TARGET_FILE:ks_subsys>
                 $<TARGET_OBJECTS:ks_seam_rule_violation>
         COMMAND_EXPAND_LISTS)

# No call cycle between files: each library's objects (and the hosted ones together,
# the seam, the unwinder, the subsystems and the harness) form layers, each calling
# only the ones below it; and the check fails on a planted cycle.
set(ks_layers ${PROJECT_SOURCE_DIR}/scripts/check-layers --nm ${CMAKE_NM})
add_test(NAME rules.sim_files_form_layers
         COMMAND ${ks_layers} $<TARGET_OBJECTS:ks_seam> $<TARGET_OBJECTS:ks_unwind>
                 $<TARGET_OBJECTS:ks_subsys> $<TARGET_OBJECTS:ks_harness>
         COMMAND_EXPAND_LISTS)
set_tests_properties(rules.sim_files_form_layers PROPERTIES LABELS rules)
if(KERNSIM_BARE)
  # The bare kernel's seam and subsystems (its boot code, bare/, is the top, and its
  # interrupt stubs and their C entry name each other by design).
  add_test(NAME rules.bare_files_form_layers
           COMMAND ${ks_layers} $<FILTER:$<TARGET_OBJECTS:kernsim-kernel>,INCLUDE,/arch_stub/>
                   $<TARGET_OBJECTS:ks_subsys_bare>
           COMMAND_EXPAND_LISTS)
  set_tests_properties(rules.bare_files_form_layers PROPERTIES LABELS rules)
endif()
add_library(ks_layers_violation OBJECT tests/hosted/layers_violation_a.c
                                       tests/hosted/layers_violation_b.c)
target_link_libraries(ks_layers_violation PRIVATE ks_host_flags)
add_test(NAME rules.layers_refuse_a_cycle
         COMMAND ${PROJECT_SOURCE_DIR}/scripts/expect-failure
                 --output "layers_violation_a.c -> tests/hosted/layers_violation_b.c \\(layers_violation_b\\)"
                 -- ${ks_layers} $<TARGET_OBJECTS:ks_subsys> $<TARGET_OBJECTS:ks_layers_violation>
         COMMAND_EXPAND_LISTS)
set_tests_properties(rules.layers_refuse_a_cycle PROPERTIES LABELS rules)

# Every tracked C file as .clang-format says.
find_program(KS_CLANG_FORMAT NAMES clang-format-14 clang-format REQUIRED)
add_test(NAME rules.clang_format
         COMMAND ${PROJECT_SOURCE_DIR}/scripts/check-format --clang-format ${KS_CLANG_FORMAT}
                 ${PROJECT_SOURCE_DIR})
set_tests_properties(rules.sim_subsystems_reach_only_the_seam rules.seam_rule_refuses_libc
                     rules.clang_format PROPERTIES LABELS rules TIMEOUT 120)

# The checks of .clang-tidy (the analyzer and a chosen bugprone set) over subsys/,
# sim/ and arch_stub/common/, with zero findings; and a planted NULL dereference that
# they must find.
find_program(KS_RUN_CLANG_TIDY NAMES run-clang-tidy-14 run-clang-tidy REQUIRED)
add_test(NAME rules.clang_tidy
         COMMAND ${PROJECT_SOURCE_DIR}/scripts/check-tidy --run-clang-tidy ${KS_RUN_CLANG_TIDY}
                 ${PROJECT_BINARY_DIR})
add_test(NAME rules.clang_tidy_finds_a_null_dereference
         COMMAND ${PROJECT_SOURCE_DIR}/scripts/expect-failure
                 --output "tidy_violation.c:[0-9]+:[0-9]+: (warning|error): .*null pointer"
                 -- ${PROJECT_SOURCE_DIR}/scripts/check-tidy --run-clang-tidy ${KS_RUN_CLANG_TIDY}
                 ${PROJECT_BINARY_DIR} "${PROJECT_SOURCE_DIR}/tests/hosted/tidy_violation\\.c$")
set_tests_properties(rules.clang_tidy rules.clang_tidy_finds_a_null_dereference
                     PROPERTIES LABELS rules TIMEOUT 600)
