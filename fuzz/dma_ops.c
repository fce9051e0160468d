/* dma_ops.c - libFuzzer target: the sim's DMA engine (sim/dma.c) against a model, driven
 * as a driver drives it: registers through a typed view of its MMIO region, a ring of
 * descriptors and four 16 KiB buffers in frames of its own.
 *
 * The first byte sizes the ring (2..256 entries); then 3-byte operations write a
 * descriptor (into a buffer, to or from the device, a part of it or past its end, or
 * at an address that is not RAM), ring the doorbell, read STATUS, HEAD and CHECKSUM,
 * inject refusals (after n more descriptors the device refuses each one), free a
 * buffer and take a new one (a descriptor into the freed frames must be reported, and
 * the transfer still happens, as on hardware), or resize the ring. The model predicts
 * every register, every descriptor's DONE/ERR flags, every byte of every buffer and
 * every report; a refused descriptor must leave memory and the checksum as they were.
 * At the end the device is stopped and every frame must be back. */
#include <kmachine.h>
#include <arch/cpu.h>
#include <arch/fault.h>
#include <arch/mem.h>
#include <paging/paging.h>
#include <sim/sim.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DMA_BASE UINT64_C(0xfee00000)
#define RAM_SIZE (UINT64_C(16) << 20)
#define NBUF     4
#define BUF_SIZE (4 * ARCH_PAGE_4K)
#define RING_MAX 256u
#define MAX_LEN  (64u << 10) /* the device refuses longer descriptors */

static struct pg_space *as; /* the kernel's, from kmachine_boot */
static struct sim_dma dma;
static struct pg_region regs;
static struct pg_view view;
static struct frame_stats base_frames;

/* What RAM must hold, wherever the test's buffers are or were (frames the device may
 * still read or write after they were freed keep their bytes until they are taken
 * again), and which of those frames the allocator has back. */
static uint8_t mirror[RAM_SIZE];
static bool frame_freed[RAM_SIZE / ARCH_PAGE_4K];

static struct {
    phys_addr_t ring;        /* one frame: RING_MAX descriptors */
    phys_addr_t buf[NBUF];   /* 0: freed, not replaced */
    phys_addr_t freed[NBUF]; /* the last frames each buffer gave back, 0 for none */
    struct sim_dma_desc desc[RING_MAX];
    uint32_t size, head, tail, status, checksum;
    uint8_t next_byte;
    uint64_t completed, reports, fail_after;
} m;

static void die(const char *what, uint64_t got, uint64_t want)
{
    fprintf(stderr, "dma_ops: %s: got 0x%llx, model says 0x%llx\n", what, (unsigned long long)got,
            (unsigned long long)want);
    abort();
}

static uint32_t reg_read(uint32_t off)
{
    return pg_view_read32(&view, off);
}

static void reg_write(uint32_t off, uint32_t v)
{
    pg_view_write32(&view, off, v);
}

static struct sim_dma_desc *ring_desc(uint32_t i)
{
    return (struct sim_dma_desc *)arch_phys_to_virt(m.ring) + i;
}

/* Frames of [pa, pa+len) that the frame allocator has back: one report each. */
static uint64_t freed_frames(uint64_t pa, uint32_t len)
{
    uint64_t n = 0;
    for (uint64_t f = ARCH_ALIGN_DOWN(pa, ARCH_PAGE_4K); f < pa + len; f += ARCH_PAGE_4K)
        n += frame_freed[f / ARCH_PAGE_4K];
    return n;
}

/* The model's bytes of one transfer, untraced as the device's are. */
ARCH_BULK static uint32_t model_sum(uint64_t pa, uint32_t len, uint32_t sum)
{
    for (uint32_t i = 0; i < len; i++)
        sum += mirror[pa + i];
    return sum;
}

ARCH_BULK static uint8_t model_fill(uint64_t pa, uint32_t len, uint8_t next)
{
    for (uint32_t i = 0; i < len; i++)
        mirror[pa + i] = next++;
    return next;
}

/* The device's doorbell, in the model: what it does to each descriptor. */
static void model_doorbell(uint32_t tail)
{
    if (!m.size) {
        m.status |= SIM_DMA_ST_ERROR;
        return;
    }
    tail &= m.size - 1;
    for (unsigned n = 0; m.head != tail && n < m.size; n++) {
        struct sim_dma_desc *d = &m.desc[m.head];
        bool ram = d->len && d->addr + d->len > d->addr && arch_phys_is_ram(d->addr, d->len);
        if (d->len > MAX_LEN || !ram || !m.fail_after) {
            d->flags |= SIM_DMA_DESC_ERR | SIM_DMA_DESC_DONE;
            m.status |= SIM_DMA_ST_ERROR;
        } else {
            if (m.fail_after != UINT64_MAX)
                m.fail_after--;
            m.reports += freed_frames(d->addr, d->len);
            if (d->flags & SIM_DMA_TO_DEVICE) {
                m.checksum = model_sum(d->addr, d->len, m.checksum);
            } else {
                m.next_byte = model_fill(d->addr, d->len, m.next_byte);
            }
            d->flags |= SIM_DMA_DESC_DONE;
            m.completed++;
            m.status |= SIM_DMA_ST_DONE;
        }
        m.head = (m.head + 1) & (m.size - 1);
    }
}

