/* sim_internal.h - state shared between the fake machine's files. */
#ifndef SIM_INTERNAL_H
#define SIM_INTERNAL_H

#include "arch_internal.h"
#include <arch/fault.h>
#include <setjmp.h>
#include <sim/sim.h>

/* The files' own: hidden, reached directly in a position-independent build. */
#pragma GCC visibility push(hidden)

struct sim_machine {
    bool booted;
    int memfd;
    uint64_t ram_size;
    unsigned ncpus;
};
extern struct sim_machine sim_machine; /* machine.c, written at boot */
#define SIM_MAX_CPUS 64                /* what sim_boot allows, and each per-CPU table holds */

/* mem.c: create RAM (a memfd of `size` bytes, its direct map, the ranges); 0, or -1
 * with the reason on stderr and nothing left behind. sim_mem_fini undoes it;
 * sim_mem_zero zeroes all of RAM (reset). */
int sim_mem_init(uint64_t size);
void sim_mem_fini(void);
void sim_mem_zero(void);

/* stackbounds.c */
/* The stack the calling code is on (fiber or host thread), [lo, hi). */
void sim_stack_bounds(uintptr_t *lo, uintptr_t *hi);
/* Which stack the walker may read; (0, 0) for the host thread's own. */
void sim_stack_set_bounds(uintptr_t lo, uintptr_t hi);
/* Learn the calling host thread's stack now (boot, thread start), so that no signal
 * handler has to ask glibc (pthread_getattr_np allocates). */
void sim_stack_bounds_init(void);
/* sim_stack_bounds if already known without asking glibc; false otherwise. */
bool sim_stack_bounds_known(uintptr_t *lo, uintptr_t *hi);

static inline bool sim_in_window(uint64_t va)
{
    return va - SIM_KVA_BASE < SIM_KVA_SIZE;
}

/* mmu.c (the MMU's own parts are in mmu_internal.h) */
int sim_mmu_init(void);
void sim_mmu_reset(void);
/* The TLB per CPU: the CPUs of a run start running (each with its TLB flushed; 0: the
 * run is over), one stops for good, the scheduler switches to one. */
void sim_mmu_cpus_running(uint32_t cpus);
void sim_mmu_cpu_stopped(unsigned cpu);
void sim_mmu_cpu_switch(unsigned cpu);
/* Whether the calling host thread is inside the MMU (holds its lock; tlb.c). */
bool sim_mmu_busy(void);

/* fault.c: translate `va` for an access through the TLB model (filling it from the
 * tables if needed), raising the fault through the hook as the MMU would. Returns
 * true with *pa set; on a refused, unhandled access fills *f and returns false. */
bool sim_mmu_translate(uint64_t va, enum arch_access access, phys_addr_t *pa, struct arch_fault *f);
/* The fault path's state for the code on one simulated CPU: per fiber in a deterministic
 * run (the scheduler binds the running one's; a CPU may be switched out inside a fault
 * hook), per host thread otherwise. */
struct sim_exec {
    struct arch_fault_retry retry; /* the retry bound (arch_internal.h) */
    sigjmp_buf *probe_jmp;         /* set while a probe's access runs */
    struct arch_fault probe_fault;
    unsigned handling; /* window faults being served on this CPU (a hook may fault again) */
};
struct sim_exec *sim_exec_self(void);
/* The scheduler: `x` is the running CPU's state from now on (NULL: the host thread's). */
void sim_exec_bind(struct sim_exec *x);

/* stackdepot.c */
/* Map the depot (once per process; ids stay valid across boots). */
void sim_stackdepot_init(void);
bool sim_stackdepot_ready(void);
/* Intern the caller's stack, leaving out `skip` frames above it; 0 if the depot is
 * full or not there. */
uint32_t sim_stack_capture(unsigned skip);
/* The same, keeping at most depth frames (0: as many as the table holds). */
uint32_t sim_stack_capture_depth(unsigned skip, unsigned depth);
/* The stack of a frame-pointer chain starting at fp on the stack [lo, hi). */
uint32_t sim_stack_capture_from(uintptr_t fp, uintptr_t lo, uintptr_t hi);
/* Format a stack as sim_stack_print prints it; returns the length written. */
size_t sim_stack_format(uint32_t id, const char *indent, char *buf, size_t size);
void sim_stack_print(uint32_t id, const char *indent);
/* Intern pcs[0..n) (return addresses; an exact pc as pc + 1) as a stack id. */
uint32_t sim_stack_intern(void **pcs, int n);
/* From a signal handler: the interrupted code's stack, starting at its exact pc `ip`,
 * walked by kernsim's unwinder through the signal frame (0 if it cannot be). */
uint32_t sim_stack_capture_interrupted(uint64_t ip);
/* The same from a saved context by frame pointers: ip first, then the chain from fp. */
uint32_t sim_stack_capture_context(uint64_t ip, uintptr_t fp);

/* history.c */
void sim_history_init(void);
void sim_history_reset(void);
enum sim_page_event { SIM_PAGE_MAPPED, SIM_PAGE_UNMAPPED, SIM_PAGE_PROTECTED };
void sim_history_record(uint64_t va, uint64_t size, enum sim_page_event ev);
/* Whether the frame allocator last said pa's frame is free, and where it was freed. */
bool sim_frame_freed(phys_addr_t pa, uint32_t *freed_stack);
/* How many times pa's frame has been allocated (its generation). */
uint32_t sim_frame_generation(phys_addr_t pa);
/* Whether pa's frame is in use in a later generation than `gen` (freed and handed out
 * again since), with where it was last freed and allocated. */
