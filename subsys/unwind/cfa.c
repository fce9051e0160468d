/* cfa.c - the DWARF call-frame program: run a CIE's initial instructions and an FDE's
 * instructions up to a pc, giving the row (CFA rule and register rules) there. */
#include "unwind_internal.h"

#define REMEMBER_MAX 8

struct state {
    bool cfa_is_expr;
    uint16_t cfa_reg;
    int64_t cfa_off;
    const uint8_t *cfa_expr;
    uint32_t cfa_expr_len;
    struct unw_rule reg[UNW_NREGS];
    uint32_t named; /* registers some instruction gave a rule */
};

/* An operand times the data alignment factor, wrapping instead of overflowing (from
 * a malformed table the result is only a wrong offset). */
static int64_t scaled(uint64_t v, int64_t factor)
{
    return (int64_t)(v * (uint64_t)factor);
}

struct prog {
    struct state cur, initial, saved[REMEMBER_MAX];
    unsigned nsaved;
    uint64_t loc, args_size;
    const struct cie *cie;
};

static struct unw_rule *rule(struct state *s, uint64_t reg, bool *ignore)
{
    *ignore = reg >= UNW_NREGS; /* vector registers and the like: valid, not tracked */
    if (*ignore)
        return NULL;
    s->named |= 1u << reg;
    return &s->reg[reg];
}

/* A block operand: its length, then its bytes. */
static bool block(struct rd *r, const uint8_t **p, uint32_t *len)
{
    uint64_t n = rd_uleb(r);
    if (r->bad || n > (uint64_t)(r->end - r->p) || n > UINT32_MAX)
        return false;
    *p = r->p, *len = (uint32_t)n;
    r->p += n;
    return true;
}

/* Run [p, end) until the location passes pc (pc == UINT64_MAX: run it all). */
static enum unw_err run(struct prog *g, const uint8_t *p, const uint8_t *end, uint64_t pc,
                        const struct rd_bases *b)
{
    struct rd r = {p, end, false};
    const struct cie *c = g->cie;
    while (r.p < r.end && !r.bad) {
        uint8_t op = (uint8_t)rd_u(&r, 1);
        uint64_t reg, delta = 0;
        int64_t off;
        bool ign;
        struct unw_rule *ru;
        switch (op >> 6) {
        case 1: /* advance_loc */
            delta = (op & 0x3f) * c->code_align;
            goto advance;
        case 2: /* offset */
            off = scaled(rd_uleb(&r), c->data_align);
            if ((ru = rule(&g->cur, op & 0x3f, &ign)))
                *ru = (struct unw_rule){.kind = UNW_RULE_OFFSET, .off = off};
            continue;
        case 3: /* restore */
            reg = op & 0x3f;
            goto restore;
        }
        switch (op) {
        case 0x00: /* nop */
            break;
        case 0x01: { /* set_loc */
            uint64_t loc;
            if (!rd_encoded(&r, c->fde_enc, b, &loc, NULL))
                return UNW_BAD_CFA;
            if (loc < g->loc)
                return UNW_BAD_CFA; /* locations only grow */
            if (loc > pc)
                return UNW_OK;
            g->loc = loc;
            break;
        }
        case 0x02:
            delta = rd_u(&r, 1) * c->code_align;
            goto advance;
        case 0x03:
            delta = rd_u(&r, 2) * c->code_align;
            goto advance;
        case 0x04:
            delta = rd_u(&r, 4) * c->code_align;
            goto advance;
        case 0x05: /* offset_extended */
            reg = rd_uleb(&r);
            off = scaled(rd_uleb(&r), c->data_align);
            if ((ru = rule(&g->cur, reg, &ign)))
                *ru = (struct unw_rule){.kind = UNW_RULE_OFFSET, .off = off};
            break;
        case 0x06: /* restore_extended */
            reg = rd_uleb(&r);
        restore: /* the rule the CIE gave, or none */
            if ((ru = rule(&g->cur, reg, &ign))) {
                *ru = g->initial.reg[reg];
                g->cur.named = (g->cur.named & ~(1u << reg)) | (g->initial.named & (1u << reg));
            }
            break;
        case 0x07: /* undefined */
        case 0x08: /* same_value */
            reg = rd_uleb(&r);
            if ((ru = rule(&g->cur, reg, &ign)))
                *ru = (struct unw_rule){.kind = op == 0x07 ? UNW_RULE_UNDEFINED : UNW_RULE_SAME};
            break;
        case 0x09: { /* register */
            reg = rd_uleb(&r);
            uint64_t from = rd_uleb(&r);
            if (from >= UNW_NREGS && !r.bad)
                return UNW_BAD_CFA;
            if ((ru = rule(&g->cur, reg, &ign)))
                *ru = (struct unw_rule){.kind = UNW_RULE_REGISTER, .reg = (uint16_t)from};
            break;
        }
        case 0x0a: /* remember_state */
            if (g->nsaved == REMEMBER_MAX)
                return UNW_BAD_CFA;
            g->saved[g->nsaved++] = g->cur;
            break;
        case 0x0b: /* restore_state: the whole row, CFA rule included, as compilers
                    * expect around epilogues (and as libgcc and libdw do) */
            if (!g->nsaved)
                return UNW_BAD_CFA;
            g->cur = g->saved[--g->nsaved];
            break;
        case 0x0c: /* def_cfa */
        case 0x12: /* def_cfa_sf */
            reg = rd_uleb(&r);
            off = op == 0x0c ? (int64_t)rd_uleb(&r) : scaled((uint64_t)rd_sleb(&r), c->data_align);
            if (reg >= UNW_NREGS && !r.bad)
                return UNW_BAD_CFA;
            g->cur.cfa_is_expr = false, g->cur.cfa_reg = (uint16_t)reg, g->cur.cfa_off = off;
            break;
        case 0x0d: /* def_cfa_register */
            reg = rd_uleb(&r);
            if (reg >= UNW_NREGS && !r.bad)
                return UNW_BAD_CFA;
            /* DWARF allows it only after a register rule; hand-written assembly also
             * uses it to leave an expression, keeping the last offset, and libgcc and
             * libdw accept that. */
            g->cur.cfa_is_expr = false;
            g->cur.cfa_reg = (uint16_t)reg;
            break;
        case 0x0e: /* def_cfa_offset */
        case 0x13: /* def_cfa_offset_sf */
            off = op == 0x0e ? (int64_t)rd_uleb(&r) : scaled((uint64_t)rd_sleb(&r), c->data_align);
            g->cur.cfa_off = off; /* under an expression rule it waits for a register */
            break;
        case 0x0f: /* def_cfa_expression */
            if (!block(&r, &g->cur.cfa_expr, &g->cur.cfa_expr_len))
                return UNW_BAD_CFA;
            g->cur.cfa_is_expr = true;
            break;
        case 0x10:   /* expression */
        case 0x16: { /* val_expression */
            reg = rd_uleb(&r);
            const uint8_t *e;
            uint32_t len;
            if (!block(&r, &e, &len))
                return UNW_BAD_CFA;
            if ((ru = rule(&g->cur, reg, &ign)))
                *ru = (struct unw_rule){.kind = op == 0x10 ? UNW_RULE_EXPR : UNW_RULE_VAL_EXPR,
                                        .expr = e,
                                        .expr_len = len};
            break;
        }
        case 0x11: /* offset_extended_sf */
        case 0x14: /* val_offset */
        case 0x15: /* val_offset_sf */
            reg = rd_uleb(&r);
            off = op == 0x14 ? scaled(rd_uleb(&r), c->data_align)
                             : scaled((uint64_t)rd_sleb(&r), c->data_align);
            if ((ru = rule(&g->cur, reg, &ign)))
                *ru = (struct unw_rule){.kind = op == 0x11 ? UNW_RULE_OFFSET : UNW_RULE_VAL_OFFSET,
                                        .off = off};
            break;
        case 0x2e: /* GNU_args_size */
            g->args_size = rd_uleb(&r);
            break;
        case 0x2f: /* GNU_negative_offset_extended */
            reg = rd_uleb(&r);
            off = (int64_t)(0 - (uint64_t)scaled(rd_uleb(&r), c->data_align));
            if ((ru = rule(&g->cur, reg, &ign)))
                *ru = (struct unw_rule){.kind = UNW_RULE_OFFSET, .off = off};
            break;
        default:
            return UNW_BAD_CFA;
        }
        continue;
    advance:
        if (r.bad)
            break;
        if (g->loc + delta < g->loc || g->loc + delta > pc)
            return UNW_OK; /* the next row starts past pc: this one holds */
        g->loc += delta;
    }
    return r.bad ? UNW_BAD_CFA : UNW_OK;
}