static void check_buffers(void)
{
    for (int b = 0; b < NBUF; b++) {
        if (m.buf[b] && memcmp(arch_phys_to_virt(m.buf[b]), &mirror[m.buf[b]], BUF_SIZE))
            die("a buffer's bytes differ from the model", b, m.buf[b]);
    }
}

static void check_ring(void)
{
    for (uint32_t i = 0; i < m.size; i++) {
        if (ring_desc(i)->flags != m.desc[i].flags)
            die("a descriptor's flags differ from the model", ring_desc(i)->flags, m.desc[i].flags);
    }
}

static uint8_t pattern[NBUF][BUF_SIZE]; /* what a new buffer holds */

static void new_buffer(int b)
{
    struct pg_ret f = frame_alloc_contig(BUF_SIZE / ARCH_PAGE_4K, ARCH_PAGE_4K);
    if (f.err)
        die("no frames for a buffer", f.err, 0);
    m.buf[b] = f.value;
    memcpy(&mirror[f.value], pattern[b], BUF_SIZE);
    memcpy(arch_phys_to_virt(f.value), pattern[b], BUF_SIZE);
    for (uint64_t k = 0; k < BUF_SIZE / ARCH_PAGE_4K; k++)
        frame_freed[f.value / ARCH_PAGE_4K + k] = false;
}

static void set_size(uint32_t size)
{
    reg_write(SIM_DMA_RING_SIZE, size);
    bool ok = size <= 4096 && !(size & (size - 1)); /* the ring is 16-byte aligned */
    m.size = ok ? size : 0;
    m.status |= ok ? 0 : SIM_DMA_ST_ERROR;
    m.head = m.tail = 0;
}

