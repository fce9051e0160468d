/* use_after_free.c - a request times out and is freed, but the completion interrupt
 * still finds it through `pending` and writes its status into freed memory.
 * Found by: ASan (at the write), Valgrind (at the write), the heap's quarantine check
 * (when the block leaves quarantine) - each naming where it was allocated and freed. */
#include "machine.h"

struct request {
    uint32_t id, status;
    uint8_t payload[48];
};

static struct request *pending; /* what the interrupt handler completes */

__attribute__((noinline)) static void submit_request(uint32_t id)
{
    struct request *rq = kzalloc(sizeof(*rq));
    rq->id = id;
    pending = rq;
}

__attribute__((noinline)) static void request_timeout(struct request *rq)
{
    kfree(rq); /* the bug: `pending` still points at it */
}

__attribute__((noinline)) static void irq_complete(uint32_t status)
{
    pending->status = status;
}

int main(void)
{
    bug_boot();
    submit_request(7);
    request_timeout(pending);
    irq_complete(1);
    return bug_finish("use_after_free");
}
