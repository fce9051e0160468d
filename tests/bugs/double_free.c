/* double_free.c - probe's error path frees the buffer, and the caller's cleanup frees
 * it again. Found by the heap in every build: kfree checks before it touches anything,
 * reports where the block was allocated and first freed and who freed it again, and
 * the heap stays usable. */
#include "machine.h"

struct netdev {
    uint8_t *rx_buf;
    uint32_t mtu;
};

__attribute__((noinline)) static int dev_probe(struct netdev *dev, bool link_up)
{
    dev->rx_buf = kmalloc(256);
    if (!link_up) {
        kfree(dev->rx_buf); /* the error path cleans up ... */
        return -1;          /* ... but leaves dev->rx_buf dangling */
    }
    return 0;
}

__attribute__((noinline)) static void dev_destroy(struct netdev *dev)
{
    kfree(dev->rx_buf);
    dev->rx_buf = NULL;
}

int main(void)
{
    bug_boot();
    static struct netdev dev;
    if (dev_probe(&dev, false))
        dev_destroy(&dev);  /* the caller undoes a failed probe the usual way */
    void *p = kmalloc(256); /* the heap is still usable */
    kfree(p);
    return bug_finish("double_free");
}
