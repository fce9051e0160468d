/* step.c - from a frame to its caller, and whole backtraces.
 *
 * Rows are cached: a direct-mapped table of compact rows keyed by the lookup pc, so
 * a warm backtrace neither asks the platform which module a pc is in nor decodes the
 * tables again. Each entry is a sequence lock over 8-byte atomics: readers on any CPU
 * see a whole entry or miss, writers that collide skip caching. Rows with expression
 * rules are not cached (they point into the tables). A flush is one increment of the
 * cache's epoch: an entry filled in an earlier epoch is a miss, and a fill that read
 * the epoch before a flush lands in the old one. */
#include "unwind_internal.h"
#include <arch/atomic.h>
#include <arch/debug.h>

#define CACHE_SIZE 1024

struct crule {
    int32_t off;
    uint8_t kind, reg, pad[2];
};

/* The registers a cached row has rules for; a row that gives any other register a
 * rule of its own (a signal frame does) is not cached. */
static const uint8_t cregs[] = {UNW_RBX, UNW_RBP, UNW_RSP, UNW_R12,
                                UNW_R13, UNW_R14, UNW_R15, UNW_RIP};
#define NCREGS 8

struct centry {
    uint64_t seq;   /* odd while written; bumped by 2 per fill */
    uint64_t key;   /* lookup pc, 0 for none */
    uint64_t epoch; /* cache_epoch when the row was decoded */
    int32_t cfa_off;
    uint16_t cfa_reg;
    uint8_t ra_reg, signal_frame;
    struct crule rule[NCREGS];
};

#define CWORDS ((sizeof(struct centry) - 8) / 8)
ARCH_STATIC_ASSERT(sizeof(struct centry) % 8 == 0 && sizeof(struct crule) == 8,
                   "cache entries are copied as 8-byte words");

static struct centry cache[CACHE_SIZE];
static uint64_t cache_epoch = 1; /* an all-zero entry is of no epoch */

static struct centry *slot(uint64_t key)
{
    return &cache[(key ^ (key >> 12)) & (CACHE_SIZE - 1)];
}

/* Cache entries are shared between CPUs and read word by word with the compiler's
 * atomics directly: they must not be scheduling points (an unwind under the sim's
 * scheduler would change the schedule). */
static bool cache_get(uint64_t key, uint64_t epoch, struct centry *e)
{
    struct centry *c = slot(key);
    uint64_t s1 = __atomic_load_n(&c->seq, __ATOMIC_ACQUIRE);
    if (s1 & 1)
        return false;
    uint64_t *dst = (uint64_t *)e + 1, *src = (uint64_t *)c + 1;
    for (size_t i = 0; i < CWORDS; i++)
        dst[i] = __atomic_load_n(&src[i], __ATOMIC_RELAXED);
    __atomic_thread_fence(__ATOMIC_ACQUIRE);
    return __atomic_load_n(&c->seq, __ATOMIC_RELAXED) == s1 && e->key == key && e->epoch == epoch;
}