static void op_desc(const uint8_t *op)
{
    if (!m.size)
        return;
    struct sim_dma_desc d = {.flags = (op[0] & 0x10) ? SIM_DMA_TO_DEVICE : 0};
    int b = op[1] & 3;
    uint32_t off = (uint32_t)(op[1] >> 2) * 256, len = (uint32_t)op[2] * 64 + 1;
    switch (op[0] >> 5) {
    case 0: /* not RAM */
        d.addr = UINT64_C(1) << 40, d.len = len;
        break;
    case 1: /* longer than the device takes */
        d.addr = m.buf[b] ? m.buf[b] : m.ring, d.len = MAX_LEN + 1 + op[2];
        break;
    case 2: /* empty */
        d.addr = m.buf[b] ? m.buf[b] : m.ring, d.len = 0;
        break;
    default: /* into a buffer, clipped to it */
        if (!m.buf[b] && !m.freed[b])
            return;
        d.addr = (m.buf[b] ? m.buf[b] : m.freed[b]) + off % BUF_SIZE;
        d.len = len < BUF_SIZE - off % BUF_SIZE ? len : BUF_SIZE - off % BUF_SIZE;
        break;
    }
    uint32_t at = m.tail;
    *ring_desc(at) = d;
    m.desc[at] = d;
    m.tail = (m.tail + 1) & (m.size - 1);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    struct kmachine_opts o = {.level = KMACHINE_PAGING, .ram_size = RAM_SIZE, .no_history = true};
    struct kmachine km;
    if (kmachine_boot(&o, &km) || !(as = km.space) || sim_dma_attach(&dma, DMA_BASE) ||
        pg_region_map_frames(&regs, as, DMA_BASE, ARCH_PAGE_4K, ARCH_PAGE_4K, PG_MMIO,
                             "kernsim-dma regs") ||
        pg_view_get(&regs, 0, SIM_DMA_SIZE, 4, true, &view))
        abort();
    sim_set_report_output(false); /* the model counts the freed-frame reports */
    arch_fault_set_reports(false);
    for (int b = 0; b < NBUF; b++) {
        for (uint32_t i = 0; i < BUF_SIZE; i++)
            pattern[b][i] = (uint8_t)(i * 7 + b);
    }
    frame_get_stats(&base_frames);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
    if (len < 1)
        return 0;
    memset(&m, 0, sizeof(m));
    memset(frame_freed, 0, sizeof(frame_freed));
    m.fail_after = UINT64_MAX;
    dma.fail_after = UINT64_MAX;
    struct pg_ret r = frame_alloc(ARCH_PAGE_4K);
    if (r.err)
        die("no frame for the ring", r.err, 0);
    m.ring = r.value;
    memset(arch_phys_to_virt(m.ring), 0, ARCH_PAGE_4K);
    memset(&mirror[m.ring], 0, ARCH_PAGE_4K);
    for (int b = 0; b < NBUF; b++)
        new_buffer(b);
    uint64_t reports0 = dma.freed_frame_reports, completed0 = dma.completed;
    uint32_t sum0 = reg_read(SIM_DMA_CHECKSUM);
    uint8_t byte0 = dma.next_byte;
    m.checksum = sum0, m.next_byte = byte0;
    reg_write(SIM_DMA_RING_LO, (uint32_t)m.ring);
    reg_write(SIM_DMA_RING_HI, (uint32_t)(m.ring >> 32));
    set_size(2u << (data[0] % 8));
    for (size_t i = 1; i + 3 <= len && i < 1 + 3 * 256; i += 3) {
        const uint8_t *op = data + i;
        switch (op[0] & 7) {
        case 0:
        case 1:
        case 2:
            op_desc(op);
            break;
        case 3: { /* the doorbell: at the driver's tail, or anywhere */
            uint32_t tail = (op[1] & 1) ? m.tail : (uint32_t)op[2] | (uint32_t)op[1] << 8;
            reg_write(SIM_DMA_DOORBELL, tail);
            model_doorbell(tail);
            check_ring();
            break;
        }
        case 4: {
            uint32_t st = reg_read(SIM_DMA_STATUS); /* read-clear */
            if (st != m.status)
                die("STATUS", st, m.status);
            m.status = 0;
            if (reg_read(SIM_DMA_HEAD) != m.head)
                die("HEAD", reg_read(SIM_DMA_HEAD), m.head);
            if (reg_read(SIM_DMA_CHECKSUM) != m.checksum)
                die("CHECKSUM", reg_read(SIM_DMA_CHECKSUM), m.checksum);
            check_buffers();
            break;
        }
        case 5: /* refusals from the device after n more descriptors, or none */
            m.fail_after = dma.fail_after = (op[1] & 0x80) ? UINT64_MAX : op[1] % 4;
            break;
        case 6: { /* a buffer is freed (a descriptor may still name it), a new one taken */
            int b = op[1] & 3;
            if (!m.buf[b])
                break;
            if (frame_free(m.buf[b], BUF_SIZE))
                die("a buffer would not free", m.buf[b], 0);
            m.freed[b] = m.buf[b];
            for (uint64_t k = 0; k < BUF_SIZE / ARCH_PAGE_4K; k++)
                frame_freed[m.buf[b] / ARCH_PAGE_4K + k] = true;
            m.buf[b] = 0;
            if (op[2] & 1)
                new_buffer(b);
            break;
        }
        default: /* resize: a power of two resets HEAD; anything else stops the ring */
            set_size((op[1] & 1) ? 2u << (op[2] % 8) : op[2]);
            memset(m.desc, 0, sizeof(m.desc));
            memset(arch_phys_to_virt(m.ring), 0, ARCH_PAGE_4K);
            break;
        }
    }
    reg_write(SIM_DMA_RING_SIZE, 0); /* stop: no descriptor is read from here on */
    check_buffers();
    if (reg_read(SIM_DMA_CHECKSUM) != m.checksum || dma.next_byte != m.next_byte)
        die("the checksum or the device's byte counter", reg_read(SIM_DMA_CHECKSUM), m.checksum);
    if (dma.freed_frame_reports - reports0 != m.reports)
        die("DMA-into-freed-frame reports", dma.freed_frame_reports - reports0, m.reports);
    if (dma.completed - completed0 != m.completed)
        die("completed descriptors", dma.completed - completed0, m.completed);
    (void)reg_read(SIM_DMA_STATUS);
    dma.fail_after = UINT64_MAX;
    for (int b = 0; b < NBUF; b++) {
        if (m.buf[b] && frame_free(m.buf[b], BUF_SIZE))
            die("teardown: a buffer would not free", m.buf[b], 0);
    }
    if (frame_free(m.ring, ARCH_PAGE_4K))
        die("teardown: the ring would not free", m.ring, 0);
    struct frame_stats fs;
    frame_get_stats(&fs);
    if (fs.free != base_frames.free || fs.allocated != base_frames.allocated || !frame_valid())
        die("frames not returned", fs.free, base_frames.free);
    return 0;
}
