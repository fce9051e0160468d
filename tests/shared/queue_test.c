/* queue_test.c - the MPMC queues on one CPU (both builds): order, full and empty,
 * bad arguments, wrap-around, reclamation. */
#include "../ktest/ktest.h"
#include <heap/heap.h>
#include <queue/queue.h>

#define V(i) ((void *)(uintptr_t)(i))

static void queue_test_ring_bad_capacity_is_refused(struct ktest *t)
{
    struct mpmc_ring q = {.mask = 77};
    KEXPECT_EQ(t, mpmc_ring_init(&q, 0, NULL), QUEUE_ERR_BAD_CAPACITY);
    KEXPECT_EQ(t, mpmc_ring_init(&q, 1, NULL), QUEUE_ERR_BAD_CAPACITY);
    KEXPECT_EQ(t, mpmc_ring_init(&q, 6, NULL), QUEUE_ERR_BAD_CAPACITY); /* not a power of two */
    KEXPECT_EQ(t, mpmc_ring_init(&q, UINT64_C(1) << 30, NULL), QUEUE_ERR_BAD_CAPACITY);
    KEXPECT_EQ(t, mpmc_ring_init(NULL, 4, NULL), QUEUE_ERR_INVALID);
    KEXPECT_EQ(t, mpmc_list_init(NULL), QUEUE_ERR_INVALID);
    KEXPECT_STREQ(t, queue_strerror(QUEUE_ERR_BAD_CAPACITY),
                  "capacity not a power of two in 2 .. 2^24");
    KEXPECT_STREQ(t, queue_strerror(QUEUE_ERR_COUNT_), "unknown error");
    KEXPECT_EQ(t, q.mask, 77u); /* unchanged */
}

static void queue_test_ring_fifo_full_and_empty(struct ktest *t)
{
    struct mpmc_ring q;
    KASSERT_EQ(t, mpmc_ring_init(&q, 4, NULL), QUEUE_OK);
    void *v;
    KEXPECT_FALSE(t, mpmc_ring_pop(&q, &v)); /* empty */
    for (int i = 0; i < 4; i++)
        KEXPECT_TRUE(t, mpmc_ring_push(&q, V(i)));
    KEXPECT_FALSE(t, mpmc_ring_push(&q, V(99))); /* full */
    KEXPECT_EQ(t, mpmc_ring_count(&q), 4u);
    KEXPECT_TRUE(t, mpmc_ring_valid(&q));
    /* Many laps around the ring, half full: order holds. */
    int next_in = 4, next_out = 0;
    for (int lap = 0; lap < 1000; lap++) {
        KEXPECT_TRUE(t, mpmc_ring_pop(&q, &v));
        KEXPECT_PTR_EQ(t, v, V(next_out));
        next_out++;
        KEXPECT_TRUE(t, mpmc_ring_push(&q, V(next_in)));
        next_in++;
    }
    while (mpmc_ring_pop(&q, &v))
        KEXPECT_PTR_EQ(t, v, V(next_out++));
    KEXPECT_EQ(t, next_out, next_in);
    KEXPECT_EQ(t, mpmc_ring_count(&q), 0u);
    KEXPECT_TRUE(t, mpmc_ring_valid(&q));
    KEXPECT_TRUE(t, mpmc_ring_push(&q, NULL)); /* NULL is an item like any other */
    KEXPECT_TRUE(t, mpmc_ring_pop(&q, &v));
    KEXPECT_PTR_EQ(t, v, NULL);
    mpmc_ring_destroy(&q);
}

static void queue_test_ring_in_caller_memory(struct ktest *t)
{
    static struct mpmc_cell cells[8];
    struct mpmc_ring q;
    KASSERT_EQ(t, mpmc_ring_init(&q, 8, cells), QUEUE_OK);
    KEXPECT_EQ(t, mpmc_ring_capacity(&q), 8u);
    KEXPECT_TRUE(t, mpmc_ring_push(&q, V(5)));
    cells[1].seq = 1234; /* corrupt a cell the ring has not reached */
    KEXPECT_FALSE(t, mpmc_ring_valid(&q));
    cells[1].seq = 1;
    KEXPECT_TRUE(t, mpmc_ring_valid(&q));
    mpmc_ring_destroy(&q); /* not the ring's memory: left alone */
    KEXPECT_EQ(t, cells[0].seq, 1u);
}

static void queue_test_list_fifo_and_reclamation(struct ktest *t)
{
    struct heap_stats before, after;
    heap_trim();
    heap_get_stats(&before);
    struct mpmc_list q;
    KASSERT_EQ(t, mpmc_list_init(&q), QUEUE_OK);
    void *v;
    KEXPECT_FALSE(t, mpmc_list_pop(&q, &v));
    for (int i = 0; i < 500; i++)
        KEXPECT_TRUE(t, mpmc_list_push(&q, V(i)));
    uint64_t n = 0;
    KEXPECT_TRUE(t, mpmc_list_valid(&q, &n));
    KEXPECT_EQ(t, n, 500u);
    for (int i = 0; i < 500; i++) {
        KEXPECT_TRUE(t, mpmc_list_pop(&q, &v));
        KEXPECT_PTR_EQ(t, v, V(i));
    }
    KEXPECT_FALSE(t, mpmc_list_pop(&q, &v));
    /* Popped nodes wait to be freed, but only a bounded number. */
    KEXPECT_LE(t, hp_retired_count(), 2 * HP_SLOTS * 64 + 1);
    for (int i = 0; i < 10; i++)
        mpmc_list_push(&q, V(i));
    mpmc_list_destroy(&q);
    KEXPECT_EQ(t, hp_retired_count(), 0u);
    heap_trim();
    heap_get_stats(&after);
    KEXPECT_EQ(t, after.live_blocks, before.live_blocks); /* every node came back */
    KEXPECT_TRUE(t, heap_valid());
}

KTEST_SUITE(queue, KTEST_CASE(queue_test_ring_bad_capacity_is_refused),
            KTEST_CASE(queue_test_ring_fifo_full_and_empty),
            KTEST_CASE(queue_test_ring_in_caller_memory),
            KTEST_CASE(queue_test_list_fifo_and_reclamation));
