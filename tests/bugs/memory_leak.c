/* memory_leak.c - probe allocates its statistics block, then fails on the next step
 * and returns without freeing it. Found by the heap's scoped leak check in checking
 * mode (every build), naming the block and where it was allocated; Valgrind reports
 * it as definitely lost at exit as well. */
#include "machine.h"
#include <stdio.h>

struct dev_stats {
    uint64_t rx_packets, tx_packets, errors[13];
};

struct netdev {
    struct dev_stats *stats;
    uint8_t *rx_buf;
};

__attribute__((noinline)) static int dev_probe(struct netdev *dev, size_t rx_size)
{
    struct dev_stats *stats = kzalloc(sizeof(*stats));
    if (!stats)
        return -1;
    dev->rx_buf = kmalloc(rx_size);
    if (!dev->rx_buf)
        return -1; /* the bug: stats is lost */
    dev->stats = stats;
    return 0;
}

int main(void)
{
    bug_boot();
    static struct netdev dev;
    uint64_t mark = heap_leak_mark();
    if (dev_probe(&dev, (size_t)1 << 62) != 0) /* an absurd size from a bad EEPROM */
        printf("probe failed, as it should\n");
    uint64_t leaks = heap_leak_check(mark);
    printf("memory_leak: %lu leaked block%s\n", (unsigned long)leaks, leaks == 1 ? "" : "s");
    return bug_finish("memory_leak");
}
