/* uninit_read.c - a configuration block is allocated and partly filled; a field the
 * constructor forgot decides a branch. Found by MemorySanitizer and Valgrind (the
 * heap tells both about every new block), with the allocation as the value's origin. */
#include "machine.h"
#include <stdio.h>

struct link_config {
    uint32_t flags;
    uint32_t mtu; /* never set */
    uint8_t mac[6];
};

__attribute__((noinline)) static struct link_config *config_new(void)
{
    struct link_config *c = kmalloc(sizeof(*c));
    c->flags = 0;
    for (int i = 0; i < 6; i++)
        c->mac[i] = (uint8_t)i;
    return c; /* the bug: c->mtu is whatever the heap left there */
}

__attribute__((noinline)) static int link_up(const struct link_config *c)
{
    if (c->mtu > 1500) /* a decision on an uninitialised value */
        return -1;
    return 0;
}

int main(void)
{
    bug_boot();
    struct link_config *c = config_new();
    int rc = link_up(c);
    kfree(c);
    printf("link_up returned %d\n", rc);
    return bug_finish("uninit_read");
}
