/* ringdev.h - the worked example of docs/byo-subsystem.md: a driver for a ring-buffer
 * output device (think of a UART or a log sink with a DMA'd FIFO). The one public
 * header of subsys/ringdev.
 *
 * The device reads bytes from a ring in RAM that the driver fills. Registers, 32-bit,
 * at a physical base:
 *   0x00 BASE_LO, 0x04 BASE_HI  rw  physical address of the ring (4 KiB aligned)
 *   0x08 SIZE                   rw  ring bytes: a power of two, 4 KiB .. 1 MiB
 *   0x0c TAIL                   rw  the driver's producer index (free-running, mod 2^32)
 *   0x10 HEAD                   ro  the device's consumer index (free-running)
 *   0x14 CTRL                   rw  bit 0 enable; writing SIZE or BASE needs it clear
 *   0x18 STATUS                 rc  bit 0: TAIL was written more than SIZE ahead of HEAD
 * The driver owns [HEAD, TAIL) only in the sense that it must not overwrite bytes the
 * device has not consumed yet: free space is SIZE - (TAIL - HEAD).
 *
 * Writes and flushes on one device are serialised by its spinlock (taken without
 * disabling interrupts: not from an interrupt handler); any CPU may make them. Start
 * and stop are not: no other call on the device may run during either. */
#ifndef SUBSYS_RINGDEV_H
#define SUBSYS_RINGDEV_H

#include <arch/types.h>
#include <paging/paging.h>
#include <sync/sync.h>

#define RINGDEV_BASE_LO  0x00
#define RINGDEV_BASE_HI  0x04
#define RINGDEV_SIZE     0x08
#define RINGDEV_TAIL     0x0c
#define RINGDEV_HEAD     0x10
#define RINGDEV_CTRL     0x14
#define RINGDEV_STATUS   0x18
#define RINGDEV_REGS     0x20
#define RINGDEV_ENABLE   (1u << 0)
#define RINGDEV_OVERRUN  (1u << 0)
#define RINGDEV_MIN_RING ARCH_PAGE_4K
#define RINGDEV_MAX_RING (UINT32_C(1) << 20)

enum ringdev_err {
    RINGDEV_OK = 0,
    RINGDEV_ERR_BAD_SIZE,  /* ring size not a power of two in [4 KiB, 1 MiB] */
    RINGDEV_ERR_BAD_ARG,   /* NULL buffer with a length, or a device not started */
    RINGDEV_ERR_TOO_BIG,   /* a record longer than the ring can ever hold */
    RINGDEV_ERR_NO_DEVICE, /* the registers did not answer as the device does */
    RINGDEV_ERR_TIMEOUT,   /* the device stopped consuming */
    RINGDEV_ERR_PAGING,    /* mapping the registers or the ring failed */
};

struct ringdev {
    spinlock_t lock;
    struct pg_region regs, ring;
    struct pg_view view; /* of the registers */
    uint8_t *buf;        /* the ring, mapped in the kernel window */
    phys_addr_t ring_pa; /* its frames, contiguous, owned by the driver */
    uint32_t size, tail;
    uint64_t written, waits;
    bool live;
};

/* Map the device's registers at `mmio` (4 KiB aligned, outside RAM) and a new ring of
 * `size` bytes, program and enable it. *d is overwritten (zeroed or never started
 * before). RINGDEV_ERR_BAD_ARG (NULL d or as, or *d a live device, which keeps
 * running) and RINGDEV_ERR_BAD_SIZE leave *d untouched;
 * RINGDEV_ERR_PAGING (no frames, or mapping refused) and RINGDEV_ERR_NO_DEVICE release
 * everything it took and leave *d zeroed, not live. */
enum ringdev_err ringdev_start(struct ringdev *d, struct pg_space *as, phys_addr_t mmio,
                               uint32_t size);
/* Disable the device and release the ring and the registers (after it has consumed
 * everything, or after `spins` polls: RINGDEV_ERR_TIMEOUT, released anyway); *d is
 * zeroed. RINGDEV_ERR_BAD_ARG, nothing done, if d is NULL or not live. */
enum ringdev_err ringdev_stop(struct ringdev *d, uint64_t spins);

/* Append up to len bytes; *done says how many went in (all, or as many as fit: 0 when
 * full). Never waits. RINGDEV_ERR_BAD_ARG, nothing written and *done untouched, for a
 * device not live, NULL done, or NULL buf with len > 0. */
enum ringdev_err ringdev_write(struct ringdev *d, const void *buf, uint32_t len, uint32_t *done);
/* Append a record as a whole or not at all: waits (polling HEAD, up to `spins` times)
 * for room. Records from different CPUs never interleave. RINGDEV_ERR_BAD_ARG as
 * ringdev_write; RINGDEV_ERR_TOO_BIG if len > the ring's size; RINGDEV_ERR_TIMEOUT if
 * no room came: nothing written either way. */
enum ringdev_err ringdev_write_record(struct ringdev *d, const void *buf, uint32_t len,
                                      uint64_t spins);
/* Wait until the device has consumed everything written (up to `spins` polls):
 * RINGDEV_OK, RINGDEV_ERR_TIMEOUT, or RINGDEV_ERR_BAD_ARG for a device not live. */
enum ringdev_err ringdev_flush(struct ringdev *d, uint64_t spins);

/* Ring arithmetic, free of the device (tested in both builds). */
static inline uint32_t ringdev_used(uint32_t head, uint32_t tail)
{
    return tail - head; /* free-running indexes: wraps correctly mod 2^32 */
}
static inline uint32_t ringdev_space(uint32_t head, uint32_t tail, uint32_t size)
{
    uint32_t used = ringdev_used(head, tail);
    return used > size ? 0 : size - used;
}

/* What an error means, for reports ("unknown error" for a value that is none). */
const char *ringdev_strerror(enum ringdev_err e);

#endif
