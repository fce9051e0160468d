/* ringdev_ops.c - the worked example's fuzz target (docs/byo-subsystem.md): decode
 * the input into ringdev driver calls and device consumption, and check the device's
 * output against a model FIFO of what the driver said it accepted: nothing lost,
 * duplicated, reordered or overwritten, whatever the sizes and the device's pace.
 * Each input starts a device (ring of 4..64 KiB) and stops it, so every input also
 * checks that start and stop give every frame back. */
#include "../tests/hosted/ringdev_model.h"
#include <kmachine.h>
#include <arch/cpu.h>
#include <arch/fault.h>
#include <heap/heap.h>
#include <paging/paging.h>
#include <ringdev/ringdev.h>
#include <sim/lockdep.h>
#include <sim/sched.h>
#include <sim/sim.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MMIO     UINT64_C(0xfed50000)
/* How long a call waits for the device: 0..7 polls. A longer wait is the same path,
 * and each poll is a lock round trip with two stack captures for lockdep. */
#define SPINS(b) (((b) >> 3) & 7u)

static struct pg_space *as; /* the kernel's, from kmachine_boot */
static struct ringdev_model model;
static struct ringdev dev;
static uint8_t expect[RINGDEV_MODEL_OUT];
static uint64_t expect_len;
static uint64_t checked; /* bytes of the device's output already compared */

static void die(const char *what, uint64_t a, uint64_t b)
{
    fprintf(stderr, "ringdev_ops: %s (0x%lx, 0x%lx)\n", what, (unsigned long)a, (unsigned long)b);
    abort();
}

static void accepted(const uint8_t *p, uint32_t n)
{
    if (expect_len < RINGDEV_MODEL_OUT) {
        uint64_t room = RINGDEV_MODEL_OUT - expect_len;
        memcpy(expect + expect_len, p, n < room ? n : room);
    }
    expect_len += n;
}

static void check_output(void)
{
    uint64_t n = model.out_len < RINGDEV_MODEL_OUT ? model.out_len : RINGDEV_MODEL_OUT;
    if (model.out_len > expect_len)
        die("the device consumed more than the driver accepted", model.out_len, expect_len);
    /* Both sides only grow, so only the bytes new since the last check are compared
     * (all of them every step made long inputs quadratic). */
    if (n > checked) {
        if (memcmp(model.out + checked, expect + checked, n - checked))
            die("the device's bytes differ from what was written", n, checked);
        checked = n;
    }
    if (model.status & RINGDEV_OVERRUN)
        die("the driver overwrote bytes the device had not read", model.tail, model.head);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    struct kmachine_opts o = {
        .heap = KMACHINE_HEAP_FAST, .ram_size = UINT64_C(64) << 20, .no_history = true};
    struct kmachine km;
    if (kmachine_boot(&o, &km))
        abort();
    as = km.space;
    sim_lockdep_stack_depth(1);    /* reports name the call; thousands of polls an input */
    arch_fault_set_reports(false); /* expected faults, thousands a second */
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
    if (len < 2)
        return 0;
    struct frame_stats before, after;
    frame_get_stats(&before);
    if (ringdev_model_attach(&model, MMIO, data[1] % 64))
        die("cannot attach the model", MMIO, 0);
    uint32_t size = RINGDEV_MIN_RING << (data[0] % 5);
    if (ringdev_start(&dev, as, MMIO, size) != RINGDEV_OK)
        die("start failed", size, 0);
    expect_len = checked = 0;
    for (size_t i = 2; i + 3 <= len && i < 3 * 512; i += 3) {
        const uint8_t *op = data + i;
        uint32_t n = (uint32_t)op[1] | (uint32_t)op[2] << 8, done = 0;
        const uint8_t *src = data + (i + n % 64 < len ? i : 0); /* bytes from the input */
        uint32_t avail = (uint32_t)(len - (size_t)(src - data));
        n = n % (avail + 1);
        switch (op[0] % 5) {
        case 0:
            if (ringdev_write(&dev, src, n, &done) != RINGDEV_OK || done > n)
                die("write", n, done);
            accepted(src, done);
            break;
        case 1: {
            enum ringdev_err e = ringdev_write_record(&dev, src, n, SPINS(op[0]));
            if (e == RINGDEV_OK)
                accepted(src, n);
            else if (e != RINGDEV_ERR_TIMEOUT && !(e == RINGDEV_ERR_TOO_BIG && n > size))
                die("write_record", n, e);
            break;
        }
        case 2:
            ringdev_model_consume(&model, n);
            break;
        case 3: {
            enum ringdev_err e = ringdev_flush(&dev, SPINS(op[0]));
            if (e == RINGDEV_OK && model.out_len != expect_len)
                die("flush returned with bytes unread", model.out_len, expect_len);
            break;
        }
        case 4:
            if (ringdev_write(&dev, NULL, n, &done) != (n ? RINGDEV_ERR_BAD_ARG : RINGDEV_OK))
                die("a NULL buffer was taken", n, 0);
            break;
        }
        check_output();
    }
    ringdev_model_consume(&model, UINT32_MAX);
    check_output();
    if (model.out_len != expect_len)
        die("bytes were lost", model.out_len, expect_len);
    if (ringdev_stop(&dev, 0) != RINGDEV_OK)
        die("stop", 0, 0);
    sim_mmio_unregister(MMIO);
    frame_get_stats(&after);
    if (after.free != before.free)
        die("frames were not given back", before.free, after.free);
    return 0;
}
