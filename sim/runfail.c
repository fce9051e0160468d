/* runfail.c - see runfail.h. */
#include "runfail.h"
#include <stddef.h>

static const struct sim_run_ops *volatile run_ops;

void sim_run_install(const struct sim_run_ops *ops)
{
    run_ops = ops;
}

bool sim_run_active(void)
{
    const struct sim_run_ops *o = run_ops;
    return o && o->active();
}

void sim_run_fail(const char *text, uint32_t stack)
{
    const struct sim_run_ops *o = run_ops;
    if (o)
        o->fail(text, stack);
}
