/* dma_after_free.c - a network driver posts receive buffers to the DMA engine, and on
 * "link down" frees the buffers without stopping the device or taking the
 * descriptors back. The next doorbell makes the device write into frames the kernel
 * no longer owns. Found by the sim's DMA model (sim/dma.c): the report names the
 * descriptor, the physical address, where the frame was freed and where the doorbell
 * was rung. Hardware would corrupt whatever the frames hold next. */
#include "machine.h"
#include <arch/io.h>
#include <arch/mem.h>
#include <sim/sim.h>
#include <stdio.h>

#define DMA_BASE UINT64_C(0xfee00000)
#define RX_BUFS  4

static struct sim_dma dma; /* the device model */
static struct pg_region regs, ring, bufs;
static volatile void *reg;
static struct sim_dma_desc *desc;
static uint32_t tail;

static void dma_w(uint32_t off, uint32_t v)
{
    arch_mmio_write32((volatile uint8_t *)reg + off, v);
}

__attribute__((noinline)) static void rx_open(struct pg_space *as)
{
    struct pg_translation t;
    if (pg_region_map_frames(&regs, as, DMA_BASE, ARCH_PAGE_4K, ARCH_PAGE_4K, PG_MMIO,
                             "dma-regs") ||
        pg_region_alloc(&ring, as, ARCH_PAGE_4K, ARCH_PAGE_4K, PG_WRITE, "rx-ring") ||
        pg_region_alloc(&bufs, as, RX_BUFS * ARCH_PAGE_4K, ARCH_PAGE_4K, PG_WRITE, "rx-buffers")) {
        fprintf(stderr, "dma_after_free: set-up failed\n");
        return;
    }
    reg = (volatile void *)(uintptr_t)regs.va;
    desc = (struct sim_dma_desc *)(uintptr_t)ring.va;
    pg_translate(as, ring.va, &t);
    dma_w(SIM_DMA_RING_LO, (uint32_t)t.pa);
    dma_w(SIM_DMA_RING_HI, (uint32_t)(t.pa >> 32));
    dma_w(SIM_DMA_RING_SIZE, 16);
    for (int i = 0; i < RX_BUFS; i++) {
        pg_translate(as, bufs.va + (uint64_t)i * ARCH_PAGE_4K, &t);
        desc[i] = (struct sim_dma_desc){t.pa, 1500, 0};
    }
}

/* Ask the device to fill the next `n` posted buffers. */
__attribute__((noinline)) static void rx_kick(uint32_t n)
{
    tail += n;
    dma_w(SIM_DMA_DOORBELL, tail);
}

__attribute__((noinline)) static void rx_link_down(void)
{
    pg_region_release(&bufs); /* the bug: the device still holds descriptors 2 and 3 */
}

int main(void)
{
    struct pg_space *as = bug_boot();
    if (sim_dma_attach(&dma, DMA_BASE))
        return 2;
    rx_open(as);
    rx_kick(2); /* two packets arrive */
    rx_link_down();
    rx_kick(1); /* the next packet: into a freed frame */
    printf("dma: %lu descriptors completed, %lu freed-frame reports\n",
           (unsigned long)dma.completed, (unsigned long)dma.freed_frame_reports);
    return bug_finish("dma_after_free");
}