static void cache_put(const struct centry *e)
{
    struct centry *c = slot(e->key);
    uint64_t s = __atomic_load_n(&c->seq, __ATOMIC_RELAXED);
    if ((s & 1) ||
        !__atomic_compare_exchange_n(&c->seq, &s, s + 1, false, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
        return; /* another CPU is filling it */
    uint64_t *dst = (uint64_t *)c + 1;
    const uint64_t *src = (const uint64_t *)e + 1;
    for (size_t i = 0; i < CWORDS; i++)
        __atomic_store_n(&dst[i], src[i], __ATOMIC_RELAXED);
    __atomic_store_n(&c->seq, s + 2, __ATOMIC_RELEASE);
}

void unw_cache_flush(void)
{
    __atomic_fetch_add(&cache_epoch, 1, __ATOMIC_ACQ_REL);
}

/* The row in compact form, or false if it cannot be cached (expressions, offsets
 * beyond 32 bits, rules for other registers). */
static bool compact(const struct unw_row *row, uint64_t key, uint64_t epoch, struct centry *e)
{
    *e = (struct centry){.key = key,
                         .epoch = epoch,
                         .cfa_off = (int32_t)row->cfa_off,
                         .cfa_reg = row->cfa_reg,
                         .ra_reg = (uint8_t)row->ra_reg,
                         .signal_frame = row->fde.signal_frame};
    if (row->cfa_is_expr || e->cfa_off != row->cfa_off || row->ra_reg != UNW_RIP)
        return false;
    uint32_t tracked = 0;
    for (int k = 0; k < NCREGS; k++) {
        const struct unw_rule *u = &row->reg[cregs[k]];
        if (u->kind == UNW_RULE_EXPR || u->kind == UNW_RULE_VAL_EXPR || (int32_t)u->off != u->off)
            return false;
        e->rule[k] =
            (struct crule){.off = (int32_t)u->off, .kind = u->kind, .reg = (uint8_t)u->reg};
        tracked |= 1u << cregs[k];
    }
    for (int i = 0; i < UNW_NREGS; i++)
        if (!(tracked >> i & 1) && row->reg[i].kind != UNW_RULE_SAME)
            return false;
    return true;
}

static bool read64(const struct unw_mem *mem, uint64_t addr, uint64_t *v)
{
    return mem && mem->read && mem->read(mem->ctx, addr, v, 8);
}

/* One rule's value in the caller; false (with *err) if it cannot be had. */
static bool rule_value(uint8_t kind, int64_t off, unsigned reg, const struct unw_rule *full,
                       uint64_t cfa, const struct unw_mem *mem, const struct unw_regs *regs,
                       uint64_t *v, bool *known, enum unw_err *err)
{
    uint64_t addr;
    *known = true;
    switch (kind) {
    case UNW_RULE_UNDEFINED:
        *known = false;
        return true;
    case UNW_RULE_SAME:
        *known = regs->valid & (1u << reg);
        *v = regs->r[reg];
        return true;
    case UNW_RULE_OFFSET:
        *err = UNW_BAD_MEM;
        return read64(mem, cfa + (uint64_t)off, v);
    case UNW_RULE_VAL_OFFSET:
        *v = cfa + (uint64_t)off;
        return true;
    case UNW_RULE_REGISTER:
        *known = full->reg < UNW_NREGS && (regs->valid & (1u << full->reg));
        *v = *known ? regs->r[full->reg] : 0;
        return true;
    case UNW_RULE_EXPR:
        if ((*err = unw_eval_expr(full->expr, full->expr_len, regs, mem, true, cfa, &addr)))
            return false;
        *err = UNW_BAD_MEM;
        return read64(mem, addr, v);
    default: /* UNW_RULE_VAL_EXPR */
        return !(*err = unw_eval_expr(full->expr, full->expr_len, regs, mem, true, cfa, v));
    }
}

/* The caller's frame from this one's registers, its CFA and its rules. */
static enum unw_err finish(struct unw_regs *regs, struct unw_regs *next, uint64_t cfa,
                           bool rsp_same, unsigned ra_reg, bool signal_frame)
{
    uint64_t pc = regs->r[UNW_RIP];
    /* The caller's stack pointer is the CFA unless a rule says otherwise. */
    if (rsp_same) {
        next->r[UNW_RSP] = cfa;
        next->valid |= 1u << UNW_RSP;
    }
    /* The return address column gives the caller's pc. */
    if (ra_reg != UNW_RIP) {
        next->r[UNW_RIP] = next->r[ra_reg];
        next->valid = (next->valid & ~(1u << UNW_RIP)) | ((next->valid >> ra_reg & 1u) << UNW_RIP);
    }
    if (!(next->valid & (1u << UNW_RIP)) || !next->r[UNW_RIP])
        return UNW_END;
    if (next->r[UNW_RIP] == pc && next->r[UNW_RSP] == regs->r[UNW_RSP])
        return UNW_NO_PROGRESS;
    next->signal = signal_frame;
    *regs = *next;
    return UNW_OK;
}

/* A cached row: the registers it does not track keep their values. */
static enum unw_err apply_cached(const struct centry *c, const struct unw_mem *mem,
                                 struct unw_regs *regs)
{
    if (!(regs->valid & (1u << c->cfa_reg)))
        return UNW_BAD_CFA;
    uint64_t cfa = regs->r[c->cfa_reg] + (uint64_t)(int64_t)c->cfa_off;
    struct unw_regs next = *regs;
    for (int k = 0; k < NCREGS; k++) {
        unsigned i = cregs[k];
        const struct crule *ru = &c->rule[k];
        if (ru->kind == UNW_RULE_SAME)
            continue;
        struct unw_rule full = {.reg = ru->reg};
        uint64_t v = 0;
        bool known;
        enum unw_err e = UNW_OK;
        if (!rule_value(ru->kind, ru->off, i, &full, cfa, mem, regs, &v, &known, &e))
            return e;
        next.r[i] = v;
        next.valid = known ? next.valid | (1u << i) : next.valid & ~(1u << i);
    }
    return finish(regs, &next, cfa, c->rule[2].kind == UNW_RULE_SAME, UNW_RIP, c->signal_frame);
}

/* A full row, expressions and all. */
static enum unw_err apply_row(const struct unw_row *row, const struct unw_mem *mem,
                              struct unw_regs *regs)
{
    enum unw_err e = UNW_OK;
    uint64_t cfa;
    if (row->cfa_is_expr) {
        if ((e = unw_eval_expr(row->cfa_expr, row->cfa_expr_len, regs, mem, false, 0, &cfa)))
            return e;
    } else {
        if (!(regs->valid & (1u << row->cfa_reg)))
            return UNW_BAD_CFA;
        cfa = regs->r[row->cfa_reg] + (uint64_t)row->cfa_off;
    }
    struct unw_regs next = {.valid = 0};
    for (int i = 0; i < UNW_NREGS; i++) {
        uint64_t v = 0;
        bool known;
        if (!rule_value(row->reg[i].kind, row->reg[i].off, (unsigned)i, &row->reg[i], cfa, mem,
                        regs, &v, &known, &e))
            return e;
        next.r[i] = v;
        if (known)
            next.valid |= 1u << i;
    }
    return finish(regs, &next, cfa, row->reg[UNW_RSP].kind == UNW_RULE_SAME, row->ra_reg,
                  row->fde.signal_frame);
}

enum unw_err unw_step(unw_lookup_fn lookup, const struct unw_mem *mem, struct unw_regs *regs)
{
    if (!(regs->valid & (1u << UNW_RIP)))
        return UNW_END;
    uint64_t pc = regs->r[UNW_RIP];
    /* A return address points after the call, which may be the next function's first
     * byte: look up the call itself. An interrupted frame's pc is exact. */
    uint64_t key = regs->signal ? pc : pc - 1;
    struct centry c;
    uint64_t epoch = __atomic_load_n(&cache_epoch, __ATOMIC_ACQUIRE);
    if (key && cache_get(key, epoch, &c))
        return apply_cached(&c, mem, regs);
    const struct unw_table *t = lookup ? lookup(key) : NULL;
    if (!t)
        return UNW_NO_FDE;
    struct unw_row row;
    enum unw_err e = unw_row_at(t, key, &row);
    if (e)
        return e;
    if (key && compact(&row, key, epoch, &c))
        cache_put(&c);
    return apply_row(&row, mem, regs);
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
    arch_san_unpoison(&regs, sizeof(regs));        /* written by assembly MSan does not see */
    enum unw_err e = unw_step(lookup, mem, &regs); /* its caller */
    if (e) {
        if (err)
            *err = e;
        return 0;
    }
    return unw_backtrace_from(lookup, mem, &regs, pcs, max, err);
}

ARCH_STATIC_ASSERT(__builtin_offsetof(struct unw_regs, valid) == 17 * sizeof(uint64_t) &&
                       __builtin_offsetof(struct unw_regs, signal) == 17 * sizeof(uint64_t) + 4,
                   "getcontext.S writes this layout");
