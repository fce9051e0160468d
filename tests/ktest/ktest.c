/* ktest.c - the test registry and runner; freestanding, KTAP version 1 output. */
#include "ktest.h"
#include <arch/console.h>
#include <arch/cpu.h>
#include <stdarg.h>

extern const struct ktest_suite *const __start_ktest_suites[];
extern const struct ktest_suite *const __stop_ktest_suites[];

#define MAX_SUITES 128

size_t ktest_suites(const struct ktest_suite **out, size_t max)
{
    size_t n = 0;
    for (const struct ktest_suite *const *p = __start_ktest_suites; p < __stop_ktest_suites; p++) {
        if (n == max)
            break;
        /* Insertion sort by name: link order differs between builds, output must not. */
        size_t i = n++;
        while (i > 0 && kstrcmp(out[i - 1]->name, (*p)->name) > 0) {
            out[i] = out[i - 1];
            i--;
        }
        out[i] = *p;
    }
    return n;
}

static void record_failure(struct ktest *t, const char *text)
{
    if (!t->failed) {
        size_t n = kstrlen(text);
        if (n >= sizeof(t->first_failure))
            n = sizeof(t->first_failure) - 1;
        for (size_t i = 0; i < n; i++)
            t->first_failure[i] = text[i];
        t->first_failure[n] = '\0';
    }
    t->failed = true;
}

static ARCH_NORETURN void stop_case(struct ktest *t)
{
    arch_longjmp(t->jb, 1);
}

static void fail_line(struct ktest *t, bool fatal, const char *file, int line, const char *text)
{
    kprintf("    # %s:%d: %s\n", file, line, text);
    record_failure(t, text);
    if (fatal)
        stop_case(t);
}

static const char *op_text(enum ktest_op op)
{
    static const char *const ops[] = {"==", "!=", "<", "<=", ">", ">="};
    return ops[op];
}

bool ktest_check_int(struct ktest *t, bool fatal, enum ktest_op op, uint64_t a, uint64_t b,
                     bool is_signed, const char *sa, const char *sb, const char *file, int line)
{
    t->checks++;
    bool lt = is_signed ? (int64_t)a < (int64_t)b : a < b;
    bool ok;
    switch (op) {
    case KTEST_EQ:
        ok = a == b;
        break;
    case KTEST_NE:
        ok = a != b;
        break;
    case KTEST_LT:
        ok = lt;
        break;
    case KTEST_LE:
        ok = lt || a == b;
        break;
    case KTEST_GT:
        ok = !lt && a != b;
        break;
    default:
        ok = !lt;
        break;
    }
    if (ok)
        return true;
    char text[256];
    ksnprintf(text, sizeof(text), "expected %s %s %s", sa, op_text(op), sb);
    kprintf("    # %s:%d: %s\n", file, line, text);
    if (is_signed) {
        kprintf("    #   %s == %ld (0x%lx)\n", sa, (int64_t)a, a);
        kprintf("    #   %s == %ld (0x%lx)\n", sb, (int64_t)b, b);
    } else {
        kprintf("    #   %s == %lu (0x%lx)\n", sa, a, a);
        kprintf("    #   %s == %lu (0x%lx)\n", sb, b, b);
    }
    record_failure(t, text);
    if (fatal)
        stop_case(t);
    return false;
}

bool ktest_check_bool(struct ktest *t, bool fatal, bool want, bool v, const char *sv,
                      const char *file, int line)
{
    t->checks++;
    if (v == want)
        return true;
    char text[256];
    ksnprintf(text, sizeof(text), "expected %s to be %s", sv, want ? "true" : "false");
    fail_line(t, fatal, file, line, text);
    return false;
}

bool ktest_check_str(struct ktest *t, bool fatal, bool contains, const char *a, const char *b,
                     const char *sa, const char *sb, const char *file, int line)
{
    t->checks++;
    bool ok = a && b && (contains ? kstrstr(a, b) != NULL : kstrcmp(a, b) == 0);
    if (ok)
        return true;
    char text[256];
    ksnprintf(text, sizeof(text), "expected %s %s %s", sa, contains ? "to contain" : "==", sb);
    kprintf("    # %s:%d: %s\n", file, line, text);
    kprintf("    #   %s == \"%s\"\n", sa, a);
    kprintf("    #   %s == \"%s\"\n", sb, b);
    record_failure(t, text);
    if (fatal)
        stop_case(t);
    return false;
}

void ktest_fail(struct ktest *t, bool fatal, const char *file, int line, const char *fmt, ...)
{
    char text[256];
    va_list ap;
    va_start(ap, fmt);
    kvsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    t->checks++;
    fail_line(t, fatal, file, line, text);
}

void ktest_skip(struct ktest *t, const char *reason)
{
    ksnprintf(t->skip_reason, sizeof(t->skip_reason), "%s", reason);
    t->skipped = true;
    stop_case(t);
}

