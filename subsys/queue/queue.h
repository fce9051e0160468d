/* queue/queue.h - lock-free multi-producer multi-consumer queues.
 *
 * mpmc_ring: bounded, an array of sequence-numbered cells (D. Vyukov's design). A push
 * claims a cell with one compare-exchange on the tail and publishes it by advancing
 * the cell's sequence; a pop does the same on the head. Full and empty are reported at
 * once (false), never waited for.
 *
 * mpmc_list: unbounded, the Michael-Scott linked queue with nodes from the kernel heap,
 * reclaimed through hazard pointers: a node is freed only once no CPU has it in a
 * hazard slot, so no CPU ever reads a freed node.
 *
 * Both: nothing is lost or duplicated, and each producer's items come out in the order
 * it pushed them. Values are opaque pointers (NULL is allowed). */
#ifndef QUEUE_QUEUE_H
#define QUEUE_QUEUE_H

#include <arch/types.h>

enum queue_err {
    QUEUE_OK,
    QUEUE_ERR_INVALID,      /* no queue given */
    QUEUE_ERR_BAD_CAPACITY, /* not a power of two in 2 .. 2^24 */
    QUEUE_ERR_NO_MEMORY,    /* the kernel heap has none for the cells or the first node */
    QUEUE_ERR_COUNT_
};

/* What an error means, for reports. */
static inline const char *queue_strerror(enum queue_err err)
{
    switch (err) {
    case QUEUE_OK:
        return "ok";
    case QUEUE_ERR_INVALID:
        return "no queue";
    case QUEUE_ERR_BAD_CAPACITY:
        return "capacity not a power of two in 2 .. 2^24";
    case QUEUE_ERR_NO_MEMORY:
        return "out of memory";
    default:
        return "unknown error";
    }
}

struct mpmc_cell {
    uint64_t seq;
    void *value;
};

struct mpmc_ring {
    uint64_t head __attribute__((aligned(64))); /* next cell to pop */
    uint64_t tail __attribute__((aligned(64))); /* next cell to push */
    struct mpmc_cell *cells __attribute__((aligned(64)));
    uint64_t mask;
    bool owns_cells;
};

/* capacity: a power of two, 2 .. 2^24. cells: capacity cells of caller memory that
 * outlives the ring, or NULL to take them from the kernel heap. Before any CPU uses
 * the ring. QUEUE_OK, or why not with the ring unchanged. */
enum queue_err mpmc_ring_init(struct mpmc_ring *q, uint64_t capacity, struct mpmc_cell *cells);
/* Free heap cells (the ring must be quiescent: no CPU inside a push or pop). Caller
 * cells stay the caller's. The ring may not be used again before mpmc_ring_init. */
void mpmc_ring_destroy(struct mpmc_ring *q);
/* Any CPU, any context, concurrently with every other push and pop; never waits (a
 * lost race retries at once). On an initialised ring; pop needs a value pointer.
 * False changes nothing. A cell that another CPU has claimed but not yet published
 * counts as full (push) or empty (pop) until it is. */
bool mpmc_ring_push(struct mpmc_ring *q, void *value); /* false: full */
bool mpmc_ring_pop(struct mpmc_ring *q, void **value); /* false: empty */
/* The capacity given to mpmc_ring_init. */
uint64_t mpmc_ring_capacity(const struct mpmc_ring *q);
/* Items in the ring (a snapshot; exact when quiescent). */
uint64_t mpmc_ring_count(struct mpmc_ring *q);
/* Quiescent only: every cell's sequence fits its position between head and tail. */
bool mpmc_ring_valid(struct mpmc_ring *q);

/* ---- unbounded ---- */

struct mpmc_node;

struct mpmc_list {
    struct mpmc_node *head __attribute__((aligned(64))); /* the dummy before the first item */
    struct mpmc_node *tail __attribute__((aligned(64)));
};

/* Before any CPU uses the list. QUEUE_OK, or why not (no memory for the first dummy
 * node) with the list unchanged. */
enum queue_err mpmc_list_init(struct mpmc_list *q);
/* Free every node, queued and retired (quiescent only: no CPU inside a push or pop on
 * any list, as hp_scan_all). Values still queued are dropped, not freed. */
void mpmc_list_destroy(struct mpmc_list *q);
/* Push and pop: any CPU where kmalloc may be called, concurrently with every other
 * push and pop, but not re-entered on one CPU (an interrupt handler's push inside
 * this CPU's pop): the hazard slots are per CPU. Push is false only if the heap is out
 * of memory (the queue is unchanged). Pop needs a value pointer. */
bool mpmc_list_push(struct mpmc_list *q, void *value);
bool mpmc_list_pop(struct mpmc_list *q, void **value); /* false: empty */
/* Quiescent only: the list is well formed, tail is its last node; *count = items
 * (count may be NULL). False for a destroyed list. */
bool mpmc_list_valid(struct mpmc_list *q, uint64_t *count);

/* Hazard-pointer reclamation (one domain, shared by every list). */
#define HP_SLOTS 2
/* Nodes retired (by all CPUs) and not yet freed; exact only when quiescent. */
uint64_t hp_retired_count(void);
/* Free every retired node no CPU protects. It edits every CPU's retired list, so only
 * while no CPU pushes or pops on any list (tests, shutdown); then it frees them all. */
void hp_scan_all(void);

#endif