enum unw_err unw_row_at(const struct unw_table *t, uint64_t pc, struct unw_row *row)
{
    const uint8_t *fde, *insns, *insns_end;
    struct cie cie;
    struct unw_fde_info info;
    enum unw_err e = unw_find_fde(t, pc, &info, &fde);
    if (e)
        return e;
    if ((e = unw_parse_fde(t, fde, &cie, &info, &insns, &insns_end)))
        return e;
    struct prog g;
    __builtin_memset(&g, 0, sizeof(g));
    g.cie = &cie;
    for (int i = 0; i < UNW_NREGS; i++)
        g.cur.reg[i].kind = UNW_RULE_SAME; /* callee-saved unless said otherwise */
    g.cur.reg[UNW_RIP].kind = UNW_RULE_UNDEFINED;
    struct rd_bases b = {.data = t->data_base, .func = info.start};
    g.loc = info.start;
    if ((e = run(&g, cie.insns, cie.insns_end, UINT64_MAX, &b)))
        return e;
    g.initial = g.cur;
    g.nsaved = 0;
    g.loc = info.start;
    if ((e = run(&g, insns, insns_end, pc, &b)))
        return e;
    *row = (struct unw_row){.cfa_is_expr = g.cur.cfa_is_expr,
                            .cfa_reg = g.cur.cfa_reg,
                            .cfa_off = g.cur.cfa_off,
                            .cfa_expr = g.cur.cfa_expr,
                            .cfa_expr_len = g.cur.cfa_expr_len,
                            .ra_reg = (uint16_t)cie.ra_reg,
                            .args_size = g.args_size,
                            .fde = info};
    for (int i = 0; i < UNW_NREGS; i++)
        row->reg[i] = g.cur.reg[i];
    row->named = g.cur.named;
    return UNW_OK;
}
