/* sched_internal.h - the deterministic scheduler's parts. Each file owns its state;
 * the arrows go one way, from the explorer down:
 *
 *   explore.c   the explorer: schedules, the scheduling point, failures and reports
 *   schedio.c   schedule files and the KERNSIM_* options
 *   strategy.c  who runs next: random, PCT, bounded DFS, replay; the decision trace
 *   spin.c      what a CPU waits for: spin loops, pending writes, preemption-off hangs
 *   fiber.c     the CPUs' stacks and the switch between them and the explorer
 *   freerun.c   free-running CPUs on host threads (no scheduler at all) */
#ifndef SIM_SCHED_INTERNAL_H
#define SIM_SCHED_INTERNAL_H

#include <sim/sched.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The files' own: hidden, reached directly in a position-independent build. */
#pragma GCC visibility push(hidden)

/* ---- fiber.c ---- */

#define SIM_FIBER_STACK_SIZE (UINT64_C(1) << 20)
#define SIM_FIBER_MAIN       SIM_SCHED_MAX_CPUS /* the explorer's own context */

/* Map every CPU's stack (once per process) and learn the explorer's. 0, or -1 with
 * a message. */
int sim_fiber_init(void);
/* Ready CPU `cpu` for a schedule. With `resume` it carries on where it last switched
 * out (it finished its previous schedule cleanly and waits in its body's loop);
 * otherwise it gets a fresh stack that enters `body`, which calls sim_fiber_begin
 * first and never returns. */
void sim_fiber_reset(unsigned cpu, bool resume, void (*body)(void));
/* The first thing a fresh CPU's body does. */
void sim_fiber_begin(void);
/* Switch from `from` (a CPU, or SIM_FIBER_MAIN) to `to`, telling every checker;
 * returns when something switches back. Called with TSan's access ignores on, as the
 * scheduler's bookkeeping runs: they are off while the other side runs. `sync`: TSan
 * sees a happens-before edge (only where real threads would have one). */
void sim_fiber_switch(unsigned from, unsigned to, bool sync);
/* Leave the running CPU for good (its frames are abandoned) for the explorer. */
__attribute__((noreturn)) void sim_fiber_abandon(void);
/* The stack of CPU `cpu` as a frame-pointer walk from `fp` on it. */
uint32_t sim_fiber_stack(unsigned cpu, uintptr_t fp);

/* ---- spin.c ---- */

/* A new schedule on ncpus CPUs: nothing written, nothing read, preemption on. */
void sim_spin_begin(unsigned ncpus);
enum sim_spin_point {
    SIM_SPIN_RUN,      /* a scheduling point; the CPU stays runnable */
    SIM_SPIN_WAIT,     /* a scheduling point; the CPU waits (sim_spin_over) */
    SIM_SPIN_NO_POINT, /* preemption is off (or this turned it on or off): no point */
    SIM_SPIN_HANG,     /* spun with preemption off for too long: a hang */
};
/* CPU `cpu` stops at a point of kind `kind` (arch/atomic.h's ARCH_SP_*) before an op
 * on [addr, addr + size). Unless preemption is off, whatever it stopped before last
 * time has run (is settled) and this op is remembered; it is to wait after a relax
 * that ends an iteration in which nothing it read changed. */
enum sim_spin_point sim_spin_point(unsigned cpu, int kind, const volatile void *addr,
                                   unsigned size);
/* The CPU runs again, right before that op: note what it is about to read. */
void sim_spin_after(unsigned cpu, int kind);
/* The CPU finished: its last op has run. */
void sim_spin_settle(unsigned cpu);
/* An interrupt handler starts on `cpu` at a scheduling point (before sim_spin_after):
 * the interrupted context's op and reads are set aside, and the handler starts with
 * none. false (nothing changed) if handlers nest deeper than SIM_SPIN_MAX_NEST. Exit
 * settles the handler's last op and puts the interrupted context back. */
#define SIM_SPIN_MAX_NEST 8
bool sim_spin_irq_enter(unsigned cpu);
void sim_spin_irq_exit(unsigned cpu);
/* Something other than a CPU wrote memory (a device's step): a CPU that waits for any
 * write may go on. */
void sim_spin_external_write(void);
/* Whether a waiting CPU's wait is over: a value it read has changed (or, if it read
 * too many places to remember, anything was written). */
bool sim_spin_over(unsigned cpu);

/* ---- strategy.c ---- */

/* Start exploring with opts `o` (kept) on `ncpus` CPUs, at most max_steps decisions a
 * schedule. 0, or -1 if the trace cannot be allocated. */
int sim_strategy_start(const struct sim_explore_opts *o, unsigned ncpus, uint64_t max_steps);
void sim_strategy_end(void);
/* SIM_REPLAY: the choices to replay (malloc'd; the strategy owns them now). */
void sim_strategy_replay(uint8_t *choices, uint64_t n);
uint64_t sim_strategy_replay_len(void);
unsigned sim_strategy_pct_depth(void);
/* Schedule `index` begins. */
void sim_strategy_begin(uint64_t index);
/* What a decision chooses from: bit c (c < SIM_SCHED_MAX_CPUS) runs CPU c; bit
 * SIM_PICK_IRQ + c delivers an interrupt to CPU c and runs it (its handler first); bit
 * SIM_PICK_AGENT + k runs one step of device k (agent.c), then decides again. */
#define SIM_PICK_IRQ    SIM_SCHED_MAX_CPUS
#define SIM_PICK_AGENT  (2 * SIM_SCHED_MAX_CPUS)
#define SIM_PICK_AGENTS 8
#define SIM_PICK_ALL    (SIM_PICK_AGENT + SIM_PICK_AGENTS)
/* Decision `i`: the choice among `runnable` (nonzero) when `cur` (SIM_FIBER_MAIN
 * or more: none) stopped. -1 with a message in why if the strategy's schedule does
 * not fit the run (a replay, or a DFS prefix that the program no longer follows). */
int sim_strategy_choose(uint64_t i, unsigned cur, unsigned runnable, char *why, size_t size);
/* Decision i's choice, for a schedule file. */
unsigned sim_strategy_choice(uint64_t i);
/* A schedule of `steps` decisions ended (failed or not). */
void sim_strategy_done(uint64_t steps);
/* DFS: set up the next schedule from the last one's `decisions`; false when none is
 * left within the preemption bound. */
bool sim_strategy_backtrack(uint64_t decisions);

/* ---- schedio.c ---- */

/* Write the failing schedule (`steps` decisions of schedule `index`) to path. */
int sim_schedfile_write(const char *path, const struct sim_explore_opts *o,
                        const struct sim_scenario *sc, uint64_t index, uint64_t steps);
/* Read a schedule file for sc (at most max_steps choices) and hand it to the strategy.
 * 0, or -1 with a message if it is not one for sc. */
int sim_schedfile_read(const char *path, const struct sim_scenario *sc, uint64_t max_steps);

#pragma GCC visibility pop

#endif
