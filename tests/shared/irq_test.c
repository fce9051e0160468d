/* irq_test.c - interrupts through the seam, the same source in the sim and the bare
 * kernel: handlers, masks, priorities and nesting, the local timer, and a lock shared
 * with a handler. Every case starts and ends with interrupts disabled and its vectors
 * free (the deferred cleanup). */
#include "../ktest/ktest.h"
#include <arch/atomic.h>
#include <arch/cpu.h>
#include <arch/irq.h>
#include <sync/sync.h>

#define V_LOW  0x41u /* priority class 4 */
#define V_HIGH 0x81u /* class 8 */

struct rec {
    unsigned count;
    unsigned order[8]; /* vector, or vector | 0x100 when its handler ends */
    unsigned n;
    bool in_irq, irqs_on; /* as the handler saw them */
};

static struct rec R;
static bool registered[256]; /* by this case, for the cleanup */

static int reg(unsigned v, arch_irq_handler_t fn)
{
    int rc = arch_irq_register(v, fn, NULL);
    if (rc == 0)
        registered[v] = true;
    return rc;
}

static void unreg(unsigned v)
{
    if (registered[v] && arch_irq_unregister(v) == 0)
        registered[v] = false;
}

static void note(unsigned what)
{
    if (R.n < 8)
        R.order[R.n++] = what;
}

static void cleanup(void *arg)
{
    (void)arg;
    arch_irq_disable();
    arch_timer_stop();
    unreg(V_LOW);
    unreg(V_HIGH);
    R = (struct rec){0};
}

static void begin(struct ktest *t)
{
    arch_irq_disable();
    R = (struct rec){0};
    ktest_defer(t, cleanup, NULL);
}

static void counting(unsigned v, void *ctx)
{
    (void)ctx;
    R.in_irq = arch_in_irq();
    R.irqs_on = arch_irqs_enabled();
    arch_atomic_fetch_add(&R.count, 1, ARCH_RELAXED);
    note(v);
    arch_irq_eoi();
}

/* Enable interrupts for a moment: what is pending arrives. */
static void window(void)
{
    arch_irq_enable();
    arch_cpu_relax();
    arch_irq_disable();
}

static void irq_test_register_refuses_bad_requests(struct ktest *t)
{
    begin(t);
    KEXPECT_EQ(t, arch_irq_register(31, counting, NULL), -1);
    KEXPECT_EQ(t, arch_irq_register(255, counting, NULL), -1);
    KEXPECT_EQ(t, reg(V_LOW, NULL), -1);
    KEXPECT_EQ(t, arch_irq_unregister(V_LOW), -1); /* none yet */
    KASSERT_EQ(t, reg(V_LOW, counting), 0);
    KEXPECT_EQ(t, arch_irq_register(V_LOW, counting, &R), -1); /* taken */
    KEXPECT_EQ(t, arch_ipi_send(arch_cpu_count(), V_LOW), -1);
    KEXPECT_EQ(t, arch_ipi_send(0, 7), -1);
    KEXPECT_EQ(t, arch_timer_start(V_LOW, 0, false), -1);
    KEXPECT_EQ(t, arch_timer_start(12, 100, false), -1);
    KEXPECT_EQ(t, R.count, 0u); /* nothing refused was sent */
    KASSERT_EQ(t, arch_ipi_send(arch_cpu_id(), V_LOW), 0);
    window();
    KEXPECT_EQ(t, R.count, 1u); /* the first registration still stands */
    KEXPECT_EQ(t, arch_irq_unregister(V_LOW), 0);
    registered[V_LOW] = false;
    KEXPECT_EQ(t, arch_irq_unregister(V_LOW), -1);
}

