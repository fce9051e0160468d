/* unwind_tables_test.c - the unwinder on hand-built tables (both builds): rows,
 * remember/restore, expressions, stepping on a fake stack, and malformed input, which
 * must give an error and nothing else. */
#include "../ktest/ktest.h"
#include <unwind/unwind.h>

struct eb {
    uint8_t b[512];
    size_t n;
};

static void u8(struct eb *e, unsigned v)
{
    if (e->n < sizeof(e->b))
        e->b[e->n++] = (uint8_t)v;
}

static void u32(struct eb *e, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        u8(e, v >> (8 * i));
}

static void u64(struct eb *e, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        u8(e, (unsigned)(v >> (8 * i)));
}

static void bytes(struct eb *e, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        u8(e, p[i]);
}

#define FUNC 0x1000u

/* A CIE ("zR", absolute 8-byte pointers, code align 1, data align -8, RA 16) whose
 * initial rules are x86_64's (CFA rsp+8, RA at CFA-8), then one FDE for
 * [FUNC, FUNC + 0x100) with `insns`, then the terminator. */
static void build(struct eb *e, const uint8_t *insns, size_t n)
{
    static const uint8_t cie_insns[] = {0x0c, 7, 8, 0x90, 1}; /* def_cfa rsp+8; offset rip c-8 */
    e->n = 0;
    size_t cie_len = 4 + 1 + 3 + 1 + 1 + 1 + 1 + 1 + sizeof(cie_insns);
    u32(e, (uint32_t)cie_len);
    u32(e, 0); /* CIE id */
    u8(e, 1);  /* version */
    bytes(e, (const uint8_t *)"zR", 3);
    u8(e, 1);    /* code align */
    u8(e, 0x78); /* data align -8 */
    u8(e, 16);   /* RA column */
    u8(e, 1);    /* augmentation length */
    u8(e, 0x00); /* FDE pointers: absptr */
    bytes(e, cie_insns, sizeof(cie_insns));
    size_t fde_at = e->n;
    u32(e, (uint32_t)(4 + 8 + 8 + 1 + n));
    u32(e, (uint32_t)(fde_at + 4)); /* back to the CIE at offset 0 */
    u64(e, FUNC);
    u64(e, 0x100);
    u8(e, 0); /* augmentation length */
    bytes(e, insns, n);
    u32(e, 0); /* terminator */
}

static struct unw_index_entry idx[8];

/* A new table at the same addresses: rows cached from the last one are stale. */
static enum unw_err table(struct eb *e, struct unw_table *t)
{
    unw_cache_flush();
    *t = (struct unw_table){
        .eh_frame = e->b, .eh_frame_size = e->n, .text_lo = FUNC, .text_hi = FUNC + 0x1000};
    enum unw_err err;
    return unw_table_index(t, idx, 8, &err) < 0 ? err : UNW_OK;
}

