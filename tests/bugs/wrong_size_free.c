/* wrong_size_free.c - a message with a variable payload is freed with the size of its
 * header, as if it were the fixed-size message of an older protocol version (Rust's
 * dealloc layout check). Found by the heap's kfree_sized in every build. */
#include "machine.h"
#include <string.h>

struct msg {
    uint32_t type, len;
    uint8_t payload[];
};

__attribute__((noinline)) static struct msg *msg_new(uint32_t type, const void *data, uint32_t len)
{
    struct msg *m = kmalloc(sizeof(*m) + len);
    m->type = type;
    m->len = len;
    memcpy(m->payload, data, len);
    return m;
}

__attribute__((noinline)) static void msg_release(struct msg *m)
{
    kfree_sized(m, sizeof(*m)); /* the bug: the block is sizeof(*m) + m->len */
}

int main(void)
{
    bug_boot();
    static const char hello[64] = "hello";
    msg_release(msg_new(1, hello, sizeof(hello)));
    return bug_finish("wrong_size_free");
}
