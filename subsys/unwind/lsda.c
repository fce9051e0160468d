/* lsda.c - the language-specific data area GCC and clang emit with -fexceptions
 * (.gcc_except_table): call-site, action and type tables. kernsim's personality: for
 * a call site, the landing pad to run and its selector. */
#include "unwind_internal.h"

#define ACTION_MAX 64

static unsigned ttype_size(uint8_t enc)
{
    switch (enc & 0x0f) {
    case PE_ABSPTR:
    case PE_UDATA8:
    case PE_SDATA8:
        return 8;
    case PE_UDATA4:
    case PE_SDATA4:
        return 4;
    case PE_UDATA2:
    case PE_SDATA2:
        return 2;
    default:
        return 0;
    }
}

enum unw_err unw_lsda_find(const uint8_t *lsda, const uint8_t *hi, uint64_t func, uint64_t ip,
                           uint64_t *landing_pad, int64_t *selector)
{
    *landing_pad = 0, *selector = 0;
    if (!lsda || lsda >= hi)
        return UNW_BAD_TABLE;
    struct rd r = {lsda, hi, false};
    struct rd_bases b = {.func = func};
    uint64_t lpstart = func;
    uint8_t lp_enc = (uint8_t)rd_u(&r, 1);
    if (lp_enc != PE_OMIT && !rd_encoded(&r, lp_enc, &b, &lpstart, NULL))
        return UNW_BAD_TABLE;
    uint8_t tt_enc = (uint8_t)rd_u(&r, 1);
    const uint8_t *ttype_base = NULL;
    if (tt_enc != PE_OMIT) {
        uint64_t off = rd_uleb(&r);
        if (r.bad || off > (uint64_t)(hi - r.p) || !ttype_size(tt_enc))
            return UNW_BAD_TABLE;
        ttype_base = r.p + off;
    }
    uint8_t cs_enc = (uint8_t)rd_u(&r, 1);
    uint64_t cs_len = rd_uleb(&r);
    if (r.bad || cs_len > (uint64_t)(hi - r.p))
        return UNW_BAD_TABLE;
    const uint8_t *actions = r.p + cs_len;
    struct rd cs = {r.p, actions, false};
    while (cs.p < cs.end) {
        uint64_t start, len, lp;
        if (!rd_encoded(&cs, cs_enc & 0x0f, NULL, &start, NULL) ||
            !rd_encoded(&cs, cs_enc & 0x0f, NULL, &len, NULL) ||
            !rd_encoded(&cs, cs_enc & 0x0f, NULL, &lp, NULL))
            return UNW_BAD_TABLE;
        uint64_t action = rd_uleb(&cs);
        if (cs.bad)
            return UNW_BAD_TABLE;
        if (ip < lpstart + start)
            return UNW_OK; /* the table is sorted: no entry, nothing to run */
        if (ip - (lpstart + start) >= len)
            continue;
        if (!lp)
            return UNW_OK; /* a call with no landing pad */
        if (!action) {
            *landing_pad = lpstart + lp; /* a cleanup */
            return UNW_OK;
        }
        /* Walk the action chain: a catch-all handler (type 0) catches a panic; a
         * cleanup (filter 0) runs; typed handlers and exception specifications are for
         * other languages' exceptions and do not match. */
        bool cleanup = false;
        if (action - 1 >= (uint64_t)(hi - actions))
            return UNW_BAD_TABLE; /* checked before the pointer is formed */
        struct rd a = {actions + (action - 1), hi, false};
        for (int n = 0; n < ACTION_MAX; n++) {
            int64_t filter = rd_sleb(&a);
            const uint8_t *disp_at = a.p;
            int64_t disp = rd_sleb(&a);
            if (a.bad)
                return UNW_BAD_TABLE;
            if (filter == 0) {
                cleanup = true;
            } else if (filter > 0) {
                unsigned sz = ttype_size(tt_enc);
                if (!ttype_base || (uint64_t)filter > (uint64_t)(ttype_base - lsda) / (sz ? sz : 1))
                    return UNW_BAD_TABLE;
                struct rd t = {ttype_base - (uint64_t)filter * sz, ttype_base, false};
                uint64_t type;
                bool indirect;
                if (!rd_encoded(&t, tt_enc, &b, &type, &indirect))
                    return UNW_BAD_TABLE;
                if (type == 0) { /* catch (...) */
                    *landing_pad = lpstart + lp;
                    *selector = filter;
                    return UNW_OK;
                }
            }
            if (!disp)
                break;
            if ((disp < 0 && (uint64_t)-disp > (uint64_t)(disp_at - lsda)) ||
                (disp > 0 && (uint64_t)disp > (uint64_t)(hi - disp_at)))
                return UNW_BAD_TABLE;
            a.p = disp_at + disp;
            if (n == ACTION_MAX - 1)
                return UNW_BAD_TABLE; /* a cycle */
        }
        if (cleanup)
            *landing_pad = lpstart + lp;
        return UNW_OK;
    }
    return UNW_OK;
}
