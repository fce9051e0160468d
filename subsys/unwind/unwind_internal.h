/* unwind_internal.h - what the unwinder's files share: a bounds-checked reader of
 * table bytes and the parsed CIE. */
#ifndef UNWIND_INTERNAL_H
#define UNWIND_INTERNAL_H

#include "unwind.h"

/* DW_EH_PE_* pointer encodings. */
#define PE_ABSPTR   0x00
#define PE_ULEB128  0x01
#define PE_UDATA2   0x02
#define PE_UDATA4   0x03
#define PE_UDATA8   0x04
#define PE_SLEB128  0x09
#define PE_SDATA2   0x0a
#define PE_SDATA4   0x0b
#define PE_SDATA8   0x0c
#define PE_PCREL    0x10
#define PE_TEXTREL  0x20
#define PE_DATAREL  0x30
#define PE_FUNCREL  0x40
#define PE_ALIGNED  0x50
#define PE_INDIRECT 0x80
#define PE_OMIT     0xff

/* A cursor over [p, end): every read checks the bounds and sets `bad` instead of
 * reading past them. */
struct rd {
    const uint8_t *p, *end;
    bool bad;
};

static inline bool rd_need(struct rd *r, size_t n)
{
    if (r->bad || (size_t)(r->end - r->p) < n) {
        r->bad = true;
        return false;
    }
    return true;
}

uint64_t rd_u(struct rd *r, unsigned size);
uint64_t rd_uleb(struct rd *r);
int64_t rd_sleb(struct rd *r);
/* Bases for the relative encodings; 0 for one that is not known (using it is an error). */
struct rd_bases {
    uint64_t text, data, func;
};
/* Read a pointer in encoding `enc`. Indirect pointers are not followed: *indirect is
 * set and the result is the address of the slot. false if malformed. */
bool rd_encoded(struct rd *r, uint8_t enc, const struct rd_bases *b, uint64_t *out, bool *indirect);

struct cie {
    uint64_t code_align;
    int64_t data_align;
    uint64_t ra_reg;
    uint8_t fde_enc, lsda_enc;
    bool has_z, signal;
    uint64_t personality;
    bool personality_indirect;
    const uint8_t *insns, *insns_end;
};

/* Parse the FDE at `fde` (inside t->eh_frame) and its CIE. */
enum unw_err unw_parse_fde(const struct unw_table *t, const uint8_t *fde, struct cie *cie,
                           struct unw_fde_info *info, const uint8_t **insns,
                           const uint8_t **insns_end);

#endif
