/* kallsyms.c - the kernel's own function names, for its backtraces. The space is
 * reserved at link time and filled after it by scripts/kallsyms.c (so no address
 * moves): "KSYM", a count, sorted (address, size, name offset) entries, the names. */
#include <arch/types.h>

#define KALLSYMS_SPACE (192 * 1024)

/* Nonzero so that it is real file contents, not a zero-fill the loader skips. */
__attribute__((section(".kallsyms"), used, aligned(8)))
const uint8_t kallsyms_space[KALLSYMS_SPACE] = {1};

struct ksym {
    uint64_t addr;
    uint32_t size, name;
};

/* The function holding addr, and addr's offset in it; NULL if unknown. */
const char *kallsyms_lookup(uint64_t addr, uint64_t *offset)
{
    const volatile uint8_t *b = kallsyms_space; /* filled after the compiler saw it */
    if (b[0] != 'K' || b[1] != 'S' || b[2] != 'Y' || b[3] != 'M')
        return 0;
    uint32_t n = (uint32_t)b[4] | (uint32_t)b[5] << 8 | (uint32_t)b[6] << 16 | (uint32_t)b[7] << 24;
    if (n > (KALLSYMS_SPACE - 8) / sizeof(struct ksym))
        return 0;
    const struct ksym *e = (const struct ksym *)(uintptr_t)(b + 8);
    const char *names = (const char *)(uintptr_t)(b + 8 + (uint64_t)n * sizeof(struct ksym));
    uint32_t lo = 0, hi = n;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (e[mid].addr <= addr)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (!lo || addr - e[lo - 1].addr >= (e[lo - 1].size ? e[lo - 1].size : 1) ||
        e[lo - 1].name >= KALLSYMS_SPACE - 8 - n * sizeof(struct ksym))
        return 0;
    *offset = addr - e[lo - 1].addr;
    return names + e[lo - 1].name;
}
