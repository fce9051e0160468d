/* dma.c - the kernsim DMA engine, a device model that masters memory.
 *
 * Registers (32-bit, at a physical base outside RAM):
 *   0x00 RING_LO / 0x04 RING_HI  rw  physical address of the descriptor ring
 *   0x08 RING_SIZE               rw  entries (power of two, <= 4096); writing resets HEAD
 *   0x0c DOORBELL                wo  the driver's tail: process HEAD .. tail-1
 *   0x10 HEAD                    ro  next descriptor the device takes
 *   0x14 STATUS                  rc  DONE | ERROR since the last read
 *   0x18 CHECKSUM                ro  sum of every byte read from memory
 *   0x1c IRQ                     rw  vector (7:0, 0 for none) and CPU (15:8) raised
 *                                    when a completion sets STATUS.DONE while it was
 *                                    clear (edge-triggered: reading STATUS re-arms it)
 * A descriptor is struct sim_dma_desc in RAM. The device reads descriptors and buffers
 * by physical address, as a bus master does: no MMU, no TLB. Before it touches a
 * buffer it asks the frame history whether each frame is free, or was freed and
 * allocated again since the doorbell posted it; either is a report (the transfer still
 * happens, as on hardware: the point is to see the bug, not to hide it).
 *
 * When: outside the deterministic scheduler, everything happens in the doorbell write,
 * so runs are repeatable. Under it the device is an agent (agent.c): the doorbell only
 * posts the work, and the scheduler runs one descriptor at a time at points its
 * strategy chooses, so the driver's code runs between them; a report fails the
 * schedule. */
#include "sim_internal.h"
#include "runfail.h"
#include <arch/console.h>
#include <arch/debug.h>
#include <arch/mem.h>
#include <arch/target.h> /* sim_sched_hook: the scheduler is on */

#define DMA_MAX_LEN  (64u << 10)
#define DMA_MAX_RING 4096u

static bool ram(uint64_t pa, uint64_t len)
{
    return len && pa + len > pa && arch_phys_is_ram(pa, len);
}

#define POSTED_FRAMES (sizeof(((struct sim_dma *)0)->posted[0]) / sizeof(uint32_t))

/* One report about descriptor idx's frame f: printed, or (under the scheduler) the
 * schedule's failure. */
static void report(struct sim_dma *d, const char *text)
{
    d->freed_frame_reports++;
    if (sim_run_active()) {
        sim_run_fail(text, 0); /* does not return */
        return;
    }
    if (sim_count_report())
        arch_console_write(text, kstrlen(text)); /* kprintf would cut it at 511 bytes */
}

/* Report every freed frame the buffer [pa, pa+len) touches, and (of its first frames)
 * every one freed and handed out again since the doorbell posted it. */
__attribute__((noinline)) static void check_frames(struct sim_dma *d, uint32_t idx,
                                                   const struct sim_dma_desc *desc)
{
    bool to_dev = desc->flags & SIM_DMA_TO_DEVICE;
    static char text[4096];
    unsigned k = 0;
    for (uint64_t f = ARCH_ALIGN_DOWN(desc->addr, ARCH_PAGE_4K); f < desc->addr + desc->len;
         f += ARCH_PAGE_4K, k++) {
        uint32_t freed, allocated;
        bool is_free = sim_frame_freed(f, &freed);
        bool reused = !is_free && d->busy && k < POSTED_FRAMES &&
                      sim_frame_reused(f, d->posted[idx][k], &freed, &allocated);
        if (!is_free && !reused)
            continue;
        size_t n = 0;
#define PUT(...)                                                                                   \
    do {                                                                                           \
        int w_ = ksnprintf(text + n, sizeof(text) - n, __VA_ARGS__);                               \
        n += w_ < 0 ? 0 : (size_t)w_ < sizeof(text) - n ? (size_t)w_ : sizeof(text) - n - 1;       \
    } while (0)
#define STACK(id) (n += sim_stack_format((id), "     ", text + n, sizeof(text) - n))
        PUT("# DMA %s a %s frame: device 'kernsim-dma' at 0x%lx, descriptor %u (ring 0x%lx) %s "
            "%u bytes %s physical 0x%lx; frame 0x%lx %s\n",
            to_dev ? "from" : "into", is_free ? "freed" : "reused", d->base, idx, d->ring,
            to_dev ? "read" : "wrote", desc->len, to_dev ? "from" : "to", desc->addr, f,
            is_free ? "is free"
                    : "was freed and handed to someone else after the doorbell posted it");
        PUT("#   the frame was freed at:\n");
        STACK(freed);
        if (reused) {
            PUT("#   and allocated again at:\n");
            STACK(allocated);
        }
        PUT("#   the doorbell was rung at:\n");
        STACK(d->busy ? d->doorbell_stack
                      : sim_stack_capture(5)); /* check, take, run, write, mmio */
#undef PUT
#undef STACK
        report(d, text);
    }
}