static void unwind_tables_test_rows_follow_the_program(struct ktest *t)
{
    static const uint8_t insns[] = {
        0x41,        /* advance 1 */
        0x0e, 16,    /* def_cfa_offset 16 */
        0x86, 2,     /* offset rbp at c-16 */
        0x43,        /* advance 3 */
        0x0d, 6,     /* def_cfa_register rbp */
        0x0a,        /* remember_state */
        0x44,        /* advance 4 (0x1008) */
        0x0c, 7,  8, /* def_cfa rsp+8 (epilogue) */
        0xc6,        /* restore rbp */
        0x41,        /* advance 1 (0x1009) */
        0x0b,        /* restore_state */
    };
    struct eb e;
    build(&e, insns, sizeof(insns));
    struct unw_table tab;
    KASSERT_EQ(t, table(&e, &tab), UNW_OK);
    KEXPECT_EQ(t, tab.index_len, 1u);
    struct unw_row r;
    KASSERT_EQ(t, unw_row_at(&tab, FUNC, &r), UNW_OK);
    KEXPECT_EQ(t, r.cfa_reg, UNW_RSP);
    KEXPECT_EQ(t, r.cfa_off, 8);
    KEXPECT_EQ(t, r.reg[UNW_RIP].kind, UNW_RULE_OFFSET);
    KEXPECT_EQ(t, r.reg[UNW_RIP].off, -8);
    KEXPECT_EQ(t, r.reg[UNW_RBP].kind, UNW_RULE_SAME);
    KASSERT_EQ(t, unw_row_at(&tab, FUNC + 1, &r), UNW_OK);
    KEXPECT_EQ(t, r.cfa_off, 16);
    KEXPECT_EQ(t, r.reg[UNW_RBP].kind, UNW_RULE_OFFSET);
    KEXPECT_EQ(t, r.reg[UNW_RBP].off, -16);
    KASSERT_EQ(t, unw_row_at(&tab, FUNC + 4, &r), UNW_OK);
    KEXPECT_EQ(t, r.cfa_reg, UNW_RBP);
    KASSERT_EQ(t, unw_row_at(&tab, FUNC + 8, &r), UNW_OK); /* the epilogue */
    KEXPECT_EQ(t, r.cfa_reg, UNW_RSP);
    KEXPECT_EQ(t, r.cfa_off, 8);
    KEXPECT_EQ(t, r.reg[UNW_RBP].kind, UNW_RULE_SAME);
    KASSERT_EQ(t, unw_row_at(&tab, FUNC + 9, &r), UNW_OK); /* restored, CFA rule included */
    KEXPECT_EQ(t, r.cfa_reg, UNW_RBP);
    KEXPECT_EQ(t, r.cfa_off, 16);
    KEXPECT_EQ(t, r.reg[UNW_RBP].kind, UNW_RULE_OFFSET);
    KEXPECT_EQ(t, unw_row_at(&tab, FUNC + 0x100, &r), UNW_NO_FDE); /* past the range */
    KEXPECT_EQ(t, unw_row_at(&tab, FUNC - 1, &r), UNW_NO_FDE);
}

/* A fake stack: reads inside `mem` only. */
static uint64_t fake[16];

static bool fake_read(void *ctx, uint64_t addr, void *out, size_t size)
{
    uint64_t lo = (uint64_t)(uintptr_t)fake;
    if (addr < lo || addr > lo + sizeof(fake) || size > lo + sizeof(fake) - addr)
        return false;
    __builtin_memcpy(out, (const void *)(uintptr_t)addr, size);
    return true;
}

static const struct unw_mem fake_mem = {fake_read, NULL};
static struct unw_table the_table;

static const struct unw_table *lookup(uint64_t pc)
{
    return pc >= the_table.text_lo && pc < the_table.text_hi ? &the_table : NULL;
}

