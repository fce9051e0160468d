/* panic_cleanups.c - a device reset hits a BUG-style panic while it holds the device
 * lock and a scratch buffer. The panic unwinds through the reset's frames: their
 * __attribute__((cleanup)) handlers release the lock and free the buffer, and
 * catch_unwind turns the panic into an error, so the kernel goes on with the lock
 * free and no block leaked. Built with -fexceptions; found by kernsim's unwinder
 * (personality, landing pads) in both builds. Exits 1 after a caught panic whose
 * cleanups all ran; anything else is a different exit or message. */
#include "machine.h"
#include <arch/panic.h>
#include <stdio.h>
#include <sync/sync.h>
#include <unwind/unwind.h>

struct nic {
    spinlock_t lock;
    uint32_t fw_state;
};

static void free_scratch(void **p)
{
    printf("cleanup: freeing the scratch buffer\n");
    kfree(*p);
}

__attribute__((noinline)) static void fw_check(struct nic *n)
{
    if (n->fw_state != 0x600d)
        arch_panic("nic: firmware state 0x%x after reset", n->fw_state);
}

__attribute__((noinline)) static void nic_reset(void *arg)
{
    struct nic *n = arg;
    LOCK_GUARD(g, guard_spin(&n->lock));
    void *scratch __attribute__((cleanup(free_scratch))) = kmalloc(512);
    n->fw_state = scratch ? 0xdead : 0; /* what the broken firmware answers */
    fw_check(n);
}

int main(void)
{
    bug_boot();
    static struct nic nic;
    spin_lock_init(&nic.lock);
    struct heap_stats before, after;
    heap_trim();
    heap_get_stats(&before);
    char msg[128] = "";
    int rc = catch_unwind(nic_reset, &nic, msg, sizeof(msg));
    heap_trim();
    heap_get_stats(&after);
    bool lock_free = spin_trylock(&nic.lock);
    printf("catch_unwind returned %d: \"%s\"\n", rc, msg);
    if (rc != -1 || !lock_free || after.live_blocks != before.live_blocks || !heap_valid()) {
        printf("panic_cleanups: a cleanup did not run (lock %s, live blocks %lu -> %lu)\n",
               lock_free ? "free" : "still held", (unsigned long)before.live_blocks,
               (unsigned long)after.live_blocks);
        return 3;
    }
    spin_unlock(&nic.lock);
    printf("panic_cleanups: the panic was caught; the lock is free and the block was freed\n");
    return 1;
}