static void irq_test_self_ipi_waits_for_interrupts_on(struct ktest *t)
{
    begin(t);
    KASSERT_EQ(t, reg(V_LOW, counting), 0);
    KASSERT_EQ(t, arch_ipi_send(arch_cpu_id(), V_LOW), 0);
    for (int i = 0; i < 100; i++)
        arch_cpu_relax();
    KEXPECT_EQ(t, R.count, 0u); /* disabled: it waits */
    KEXPECT_FALSE(t, arch_in_irq());
    window();
    KEXPECT_EQ(t, R.count, 1u);
    KEXPECT_TRUE(t, R.in_irq);
    KEXPECT_FALSE(t, R.irqs_on); /* a handler starts with interrupts disabled */
    KEXPECT_FALSE(t, arch_in_irq());
    KEXPECT_FALSE(t, arch_irqs_enabled());
    /* Two sends before it can arrive are one interrupt. */
    arch_ipi_send(arch_cpu_id(), V_LOW);
    arch_ipi_send(arch_cpu_id(), V_LOW);
    window();
    KEXPECT_EQ(t, R.count, 2u);
}

static void irq_test_masked_line_stays_pending(struct ktest *t)
{
    begin(t);
    KASSERT_EQ(t, reg(V_LOW, counting), 0);
    arch_irq_mask(V_LOW);
    arch_ipi_send(arch_cpu_id(), V_LOW);
    window();
    KEXPECT_EQ(t, R.count, 0u); /* masked: not lost, not delivered */
    arch_irq_enable();
    arch_irq_unmask(V_LOW);
    arch_cpu_relax();
    arch_irq_disable();
    KEXPECT_EQ(t, R.count, 1u);
}

static void irq_test_higher_class_arrives_first(struct ktest *t)
{
    begin(t);
    KASSERT_EQ(t, reg(V_LOW, counting), 0);
    KASSERT_EQ(t, reg(V_HIGH, counting), 0);
    arch_ipi_send(arch_cpu_id(), V_LOW);
    arch_ipi_send(arch_cpu_id(), V_HIGH);
    window();
    KASSERT_EQ(t, R.n, 2u);
    KEXPECT_EQ(t, R.order[0], V_HIGH);
    KEXPECT_EQ(t, R.order[1], V_LOW);
}

/* The low handler lets a higher class in: it nests. */
static void low_lets_high_in(unsigned v, void *ctx)
{
    (void)ctx;
    note(v);
    arch_ipi_send(arch_cpu_id(), V_HIGH);
    window();
    note(v | 0x100);
    arch_irq_eoi();
}

/* The high handler raises a lower class and enables interrupts before its EOI: the
 * lower one must wait for the EOI (and arrives after it returns). */
static void high_blocks_low(unsigned v, void *ctx)
{
    (void)ctx;
    note(v);
    arch_ipi_send(arch_cpu_id(), V_LOW);
    arch_irq_enable();
    for (int i = 0; i < 100; i++)
        arch_cpu_relax();
    arch_irq_disable();
    note(v | 0x100);
    arch_irq_eoi();
}

static void irq_test_handlers_nest_by_priority(struct ktest *t)
{
    begin(t);
    KASSERT_EQ(t, reg(V_LOW, low_lets_high_in), 0);
    KASSERT_EQ(t, reg(V_HIGH, counting), 0);
    arch_ipi_send(arch_cpu_id(), V_LOW);
    window();
    KASSERT_EQ(t, R.n, 3u);
    KEXPECT_EQ(t, R.order[0], V_LOW);
    KEXPECT_EQ(t, R.order[1], V_HIGH); /* inside the low handler */
    KEXPECT_EQ(t, R.order[2], V_LOW | 0x100);
    unreg(V_LOW);
    unreg(V_HIGH);

    R = (struct rec){0};
    KASSERT_EQ(t, reg(V_HIGH, high_blocks_low), 0);
    KASSERT_EQ(t, reg(V_LOW, counting), 0);
    arch_ipi_send(arch_cpu_id(), V_HIGH);
    window();
    KASSERT_EQ(t, R.n, 3u);
    KEXPECT_EQ(t, R.order[0], V_HIGH);
    KEXPECT_EQ(t, R.order[1], V_HIGH | 0x100); /* the low class waited for the EOI */
    KEXPECT_EQ(t, R.order[2], V_LOW);
}

#define TIMER_TICKS 20000u

