/* ktest.h - kernsim's freestanding test registry, the same in the sim and the bare
 * kernel. Output is KTAP version 1.
 *
 *   static void seam_test_alias(struct ktest *t) { KEXPECT_EQ(t, *a, *b); }
 *   KTEST_SUITE(seam, KTEST_CASE(seam_test_alias), ...);
 *
 * Suites are collected through the "ktest_suites" linker section, so adding a test
 * touches one file. KEXPECT_* records a failure and continues; KASSERT_* records it
 * and ends the case. Both print file:line and the expected and actual values.
 * A case marked KTEST_CASE_XFAIL(fn, "text") must fail with a message containing
 * "text"; it is then reported "ok ... # XFAIL". */
#ifndef KTEST_H
#define KTEST_H

#include <arch/target.h>
#include <arch/types.h>

struct ktest;

struct ktest_case {
    const char *name;
    void (*run)(struct ktest *t);
    const char *xfail; /* expected failure text, or NULL */
};

struct ktest_suite {
    const char *name;
    const struct ktest_case *cases;
    size_t n_cases;
};

#define KTEST_MAX_DEFER 8

struct ktest {
    const char *suite;
    const char *name;
    bool failed;
    bool skipped;
    unsigned checks; /* assertions evaluated, passing or not */
    char first_failure[256];
    char skip_reason[128];
    arch_jmp_buf jb;
    struct {
        void (*fn)(void *);
        void *arg;
    } defer[KTEST_MAX_DEFER];
    unsigned n_defer;
};

#define KTEST_CASE(fn)                                                                             \
    {                                                                                              \
#fn, fn, NULL                                                                              \
    }
#define KTEST_CASE_XFAIL(fn, text)                                                                 \
    {                                                                                              \
#fn, fn, text                                                                              \
    }

#define KTEST_SUITE(sname, ...)                                                                    \
    static const struct ktest_case sname##_ktest_cases[] = {__VA_ARGS__};                          \
    static const struct ktest_suite sname##_ktest_suite = {                                        \
        #sname, sname##_ktest_cases, sizeof(sname##_ktest_cases) / sizeof(struct ktest_case)};     \
    static const struct ktest_suite *const sname##_ktest_ptr                                       \
        __attribute__((used, section("ktest_suites"), aligned(sizeof(void *)))) =                  \
            &sname##_ktest_suite

enum ktest_op { KTEST_EQ, KTEST_NE, KTEST_LT, KTEST_LE, KTEST_GT, KTEST_GE };

/* The checks behind the macros; return true when the check held. Only inside a case
 * run by ktest_run, with its t. Each counts as a check; a failure prints file:line and
 * the values and marks the case failed; fatal then ends the case (a longjmp), so a
 * fatal check must run on the case's own thread or fiber. ktest_check_str fails for a
 * NULL string. */
bool ktest_check_int(struct ktest *t, bool fatal, enum ktest_op op, uint64_t a, uint64_t b,
                     bool is_signed, const char *sa, const char *sb, const char *file, int line);
bool ktest_check_bool(struct ktest *t, bool fatal, bool want, bool v, const char *sv,
                      const char *file, int line);
bool ktest_check_str(struct ktest *t, bool fatal, bool contains, const char *a, const char *b,
                     const char *sa, const char *sb, const char *file, int line);

/* Fail the case with a message (and stop it if fatal), as the checks do. */
void ktest_fail(struct ktest *t, bool fatal, const char *file, int line, const char *fmt, ...)
    ARCH_PRINTF(5, 6);
/* Skip the rest of the case, saying why (cut to 127 bytes); on the case's own thread,
 * as a fatal check. A case that failed before is reported failed, not skipped. */
ARCH_NORETURN void ktest_skip(struct ktest *t, const char *reason);
/* Run fn(arg) when the case ends, however it ends (latest first). Up to
 * KTEST_MAX_DEFER; one more fails the case and runs fn(arg) at once. */
void ktest_defer(struct ktest *t, void (*fn)(void *), void *arg);
/* Print a KTAP diagnostic line for this case (cut to 255 bytes). Not a check. */
void ktest_log(struct ktest *t, const char *fmt, ...) ARCH_PRINTF(2, 3);

