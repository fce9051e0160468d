/* invalid_free.c - two pointers the heap never returned: the receive ring embedded
 * in the device structure (freed as if it had been allocated on its own), and the
 * static command-line buffer early boot used before the heap existed. Found by the
 * heap in every build: neither free touches anything. */
#include "machine.h"

struct netdev {
    char name[16];
    uint8_t rx_ring[512];
};

static char boot_cmdline[256] = "console=ttyS0";

__attribute__((noinline)) static void dev_free_rings(struct netdev *dev)
{
    kfree(dev->rx_ring); /* the bug: it is inside dev, not a block of its own */
}

__attribute__((noinline)) static void boot_cleanup(void)
{
    kfree(boot_cmdline); /* the bug: never came from kmalloc */
}

int main(void)
{
    bug_boot();
    struct netdev *dev = kzalloc(sizeof(*dev));
    dev_free_rings(dev);
    boot_cleanup();
    kfree(dev); /* still live, and freed properly */
    return bug_finish("invalid_free");
}
