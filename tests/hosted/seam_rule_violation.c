/* seam_rule_violation.c - a "subsystem" that reaches past the seam into the C
 * library: scripts/check-seam-rule must refuse it (rules.seam_rule_refuses_libc). */
#include <stdlib.h>

void *violation_alloc(size_t n)
{
    return malloc(n);
}