static void unwind_tables_test_step_on_a_fake_stack(struct ktest *t)
{
    static const uint8_t insns[] = {0x41, 0x0e, 16, 0x86, 2}; /* push rbp */
    struct eb e;
    build(&e, insns, sizeof(insns));
    KASSERT_EQ(t, table(&e, &the_table), UNW_OK);
    /* Stopped in the function after `push rbp`: [rsp] = saved rbp, [rsp+8] = return. */
    uint64_t rsp = (uint64_t)(uintptr_t)&fake[4];
    fake[4] = 0xbbbb;       /* the caller's rbp */
    fake[5] = FUNC + 0x200; /* returns into itself: a loop the step must not follow */
    struct unw_regs r = {.valid = (1u << UNW_RSP) | (1u << UNW_RIP) | (1u << UNW_RBX),
                         .signal = true};
    r.r[UNW_RSP] = rsp, r.r[UNW_RIP] = FUNC + 2, r.r[UNW_RBX] = 7;
    KASSERT_EQ(t, unw_step(lookup, &fake_mem, &r), UNW_OK);
    KEXPECT_EQ(t, r.r[UNW_RIP], FUNC + 0x200);
    KEXPECT_EQ(t, r.r[UNW_RSP], rsp + 16);
    KEXPECT_EQ(t, r.r[UNW_RBP], 0xbbbbu);
    KEXPECT_EQ(t, r.r[UNW_RBX], 7u); /* same value */
    KEXPECT_FALSE(t, r.signal);
    /* The return address lies outside the function: no table covers the next step. */
    KEXPECT_EQ(t, unw_step(lookup, &fake_mem, &r), UNW_NO_FDE);
    /* A frame whose stack the reader refuses: an error, the registers untouched. */
    struct unw_regs bad = {.valid = (1u << UNW_RSP) | (1u << UNW_RIP), .signal = true};
    bad.r[UNW_RSP] = 0x10, bad.r[UNW_RIP] = FUNC;
    KEXPECT_EQ(t, unw_step(lookup, &fake_mem, &bad), UNW_BAD_MEM);
    KEXPECT_EQ(t, bad.r[UNW_RSP], 0x10u);
    /* A return address of 0 ends the stack. */
    fake[3] = 0;
    struct unw_regs last = {.valid = (1u << UNW_RSP) | (1u << UNW_RIP), .signal = true};
    last.r[UNW_RSP] = (uint64_t)(uintptr_t)&fake[3];
    last.r[UNW_RIP] = FUNC;
    KEXPECT_EQ(t, unw_step(lookup, &fake_mem, &last), UNW_END);
    /* A row whose caller is this very frame (same pc, same stack pointer): refused
     * instead of followed for ever. */
    static const uint8_t self[] = {0x0e, 0}; /* CFA = rsp + 0, return address at CFA - 8 */
    build(&e, self, sizeof(self));
    KASSERT_EQ(t, table(&e, &the_table), UNW_OK);
    fake[3] = FUNC;
    struct unw_regs same = {.valid = (1u << UNW_RSP) | (1u << UNW_RIP), .signal = true};
    same.r[UNW_RSP] = (uint64_t)(uintptr_t)&fake[4];
    same.r[UNW_RIP] = FUNC;
    KEXPECT_EQ(t, unw_step(lookup, &fake_mem, &same), UNW_NO_PROGRESS);
    KEXPECT_EQ(t, same.r[UNW_RSP], (uint64_t)(uintptr_t)&fake[4]); /* untouched */
}

static void unwind_tables_test_expressions(struct ktest *t)
{
    struct unw_regs r = {.valid = 1u << UNW_RSP};
    r.r[UNW_RSP] = 1000;
    uint64_t v;
    static const uint8_t breg[] = {0x77, 0x10, 0x23, 5}; /* breg7 +16; plus_uconst 5 */
    KEXPECT_EQ(t, unw_eval_expr(breg, sizeof(breg), &r, NULL, false, 0, &v), UNW_OK);
    KEXPECT_EQ(t, v, 1021u);
    static const uint8_t arith[] = {0x35, 0x32, 0x1e, 0x33, 0x1c, 0x12, 0x22}; /* (5*2-3)*2 */
    KEXPECT_EQ(t, unw_eval_expr(arith, sizeof(arith), &r, NULL, false, 0, &v), UNW_OK);
    KEXPECT_EQ(t, v, 14u);
    static const uint8_t branch[] = {0x31, 0x28, 1,
                                     0,    0x3f, 0x3e}; /* 1; bra +1; (skip lit15) lit14 */
    KEXPECT_EQ(t, unw_eval_expr(branch, sizeof(branch), &r, NULL, false, 0, &v), UNW_OK);
    KEXPECT_EQ(t, v, 14u);
    static const uint8_t pushed[] = {0x08, 8, 0x22}; /* CFA + 8 */
    KEXPECT_EQ(t, unw_eval_expr(pushed, sizeof(pushed), &r, NULL, true, 40, &v), UNW_OK);
    KEXPECT_EQ(t, v, 48u);
    /* Each of these fails, and says so. */
    static const uint8_t div0[] = {0x31, 0x30, 0x1b};
    KEXPECT_EQ(t, unw_eval_expr(div0, sizeof(div0), &r, NULL, false, 0, &v), UNW_BAD_EXPR);
    static const uint8_t loop[] = {0x2f, 0xfd, 0xff}; /* skip -3: forever */
    KEXPECT_EQ(t, unw_eval_expr(loop, sizeof(loop), &r, NULL, false, 0, &v), UNW_BAD_EXPR);
    uint8_t deep[UNW_EXPR_STACK + 1];
    __builtin_memset(deep, 0x30, sizeof(deep)); /* one lit0 too many */
    KEXPECT_EQ(t, unw_eval_expr(deep, sizeof(deep), &r, NULL, false, 0, &v), UNW_BAD_EXPR);
    static const uint8_t under[] = {0x22}; /* plus on an empty stack */
    KEXPECT_EQ(t, unw_eval_expr(under, sizeof(under), &r, NULL, false, 0, &v), UNW_BAD_EXPR);
    static const uint8_t unknown_reg[] = {0x73, 0}; /* breg3: rbx is not known */
    KEXPECT_EQ(t, unw_eval_expr(unknown_reg, sizeof(unknown_reg), &r, NULL, false, 0, &v),
               UNW_BAD_EXPR);
    static const uint8_t deref[] = {0x30, 0x06}; /* deref address 0 */
    KEXPECT_EQ(t, unw_eval_expr(deref, sizeof(deref), &r, &fake_mem, false, 0, &v), UNW_BAD_MEM);
    static const uint8_t trunc[] = {0x0e, 1, 2}; /* const8u with 2 bytes */
    KEXPECT_EQ(t, unw_eval_expr(trunc, sizeof(trunc), &r, NULL, false, 0, &v), UNW_BAD_EXPR);
    static const uint8_t jump_out[] = {0x2f, 0x10, 0x00};
    KEXPECT_EQ(t, unw_eval_expr(jump_out, sizeof(jump_out), &r, NULL, false, 0, &v), UNW_BAD_EXPR);
}

