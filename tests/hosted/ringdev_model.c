/* ringdev_model.c - see ringdev_model.h. */
#include "ringdev_model.h"
#include <arch/mem.h>
#include <ringdev/ringdev.h>
#include <sim/sim.h>
#include <string.h>

void ringdev_model_consume(struct ringdev_model *m, uint32_t n)
{
    if (!(m->ctrl & RINGDEV_ENABLE) || !m->size)
        return;
    uint32_t avail = m->tail - m->head;
    if (avail > m->size) {
        m->status |= RINGDEV_OVERRUN; /* the driver wrote past what was consumed */
        avail = m->size;
    }
    n = n < avail ? n : avail;
    if (!n)
        return;
    if (!arch_phys_is_ram(m->base, m->size)) {
        m->bad_reads += n;
        m->head += n;
        return;
    }
    /* The first RINGDEV_MODEL_OUT bytes are kept: copied a run up to the ring's end
     * at a time (a byte at a time was most of what the ringdev fuzzer spent). */
    const uint8_t *ring = arch_phys_to_virt(m->base);
    uint64_t room = m->out_len < RINGDEV_MODEL_OUT ? RINGDEV_MODEL_OUT - m->out_len : 0;
    uint32_t keep = n < room ? n : (uint32_t)room;
    for (uint32_t done = 0; done < keep;) { /* no pointer past out[] is formed */
        uint32_t at = (m->head + done) & (m->size - 1);
        uint32_t run = m->size - at < keep - done ? m->size - at : keep - done;
        memcpy(m->out + m->out_len + done, ring + at, run);
        done += run;
    }
    m->head += n;
    m->out_len += n;
}

static uint64_t rd(void *ctx, uint64_t off, unsigned width)
{
    struct ringdev_model *m = ctx;
    if (width != 4)
        return ~UINT64_C(0);
    switch (off) {
    case RINGDEV_BASE_LO:
        return (uint32_t)m->base;
    case RINGDEV_BASE_HI:
        return (uint32_t)(m->base >> 32);
    case RINGDEV_SIZE:
        return m->size;
    case RINGDEV_TAIL:
        return m->tail;
    case RINGDEV_HEAD:
        ringdev_model_consume(m, m->per_poll);
        return m->head;
    case RINGDEV_CTRL:
        return m->ctrl;
    case RINGDEV_STATUS: {
        uint32_t v = m->status;
        m->status = 0;
        return v;
    }
    }
    return ~UINT64_C(0);
}

static void wr(void *ctx, uint64_t off, unsigned width, uint64_t v)
{
    struct ringdev_model *m = ctx;
    uint32_t x = (uint32_t)v;
    if (width != 4)
        return;
    bool idle = !(m->ctrl & RINGDEV_ENABLE);
    switch (off) {
    case RINGDEV_BASE_LO:
        if (idle && !(x & 0xfff))
            m->base = (m->base & ~UINT64_C(0xffffffff)) | x;
        break;
    case RINGDEV_BASE_HI:
        if (idle)
            m->base = (m->base & UINT64_C(0xffffffff)) | (uint64_t)x << 32;
        break;
    case RINGDEV_SIZE:
        if (idle && x >= RINGDEV_MIN_RING && x <= RINGDEV_MAX_RING && !(x & (x - 1)))
            m->size = x;
        break;
    case RINGDEV_TAIL:
        m->tail = x;
        if (x - m->head > m->size)
            m->status |= RINGDEV_OVERRUN;
        break;
    case RINGDEV_CTRL:
        m->ctrl = x & RINGDEV_ENABLE;
        break;
    }
}

int ringdev_model_attach(struct ringdev_model *m, phys_addr_t mmio, uint32_t per_poll)
{
    static const struct sim_mmio_ops ops = {rd, wr};
    m->mmio = mmio, m->base = 0, m->size = 0, m->tail = m->head = 0;
    m->ctrl = m->status = 0, m->per_poll = per_poll, m->out_len = 0, m->bad_reads = 0;
    return sim_mmio_register(mmio, RINGDEV_REGS, &ops, m, "ringdev");
}
