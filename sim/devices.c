/* devices.c - device models reached through MMIO.
 *
 * kernsim timer: 16 bytes of 32-bit registers at a physical address.
 *   0x0 PERIOD    rw  ticks between expiries; writing reloads COUNTER; 0 stops it
 *   0x4 COUNTER   ro  ticks left until the next expiry
 *   0x8 IRQ_CTRL  rw  bit 0 enable; bit 1 pending (set on expiry when enabled,
 *                     write 1 to clear)
 *   0xc STATUS    rc  bit 0: expired since the last read; bits 31:8: expiries since
 *                     the last read. Reading clears it.
 * Time only moves when the test says so (sim_timer_advance), so runs are repeatable. */
#include "sim_internal.h"
#include <arch/console.h>

static uint64_t timer_read(void *ctx, uint64_t off, unsigned width)
{
    struct sim_timer *t = ctx;
    if (width != 4) {
        kprintf("# sim timer: %u-byte read at +0x%lx (registers are 32-bit)\n", width, off);
        return ~UINT64_C(0);
    }
    t->reads++;
    switch (off) {
    case SIM_TIMER_PERIOD:
        return t->period;
    case SIM_TIMER_COUNTER:
        return t->counter;
    case SIM_TIMER_IRQ_CTRL:
        return t->irq_ctrl;
    case SIM_TIMER_STATUS: {
        uint32_t v = t->status;
        t->status = 0; /* read to clear */
        return v;
    }
    }
    return ~UINT64_C(0);
}

static void timer_write(void *ctx, uint64_t off, unsigned width, uint64_t v)
{
    struct sim_timer *t = ctx;
    if (width != 4) {
        kprintf("# sim timer: %u-byte write at +0x%lx ignored (registers are 32-bit)\n", width,
                off);
        return;
    }
    t->writes++;
    switch (off) {
    case SIM_TIMER_PERIOD:
        t->period = (uint32_t)v;
        t->counter = (uint32_t)v;
        break;
    case SIM_TIMER_IRQ_CTRL:
        t->irq_ctrl = (t->irq_ctrl & ~SIM_TIMER_IRQ_ENABLE) | ((uint32_t)v & SIM_TIMER_IRQ_ENABLE);
        if (v & SIM_TIMER_IRQ_PENDING)
            t->irq_ctrl &= ~SIM_TIMER_IRQ_PENDING; /* write 1 to clear */
        break;
    default:
        kprintf("# sim timer: write to read-only register +0x%lx ignored\n", off);
        break;
    }
}

int sim_timer_attach(struct sim_timer *t, phys_addr_t base)
{
    static const struct sim_mmio_ops ops = {timer_read, timer_write};
    *t = (struct sim_timer){.base = base};
    return sim_mmio_register(base, SIM_TIMER_SIZE, &ops, t, "kernsim-timer");
}

void sim_timer_advance(struct sim_timer *t, uint64_t ticks)
{
    while (ticks && t->period) {
        uint64_t step = ticks < t->counter ? ticks : t->counter;
        t->counter -= (uint32_t)step;
        ticks -= step;
        if (t->counter == 0) {
            t->counter = t->period;
            uint32_t n = (t->status >> 8) + 1;
            t->status = (n << 8) | 1;
            t->expiries++;
            if (t->irq_ctrl & SIM_TIMER_IRQ_ENABLE)
                t->irq_ctrl |= SIM_TIMER_IRQ_PENDING;
        }
    }
}
