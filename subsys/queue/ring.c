/* ring.c - the bounded MPMC queue: sequence-numbered cells.
 *
 * Cell i starts with seq = i. A producer at position pos may fill the cell when
 * seq == pos (it was emptied, a lap ago); it claims pos by advancing the tail, writes
 * the value and publishes it with seq = pos + 1. A consumer at pos may take the cell
 * when seq == pos + 1; it claims pos by advancing the head, reads the value and only
 * then hands the cell to the next lap's producer with seq = pos + capacity. */
#include "queue.h"
#include <arch/atomic.h>
#include <heap/heap.h>

enum queue_err mpmc_ring_init(struct mpmc_ring *q, uint64_t capacity, struct mpmc_cell *cells)
{
    if (!q)
        return QUEUE_ERR_INVALID;
    if (capacity < 2 || capacity > (UINT64_C(1) << 24) || (capacity & (capacity - 1)))
        return QUEUE_ERR_BAD_CAPACITY;
    bool owns = !cells;
    if (owns && !(cells = kmalloc_aligned(capacity * sizeof(*cells), 64)))
        return QUEUE_ERR_NO_MEMORY;
    for (uint64_t i = 0; i < capacity; i++)
        cells[i] = (struct mpmc_cell){.seq = i};
    q->head = q->tail = 0;
    q->cells = cells;
    q->mask = capacity - 1;
    q->owns_cells = owns;
    return QUEUE_OK;
}

void mpmc_ring_destroy(struct mpmc_ring *q)
{
    if (q->owns_cells)
        kfree(q->cells);
    q->cells = NULL;
    q->owns_cells = false;
}

bool mpmc_ring_push(struct mpmc_ring *q, void *value)
{
    uint64_t pos = arch_atomic_load(&q->tail, ARCH_RELAXED);
    for (;;) {
        struct mpmc_cell *c = &q->cells[pos & q->mask];
        /* acquire: pairs with the release by which last lap's consumer handed the cell
         * on (seq = pos), so its read of the old value is done before we overwrite it */
        int64_t d = (int64_t)(arch_atomic_load(&c->seq, ARCH_ACQUIRE) - pos);
        if (d == 0) {
            /* relaxed: the claim orders nothing; the cell's seq carries the data */
            if (arch_atomic_cmpxchg(&q->tail, &pos, pos + 1, ARCH_RELAXED, ARCH_RELAXED)) {
                c->value = value;
                /* release: the value written above is seen by the consumer whose
                 * acquire load of seq reads pos + 1 */
                arch_atomic_store(&c->seq, pos + 1, ARCH_RELEASE);
                return true;
            }
        } else if (d < 0) {
            return false; /* the cell still holds last lap's item: full */
        } else {
            pos = arch_atomic_load(&q->tail, ARCH_RELAXED);
        }
    }
}

bool mpmc_ring_pop(struct mpmc_ring *q, void **value)
{
    uint64_t pos = arch_atomic_load(&q->head, ARCH_RELAXED);
    for (;;) {
        struct mpmc_cell *c = &q->cells[pos & q->mask];
        /* acquire: pairs with the producer's release of seq = pos + 1, so the value it
         * wrote is seen below */
        int64_t d = (int64_t)(arch_atomic_load(&c->seq, ARCH_ACQUIRE) - (pos + 1));
        if (d == 0) {
            /* relaxed: the claim orders nothing; the cell's seq carries the data */
            if (arch_atomic_cmpxchg(&q->head, &pos, pos + 1, ARCH_RELAXED, ARCH_RELAXED)) {
                *value = c->value;
                /* release: the read above is done before next lap's producer, whose
                 * acquire load of seq reads pos + capacity, overwrites the value */
                arch_atomic_store(&c->seq, pos + q->mask + 1, ARCH_RELEASE);
                return true;
            }
        } else if (d < 0) {
            return false; /* not filled yet: empty */
        } else {
            pos = arch_atomic_load(&q->head, ARCH_RELAXED);
        }
    }
}

uint64_t mpmc_ring_capacity(const struct mpmc_ring *q)
{
    return q->mask + 1;
}

uint64_t mpmc_ring_count(struct mpmc_ring *q)
{
    uint64_t head = arch_atomic_load(&q->head, ARCH_RELAXED);
    uint64_t tail = arch_atomic_load(&q->tail, ARCH_RELAXED);
    return tail - head <= q->mask + 1 ? tail - head : 0;
}

bool mpmc_ring_valid(struct mpmc_ring *q)
{
    uint64_t head = q->head, tail = q->tail, cap = q->mask + 1;
    if (!q->cells || tail - head > cap)
        return false;
    for (uint64_t pos = head; pos < head + cap; pos++) {
        uint64_t want = pos < tail ? pos + 1 : pos; /* filled, or waiting for this lap */
        if (q->cells[pos & q->mask].seq != want)
            return false;
    }
    return true;
}
