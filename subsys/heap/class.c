/* class.c - the size classes: each class's block size and where its blocks sit in a
 * span, and the table that maps a small size to its class. Built once, at heap_init,
 * and only read after. */
#include "heap_internal.h"

const uint16_t heap_class_size[NCLASSES] = {16,  32,  48,  64,   80,   96,   112,  128,
                                            160, 192, 224, 256,  320,  384,  448,  512,
                                            640, 768, 896, 1024, 1280, 1536, 1792, 2048};

uint8_t heap_class_lut[HEAP_SMALL_MAX / 16];
struct heap_class heap_class[NCLASSES];

/* Where each class's first block starts in its span. Power-of-two blocks are aligned
 * to their size (kmalloc_aligned relies on it): above 256 bytes they start at their
 * size, the others at or after 256 (the header's 128 bytes, rounded). Beyond that,
 * every class starts in a cache set of its own (slab colouring): a CPU that keeps
 * reusing the first block of several classes would otherwise use one L1 and L2 set
 * and one 4 KiB offset for all of them, as spans are 64 KiB aligned. */
static void place_classes(uint32_t off[NCLASSES])
{
    uint64_t used = 0; /* by set index within 4 KiB: off / 64 % 64 */
    for (int k = 0; k < NCLASSES; k++) {
        uint32_t b = heap_class_size[k];
        off[k] = (b & (b - 1)) == 0 && b > 256 ? b : 0;
        if (off[k])
            used |= UINT64_C(1) << (off[k] / 64 % 64);
    }
    for (int k = 0; k < NCLASSES; k++) {
        uint32_t b = heap_class_size[k], step = (b & (b - 1)) == 0 && b > 64 ? b : 64;
        if (off[k])
            continue;
        off[k] = 256;
        while (used & (UINT64_C(1) << (off[k] / 64 % 64)))
            off[k] += step;
        used |= UINT64_C(1) << (off[k] / 64 % 64);
    }
}

void heap_build_classes(void)
{
    uint32_t off[NCLASSES];
    place_classes(off);
    for (int k = 0; k < NCLASSES; k++) {
        uint32_t b = heap_class_size[k], odd = b, inv = 1;
        uint8_t shift = 0;
        while (!(odd & 1))
            odd >>= 1, shift++;
        for (int i = 0; i < 4; i++) /* Newton: each step doubles the correct low bits */
            inv *= 2 - odd * inv;
        uint32_t n = (uint32_t)((SPAN_SIZE - off[k]) / b);
        heap_class[k] = (struct heap_class){.size = (uint16_t)b,
                                            .data_off = (uint16_t)off[k],
                                            .nblocks = (uint16_t)n,
                                            .inv = (uint16_t)inv,
                                            .lim = (uint16_t)(n << 4 | shift)};
    }
    int c = 0;
    for (unsigned i = 0; i < HEAP_SMALL_MAX / 16; i++) {
        while (heap_class_size[c] < (i + 1) * 16)
            c++;
        heap_class_lut[i] = (uint8_t)c;
    }
}

int heap_class_of(size_t size)
{
    return size - 1 < HEAP_SMALL_MAX ? heap_class_lut[(size - 1) / 16] : -1;
}