static void irq_test_periodic_timer_wakes_a_halted_cpu(struct ktest *t)
{
    begin(t);
    KASSERT_EQ(t, reg(V_HIGH, counting), 0);
    KASSERT_EQ(t, arch_timer_start(V_HIGH, TIMER_TICKS, true), 0);
    arch_irq_enable();
    for (int i = 0; i < 20 && arch_atomic_load(&R.count, ARCH_RELAXED) < 3; i++)
        arch_halt();
    arch_irq_disable();
    KEXPECT_GE(t, R.count, 3u);
    arch_timer_stop();
    unsigned seen = R.count;
    window();
    for (int i = 0; i < 1000; i++)
        arch_cpu_relax();
    window();
    KEXPECT_EQ(t, R.count, seen); /* stopped: nothing more */
}

static void irq_test_one_shot_timer_fires_once(struct ktest *t)
{
    begin(t);
    KASSERT_EQ(t, reg(V_HIGH, counting), 0);
    KASSERT_EQ(t, arch_timer_start(V_HIGH, 50, false), 0);
    arch_irq_enable();
    for (int i = 0; i < 1000000 && !arch_atomic_load(&R.count, ARCH_RELAXED); i++)
        arch_cpu_relax();
    for (int i = 0; i < 10000; i++)
        arch_cpu_relax();
    arch_irq_disable();
    KEXPECT_EQ(t, R.count, 1u);
}

/* The idle loop's halt: an interrupt raised while interrupts were off (after the loop
 * found no work) wakes arch_safe_halt instead of arriving before it. On hardware the
 * two-call version can hang here; the sim's scheduler finds it (bugs.irq_wait). */
static void irq_test_safe_halt_wakes_on_an_interrupt_raised_before_it(struct ktest *t)
{
    begin(t);
    KASSERT_EQ(t, reg(V_LOW, counting), 0);
    KASSERT_EQ(t, arch_ipi_send(arch_cpu_id(), V_LOW), 0);
    KEXPECT_EQ(t, R.count, 0u); /* pending: interrupts are off */
    for (int i = 0; i < 20 && !arch_atomic_load(&R.count, ARCH_RELAXED); i++)
        arch_safe_halt(); /* the sim's halt may return spuriously; hardware's does not */
    KEXPECT_TRUE(t, arch_irqs_enabled());
    arch_irq_disable();
    KEXPECT_EQ(t, R.count, 1u);
}

static DEFINE_SPINLOCK(shared_lock);
static unsigned under_lock;

static void takes_shared_lock(unsigned v, void *ctx)
{
    (void)ctx;
    spin_lock(&shared_lock);
    under_lock++;
    spin_unlock(&shared_lock);
    note(v);
    arch_irq_eoi();
}

/* The rule for a lock a handler takes: elsewhere, hold it with interrupts disabled.
 * The interrupt raised inside the critical section arrives after it. */
static void irq_test_irqsave_lock_shared_with_a_handler(struct ktest *t)
{
    begin(t);
    under_lock = 0;
    KASSERT_EQ(t, reg(V_LOW, takes_shared_lock), 0);
    arch_irq_enable();
    for (int i = 0; i < 3; i++) {
        arch_irqflags_t f = spin_lock_irqsave(&shared_lock);
        arch_ipi_send(arch_cpu_id(), V_LOW);
        under_lock += 10;
        KEXPECT_EQ(t, R.n, (unsigned)i); /* not inside the critical section */
        spin_unlock_irqrestore(&shared_lock, f);
        arch_cpu_relax();
    }
    arch_irq_disable();
    KEXPECT_EQ(t, R.n, 3u);
    KEXPECT_EQ(t, under_lock, 33u);
    KEXPECT_FALSE(t, spin_is_locked(&shared_lock));
}

KTEST_SUITE(irq, KTEST_CASE(irq_test_register_refuses_bad_requests),
            KTEST_CASE(irq_test_self_ipi_waits_for_interrupts_on),
            KTEST_CASE(irq_test_masked_line_stays_pending),
            KTEST_CASE(irq_test_higher_class_arrives_first),
            KTEST_CASE(irq_test_handlers_nest_by_priority),
            KTEST_CASE(irq_test_periodic_timer_wakes_a_halted_cpu),
            KTEST_CASE(irq_test_one_shot_timer_fires_once),
            KTEST_CASE(irq_test_safe_halt_wakes_on_an_interrupt_raised_before_it),
            KTEST_CASE(irq_test_irqsave_lock_shared_with_a_handler));
