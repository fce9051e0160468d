/* ringdev.c - see ringdev.h. Kernel code: only arch/ and other subsystems' headers. */
#include "ringdev.h"
#include <arch/cpu.h>

const char *ringdev_strerror(enum ringdev_err e)
{
    static const char *const s[] = {"ok",
                                    "bad ring size",
                                    "bad argument",
                                    "record too big",
                                    "no device answers",
                                    "device timeout",
                                    "paging failed"};
    return (unsigned)e < sizeof(s) / sizeof(s[0]) ? s[e] : "unknown error";
}

static uint32_t reg_read(struct ringdev *d, uint32_t off)
{
    return pg_view_read32(&d->view, off);
}

static void reg_write(struct ringdev *d, uint32_t off, uint32_t v)
{
    pg_view_write32(&d->view, off, v);
}

/* Give back what start took, in reverse: the ring's mapping, its frames (only once
 * the device is stopped: no DMA into them after), the registers. Leaves *d zeroed. */
static void release(struct ringdev *d)
{
    if (pg_region_live(&d->ring))
        pg_region_release(&d->ring);
    if (d->ring_pa)
        frame_free(d->ring_pa, d->size);
    if (pg_region_live(&d->regs))
        pg_region_release(&d->regs);
    *d = (struct ringdev){0};
}

enum ringdev_err ringdev_start(struct ringdev *d, struct pg_space *as, phys_addr_t mmio,
                               uint32_t size)
{
    if (!d || !as || (d->live && pg_region_live(&d->ring)))
        return RINGDEV_ERR_BAD_ARG; /* a live device keeps its ring and registers */
    if (size < RINGDEV_MIN_RING || size > RINGDEV_MAX_RING || (size & (size - 1)))
        return RINGDEV_ERR_BAD_SIZE;
    *d = (struct ringdev){.size = size};
    spin_lock_init(&d->lock);
    /* The device reads the ring by physical address: one contiguous run of frames,
     * mapped for the CPU as a region that does not own them. */
    struct pg_ret f = frame_alloc_contig(size / ARCH_PAGE_4K, ARCH_PAGE_4K);
    if (!f.err)
        d->ring_pa = f.value;
    if (f.err ||
        pg_region_map_frames(&d->regs, as, mmio, ARCH_PAGE_4K, ARCH_PAGE_4K, PG_MMIO,
                             "ringdev-regs") ||
        pg_view_get(&d->regs, 0, RINGDEV_REGS, 4, true, &d->view) ||
        pg_region_map_frames(&d->ring, as, d->ring_pa, size, ARCH_PAGE_4K, PG_WRITE,
                             "ringdev-ring")) {
        release(d);
        return RINGDEV_ERR_PAGING;
    }
    d->buf = (uint8_t *)(uintptr_t)d->ring.va;
    reg_write(d, RINGDEV_CTRL, 0);
    reg_write(d, RINGDEV_BASE_LO, (uint32_t)d->ring_pa);
    reg_write(d, RINGDEV_BASE_HI, (uint32_t)(d->ring_pa >> 32));
    reg_write(d, RINGDEV_SIZE, size);
    d->tail = reg_read(d, RINGDEV_HEAD); /* start where the device is */
    reg_write(d, RINGDEV_TAIL, d->tail);
    reg_write(d, RINGDEV_CTRL, RINGDEV_ENABLE);
    if (reg_read(d, RINGDEV_SIZE) != size || !(reg_read(d, RINGDEV_CTRL) & RINGDEV_ENABLE)) {
        release(d);
        return RINGDEV_ERR_NO_DEVICE;
    }
    d->live = true;
    return RINGDEV_OK;
}

/* Copy len bytes in at the tail (the caller checked the room); publish the tail after
 * the bytes: the MMIO write orders after the plain stores, as on x86. Lock held. */
static void put(struct ringdev *d, const uint8_t *src, uint32_t len)
{
    if (!len)
        return; /* src may be NULL then (the fuzzer's first find: NULL + 0 is UB) */
    uint32_t at = d->tail & (d->size - 1), first = d->size - at < len ? d->size - at : len;
    __builtin_memcpy(d->buf + at, src, first);
    __builtin_memcpy(d->buf, src + first, len - first);
    d->tail += len;
    d->written += len;
    reg_write(d, RINGDEV_TAIL, d->tail);
}

enum ringdev_err ringdev_write(struct ringdev *d, const void *buf, uint32_t len, uint32_t *done)
{
    if (!d || !d->live || (!buf && len) || !done)
        return RINGDEV_ERR_BAD_ARG;
    LOCK_GUARD(g, guard_spin(&d->lock));
    uint32_t room = ringdev_space(reg_read(d, RINGDEV_HEAD), d->tail, d->size);
    *done = len < room ? len : room;
    put(d, buf, *done);
    return RINGDEV_OK;
}

enum ringdev_err ringdev_write_record(struct ringdev *d, const void *buf, uint32_t len,
                                      uint64_t spins)
{
    if (!d || !d->live || (!buf && len))
        return RINGDEV_ERR_BAD_ARG;
    if (len > d->size)
        return RINGDEV_ERR_TOO_BIG;
    for (uint64_t i = 0;; i++) {
        {
            LOCK_GUARD(g, guard_spin(&d->lock));
            if (ringdev_space(reg_read(d, RINGDEV_HEAD), d->tail, d->size) >= len) {
                put(d, buf, len);
                return RINGDEV_OK;
            }
            d->waits++;
        }
        if (i == spins)
            return RINGDEV_ERR_TIMEOUT;
        arch_cpu_relax();
    }
}

enum ringdev_err ringdev_flush(struct ringdev *d, uint64_t spins)
{
    if (!d || !d->live)
        return RINGDEV_ERR_BAD_ARG;
    for (uint64_t i = 0;; i++) {
        {
            LOCK_GUARD(g, guard_spin(&d->lock));
            if (reg_read(d, RINGDEV_HEAD) == d->tail)
                return RINGDEV_OK;
        }
        if (i == spins)
            return RINGDEV_ERR_TIMEOUT;
        arch_cpu_relax();
    }
}

enum ringdev_err ringdev_stop(struct ringdev *d, uint64_t spins)
{
    if (!d || !d->live)
        return RINGDEV_ERR_BAD_ARG;
    enum ringdev_err e = ringdev_flush(d, spins);
    reg_write(d, RINGDEV_CTRL, 0);
    release(d);
    return e;
}
