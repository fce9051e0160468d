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
#include <string.h>
#include <unwind/unwind.h>

static uint8_t section[1 << 16] __attribute__((aligned(16)));
static uint8_t header[256] __attribute__((aligned(16)));
static uint64_t stack[64];
static struct unw_index_entry idx[4096];
static struct unw_table table;

static bool stack_read(void *ctx, uint64_t addr, void *out, size_t size)
{
    uint64_t lo = (uint64_t)(uintptr_t)stack;
    if (addr < lo || addr > lo + sizeof(stack) || size > lo + sizeof(stack) - addr)
        return false;
    memcpy(out, (const void *)(uintptr_t)addr, size);
    return true;
}

static const struct unw_mem mem = {stack_read, NULL};

static const struct unw_table *lookup(uint64_t pc)
{
    (void)pc;
    return &table;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 3)
        return 0;
    size_t L = (size_t)data[0] | (size_t)data[1] << 8, H = data[2];
    data += 3, size -= 3;
    if (L > size)
        L = size;
    if (H > size - L)
        H = size - L;
    unw_cache_flush(); /* new tables at the same addresses */
    memset(section, 0, sizeof(section));
    memcpy(section, data, L);
    memcpy(header, data + L, H);
    data += L + H, size -= L + H;
    for (int with_index = 0; with_index < 2; with_index++) {
        table = (struct unw_table){.eh_frame = section,
                                   .eh_frame_size = L,
                                   .eh_frame_hdr = H ? header : NULL,
                                   .eh_frame_hdr_size = H,
                                   .text_lo = 0,
                                   .text_hi = UINT64_MAX};
        enum unw_err err;
        if (with_index && unw_table_index(&table, idx, sizeof(idx) / sizeof(idx[0]), &err) < 0)
            continue;
        unw_cache_flush();
        for (size_t q = 0; q + 12 <= size && q < 12 * 32; q += 12) {
            int32_t delta;
            uint64_t word;
            memcpy(&delta, data + q, 4);
            memcpy(&word, data + q + 4, 8);
            uint64_t pc = (uint64_t)(uintptr_t)section + (uint64_t)(int64_t)delta;
            struct unw_row row;
            struct unw_fde_info info;
            unw_find_fde(&table, pc, &info, NULL);
            unw_row_at(&table, pc, &row);
            for (unsigned i = 0; i < 64; i++)
                stack[i] = word + i * 8;
            struct unw_regs regs = {.valid = 0x1ffff, .signal = word & 1};
            for (int r = 0; r < UNW_NREGS; r++)
                regs.r[r] = (uint64_t)(uintptr_t)&stack[(word >> (r % 8)) & 31];
            regs.r[UNW_RIP] = pc;
            for (int s = 0; s < 4 && unw_step(lookup, &mem, &regs) == UNW_OK; s++)
                ;
            uint64_t v, pad;
            int64_t sel;
            unw_lsda_find(data, data + size, (uint64_t)(uintptr_t)data,
                          (uint64_t)(uintptr_t)data + (word & 0xfff), &pad, &sel);
            unw_eval_expr(data + q, size - q < 32 ? size - q : 32, &regs, &mem, word & 2, word, &v);
        }
    }
    return 0;
}
