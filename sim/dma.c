/* dma.c - the kernsim DMA engine, a device model that masters memory.
 *
 * Registers (32-bit, at a physical base outside RAM):
 *   0x00 RING_LO / 0x04 RING_HI  rw  physical address of the descriptor ring
 *   0x08 RING_SIZE               rw  entries (power of two, <= 4096); writing resets HEAD
 *   0x0c DOORBELL                wo  the driver's tail: process HEAD .. tail-1 now
 *   0x10 HEAD                    ro  next descriptor the device takes
 *   0x14 STATUS                  rc  DONE | ERROR since the last read
 *   0x18 CHECKSUM                ro  sum of every byte read from memory
 * A descriptor is struct sim_dma_desc in RAM. The device reads descriptors and buffers
 * by physical address, as a bus master does: no MMU, no TLB. Before it touches a
 * buffer it asks the frame history whether each frame is free; a buffer in a free
 * frame is a report (the transfer still happens, as on hardware: the point is to
 * see the bug, not to hide it). Everything is synchronous with the doorbell write, so
 * runs are repeatable. */
#include "sim_internal.h"
#include <arch/console.h>
#include <arch/debug.h>
#include <arch/mem.h>

#define DMA_MAX_LEN  (64u << 10)
#define DMA_MAX_RING 4096u

static bool ram(uint64_t pa, uint64_t len)
{
    return len && pa + len > pa && arch_phys_is_ram(pa, len);
}

/* Report every freed frame the buffer [pa, pa+len) touches. */
__attribute__((noinline)) static void check_frames(struct sim_dma *d, uint32_t idx,
                                                   const struct sim_dma_desc *desc)
{
    bool to_dev = desc->flags & SIM_DMA_TO_DEVICE;
    for (uint64_t f = ARCH_ALIGN_DOWN(desc->addr, ARCH_PAGE_4K); f < desc->addr + desc->len;
         f += ARCH_PAGE_4K) {
        uint32_t freed;
        if (!sim_frame_freed(f, &freed))
            continue;
        d->freed_frame_reports++;
        if (!sim_count_report())
            continue;
        kprintf("# DMA %s a freed frame: device 'kernsim-dma' at 0x%lx, descriptor %u "
                "(ring 0x%lx) %s %u bytes %s physical 0x%lx; frame 0x%lx is free\n",
                to_dev ? "from" : "into", d->base, idx, d->ring, to_dev ? "read" : "wrote",
                desc->len, to_dev ? "from" : "to", desc->addr, f);
        kprintf("#   the frame was freed at:\n");
        arch_stack_print(freed, "     ");
        kprintf("#   the doorbell was rung at:\n");
        arch_stack_print(arch_stack_capture(4), "     "); /* check, run, write, mmio */
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

__attribute__((noinline)) static void run(struct sim_dma *d, uint32_t tail)
{
    if (!d->size || !ram(d->ring, (uint64_t)d->size * sizeof(struct sim_dma_desc))) {
        d->status |= SIM_DMA_ST_ERROR;
        return;
    }
    tail &= d->size - 1;
    for (unsigned n = 0; d->head != tail && n < d->size; n++) {
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
            d->status |= SIM_DMA_ST_DONE;
        }
        d->head = (d->head + 1) & (d->size - 1);
    }
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
        break;
    case SIM_DMA_DOORBELL:
        run(d, (uint32_t)v);
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
    return sim_mmio_register(base, SIM_DMA_SIZE, &ops, d, "kernsim-dma");
}
