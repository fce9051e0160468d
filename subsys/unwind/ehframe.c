/* ehframe.c - reading .eh_frame and .eh_frame_hdr: pointer encodings, CIEs, FDEs, the
 * header's binary-search table, and a fallback index when there is no header. */
#include "unwind_internal.h"

const char *unw_strerror(enum unw_err e)
{
    static const char *const msg[] = {
        [UNW_OK] = "ok",
        [UNW_END] = "outermost frame",
        [UNW_NO_FDE] = "no FDE covers the pc",
        [UNW_BAD_TABLE] = "malformed .eh_frame or .eh_frame_hdr",
        [UNW_BAD_CFA] = "invalid call-frame instruction",
        [UNW_BAD_EXPR] = "invalid DWARF expression",
        [UNW_BAD_MEM] = "unreadable memory",
        [UNW_BAD_ADDR] = "address outside the module's text",
        [UNW_NO_PROGRESS] = "the caller's frame is the same frame",
    };
    return (unsigned)e < sizeof(msg) / sizeof(msg[0]) && msg[e] ? msg[e] : "unknown error";
}

uint64_t rd_u(struct rd *r, unsigned size)
{
    if (!rd_need(r, size))
        return 0;
    uint64_t v = 0;
    for (unsigned i = 0; i < size; i++)
        v |= (uint64_t)r->p[i] << (8 * i);
    r->p += size;
    return v;
}

uint64_t rd_uleb(struct rd *r)
{
    uint64_t v = 0;
    for (unsigned shift = 0;; shift += 7) {
        if (!rd_need(r, 1))
            return 0;
        uint8_t b = *r->p++;
        if (shift < 64)
            v |= (uint64_t)(b & 0x7f) << shift;
        else if (b & 0x7f)
            r->bad = true; /* more than 64 bits */
        if (!(b & 0x80))
            return v;
        if (shift > 70) {
            r->bad = true;
            return 0;
        }
    }
}

int64_t rd_sleb(struct rd *r)
{
    uint64_t v = 0;
    unsigned shift = 0;
    uint8_t b;
    do {
        if (!rd_need(r, 1) || shift > 70) {
            r->bad = true;
            return 0;
        }
        b = *r->p++;
        if (shift < 64)
            v |= (uint64_t)(b & 0x7f) << shift;
        shift += 7;
    } while (b & 0x80);
    if (shift < 64 && (b & 0x40))
        v |= ~UINT64_C(0) << shift;
    return (int64_t)v;
}

bool rd_encoded(struct rd *r, uint8_t enc, const struct rd_bases *b, uint64_t *out, bool *indirect)
{
    if (enc == PE_OMIT)
        return false;
    uint64_t field = (uint64_t)(uintptr_t)r->p, v;
    if ((enc & 0x70) == PE_ALIGNED) {
        size_t pad = (size_t)(-(uintptr_t)r->p & 7);
        if (!rd_need(r, pad))
            return false;
        r->p += pad;
        field = (uint64_t)(uintptr_t)r->p;
    }
    switch (enc & 0x0f) {
    case PE_ABSPTR:
        v = rd_u(r, 8);
        break;
    case PE_ULEB128:
        v = rd_uleb(r);
        break;
    case PE_UDATA2:
        v = rd_u(r, 2);
        break;
    case PE_UDATA4:
        v = rd_u(r, 4);
        break;
    case PE_UDATA8:
        v = rd_u(r, 8);
        break;
    case PE_SLEB128:
        v = (uint64_t)rd_sleb(r);
        break;
    case PE_SDATA2:
        v = (uint64_t)(int64_t)(int16_t)rd_u(r, 2);
        break;
    case PE_SDATA4:
        v = (uint64_t)(int64_t)(int32_t)rd_u(r, 4);
        break;
    case PE_SDATA8:
        v = rd_u(r, 8);
        break;
    default:
        r->bad = true;
        return false;
    }
    if (r->bad)
        return false;
    switch (enc & 0x70) {
    case PE_ABSPTR:
    case PE_ALIGNED:
        break;
    case PE_PCREL:
        v += field;
        break;
    case PE_TEXTREL:
        if (!b || !b->text)
            return false;
        v += b->text;
        break;
    case PE_DATAREL:
        if (!b || !b->data)
            return false;
        v += b->data;
        break;
    case PE_FUNCREL:
        if (!b || !b->func)
            return false;
        v += b->func;
        break;
    default:
        return false;
    }
    if (indirect)
        *indirect = (enc & PE_INDIRECT) != 0;
    else if (enc & PE_INDIRECT)
        return false; /* the caller cannot follow it */
    *out = v;
    return true;
}

/* The record at p inside eh_frame: its body [*body, *next). 1 for a record, 0 for
 * the terminator or the section's end, -1 for a record that does not fit. */
