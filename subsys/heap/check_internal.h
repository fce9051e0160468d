/* check_internal.h - the checked block's layout, shared by check.c (allocation, the
 * quarantine, leak scans) and check_block.c (its header, redzones and reports). */
#ifndef SUBSYS_HEAP_CHECK_INTERNAL_H
#define SUBSYS_HEAP_CHECK_INTERNAL_H

#include "heap_internal.h"

#define RZ_BYTE    0xfb
#define LIVE_MAGIC 0xa1
#define FREE_MAGIC 0xf9
#define FRONT_MIN  32 /* the header and the smallest left redzone */

struct chk_hdr {
    uint8_t magic;
    uint8_t front_log2; /* user - raw, a power of two (>= FRONT_MIN) */
    uint16_t check;     /* over every other field and the header's address */
    uint32_t size;
    uint32_t alloc_stack;
    uint32_t free_stack; /* while live: the allocation's sequence number (leak checks) */
};
ARCH_STATIC_ASSERT(sizeof(struct chk_hdr) == 16 && sizeof(struct chk_hdr) < FRONT_MIN,
                   "the header fills one 16-byte slot, and a redzone follows it");
ARCH_STATIC_ASSERT(sizeof(struct chk_hdr) == sizeof(struct block),
                   "a raw block's first 16 bytes are its header or its free-list words");

void chk_hdr_seal(struct chk_hdr *h);
struct chk_hdr *chk_hdr_open(uint8_t *raw, size_t raw_size, bool *intact);
void chk_hdr_close(struct chk_hdr *h);
bool chk_raw_of(const void *p, struct heap_block *b, bool *raw_free);
void chk_report_stacks(const struct chk_hdr *h);
void chk_report_header_overwritten(const char *who, const void *p, const uint8_t *raw,
                                   const char *when);
uint64_t chk_first_not(const uint8_t *p, uint64_t n, uint8_t v);
bool chk_redzones_whole(const char *who, const struct chk_hdr *h, size_t raw_size,
                        const char *whose);

/* The user block the intact header h describes. */
static inline uint8_t *user_of(const struct chk_hdr *h)
{
    return (uint8_t *)h + (UINT64_C(1) << h->front_log2);
}

#endif
