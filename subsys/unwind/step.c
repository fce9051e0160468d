/* step.c - from a frame to its caller, and whole backtraces.
 *
 * Rows are cached: a direct-mapped table of compact rows keyed by the lookup pc, so
 * a warm backtrace neither asks the platform which module a pc is in nor decodes the
 * tables again. Each entry is a sequence lock over 8-byte atomics: readers on any CPU
 * see a whole entry or miss, writers that collide skip caching. Rows with expression
 * rules are not cached (they point into the tables). */
#include "unwind_internal.h"
#include <arch/atomic.h>

#define CACHE_SIZE 1024

struct crule {
    int32_t off;
    uint8_t kind, reg, pad[2];
};

struct centry {
    uint64_t seq; /* odd while written; bumped by 2 per fill */
    uint64_t key; /* lookup pc, 0 for none */
    int32_t cfa_off;
    uint16_t cfa_reg;
    uint8_t ra_reg, signal_frame;
    uint8_t cfa_is_expr, pad[7];
    struct crule rule[UNW_NREGS];
};

#define CWORDS ((sizeof(struct centry) - 8) / 8)
ARCH_STATIC_ASSERT(sizeof(struct centry) % 8 == 0 && sizeof(struct crule) == 8,
                   "cache entries are copied as 8-byte words");

static struct centry cache[CACHE_SIZE];

static struct centry *slot(uint64_t key)
{
    return &cache[(key ^ (key >> 12)) & (CACHE_SIZE - 1)];
}

/* Cache entries are shared between CPUs and read word by word with the compiler's
 * atomics directly: they must not be scheduling points (an unwind under the sim's
 * scheduler would change the schedule). */
static bool cache_get(uint64_t key, struct centry *e)
{
    struct centry *c = slot(key);
    uint64_t s1 = __atomic_load_n(&c->seq, __ATOMIC_ACQUIRE);
    if (s1 & 1)
        return false;
    uint64_t *dst = (uint64_t *)e + 1, *src = (uint64_t *)c + 1;
    for (size_t i = 0; i < CWORDS; i++)
        dst[i] = __atomic_load_n(&src[i], __ATOMIC_RELAXED);
    __atomic_thread_fence(__ATOMIC_ACQUIRE);
    return __atomic_load_n(&c->seq, __ATOMIC_RELAXED) == s1 && e->key == key;
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
    for (size_t i = 0; i < CACHE_SIZE; i++) {
        uint64_t s = __atomic_load_n(&cache[i].seq, __ATOMIC_RELAXED);
        if (!(s & 1) && __atomic_compare_exchange_n(&cache[i].seq, &s, s + 1, false,
                                                    __ATOMIC_ACQUIRE, __ATOMIC_RELAXED)) {
            __atomic_store_n(&cache[i].key, 0, __ATOMIC_RELAXED);
            __atomic_store_n(&cache[i].seq, s + 2, __ATOMIC_RELEASE);
        }
    }
}

/* The row in compact form; false if it cannot be cached (expressions, offsets beyond
 * 32 bits), in which case the full row must be kept for its expressions. */
static bool compact(const struct unw_row *row, uint64_t key, struct centry *e)
{
    *e = (struct centry){.key = key,
                         .cfa_off = (int32_t)row->cfa_off,
                         .cfa_reg = row->cfa_reg,
                         .ra_reg = (uint8_t)row->ra_reg,
                         .signal_frame = row->fde.signal_frame,
                         .cfa_is_expr = row->cfa_is_expr};
    bool ok = !row->cfa_is_expr && e->cfa_off == row->cfa_off;
    for (int i = 0; i < UNW_NREGS; i++) {
        const struct unw_rule *u = &row->reg[i];
        ok &= u->kind != UNW_RULE_EXPR && u->kind != UNW_RULE_VAL_EXPR && (int32_t)u->off == u->off;
        e->rule[i] =
            (struct crule){.off = (int32_t)u->off, .kind = u->kind, .reg = (uint8_t)u->reg};
    }
    return ok;
}

static bool read64(const struct unw_mem *mem, uint64_t addr, uint64_t *v)
{
    return mem && mem->read && mem->read(mem->ctx, addr, v, 8);
}

/* Apply a row to the frame. `full` has the expressions (NULL for a cached row, which
 * has none). */
static enum unw_err apply(const struct centry *c, const struct unw_row *full,
                          const struct unw_mem *mem, struct unw_regs *regs)
{
    enum unw_err e;
    uint64_t cfa, pc = regs->r[UNW_RIP];
    if (c->cfa_is_expr) {
        if ((e = unw_eval_expr(full->cfa_expr, full->cfa_expr_len, regs, mem, false, 0, &cfa)))
            return e;
    } else {
        if (!(regs->valid & (1u << c->cfa_reg)))
            return UNW_BAD_CFA;
        cfa = regs->r[c->cfa_reg] + (uint64_t)(int64_t)c->cfa_off;
    }
    struct unw_regs next = {.valid = 0};
    for (int i = 0; i < UNW_NREGS; i++) {
        const struct crule *ru = &c->rule[i];
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
            if (!read64(mem, cfa + (uint64_t)(int64_t)ru->off, &v))
                return UNW_BAD_MEM;
            break;
        case UNW_RULE_VAL_OFFSET:
            v = cfa + (uint64_t)(int64_t)ru->off;
            break;
        case UNW_RULE_REGISTER:
            known = ru->reg < UNW_NREGS && (regs->valid & (1u << ru->reg));
            v = known ? regs->r[ru->reg] : 0;
            break;
        case UNW_RULE_EXPR:
            if ((e = unw_eval_expr(full->reg[i].expr, full->reg[i].expr_len, regs, mem, true, cfa,
                                   &addr)))
                return e;
            if (!read64(mem, addr, &v))
                return UNW_BAD_MEM;
            break;
        case UNW_RULE_VAL_EXPR:
            if ((e = unw_eval_expr(full->reg[i].expr, full->reg[i].expr_len, regs, mem, true, cfa,
                                   &v)))
                return e;
            break;
        }
        next.r[i] = v;
        if (known)
            next.valid |= 1u << i;
    }
    /* The caller's stack pointer is the CFA unless a rule says otherwise. */
    if (c->rule[UNW_RSP].kind == UNW_RULE_SAME) {
        next.r[UNW_RSP] = cfa;
        next.valid |= 1u << UNW_RSP;
    }
    /* The return address column gives the caller's pc. */
    if (c->ra_reg != UNW_RIP) {
        next.r[UNW_RIP] = next.r[c->ra_reg];
        next.valid = (next.valid & ~(1u << UNW_RIP)) | ((next.valid >> c->ra_reg & 1u) << UNW_RIP);
    }
    if (!(next.valid & (1u << UNW_RIP)) || !next.r[UNW_RIP])
        return UNW_END;
    if (next.r[UNW_RIP] == pc && next.r[UNW_RSP] == regs->r[UNW_RSP])
        return UNW_NO_PROGRESS;
    next.signal = c->signal_frame;
    *regs = next;
    return UNW_OK;
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
    if (key && cache_get(key, &c))
        return apply(&c, NULL, mem, regs);
    const struct unw_table *t = lookup ? lookup(key) : NULL;
    if (!t)
        return UNW_NO_FDE;
    struct unw_row row;
    enum unw_err e = unw_row_at(t, key, &row);
    if (e)
        return e;
    if (compact(&row, key, &c) && key)
        cache_put(&c);
    return apply(&c, &row, mem, regs);
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
