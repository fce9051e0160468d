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