/* The bytes of one transfer. Untraced: an edge per byte is no new behaviour, and the
 * two loops were nine tenths of what the DMA fuzzer spent. */
ARCH_BULK static uint32_t sum_bytes(const uint8_t *p, uint32_t len, uint32_t sum)
{
    for (uint32_t i = 0; i < len; i++)
        sum += p[i];
    return sum;
}

ARCH_BULK static uint8_t fill_bytes(uint8_t *p, uint32_t len, uint8_t next)
{
    for (uint32_t i = 0; i < len; i++)
        p[i] = next++;
    return next;
}

static bool ring_ok(struct sim_dma *d)
{
    if (d->size && ram(d->ring, (uint64_t)d->size * sizeof(struct sim_dma_desc)))
        return true;
    d->status |= SIM_DMA_ST_ERROR;
    return false;
}

/* Take descriptor HEAD. */
__attribute__((noinline)) static void take_one(struct sim_dma *d)
{
    struct sim_dma_desc *desc =
        arch_phys_to_virt(d->ring + (uint64_t)d->head * sizeof(struct sim_dma_desc));
    if (desc->len > DMA_MAX_LEN || !ram(desc->addr, desc->len) || !d->fail_after) {
        desc->flags |= SIM_DMA_DESC_ERR | SIM_DMA_DESC_DONE;
        d->status |= SIM_DMA_ST_ERROR;
    } else {
        if (d->fail_after != UINT64_MAX)
            d->fail_after--;
        check_frames(d, d->head, desc);
        uint8_t *buf = arch_phys_to_virt(desc->addr);
        if (desc->flags & SIM_DMA_TO_DEVICE) {
            d->checksum = sum_bytes(buf, desc->len, d->checksum);
            d->bytes_in += desc->len;
        } else {
            d->next_byte = fill_bytes(buf, desc->len, d->next_byte);
            d->bytes_out += desc->len;
        }
        desc->flags |= SIM_DMA_DESC_DONE;
        d->completed++;
        /* Edge-triggered: the interrupt comes when DONE goes on, not while it stays on
         * (a driver re-arms it by reading STATUS). */
        if (!(d->status & SIM_DMA_ST_DONE) && (d->irq & 0xff))
            sim_irq_raise((d->irq >> 8) & 0xff, d->irq & 0xff);
        d->status |= SIM_DMA_ST_DONE;
    }
    d->head = (d->head + 1) & (d->size - 1);
}

static void done(struct sim_dma *d)
{
    d->busy = false;
}

/* Everything from HEAD to the tail, now (outside the scheduler). */
__attribute__((noinline)) static void run(struct sim_dma *d, uint32_t tail)
{
    if (!ring_ok(d))
        return;
    tail &= d->size - 1;
    for (unsigned n = 0; d->head != tail && n < d->size; n++)
        take_one(d);
    done(d);
}

/* Under the scheduler: note what the buffers' frames are now, and leave the work to
 * the steps. */