bool sim_frame_reused(phys_addr_t pa, uint32_t gen, uint32_t *freed_stack, uint32_t *alloc_stack);
/* Print the page's history as KTAP diagnostics; false if it has none. */
bool sim_history_describe(uint64_t va, const char *indent);

/* debug.c */
void sim_debug_init(void);
/* Count a bug the sim reports without stopping (sim_report_count); true if the report
 * is to be printed (sim_set_report_output). */
bool sim_count_report(void);

/* io.c */
void sim_io_init(void);
void sim_io_reset(void);

/* agent.c: devices that work on their own under the deterministic scheduler. A device
 * with work in hand is ready; each step does one unit of it (one descriptor); forget
 * drops what it was given in an earlier schedule (each schedule starts from none). */
struct sim_agent {
    const char *name;
    bool (*ready)(void *ctx);
    void (*step)(void *ctx);
    void (*forget)(void *ctx);
    void *ctx;
};
#define SIM_MAX_AGENTS 8
extern unsigned sim_agent_count;
/* Add a device (one agent per ctx: adding it again gives its index back); its index,
 * or -1 with a message when all SIM_MAX_AGENTS are taken. */
int sim_agent_add(const struct sim_agent *a);
void sim_agent_remove(void *ctx);
unsigned sim_agents_ready(void); /* bit k: agent k has work */
void sim_agent_step(unsigned k);
void sim_agents_forget_work(void);
void sim_agent_reset(void); /* the machine's reset: no devices */
/* A raise from a device model: `vector` pending on `cpu` (no checks; irq.c). */
void sim_irq_raise(unsigned cpu, unsigned vector);

/* machine.c: each CPU's interrupt flag (irq.c writes it, lockdep reads it). */
extern bool sim_cpu_irq_on[SIM_MAX_CPUS];

/* irq.c: interrupts (arch/irq.h); the scheduler's side. */
extern unsigned sim_irq_timers;       /* local timers running, on any CPU */
extern uint64_t sim_irq_pending_cpus; /* bit c: cpu c may have one pending (a hint) */
/* Whether an interrupt would be delivered to `cpu` now (its flag is on, one is pending
 * above the class in service, unmasked). Any thread. */
bool sim_irq_deliverable(unsigned cpu);
/* Deliver cpu's highest deliverable interrupt: its handler runs here, on the calling
 * context, which must be cpu's own. Nothing if none is deliverable. */
void sim_irq_deliver_one(unsigned cpu);
/* One tick of cpu's local timer; its expiry raises its vector. */
void sim_irq_tick(unsigned cpu);
/* cpu's work in a deterministic run is done: its local timer stops. */
void sim_irq_cpu_done(unsigned cpu);
/* cpu is idle: its local timer runs out now. false if it has none running. */
bool sim_irq_expire_timer(unsigned cpu);
/* A deterministic run borrows CPUs 0..ncpus-1: their interrupt state and the vector
 * table are set aside and given back; each schedule starts from the table as the run
 * found it, with those CPUs' interrupts disabled and nothing pending or running. */
void sim_irq_run_begin(unsigned ncpus);
void sim_irq_run_end(unsigned ncpus);
void sim_irq_schedule_begin(unsigned ncpus);
/* What is pending or in service on cpu, for a report; false if nothing. */
bool sim_irq_describe_cpu(unsigned cpu, char *buf, size_t size);

/* lockdep.c (the explorer's side: the checks report through runfail.h) */
/* Forget held locks and the order graph (each schedule starts from boot). */
void sim_lockdep_reset(void);
/* Set the host threads' held locks and the switches (tracking, order checks) aside
 * for a deterministic run, and give them back. */
void sim_lockdep_run_begin(void);
void sim_lockdep_run_end(void);
/* Interrupt context: a handler starts or ends on cpu (what the interrupted code
 * waited for is set aside meanwhile); cpu turned its interrupts on, so the locks it
 * holds are held with interrupts enabled. */
void sim_lockdep_irq_enter(unsigned cpu);
void sim_lockdep_irq_exit(unsigned cpu);
void sim_lockdep_irqs_on(unsigned cpu);
/* What `cpu` waits for and holds, with stacks; false if nothing. */
bool sim_lockdep_describe_cpu(unsigned cpu, char *buf, size_t size);

/* unwind_host.c: the unwinder's platform in the sim (boot hands it to
 * unw_set_platform, so that panics unwind to catch_unwind through the module
 * tables): a non-kernsim exception goes on to the unwinder that would have had it. */
void sim_unwind_foreign_resume(void *exc);

/* symbols.c: the function holding pc (and pc's offset in it), or NULL. */
const char *sim_symbolize(uint64_t pc, uint64_t *offset);
/* Read the symbol table now (boot), not first in a fault handler (it allocates). */
void sim_symbols_init(void);

/* panic.c */
void sim_print_backtrace(void);
/* arch_panic, with the stack a deterministic run reports for this CPU (0: the caller's). */
ARCH_NORETURN void sim_panic_stack(uint32_t stack, const char *fmt, ...) ARCH_PRINTF(2, 3);

#pragma GCC visibility pop

#endif
