/* step.c - from a frame to its caller, and whole backtraces. */
#include "unwind_internal.h"

static bool read64(const struct unw_mem *mem, uint64_t addr, uint64_t *v)
{
    return mem && mem->read && mem->read(mem->ctx, addr, v, 8);
}

enum unw_err unw_step(unw_lookup_fn lookup, const struct unw_mem *mem, struct unw_regs *regs)
{
    if (!(regs->valid & (1u << UNW_RIP)))
        return UNW_END;
    uint64_t pc = regs->r[UNW_RIP];
    /* A return address points after the call, which may be the next function's first
     * byte: look up the call itself. An interrupted frame's pc is exact. */
    uint64_t lookup_pc = regs->signal ? pc : pc - 1;
    const struct unw_table *t = lookup ? lookup(lookup_pc) : NULL;
    if (!t)
        return UNW_NO_FDE;
    struct unw_row row;
    enum unw_err e = unw_row_at(t, lookup_pc, &row);
    if (e)
        return e;
    uint64_t cfa;
    if (row.cfa_is_expr) {
        if ((e = unw_eval_expr(row.cfa_expr, row.cfa_expr_len, regs, mem, false, 0, &cfa)))
            return e;
    } else {
        if (!(regs->valid & (1u << row.cfa_reg)))
            return UNW_BAD_CFA;
        cfa = regs->r[row.cfa_reg] + (uint64_t)row.cfa_off;
    }
    struct unw_regs next = {.valid = 0};
    for (int i = 0; i < UNW_NREGS; i++) {
        const struct unw_rule *ru = &row.reg[i];
        uint64_t v = 0, addr;
        bool known = true;
        switch (ru->kind) {
        case UNW_RULE_UNDEFINED:
            known = false;
            break;
        case UNW_RULE_SAME:
            known = regs->valid & (1u << i);
            v = regs->r[i];
            break;
        case UNW_RULE_OFFSET:
            if (!read64(mem, cfa + (uint64_t)ru->off, &v))
                return UNW_BAD_MEM;
            break;
        case UNW_RULE_VAL_OFFSET:
            v = cfa + (uint64_t)ru->off;
            break;
        case UNW_RULE_REGISTER:
            known = ru->reg < UNW_NREGS && (regs->valid & (1u << ru->reg));
            v = known ? regs->r[ru->reg] : 0;
            break;
        case UNW_RULE_EXPR:
            if ((e = unw_eval_expr(ru->expr, ru->expr_len, regs, mem, true, cfa, &addr)))
                return e;
            if (!read64(mem, addr, &v))
                return UNW_BAD_MEM;
            break;
        case UNW_RULE_VAL_EXPR:
            if ((e = unw_eval_expr(ru->expr, ru->expr_len, regs, mem, true, cfa, &v)))
                return e;
            break;
        }
        next.r[i] = v;
        if (known)
            next.valid |= 1u << i;
    }
    /* The caller's stack pointer is the CFA unless a rule says otherwise. */
    if (row.reg[UNW_RSP].kind == UNW_RULE_SAME) {
        next.r[UNW_RSP] = cfa;
        next.valid |= 1u << UNW_RSP;
    }
    /* The return address column gives the caller's pc. */
    if (row.ra_reg != UNW_RIP) {
        next.r[UNW_RIP] = next.r[row.ra_reg];
        next.valid = (next.valid & ~(1u << UNW_RIP)) | ((next.valid >> row.ra_reg & 1u) << UNW_RIP);
    }
    if (!(next.valid & (1u << UNW_RIP)) || !next.r[UNW_RIP])
        return UNW_END;
    if (next.r[UNW_RIP] == pc && next.r[UNW_RSP] == regs->r[UNW_RSP])
        return UNW_NO_PROGRESS;
    next.signal = row.fde.signal_frame;
    *regs = next;
    return UNW_OK;
}

int unw_backtrace_from(unw_lookup_fn lookup, const struct unw_mem *mem,
                       const struct unw_regs *start, uint64_t *pcs, int max, enum unw_err *err)
{
    struct unw_regs regs = *start;
    int n = 0;
    enum unw_err e = UNW_OK;
    while (n < max) {
        pcs[n++] = regs.r[UNW_RIP];
        if ((e = unw_step(lookup, mem, &regs)))
            break;
    }
    if (err)
        *err = e == UNW_END ? UNW_OK : e;
    return n;
}

__attribute__((noinline)) int unw_backtrace(unw_lookup_fn lookup, const struct unw_mem *mem,
                                            uint64_t *pcs, int max, enum unw_err *err)
{
    struct unw_regs regs;
    unw_getcontext(&regs);                         /* this function, just after the call */
    enum unw_err e = unw_step(lookup, mem, &regs); /* its caller */
    if (e) {
        if (err)
            *err = e;
        return 0;
    }
    return unw_backtrace_from(lookup, mem, &regs, pcs, max, err);
}

ARCH_STATIC_ASSERT(__builtin_offsetof(struct unw_regs, valid) == 17 * 8 &&
                       __builtin_offsetof(struct unw_regs, signal) == 17 * 8 + 4,
                   "getcontext.S writes this layout");