static int record(const struct unw_table *t, const uint8_t *p, const uint8_t **body,
                  const uint8_t **next)
{
    const uint8_t *end = t->eh_frame + t->eh_frame_size;
    if (p < t->eh_frame || p > end)
        return -1;
    if (p == end)
        return 0;
    struct rd r = {p, end, false};
    uint64_t len = rd_u(&r, 4);
    if (!r.bad && len == 0)
        return 0;
    if (len == 0xffffffff)
        len = rd_u(&r, 8);
    if (r.bad || len < 4 || len > (uint64_t)(end - r.p))
        return -1;
    *body = r.p;
    *next = r.p + len;
    return 1;
}

static enum unw_err parse_cie(const struct unw_table *t, const uint8_t *p, struct cie *c)
{
    const uint8_t *body, *next;
    if (record(t, p, &body, &next) != 1)
        return UNW_BAD_TABLE;
    struct rd r = {body, next, false};
    if (rd_u(&r, 4) != 0) /* a CIE's id is 0 in .eh_frame */
        return UNW_BAD_TABLE;
    uint8_t version = (uint8_t)rd_u(&r, 1);
    if (version != 1 && version != 3)
        return UNW_BAD_TABLE;
    const char *aug = (const char *)r.p;
    size_t n = 0;
    while (rd_need(&r, n + 1) && r.p[n])
        n++;
    if (r.bad)
        return UNW_BAD_TABLE;
    r.p += n + 1;
    *c = (struct cie){.fde_enc = PE_ABSPTR, .lsda_enc = PE_OMIT};
    if (n >= 2 && aug[0] == 'e' && aug[1] == 'h') {
        rd_u(&r, 8); /* old GCC's eh data pointer */
        aug += 2, n -= 2;
    }
    c->code_align = rd_uleb(&r);
    c->data_align = rd_sleb(&r);
    c->ra_reg = version == 1 ? rd_u(&r, 1) : rd_uleb(&r);
    if (r.bad || c->ra_reg >= UNW_NREGS || !c->code_align)
        return UNW_BAD_TABLE;
    struct rd ar = r;
    if (n && aug[0] == 'z') {
        uint64_t alen = rd_uleb(&r);
        if (r.bad || alen > (uint64_t)(r.end - r.p))
            return UNW_BAD_TABLE;
        ar = (struct rd){r.p, r.p + alen, false};
        r.p += alen;
        c->has_z = true;
    } else if (n) {
        return UNW_BAD_TABLE; /* without 'z' the augmentation's size is unknown */
    }
    for (size_t i = 1; i < n; i++) {
        switch (aug[i]) {
        case 'L':
            c->lsda_enc = (uint8_t)rd_u(&ar, 1);
            break;
        case 'R':
            c->fde_enc = (uint8_t)rd_u(&ar, 1);
            break;
        case 'P': {
            uint8_t enc = (uint8_t)rd_u(&ar, 1);
            if (ar.bad || !rd_encoded(&ar, enc, NULL, &c->personality, &c->personality_indirect))
                return UNW_BAD_TABLE;
            break;
        }
        case 'S':
            c->signal = true;
            break;
        default:
            return UNW_BAD_TABLE;
        }
        if (ar.bad)
            return UNW_BAD_TABLE;
    }
    c->insns = r.p;
    c->insns_end = next;
    return UNW_OK;
}

enum unw_err unw_parse_fde(const struct unw_table *t, const uint8_t *fde, struct cie *cie,
                           struct unw_fde_info *info, const uint8_t **insns,
                           const uint8_t **insns_end)
{
    const uint8_t *body, *next;
    if (!t->eh_frame || record(t, fde, &body, &next) != 1)
        return UNW_BAD_TABLE;
    struct rd r = {body, next, false};
    const uint8_t *idfield = r.p;
    uint64_t id = rd_u(&r, 4);
    if (r.bad || id == 0 || id > (uint64_t)(idfield - t->eh_frame))
        return UNW_BAD_TABLE; /* a CIE, or a CIE pointer outside the section */
    enum unw_err e = parse_cie(t, idfield - id, cie);
    if (e)
        return e;
    struct rd_bases b = {.data = t->data_base};
    uint64_t start, range;
    if (!rd_encoded(&r, cie->fde_enc, &b, &start, NULL) ||
        !rd_encoded(&r, cie->fde_enc & 0x0f, &b, &range, NULL))
        return UNW_BAD_TABLE;
    *info = (struct unw_fde_info){.start = start,
                                  .end = start + range,
                                  .personality = cie->personality,
                                  .signal_frame = cie->signal};
    if (info->end < start || start < t->text_lo || info->end > t->text_hi)
        return UNW_BAD_ADDR;
    if (cie->has_z) {
        uint64_t alen = rd_uleb(&r);
        if (r.bad || alen > (uint64_t)(r.end - r.p))
            return UNW_BAD_TABLE;
        struct rd ar = {r.p, r.p + alen, false};
        if (cie->lsda_enc != PE_OMIT) {
            b.func = start;
            if (!rd_encoded(&ar, cie->lsda_enc, &b, &info->lsda, NULL))
                info->lsda = 0;
        }
        r.p += alen;
    }
    *insns = r.p;
    *insns_end = next;
    return UNW_OK;
}