__attribute__((noinline)) static void post(struct sim_dma *d, uint32_t tail)
{
    if (!ring_ok(d))
        return;
    tail &= d->size - 1;
    for (uint32_t i = d->busy ? d->tail : d->head; i != tail; i = (i + 1) & (d->size - 1)) {
        const struct sim_dma_desc *desc =
            arch_phys_to_virt(d->ring + (uint64_t)i * sizeof(struct sim_dma_desc));
        for (unsigned k = 0; k < POSTED_FRAMES; k++) {
            uint64_t f = ARCH_ALIGN_DOWN(desc->addr, ARCH_PAGE_4K) + (uint64_t)k * ARCH_PAGE_4K;
            d->posted[i][k] = f < desc->addr + desc->len ? sim_frame_generation(f) : 0;
        }
    }
    d->tail = tail;
    d->doorbell_stack = sim_stack_capture(3); /* post, write, mmio */
    d->busy = d->head != tail;
}

static bool agent_ready(void *ctx)
{
    const struct sim_dma *d = ctx;
    return d->busy;
}

static void agent_step(void *ctx)
{
    struct sim_dma *d = ctx;
    if (!d->busy || !ring_ok(d)) {
        d->busy = false;
        return;
    }
    take_one(d);
    if (d->head == d->tail)
        done(d);
}

static void agent_forget(void *ctx)
{
    struct sim_dma *d = ctx;
    d->busy = false;
}

static uint64_t dma_read(void *ctx, uint64_t off, unsigned width)
{
    struct sim_dma *d = ctx;
    if (width != 4)
        return ~UINT64_C(0);
    switch (off) {
    case SIM_DMA_RING_LO:
        return (uint32_t)d->ring;
    case SIM_DMA_RING_HI:
        return (uint32_t)(d->ring >> 32);
    case SIM_DMA_RING_SIZE:
        return d->size;
    case SIM_DMA_HEAD:
        return d->head;
    case SIM_DMA_STATUS: {
        uint32_t v = d->status;
        d->status = 0;
        return v;
    }
    case SIM_DMA_CHECKSUM:
        return d->checksum;
    case SIM_DMA_IRQ:
        return d->irq;
    }
    return ~UINT64_C(0);
}

static void dma_write(void *ctx, uint64_t off, unsigned width, uint64_t v)
{
    struct sim_dma *d = ctx;
    if (width != 4) {
        kprintf("# sim dma: %u-byte write at +0x%lx ignored (registers are 32-bit)\n", width, off);
        return;
    }
    switch (off) {
    case SIM_DMA_RING_LO:
        d->ring = (d->ring & ~UINT64_C(0xffffffff)) | (uint32_t)v;
        break;
    case SIM_DMA_RING_HI:
        d->ring = (d->ring & UINT64_C(0xffffffff)) | (uint64_t)(uint32_t)v << 32;
        break;
    case SIM_DMA_RING_SIZE:
        if (v > DMA_MAX_RING || (v & (v - 1)) || (d->ring & 15)) {
            d->status |= SIM_DMA_ST_ERROR;
            d->size = 0;
        } else {
            d->size = (uint32_t)v;
        }
        d->head = 0;
        d->busy = false;
        break;
    case SIM_DMA_DOORBELL:
        if (sim_sched_hook)
            post(d, (uint32_t)v);
        else
            run(d, (uint32_t)v);
        break;
    case SIM_DMA_IRQ:
        d->irq = (uint32_t)v & 0xffff;
        break;
    default:
        kprintf("# sim dma: write to read-only register +0x%lx ignored\n", off);
        break;
    }
}

int sim_dma_attach(struct sim_dma *d, phys_addr_t base)
{
    static const struct sim_mmio_ops ops = {dma_read, dma_write};
    *d = (struct sim_dma){.base = base, .fail_after = UINT64_MAX};
    int rc = sim_mmio_register(base, SIM_DMA_SIZE, &ops, d, "kernsim-dma");
    if (rc == 0) {
        const struct sim_agent a = {"kernsim-dma", agent_ready, agent_step, agent_forget, d};
        if (sim_agent_add(&a) < 0) {
            sim_mmio_unregister(base);
            return -1;
        }
    }
    return rc;
}