void ktest_defer(struct ktest *t, void (*fn)(void *), void *arg)
{
    if (t->n_defer == KTEST_MAX_DEFER) {
        /* Running it now is the only way not to lose it. */
        KTEST_FAIL(t, "ktest_defer: more than %d deferred actions", KTEST_MAX_DEFER);
        fn(arg);
        return;
    }
    t->defer[t->n_defer].fn = fn;
    t->defer[t->n_defer].arg = arg;
    t->n_defer++;
}

void ktest_log(struct ktest *t, const char *fmt, ...)
{
    char text[256];
    va_list ap;
    va_start(ap, fmt);
    kvsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    (void)t;
    kprintf("    # %s\n", text);
}

static bool matches(const char *filter, const char *suite, const char *name)
{
    if (!filter || !*filter)
        return true;
    char full[160];
    ksnprintf(full, sizeof(full), "%s.%s", suite, name ? name : "");
    size_t n = kstrlen(filter);
    if (filter[n - 1] == '*')
        return kstrncmp(full, filter, n - 1) == 0;
    if (kstrcmp(filter, suite) == 0)
        return true;
    return name && kstrcmp(full, filter) == 0;
}

static bool suite_selected(const char *filter, const struct ktest_suite *s)
{
    for (size_t i = 0; i < s->n_cases; i++) {
        if (matches(filter, s->name, s->cases[i].name))
            return true;
    }
    return false;
}

/* Run one case; returns 0 pass, 1 fail, 2 skip. */
static int run_case(const struct ktest_suite *s, const struct ktest_case *c, unsigned index)
{
    static struct ktest t; /* static: big, and the bare stack is small */
    t = (struct ktest){.suite = s->name, .name = c->name};
    if (arch_setjmp(t.jb) == 0)
        c->run(&t);
    while (t.n_defer) {
        t.n_defer--;
        t.defer[t.n_defer].fn(t.defer[t.n_defer].arg);
    }
    if (!t.skipped && !t.failed && t.checks == 0) {
        /* A test that asserts nothing proves nothing. */
        kprintf("    # %s: no check was evaluated\n", c->name);
        record_failure(&t, "no check was evaluated");
    }
    if (t.skipped && !t.failed) {
        kprintf("    ok %u %s # SKIP %s\n", index, c->name, t.skip_reason);
        return 2;
    }
    if (c->xfail) {
        if (t.failed && kstrstr(t.first_failure, c->xfail)) {
            kprintf("    ok %u %s # XFAIL %s\n", index, c->name, c->xfail);
            return 0;
        }
        if (t.failed)
            kprintf("    # expected a failure containing \"%s\", got \"%s\"\n", c->xfail,
                    t.first_failure);
        else
            kprintf("    # expected a failure containing \"%s\", but the case passed\n", c->xfail);
        kprintf("    not ok %u %s\n", index, c->name);
        return 1;
    }
    kprintf("    %s %u %s\n", t.failed ? "not ok" : "ok", index, c->name);
    return t.failed ? 1 : 0;
}

unsigned ktest_run(const char *filter, unsigned *ran)
{
    const struct ktest_suite *suites[MAX_SUITES];
    size_t n = ktest_suites(suites, MAX_SUITES);
    unsigned n_sel = 0, total_fail = 0, total_pass = 0, total_skip = 0;
    for (size_t i = 0; i < n; i++)
        n_sel += suite_selected(filter, suites[i]);
    kprintf("KTAP version 1\n1..%u\n", n_sel);
    unsigned si = 0;
    for (size_t i = 0; i < n; i++) {
        const struct ktest_suite *s = suites[i];
        if (!suite_selected(filter, s))
            continue;
        unsigned n_cases = 0, pass = 0, fail = 0, skip = 0;
        for (size_t c = 0; c < s->n_cases; c++)
            n_cases += matches(filter, s->name, s->cases[c].name);
        kprintf("    KTAP version 1\n    # Subtest: %s\n    1..%u\n", s->name, n_cases);
        unsigned ci = 0;
        for (size_t c = 0; c < s->n_cases; c++) {
            if (!matches(filter, s->name, s->cases[c].name))
                continue;
            int r = run_case(s, &s->cases[c], ++ci);
            pass += r == 0, fail += r == 1, skip += r == 2;
        }
        kprintf("# %s: pass:%u fail:%u skip:%u total:%u\n", s->name, pass, fail, skip, n_cases);
        kprintf("%s %u %s\n", fail ? "not ok" : "ok", ++si, s->name);
        total_pass += pass, total_fail += fail, total_skip += skip;
    }
    kprintf("# Totals: pass:%u fail:%u skip:%u total:%u\n", total_pass, total_fail, total_skip,
            total_pass + total_fail + total_skip);
    if (ran)
        *ran = total_pass + total_fail + total_skip;
    return total_fail;
}

void ktest_list(void)
{
    const struct ktest_suite *suites[MAX_SUITES];
    size_t n = ktest_suites(suites, MAX_SUITES);
    for (size_t i = 0; i < n; i++) {
        for (size_t c = 0; c < suites[i]->n_cases; c++)
            kprintf("%s.%s\n", suites[i]->name, suites[i]->cases[c].name);
    }
}