static void unwind_tables_test_malformed_tables_are_refused(struct ktest *t)
{
    struct eb e;
    struct unw_table tab;
    struct unw_row r;
    /* Bad call-frame instructions: each stops with an error. */
    static const uint8_t bad_op[] = {0x3f};
    static const uint8_t no_state[] = {0x0b};
    static const uint8_t cfa_reg[] = {0x0c, 99, 8};
    static const uint8_t trunc_op[] = {0x0c, 7};
    static const uint8_t leb[] = {0x0e, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                                  0xff, 0xff, 0xff, 0xff, 0xff, 0x01};
    const struct {
        const uint8_t *p;
        size_t n;
    } progs[] = {{bad_op, 1}, {no_state, 1}, {cfa_reg, 3}, {trunc_op, 2}, {leb, sizeof(leb)}};
    for (unsigned i = 0; i < sizeof(progs) / sizeof(progs[0]); i++) {
        build(&e, progs[i].p, progs[i].n);
        KASSERT_EQ(t, table(&e, &tab), UNW_OK);
        KEXPECT_EQ(t, unw_row_at(&tab, FUNC + 0x10, &r), UNW_BAD_CFA);
    }
    uint8_t many[10];
    __builtin_memset(many, 0x0a, sizeof(many)); /* remember_state past the bound */
    build(&e, many, sizeof(many));
    KASSERT_EQ(t, table(&e, &tab), UNW_OK);
    KEXPECT_EQ(t, unw_row_at(&tab, FUNC, &r), UNW_BAD_CFA);
    /* Bad records: the index refuses the section. */
    static const uint8_t ok[] = {0};
    build(&e, ok, 1);
    struct eb bad = e;
    bad.b[0] = 0xf0; /* the CIE's length runs past the section */
    KEXPECT_EQ(t, table(&bad, &tab), UNW_BAD_TABLE);
    bad = e;
    bad.b[8] = 7; /* CIE version 7 */
    KEXPECT_EQ(t, table(&bad, &tab), UNW_BAD_TABLE);
    bad = e;
    bad.b[14] = 99; /* a return-address column that is no register */
    KEXPECT_EQ(t, table(&bad, &tab), UNW_BAD_TABLE);
    bad = e;
    bad.b[16] = 0x07; /* FDE pointer encoding 7 does not exist */
    KEXPECT_EQ(t, table(&bad, &tab), UNW_BAD_TABLE);
    bad = e;
    size_t fde = 4 + e.b[0];
    bad.b[fde + 4] = 0xff; /* the FDE's CIE pointer leaves the section */
    bad.b[fde + 5] = 0xff;
    KEXPECT_EQ(t, table(&bad, &tab), UNW_BAD_TABLE);
    bad = e;
    bad.b[fde + 9] = 0x70; /* starts at 0x7000: outside the text */
    KEXPECT_EQ(t, table(&bad, &tab), UNW_BAD_ADDR);
    bad = e;
    bad.n = fde + 6; /* cut in the middle of the FDE */
    KEXPECT_EQ(t, table(&bad, &tab), UNW_BAD_TABLE);
    bad.n = fde; /* cut after the CIE: no FDE, nothing wrong */
    KEXPECT_EQ(t, table(&bad, &tab), UNW_OK);
    KEXPECT_EQ(t, tab.index_len, 0u);
    struct unw_fde_info info;
    KEXPECT_EQ(t, unw_find_fde(&tab, FUNC, &info, NULL), UNW_NO_FDE);
    /* A header with a table the search does not know. */
    static const uint8_t hdr[] = {1, 0x1b, 0x03, 0x1a, 0, 0, 0, 0, 1, 0, 0, 0};
    build(&e, ok, 1);
    tab = (struct unw_table){.eh_frame = e.b,
                             .eh_frame_size = e.n,
                             .eh_frame_hdr = hdr,
                             .eh_frame_hdr_size = sizeof(hdr),
                             .text_lo = FUNC,
                             .text_hi = FUNC + 0x1000};
    KEXPECT_EQ(t, unw_find_fde(&tab, FUNC, &info, NULL), UNW_BAD_TABLE);
    KEXPECT_STR_CONTAINS(t, unw_strerror(UNW_BAD_TABLE), "malformed");
    KEXPECT_STR_CONTAINS(t, unw_strerror((enum unw_err)99), "unknown");
}