#define KTEST_SIGNED(x) ((__typeof__(x))-1 < (__typeof__(x))0)
#define KTEST_INT_(t, fatal, op, a, b)                                                             \
    do {                                                                                           \
        __typeof__(a) ka_ = (a);                                                                   \
        __typeof__(b) kb_ = (b);                                                                   \
        ktest_check_int((t), (fatal), (op), (uint64_t)ka_, (uint64_t)kb_,                          \
                        KTEST_SIGNED(ka_) || KTEST_SIGNED(kb_), #a, #b, __FILE__, __LINE__);       \
    } while (0)

#define KEXPECT_EQ(t, a, b) KTEST_INT_(t, false, KTEST_EQ, a, b)
#define KEXPECT_NE(t, a, b) KTEST_INT_(t, false, KTEST_NE, a, b)
#define KEXPECT_LT(t, a, b) KTEST_INT_(t, false, KTEST_LT, a, b)
#define KEXPECT_LE(t, a, b) KTEST_INT_(t, false, KTEST_LE, a, b)
#define KEXPECT_GT(t, a, b) KTEST_INT_(t, false, KTEST_GT, a, b)
#define KEXPECT_GE(t, a, b) KTEST_INT_(t, false, KTEST_GE, a, b)
#define KASSERT_EQ(t, a, b) KTEST_INT_(t, true, KTEST_EQ, a, b)
#define KASSERT_NE(t, a, b) KTEST_INT_(t, true, KTEST_NE, a, b)
#define KASSERT_LT(t, a, b) KTEST_INT_(t, true, KTEST_LT, a, b)
#define KASSERT_LE(t, a, b) KTEST_INT_(t, true, KTEST_LE, a, b)
#define KASSERT_GT(t, a, b) KTEST_INT_(t, true, KTEST_GT, a, b)
#define KASSERT_GE(t, a, b) KTEST_INT_(t, true, KTEST_GE, a, b)

#define KEXPECT_TRUE(t, c)  ktest_check_bool((t), false, true, !!(c), #c, __FILE__, __LINE__)
#define KEXPECT_FALSE(t, c) ktest_check_bool((t), false, false, !!(c), #c, __FILE__, __LINE__)
#define KASSERT_TRUE(t, c)  ktest_check_bool((t), true, true, !!(c), #c, __FILE__, __LINE__)
#define KASSERT_FALSE(t, c) ktest_check_bool((t), true, false, !!(c), #c, __FILE__, __LINE__)

#define KEXPECT_PTR_EQ(t, a, b) KEXPECT_EQ(t, (uintptr_t)(a), (uintptr_t)(b))
#define KEXPECT_PTR_NE(t, a, b) KEXPECT_NE(t, (uintptr_t)(a), (uintptr_t)(b))

#define KEXPECT_STREQ(t, a, b)                                                                     \
    ktest_check_str((t), false, false, (a), (b), #a, #b, __FILE__, __LINE__)
#define KASSERT_STREQ(t, a, b)                                                                     \
    ktest_check_str((t), true, false, (a), (b), #a, #b, __FILE__, __LINE__)
/* a contains b */
#define KEXPECT_STR_CONTAINS(t, a, b)                                                              \
    ktest_check_str((t), false, true, (a), (b), #a, #b, __FILE__, __LINE__)

#define KTEST_FAIL(t, ...)  ktest_fail((t), false, __FILE__, __LINE__, __VA_ARGS__)
#define KTEST_ABORT(t, ...) ktest_fail((t), true, __FILE__, __LINE__, __VA_ARGS__)

/* ---- the runner ---- */

/* Run every suite (at most 128; or those matching `filter`: "suite" or "suite.case",
 * '*' as a trailing wildcard), printing KTAP. Returns the number of failed cases (an expected
 * failure passes; a case that checks nothing fails); *ran (if not NULL) gets the
 * number of cases run. One caller at a time (a case's state is static); the cases
 * run one after another on the caller's thread. */
unsigned ktest_run(const char *filter, unsigned *ran);
/* Print "suite.case" for every registered case, suites by name. */
void ktest_list(void);
/* The registered suites, sorted by name, into out (room for max); returns how many
 * were stored. */
size_t ktest_suites(const struct ktest_suite **out, size_t max);

#endif
