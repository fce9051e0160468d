/* list.c - the unbounded MPMC queue (Michael and Scott) with hazard pointers.
 *
 * head points at a dummy node; the items are the nodes after it. A push links its
 * node after the last one with a compare-exchange on that node's next, then swings
 * the tail (anyone who sees the tail lag helps). A pop moves head to the dummy's
 * successor and takes that node's value; the old dummy is retired, and freed by the
 * hazard-pointer scan once no CPU protects it. */
#include "queue.h"
#include "queue_internal.h"
#include <arch/atomic.h>
#include <heap/heap.h>

struct mpmc_node {
    struct mpmc_node *next;
    void *value;
};

enum queue_err mpmc_list_init(struct mpmc_list *q)
{
    if (!q)
        return QUEUE_ERR_INVALID;
    struct mpmc_node *dummy = kzalloc(sizeof(*dummy));
    if (!dummy)
        return QUEUE_ERR_NO_MEMORY;
    q->head = q->tail = dummy;
    return QUEUE_OK;
}

void mpmc_list_destroy(struct mpmc_list *q)
{
    for (struct mpmc_node *n = q->head, *next; n; n = next) {
        next = n->next;
        kfree(n);
    }
    q->head = q->tail = NULL;
    hp_scan_all();
}

bool mpmc_list_push(struct mpmc_list *q, void *value)
{
    struct mpmc_node *n = kmalloc(sizeof(*n));
    if (!n)
        return false;
    n->value = value;
    n->next = NULL;
    for (;;) {
        struct mpmc_node *t = hp_protect(0, (void **)&q->tail);
        /* acquire: pairs with the release that linked a node after t, so that node's
         * value and next are seen if we follow it */
        struct mpmc_node *next = arch_atomic_load(&t->next, ARCH_ACQUIRE);
        /* acquire: t and next are a consistent pair only if the tail still is t */
        if (t != arch_atomic_load(&q->tail, ARCH_ACQUIRE))
            continue;
        if (next) { /* the tail lags: help it on */
            /* release: passes on next's publication to whoever acquires the tail */
            arch_atomic_cmpxchg(&q->tail, &t, next, ARCH_RELEASE, ARCH_RELAXED);
            continue;
        }
        struct mpmc_node *expected = NULL;
        /* release: n's value and next (NULL), written before the loop, are seen by
         * whoever reaches n through an acquire load of t->next */
        if (arch_atomic_cmpxchg(&t->next, &expected, n, ARCH_RELEASE, ARCH_RELAXED)) {
            /* release: as when helping; failure means a helper swung it already */
            arch_atomic_cmpxchg(&q->tail, &t, n, ARCH_RELEASE, ARCH_RELAXED);
            break;
        }
    }
    hp_clear(0);
    return true;
}

bool mpmc_list_pop(struct mpmc_list *q, void **value)
{
    for (;;) {
        struct mpmc_node *h = hp_protect(0, (void **)&q->head);
        /* acquire: pairs with the release that swung the tail to t */
        struct mpmc_node *t = arch_atomic_load(&q->tail, ARCH_ACQUIRE);
        /* acquire: pairs with the push's release that linked next, so next->value is
         * seen below */
        struct mpmc_node *next = arch_atomic_load(&h->next, ARCH_ACQUIRE);
        /* next is safe to read once it is published as a hazard while h is still the
         * head: it cannot be retired before the head has moved past h. */
        hp_set(1, next);
        /* seq_cst: the hazard store above (seq_cst) must be ordered before this re-read
         * of the head, a store then a load, which acquire and release do not order; a
         * scan that runs after the head moves past h then sees the hazard */
        if (h != arch_atomic_load(&q->head, ARCH_SEQ_CST))
            continue;
        if (!next) {
            hp_clear(0);
            hp_clear(1);
            return false;
        }
        if (h == t) { /* the tail lags behind an item: help it on */
            /* release: passes on next's publication to whoever acquires the tail */
            arch_atomic_cmpxchg(&q->tail, &t, next, ARCH_RELEASE, ARCH_RELAXED);
            continue;
        }
        void *v = next->value;
        /* acq_rel. release: the read of next->value above is done before the CPU that
         * later moves the head past next (and retires it as its old dummy) acquires the
         * head; acquire: pairs with that release of the pop before us, whose old dummy
         * h we now retire */
        if (arch_atomic_cmpxchg(&q->head, &h, next, ARCH_ACQ_REL, ARCH_RELAXED)) {
            hp_clear(0);
            hp_clear(1);
            hp_retire(h);
            *value = v;
            return true;
        }
    }
}

bool mpmc_list_valid(struct mpmc_list *q, uint64_t *count)
{
    uint64_t n = 0;
    const struct mpmc_node *last = q->head;
    if (!last)
        return false;
    while (last->next && n < (UINT64_C(1) << 32)) {
        last = last->next;
        n++;
    }
    if (count)
        *count = n;
    return last == q->tail && !last->next;
}
