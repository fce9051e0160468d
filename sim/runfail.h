/* runfail.h - "the run failed": how a checker inside a deterministic run (lockdep,
 * the panic path, the fault path) ends it with its report, without knowing who runs
 * it. The explorer installs a handler for as long as it explores; the checkers only
 * ever call through here, so none of them depends on the scheduler. */
#ifndef SIM_RUNFAIL_H
#define SIM_RUNFAIL_H

#include <stdbool.h>
#include <stdint.h>

struct sim_run_ops {
    bool (*active)(void); /* a run's CPUs are running now */
    /* Fail the run with `text` as its report; the failing CPU's stack is `stack`
     * (where it failed: a faulting pc, a panic's caller, a lock call), or with 0 the
     * walk from the handler's own frame. Does not return while active() holds. */
    void (*fail)(const char *text, uint32_t stack);
};

/* The explorer's: install `ops` (NULL: none, as outside an exploration). */
void sim_run_install(const struct sim_run_ops *ops);

/* Whether a run is in progress: a failure now ends it instead of the process. */
bool sim_run_active(void);

/* Inside a run, end it with this report (does not return); outside one, return at
 * once and let the caller report and panic as it would. */
void sim_run_fail(const char *text, uint32_t stack);

#endif