/* An LSDA whose one call site covers [FUNC, FUNC + 0x3fff) with a landing pad at +1
 * and action record `action` (ULEB128, up to 10 bytes), followed by one action
 * record: a cleanup. */
static size_t lsda_with_action(uint8_t *b, const uint8_t *action, size_t n)
{
    size_t k = 0;
    b[k++] = 0xff;                /* landing pads relative to the function */
    b[k++] = 0xff;                /* no type table */
    b[k++] = 0x01;                /* call sites in ULEB128 */
    b[k++] = (uint8_t)(4 + n);    /* the call-site table's length */
    b[k++] = 0x00;                /* start */
    b[k++] = 0xff, b[k++] = 0x7f; /* length */
    b[k++] = 0x01;                /* landing pad */
    for (size_t i = 0; i < n; i++)
        b[k++] = action[i];
    b[k++] = 0x00, b[k++] = 0x00; /* action 1: filter 0 (cleanup), no next */
    return k;
}

static void unwind_tables_test_lsda_action_outside_the_table_is_refused(struct ktest *t)
{
    uint8_t b[32];
    uint64_t pad;
    int64_t sel;
    static const uint8_t first[] = {0x01}, past[] = {0x03},
                         huge[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01};
    size_t n = lsda_with_action(b, first, sizeof(first));
    KEXPECT_EQ(t, unw_lsda_find(b, b + n, FUNC, FUNC + 0x10, &pad, &sel), UNW_OK);
    KEXPECT_EQ(t, pad, FUNC + 1u);
    /* Action 3 starts past the LSDA's end, and action 2^64-1 would wrap the pointer:
     * both are refused before any pointer is formed from them. */
    n = lsda_with_action(b, past, sizeof(past));
    KEXPECT_EQ(t, unw_lsda_find(b, b + n, FUNC, FUNC + 0x10, &pad, &sel), UNW_BAD_TABLE);
    KEXPECT_EQ(t, pad, 0u);
    n = lsda_with_action(b, huge, sizeof(huge));
    KEXPECT_EQ(t, unw_lsda_find(b, b + n, FUNC, FUNC + 0x10, &pad, &sel), UNW_BAD_TABLE);
    KEXPECT_EQ(t, pad, 0u);
}

KTEST_SUITE(unwind_tables, KTEST_CASE(unwind_tables_test_rows_follow_the_program),
            KTEST_CASE(unwind_tables_test_step_on_a_fake_stack),
            KTEST_CASE(unwind_tables_test_expressions),
            KTEST_CASE(unwind_tables_test_malformed_tables_are_refused),
            KTEST_CASE(unwind_tables_test_lsda_action_outside_the_table_is_refused));
