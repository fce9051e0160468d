/* irq.c - interrupts on real x86_64 (arch/irq.h): the local APIC (xAPIC, MMIO at the
 * address IA32_APIC_BASE gives, which the kernel maps uncached before x86_irq_init)
 * and a handler table the IDT's vectors 32..255 reach through x86_irq_dispatch.
 *
 * The APIC has no per-vector mask for IPIs and timer vectors, so masking is the
 * kernel's: an interrupt on a masked vector is acknowledged at once and remembered,
 * and unmasking sends it again to this CPU. One CPU for now (arch_cpu_count). */
#include "x86.h"
#include <arch/atomic.h>
#include <arch/console.h>
#include <arch/cpu.h>
#include <arch/io.h>
#include <arch/irq.h>
#include <arch/panic.h>

#define APIC_ID       0x020
#define APIC_EOI      0x0b0
#define APIC_SVR      0x0f0
#define APIC_ICR_LO   0x300
#define APIC_ICR_HI   0x310
#define APIC_LVT_TMR  0x320
#define APIC_TMR_INIT 0x380
#define APIC_TMR_DIV  0x3e0

#define SVR_ENABLE       (1u << 8)
#define SPURIOUS_VECTOR  0xffu
#define ICR_PENDING      (1u << 12)
#define ICR_ASSERT       (1u << 14)
#define ICR_SELF         (1u << 18)
#define ICR_ALL_BUT_SELF (3u << 18)
#define LVT_MASKED       (1u << 16)
#define LVT_PERIODIC     (1u << 17)
#define TMR_DIVIDE_BY_16 0x3u

static volatile uint32_t *apic;

struct vec {
    arch_irq_handler_t fn;
    void *ctx;
    bool masked, held; /* held: arrived while masked, to be sent again */
};
static struct vec vec[256];
static unsigned depth;

static uint32_t apic_read(unsigned reg)
{
    return arch_mmio_read32(&apic[reg / 4]);
}

static void apic_write(unsigned reg, uint32_t v)
{
    arch_mmio_write32(&apic[reg / 4], v);
}

static uint64_t rdmsr(uint32_t msr)
{
    uint32_t lo, hi;
    __asm__ volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr));
    return (uint64_t)hi << 32 | lo;
}

phys_addr_t x86_apic_base(void)
{
    return rdmsr(0x1b) & ~UINT64_C(0xfff);
}

/* The legacy 8259s moved off the exception vectors (to 0x20..0x2f) and masked: every
 * interrupt comes through the local APIC. */
static void pic_off(void)
{
    static const uint8_t init[][2] = {{0x20, 0x11}, {0xa0, 0x11}, {0x21, 0x20}, {0xa1, 0x28},
                                      {0x21, 0x04}, {0xa1, 0x02}, {0x21, 0x01}, {0xa1, 0x01},
                                      {0x21, 0xff}, {0xa1, 0xff}};
    for (unsigned i = 0; i < sizeof(init) / sizeof(init[0]); i++)
        arch_outb(init[i][0], init[i][1]);
}

void x86_irq_init(void *apic_va)
{
    pic_off();
    apic = apic_va;
    apic_write(APIC_LVT_TMR, LVT_MASKED);
    apic_write(APIC_SVR, SVR_ENABLE | SPURIOUS_VECTOR);
    apic_write(APIC_EOI, 0);
}

static bool vector_ok(unsigned v, const char *who)
{
    if (v >= ARCH_IRQ_FIRST && v <= ARCH_IRQ_LAST)
        return true;
    kprintf("# %s: vector %u is outside %u..%u\n", who, v, ARCH_IRQ_FIRST, ARCH_IRQ_LAST);
    return false;
}

static bool apic_up(const char *who)
{
    if (apic)
        return true;
    kprintf("# %s: the local APIC is not set up\n", who);
    return false;
}

static void send(uint32_t shorthand, unsigned vector)
{
    arch_irqflags_t f = arch_irq_save();
    while (apic_read(APIC_ICR_LO) & ICR_PENDING)
        arch_cpu_relax();
    apic_write(APIC_ICR_HI, 0);
    apic_write(APIC_ICR_LO, shorthand | ICR_ASSERT | vector);
    arch_irq_restore(f);
}

