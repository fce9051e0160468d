/* ehframe.c - libFuzzer target: arbitrary bytes as .eh_frame and .eh_frame_hdr, with
 * lookups, rows and steps at fuzzer-chosen addresses, and DWARF expressions.
 *
 * Input: [2 bytes: .eh_frame length L][1 byte: header length H][L bytes][H bytes]
 * [queries: 12 bytes each: a 32-bit pc delta from the section, 64-bit stack word].
 * The query bytes are also read as an LSDA (kernsim's personality runs on them with
 * fuzzer-chosen call addresses). The section is copied to a buffer at a fixed offset so pc-relative
 * pointers from real binaries (the seed corpus) land near it. No crash, no sanitizer report, no
 * hang: the work per input is bounded by its length. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <arch/debug.h>
#include <unwind/unwind.h>

/* Everything the unwinder reads, and every address it compares, lives at one fixed
 * host address: comparison tracing puts compared values into the fuzzer's dictionary,
 * and a buffer that moved with ASLR would make each run explore differently. */
#define FIXED_AT  UINT64_C(0x568000000000)
#define INPUT_MAX (1u << 20)
struct fixed {
    uint8_t section[1 << 16] __attribute__((aligned(16)));
    uint8_t header[256] __attribute__((aligned(16)));
    uint64_t stack[64];
    struct unw_index_entry idx[4096];
    struct unw_table table;
    uint8_t input[INPUT_MAX];
};
static struct fixed *fx;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    void *p = mmap((void *)(uintptr_t)FIXED_AT, sizeof(struct fixed), PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    if (p != (void *)(uintptr_t)FIXED_AT) {
        fprintf(stderr, "ehframe: cannot map the fixed buffers at 0x%llx\n",
                (unsigned long long)FIXED_AT);
        abort();
    }
    fx = p;
    return 0;
}

static bool stack_read(void *ctx, uint64_t addr, void *out, size_t size)
{
    uint64_t lo = (uint64_t)(uintptr_t)fx->stack;
    if (addr < lo || addr > lo + sizeof(fx->stack) || size > lo + sizeof(fx->stack) - addr)
        return false;
    memcpy(out, (const void *)(uintptr_t)addr, size);
    return true;
}

static const struct unw_mem mem = {stack_read, NULL};

static const struct unw_table *lookup(uint64_t pc)
{
    (void)pc;
    return &fx->table;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 3 || size > INPUT_MAX)
        return 0;
    data = memcpy(fx->input, data, size); /* at a fixed address, as the tables are */
    size_t L = (size_t)data[0] | (size_t)data[1] << 8, H = data[2];
    data += 3, size -= 3;
    if (L > size)
        L = size;
    if (H > size - L)
        H = size - L;
    unw_cache_flush(); /* new tables at the same addresses */
    /* The bytes past each table are poisoned: a parser that reads beyond the length
     * it was given is an ASan report, not a read of the last input's bytes. */
    arch_san_unpoison(fx->section, sizeof(fx->section));
    arch_san_unpoison(fx->header, sizeof(fx->header));
    memcpy(fx->section, data, L);
    memcpy(fx->header, data + L, H);
    arch_san_poison(fx->section + L, sizeof(fx->section) - L);
    arch_san_poison(fx->header + H, sizeof(fx->header) - H);
    data += L + H, size -= L + H;
    for (int with_index = 0; with_index < 2; with_index++) {
        fx->table = (struct unw_table){.eh_frame = fx->section,
                                       .eh_frame_size = L,
                                       .eh_frame_hdr = H ? fx->header : NULL,
                                       .eh_frame_hdr_size = H,
                                       .text_lo = 0,
                                       .text_hi = UINT64_MAX};
        enum unw_err err;
        if (with_index &&
            unw_table_index(&fx->table, fx->idx, sizeof(fx->idx) / sizeof(fx->idx[0]), &err) < 0)
            continue;
        unw_cache_flush();
        for (size_t q = 0; q + 12 <= size && q < 12 * 32; q += 12) {
            int32_t delta;
            uint64_t word;
            memcpy(&delta, data + q, 4);
            memcpy(&word, data + q + 4, 8);
            uint64_t pc = (uint64_t)(uintptr_t)fx->section + (uint64_t)(int64_t)delta;
            struct unw_row row = {0};
            struct unw_fde_info info = {0};
            unw_find_fde(&fx->table, pc, &info, NULL);
            unw_row_at(&fx->table, pc, &row);
            for (unsigned i = 0; i < 64; i++)
                fx->stack[i] = word + i * 8;
            struct unw_regs regs = {.valid = 0x1ffff, .signal = word & 1};
            for (int r = 0; r < UNW_NREGS; r++)
                regs.r[r] = (uint64_t)(uintptr_t)&fx->stack[(word >> (r % 8)) & 31];
            regs.r[UNW_RIP] = pc;
            for (int s = 0; s < 4 && unw_step(lookup, &mem, &regs) == UNW_OK; s++)
                ;
            uint64_t v = 0, pad = 0;
            int64_t sel = 0;
            unw_lsda_find(data, data + size, (uint64_t)(uintptr_t)data,
                          (uint64_t)(uintptr_t)data + (word & 0xfff), &pad, &sel);
            unw_eval_expr(data + q, size - q < 32 ? size - q : 32, &regs, &mem, word & 2, word, &v);
        }
    }
    return 0;
}