/* ---- finding the FDE for a pc ---- */

static enum unw_err search_hdr(const struct unw_table *t, uint64_t pc, const uint8_t **fde)
{
    struct rd r = {t->eh_frame_hdr, t->eh_frame_hdr + t->eh_frame_hdr_size, false};
    uint8_t version = (uint8_t)rd_u(&r, 1), ptr_enc = (uint8_t)rd_u(&r, 1),
            count_enc = (uint8_t)rd_u(&r, 1), table_enc = (uint8_t)rd_u(&r, 1);
    struct rd_bases b = {.data = (uint64_t)(uintptr_t)t->eh_frame_hdr};
    uint64_t eh_ptr, count;
    if (r.bad || version != 1 || !rd_encoded(&r, ptr_enc, &b, &eh_ptr, NULL) ||
        !rd_encoded(&r, count_enc, &b, &count, NULL))
        return UNW_BAD_TABLE;
    /* The fast form every linker writes: (start, FDE) pairs of datarel sdata4. */
    if (table_enc != (PE_DATAREL | PE_SDATA4) || count > (uint64_t)(r.end - r.p) / 8)
        return UNW_BAD_TABLE;
    const uint8_t *tab = r.p;
    uint64_t lo = 0, hi = count;
    uint64_t hdr = (uint64_t)(uintptr_t)t->eh_frame_hdr;
    while (lo < hi) { /* first entry whose start is > pc */
        uint64_t mid = lo + (hi - lo) / 2;
        struct rd e = {tab + mid * 8, tab + mid * 8 + 4, false};
        uint64_t start = hdr + (uint64_t)(int64_t)(int32_t)rd_u(&e, 4);
        if (start <= pc)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == 0)
        return UNW_NO_FDE;
    struct rd e = {tab + (lo - 1) * 8 + 4, tab + lo * 8, false};
    *fde = (const uint8_t *)(uintptr_t)(hdr + (uint64_t)(int64_t)(int32_t)rd_u(&e, 4));
    return UNW_OK;
}

enum unw_err unw_find_fde(const struct unw_table *t, uint64_t pc, struct unw_fde_info *info,
                          const uint8_t **fde_out)
{
    if (!t || pc < t->text_lo || pc >= t->text_hi)
        return UNW_NO_FDE;
    const uint8_t *fde = NULL;
    if (t->index) {
        size_t lo = 0, hi = t->index_len;
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            if (t->index[mid].start <= pc)
                lo = mid + 1;
            else
                hi = mid;
        }
        if (!lo || pc >= t->index[lo - 1].end)
            return UNW_NO_FDE;
        fde = t->eh_frame + t->index[lo - 1].fde;
    } else if (t->eh_frame_hdr) {
        enum unw_err e = search_hdr(t, pc, &fde);
        if (e)
            return e;
    } else {
        return UNW_NO_FDE;
    }
    struct cie cie;
    const uint8_t *a, *b;
    enum unw_err e = unw_parse_fde(t, fde, &cie, info, &a, &b);
    if (e)
        return e;
    if (pc < info->start || pc >= info->end)
        return UNW_NO_FDE;
    if (fde_out)
        *fde_out = fde;
    return UNW_OK;
}

long unw_table_index(struct unw_table *t, struct unw_index_entry *entries, size_t max,
                     enum unw_err *err)
{
    size_t n = 0;
    const uint8_t *p = t->eh_frame, *end = t->eh_frame + t->eh_frame_size;
    *err = UNW_OK;
    while (p && p < end) {
        const uint8_t *body, *next;
        int k = record(t, p, &body, &next);
        if (k < 0) {
            *err = UNW_BAD_TABLE;
            return -1;
        }
        if (k == 0)
            break; /* the terminator */
        struct rd r = {body, next, false};
        if (rd_u(&r, 4) != 0) { /* an FDE */
            struct cie cie;
            struct unw_fde_info info;
            const uint8_t *a, *b;
            enum unw_err e = unw_parse_fde(t, p, &cie, &info, &a, &b);
            if (e) {
                *err = e;
                return -1;
            }
            if (info.end > info.start) {
                if (n == max) {
                    *err = UNW_BAD_TABLE;
                    return -1;
                }
                entries[n++] =
                    (struct unw_index_entry){info.start, info.end, (uint32_t)(p - t->eh_frame)};
            }
        }
        p = next;
    }
    /* Insertion sort: the linker's order is nearly sorted already. */
    for (size_t i = 1; i < n; i++) {
        struct unw_index_entry x = entries[i];
        size_t j = i;
        for (; j > 0 && entries[j - 1].start > x.start; j--)
            entries[j] = entries[j - 1];
        entries[j] = x;
    }
    t->index = entries;
    t->index_len = n;
    return (long)n;
}