int arch_irq_register(unsigned vector, arch_irq_handler_t fn, void *ctx)
{
    if (!vector_ok(vector, "arch_irq_register"))
        return -1;
    if (!fn) {
        kprintf("# arch_irq_register: vector %u: no handler given\n", vector);
        return -1;
    }
    arch_irqflags_t f = arch_irq_save();
    bool taken = vec[vector].fn != NULL;
    if (!taken)
        vec[vector] = (struct vec){fn, ctx, false, false};
    arch_irq_restore(f);
    if (taken)
        kprintf("# arch_irq_register: vector %u has a handler already\n", vector);
    return taken ? -1 : 0;
}

int arch_irq_unregister(unsigned vector)
{
    if (!vector_ok(vector, "arch_irq_unregister"))
        return -1;
    arch_irqflags_t f = arch_irq_save();
    bool had = vec[vector].fn != NULL;
    vec[vector] = (struct vec){0};
    arch_irq_restore(f);
    if (!had)
        kprintf("# arch_irq_unregister: vector %u has no handler\n", vector);
    return had ? 0 : -1;
}

void arch_irq_mask(unsigned vector)
{
    if (vector_ok(vector, "arch_irq_mask"))
        __atomic_store_n(&vec[vector].masked, true, __ATOMIC_SEQ_CST);
}

void arch_irq_unmask(unsigned vector)
{
    if (!vector_ok(vector, "arch_irq_unmask"))
        return;
    arch_irqflags_t f = arch_irq_save();
    vec[vector].masked = false;
    bool again = vec[vector].held;
    vec[vector].held = false;
    arch_irq_restore(f);
    if (again && apic)
        send(ICR_SELF, vector);
}

void arch_irq_eoi(void)
{
    if (apic)
        apic_write(APIC_EOI, 0);
}

int arch_ipi_send(unsigned cpu, unsigned vector)
{
    if (!vector_ok(vector, "arch_ipi_send") || !apic_up("arch_ipi_send"))
        return -1;
    if (cpu >= arch_cpu_count()) {
        kprintf("# arch_ipi_send: there is no cpu %u (the machine has %u)\n", cpu,
                arch_cpu_count());
        return -1;
    }
    send(ICR_SELF, vector); /* one CPU: cpu 0 is this one */
    return 0;
}

int arch_ipi_send_others(unsigned vector)
{
    if (!vector_ok(vector, "arch_ipi_send_others") || !apic_up("arch_ipi_send_others"))
        return -1;
    if (arch_cpu_count() > 1)
        send(ICR_ALL_BUT_SELF, vector);
    return 0;
}

bool arch_in_irq(void)
{
    return depth != 0;
}

int arch_timer_start(unsigned vector, uint64_t ticks, bool periodic)
{
    if (!vector_ok(vector, "arch_timer_start") || !apic_up("arch_timer_start"))
        return -1;
    if (!ticks || ticks > UINT32_MAX) {
        kprintf("# arch_timer_start: %lu ticks (1..%u)\n", ticks, UINT32_MAX);
        return -1;
    }
    apic_write(APIC_LVT_TMR, LVT_MASKED);
    apic_write(APIC_TMR_DIV, TMR_DIVIDE_BY_16);
    apic_write(APIC_LVT_TMR, vector | (periodic ? LVT_PERIODIC : 0));
    apic_write(APIC_TMR_INIT, (uint32_t)ticks);
    return 0;
}

void arch_timer_stop(void)
{
    if (!apic)
        return;
    apic_write(APIC_TMR_INIT, 0);
    apic_write(APIC_LVT_TMR, LVT_MASKED);
}

/* From bare_trap, for vectors 32..255, interrupts disabled (an interrupt gate). */
void x86_irq_dispatch(unsigned vector)
{
    if (vector == SPURIOUS_VECTOR)
        return; /* the APIC wants no EOI for it */
    struct vec *v = &vec[vector];
    if (v->masked || !v->fn) {
        if (v->masked)
            v->held = true;
        else
            kprintf("# irq: vector %u arrived with no handler: ignored\n", vector);
        arch_irq_eoi();
        return;
    }
    depth++;
    v->fn(vector, v->ctx);
    depth--;
}
