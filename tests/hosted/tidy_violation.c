/* tidy_violation.c - a NULL dereference clang-analyzer must see: scripts/check-tidy
 * has to fail on this file (rules.clang_tidy_finds_a_null_dereference). */
#include <stddef.h>

int tidy_violation(int n)
{
    int *p = NULL;
    if (n > 2)
        p = &n;
    return *p;
}
