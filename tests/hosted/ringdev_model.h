/* ringdev_model.h - the sim's model of the ring-buffer device of subsys/ringdev (the
 * register contract is in ringdev.h). A user's device model lives with their hosted
 * tests like this one: it registers with sim_mmio_register and reads RAM by physical
 * address through the direct map, as a bus master would. */
#ifndef RINGDEV_MODEL_H
#define RINGDEV_MODEL_H

#include <arch/types.h>

#define RINGDEV_MODEL_OUT 65536 /* bytes of consumed output kept for checks */

struct ringdev_model {
    phys_addr_t mmio;
    uint64_t base;
    uint32_t size, tail, head, ctrl, status;
    uint32_t per_poll;              /* bytes consumed each time HEAD is read (the device's pace) */
    uint8_t out[RINGDEV_MODEL_OUT]; /* what the device consumed, in order */
    uint64_t out_len;               /* total consumed (out holds the first part) */
    uint64_t bad_reads;             /* consumption from outside RAM */
};

/* Put the device at physical `mmio`. It consumes up to per_poll bytes whenever the
 * driver reads HEAD, so time only moves when the driver looks (repeatable runs). */
int ringdev_model_attach(struct ringdev_model *m, phys_addr_t mmio, uint32_t per_poll);
/* Consume up to n more bytes now (a test moving time on by hand). */
void ringdev_model_consume(struct ringdev_model *m, uint32_t n);

#endif
